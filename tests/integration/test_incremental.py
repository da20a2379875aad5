"""The monthly models built incrementally give what a full rebuild gives, and only touch the months
a delivery brings: one bank delivered as months 1-3, then month 4 (as a bank sends), real dbt on
the real server, in a warehouse of its own."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.ingest.api import ingest
from tests.conftest import own_warehouse, two_deliveries

pytestmark = pytest.mark.integration

MONTHLY_MARTS = ("customer_contribution", "contribution_pareto", "fct_balances_monthly", "customer_segments",
                 "segment_migration", "customer_portrait", "customer_tags", "marketing_triggers")  # fmt: skip


def _rows(settings: Settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()


def _digests(settings: Settings) -> dict[str, tuple[int, str]]:
    return {
        table: _rows(
            settings,
            f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
            f"from marts.{table} t",
        )[0]
        for table in MONTHLY_MARTS
    }


def _loads_by_month(settings: Settings, table: str) -> dict[date, set]:
    loads: dict[date, set] = {}
    for month, loaded_at in _rows(
        settings, f"select distinct month_start, loaded_at from intermediate.{table}"
    ):
        loads.setdefault(month, set()).add(loaded_at)
    return loads


@pytest.fixture(scope="module")
def delivered_twice(tmp_path_factory) -> tuple[Settings, dict[str, dict[date, set]], Path]:
    """The warehouse after both deliveries, and the load times of each month after the first."""
    with own_warehouse(tmp_path_factory, "incremental") as settings:
        landing = tmp_path_factory.mktemp("incremental_landing")
        first, first_date, second, end = two_deliveries(landing, customers=300, months=4, seed=11)
        yield from _deliver_twice(settings, first, first_date, second, end, landing)


def _deliver_twice(
    settings: Settings, first: Path, first_date: date, second: Path, end: date, landing: Path
) -> Iterator[tuple[Settings, dict[str, dict[date, set]], Path]]:
    ingest(first, batch_date=first_date, settings=settings)
    build(settings=settings)
    after_first = {
        table: _loads_by_month(settings, table)
        for table in (
            "int_balances_customer_monthly",
            "int_contribution_monthly",
            "int_contribution_ranked",
            "int_contribution_pareto_monthly",
            "int_customer_segments_monthly",
            "int_segment_migration_monthly",
        )
    }
    ingest(second, batch_date=end, settings=settings)
    build(settings=settings)
    yield settings, after_first, landing


def test_the_next_month_recomputes_only_that_month(delivered_twice):
    settings, after_first, _ = delivered_twice
    for table, first in after_first.items():
        second = _loads_by_month(settings, table)
        # migration between months starts with the second month
        expected = (2, 3) if table == "int_segment_migration_monthly" else (3, 4)
        assert (len(first), len(second)) == expected, (
            f"{table}: months {sorted(first)} then {sorted(second)}"
        )
        assert {m: second[m] for m in first} == first, f"{table}: the earlier months were rebuilt"
        indexed = _rows(
            settings,
            (
                "select count(*) from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
                "and a.attnum = i.indkey[0] where i.indrelid = %s::regclass and a.attname = 'month_start'"
            ),
            f"intermediate.{table}",
        )[0][0]
        assert indexed == 1, f"{table}: one index on month_start"
        new = max(second)
        assert new not in first and second[new] != first[max(first)], f"{table}: the new month"


def test_an_incremental_build_gives_what_a_full_rebuild_gives(delivered_twice):
    settings, _, _ = delivered_twice
    incremental = _digests(settings)
    assert all(count > 0 for count, _ in incremental.values()), incremental
    months = _rows(settings, "select count(distinct month_start) from marts.customer_contribution")[
        0
    ][0]
    assert months == 4
    build(settings=settings, full_refresh=True)
    full = _digests(settings)
    assert {t: d for t, d in incremental.items() if full[t] != d} == {}, (
        "marts differ after a full rebuild"
    )


def _redelivery(landing: Path, out: Path, rows: list[list[str]]) -> Path:
    """The second delivery again, with ``rows`` as its transactions (a correction file)."""
    shutil.copytree(landing / "second", out)
    with (landing / "second" / "transactions.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    with (out / "transactions.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return out


def test_redelivered_transactions_take_the_latest_delivery_one_batch_or_several(
    delivered_twice, tmp_path
):
    """A key delivered again replaces its row: from two batches built at once (de-duplicated by
    batch date) and from a single new batch (taken as is, its keys being unique)."""
    settings, _, landing = delivered_twice
    with (landing / "second" / "transactions.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        original = [next(reader) for _ in range(3)]
    amount = header.index("amount")

    def corrected(row: list[str], value: str) -> list[str]:
        return [value if i == amount else v for i, v in enumerate(row)]

    end = _rows(settings, "select max(batch_date) from dq.ingest_batches")[0][0]
    # two batches before one build: the later batch date wins for the key both carry
    ingest(
        _redelivery(landing, tmp_path / "a", [corrected(r, "101.01") for r in original[:2]]),
        batch_date=end + timedelta(days=1),
        settings=settings,
    )
    ingest(
        _redelivery(landing, tmp_path / "b", [corrected(original[1], "202.02")]),
        batch_date=end + timedelta(days=2),
        settings=settings,
    )
    ids = [r[header.index("txn_id")] for r in original]

    def stored() -> dict[str, str]:
        return dict(
            _rows(
                settings,
                "select txn_id, amount::text from intermediate.int_transactions_deduplicated "
                "where txn_id = any(%s)",
                ids,
            )
        )

    build(settings=settings)
    assert stored() == {ids[0]: "101.01", ids[1]: "202.02", ids[2]: original[2][amount]}
    # then one batch on its own
    ingest(
        _redelivery(landing, tmp_path / "c", [corrected(original[2], "303.03")]),
        batch_date=end + timedelta(days=3),
        settings=settings,
    )
    build(settings=settings)
    assert stored() == {ids[0]: "101.01", ids[1]: "202.02", ids[2]: "303.03"}
    assert (
        _rows(
            settings,
            "select count(*) from intermediate.int_transactions_deduplicated where txn_id = any(%s)",
            ids,
        )[0][0]
        == 3
    )
