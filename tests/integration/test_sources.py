"""Real-data sources through the platform: ingest with quarantine and lineage, then the warehouse.

A private warehouse; the UCI files are written here in UCI's own layout. The test on the shared
copy of the real file skips when ../shared/data is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from portrait.ml import events
from portrait.ml.evaluation import evaluate_source

from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.ingest import batches
from portrait.ingest.api import ingest
from tests.unit.test_berka_adapter import bank
from tests.unit.test_uci_adapter import ADDITIONAL_HEADER, additional_row, write

pytestmark = pytest.mark.integration
REAL_UCI = Path(__file__).resolve().parents[3] / "shared" / "data" / "bank_marketing"


def _private_warehouse(tmp_path_factory, name: str):
    settings = Settings(home=tmp_path_factory.mktemp(name), database_url=None)
    warehouse.ensure_started(settings)
    yield settings
    warehouse.EmbeddedServer(settings).stop()


@pytest.fixture(scope="module")
def uci_home(tmp_path_factory) -> Settings:
    yield from _private_warehouse(tmp_path_factory, "uci_home")


def _rows(settings: Settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()


def test_uci_contacts_reach_the_marts_and_bad_rows_only_quarantine(uci_home, tmp_path):
    months = ["may", "jun", "jul", "aug", "oct", "nov", "dec", "mar", "apr"]
    rows = [
        additional_row(
            month=m, weekday=w, y="yes" if i % 4 == 0 else "no", euribor=f"{4.0 - i / 10:.3f}"
        )
        for i, (m, w) in enumerate((m, w) for m in months for w in ("mon", "wed", "fri"))
    ]
    rows.insert(5, additional_row(month="smarch"))  # line 7
    folder = tmp_path / "uci"
    folder.mkdir()
    write(folder / "bank-additional-full.csv", ADDITIONAL_HEADER, rows)
    report = ingest(folder, source="uci-bank-marketing", settings=uci_home)
    assert (
        str(report.batch_date) == "2009-04-11"
    )  # the day after the last contact (Fri 10 April 2009)
    assert report.rows_quarantined == 1
    assert _rows(
        uci_home,
        "select source_table, line_number, rule from quarantine.rejected_rows where batch_id = %s",
        report.batch_id,
    ) == [("campaign_contacts", 7, "source format")]
    assert _rows(
        uci_home,
        "select line_number, source_file from raw.campaign_contacts where batch_id = %s "
        "order by line_number limit 1",
        report.batch_id,
    )[0] == (2, "bank-additional-full.csv")

    assert build(settings=uci_home).success
    contacts, converted = _rows(
        uci_home,
        "select count(*), count(*) filter (where has_converted) from marts.fct_campaign_contacts",
    )[0]
    assert (contacts, converted) == (27, 7)
    assert _rows(uci_home, "select count(*) from marts.customer_portrait")[0][0] == 27
    euribor = _rows(
        uci_home,
        "select indicator_date, value, valid_to from marts.fct_economic_indicators "
        "where indicator = 'euribor_3m_rate' order by indicator_date",
    )
    assert len(euribor) == 27 and float(euribor[0][1]) == 4.0 and euribor[0][2] == euribor[1][0]
    assert euribor[-1][2] is None


@pytest.mark.skipif(
    not (REAL_UCI / "bank-additional-full.csv").exists(), reason="../shared/data not present"
)
def test_the_real_uci_file_loads_completely(uci_home):
    # the small file above is not an earlier part of the real one: take it back, so the real file
    # is the source's first delivery (a later one would continue its dates)
    for batch in batches.listing(uci_home):
        if batch.status == "loaded":
            batches.drop(uci_home, batch.batch_id)
    report = ingest(REAL_UCI, source="uci-bank-marketing", settings=uci_home)
    assert report.rows_quarantined == 0
    total, yes, first, last = _rows(
        uci_home,
        "select count(*), count(*) filter (where has_converted), min(contacted_at)::date, "
        "max(contacted_at)::date from raw.campaign_contacts where batch_id = %s",
        report.batch_id,
    )[0]
    assert (total, yes) == (41188, 4640)  # SOURCE.md: 4,640 yes of 41,188
    assert (str(first)[:7], str(last)[:7]) == ("2008-05", "2010-11")


REAL_BERKA = Path(__file__).resolve().parents[3] / "shared" / "data" / "berka_pkdd99"


@pytest.fixture(scope="module")
def berka_home(tmp_path_factory) -> Settings:
    yield from _private_warehouse(tmp_path_factory, "berka_home")


def test_a_berka_bank_is_built_into_the_marts(berka_home, tmp_path):
    folder = bank(tmp_path / "berka")
    report = ingest(folder, source="berka", settings=berka_home)
    assert report.rows_quarantined == 1  # the transaction dated 930399
    assert any("permanent orders not loaded" in w for w in report.warnings)
    assert build(settings=berka_home).success
    assert _rows(berka_home, "select loan_id, loan_status from marts.fct_loans order by 1") == [
        ("5314", "default"),
        ("5316", "current"),
    ]
    assert _rows(berka_home, "select count(*) from marts.customer_portrait")[0][0] == 3
    with warehouse.connect(warehouse.owner_url(berka_home)) as conn:
        loans = events.loan_default_set(conn).frame
    # one row per loan, features as of its start, label from its status (B/D -> in arrears)
    assert loans["event_id"].tolist() == ["5314", "5316"] and loans["label"].tolist() == [1, 0]
    assert loans["term_months"].round().tolist() == [12, 12]
    # loan 5314 starts in July 1993: April's balance is in its three months before, nothing later
    assert loans["deposits_minimum_3m_amount"].iloc[0] == 540.0
    # account 20 (pseudonymised in the marts) is the only one with transactions
    balances = _rows(
        berka_home, "select month_start, balance_amount from marts.fct_balances_monthly order by 1"
    )
    assert [(str(m)[:7], float(b)) for m, b in balances] == [
        ("1993-02", 700.0),
        ("1993-03", 600.0),
        ("1993-04", 540.0),
    ]


@pytest.mark.skipif(not (REAL_BERKA / "loan.asc").exists(), reason="../shared/data not present")
def test_the_real_berka_files_load_with_their_coverage(berka_home):
    report = ingest(REAL_BERKA, source="berka", settings=berka_home)
    assert report.rows_quarantined == 0
    loans, defaults = _rows(
        berka_home,
        "select count(*), count(*) filter (where status in ('default', 'delinquent')) "
        "from raw.loans where batch_id = %s",
        report.batch_id,
    )[0]
    assert (loans, defaults) == (682, 76)  # SOURCE.md: B or D on 76 of 682 loans
    assert any("1,229 of 4,500 accounts" in w for w in report.warnings)


@pytest.mark.skipif(not (REAL_BERKA / "loan.asc").exists(), reason="../shared/data not present")
def test_the_real_berka_loans_are_evaluated_later_than_they_are_trained(tmp_path):
    import mlflow

    settings = Settings(home=tmp_path, database_url=None)
    try:
        result = evaluate_source("berka", REAL_BERKA, settings=settings, log=lambda _: None)
    finally:
        warehouse.EmbeddedServer(
            Settings(home=tmp_path / "evaluations" / "berka", database_url=None)
        ).stop()
    assert (result.events, result.model_name, result.protocol) == (682, "loan_default", "holdout")
    assert 130 <= result.evaluated_events <= 140  # the later 20 % by start date
    assert result.evaluated_from[:4] == "1998" and 0 < result.auc <= 1
    # every family measured the same way, the chosen one's figure reported
    assert set(result.families) == {"lightgbm", "logistic"}
    assert result.families[result.family]["evaluated_auc"] == result.auc
    assert len({f["version"] for f in result.families.values()}) == 2
    assert result.auc_95[0] <= result.auc <= result.auc_95[1]
    assert 0.5 < result.random_split_auc < 1
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["scored_holdout_auc"] == pytest.approx(result.auc)
    assert (tmp_path / "evaluations" / "berka" / "evaluation.json").exists()
