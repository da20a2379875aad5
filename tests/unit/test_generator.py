"""The synthetic bank: deterministic, consistent with the contract, with the planted structure."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from portrait.ingest.contract import TABLES
from portrait.synth.generator import NOT_GENERATED, generate


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    generate(out, customers=1500, months=6, seed=7)
    return out


def _read(folder: Path, table: str):
    return pacsv.read_csv(folder / f"{table}.csv").to_pandas()


def test_same_seed_same_files(bank: Path, tmp_path: Path):
    generate(tmp_path, customers=1500, months=6, seed=7)
    for table in (t for t in TABLES if t.name not in NOT_GENERATED):
        assert (bank / f"{table.name}.csv").read_bytes() == (
            tmp_path / f"{table.name}.csv"
        ).read_bytes(), table.name


def test_every_contract_table_is_written_with_its_columns(bank: Path):
    for table in (t for t in TABLES if t.name not in NOT_GENERATED):
        header = (bank / f"{table.name}.csv").read_text().splitlines()[0]
        assert header.replace('"', "").split(",") == table.column_names


def test_references_are_consistent(bank: Path):
    customers = set(_read(bank, "customers").customer_id)
    accounts = _read(bank, "accounts")
    assert set(accounts.customer_id) <= customers
    txn = _read(bank, "transactions")
    assert set(txn.account_id) <= set(accounts.account_id)
    assert txn.txn_id.is_unique
    assert (txn.amount > 0).all()


def test_retail_corporate_mix_and_heavy_tailed_wealth(bank: Path):
    customers = _read(bank, "customers")
    corporate_share = (customers.customer_type == "corporate").mean()
    assert 0.03 < corporate_share < 0.07
    balances = _read(bank, "balances")
    last = balances[balances.month_end_date == balances.month_end_date.max()]
    per_account = np.sort(last.balance_amount.clip(lower=0).to_numpy())[::-1]
    top10 = per_account[: len(per_account) // 10].sum() / per_account.sum()
    assert top10 > 0.5, f"top 10% of balances hold {top10:.0%}"


def test_campaigns_have_control_groups_and_treatment_lifts_conversion(bank: Path):
    contacts = _read(bank, "campaign_contacts")
    share = (contacts.contact_group == "control").mean()
    assert 0.15 < share < 0.25
    known = contacts.dropna(subset=["has_converted"])
    rates = known.groupby("contact_group").has_converted.mean()
    assert rates["treated"] > rates["control"] * 1.3


def test_churners_close_their_relationship(bank: Path):
    customers = _read(bank, "customers")
    closed = customers.closed_date.notna().mean()
    assert 0.02 < closed < 0.15
    assert (pd_dates(customers.closed_date.dropna()) <= np.datetime64("2025-06-30")).all()


def pd_dates(series):
    return series.astype("datetime64[ns]").to_numpy()


def test_parquet_matches_csv(bank: Path, tmp_path: Path):
    generate(tmp_path, customers=1500, months=6, seed=7, fmt="parquet")
    import pyarrow.parquet as pq

    for table in ("customers", "transactions"):
        assert pq.read_table(tmp_path / f"{table}.parquet").num_rows == len(_read(bank, table))


def test_start_date_moves_the_window(tmp_path: Path):
    result = generate(tmp_path, customers=50, months=2, seed=1, start_date=date(2024, 5, 1))
    assert (result.start_date, result.end_date) == ("2024-05-01", "2024-06-30")
