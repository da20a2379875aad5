"""A UCI file delivered in two parts gets the dates and ids of the whole file: the second
delivery continues the contacts the first loaded (real ingest into a warehouse of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.ingest import batches
from portrait.ingest.api import ingest
from tests.conftest import own_warehouse
from tests.unit.test_uci_adapter import ADDITIONAL_HEADER, additional_row, write

pytestmark = pytest.mark.integration

# the split falls inside May 2008 (Thursday then Friday) and the file wraps into March 2009
ROWS = [("may", "mon"), ("may", "mon"), ("may", "thu"), ("may", "fri"), ("jun", "mon"), ("nov", "wed"),
        ("mar", "tue")]  # fmt: skip


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Iterator[Settings]:
    with own_warehouse(tmp_path_factory, "uci_deliveries") as settings:
        yield settings


def _contacts(settings: Settings) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(
            "select contact_id, customer_id, contacted_at::date::text from raw.campaign_contacts "
            "order by contact_id"
        ).fetchall()


def test_a_file_split_in_two_deliveries_gets_the_dates_and_ids_of_the_whole(settings, tmp_path):
    rows = [additional_row(month=m, weekday=w, y="no") for m, w in ROWS]
    for part in ("part1", "part2", "whole"):
        (tmp_path / part).mkdir()
    first = write(tmp_path / "part1" / "bank-additional-full.csv", ADDITIONAL_HEADER, rows[:3])
    second = write(tmp_path / "part2" / "bank-additional-full.csv", ADDITIONAL_HEADER, rows[3:])
    ingested = [ingest(p, source="uci-bank-marketing", settings=settings) for p in (first, second)]
    assert ingested[0].batch_id != ingested[1].batch_id
    parts = _contacts(settings)
    for report in ingested:
        batches.drop(settings, report.batch_id)
    whole = write(tmp_path / "whole" / "bank-additional-full.csv", ADDITIONAL_HEADER, rows)
    loaded = ingest(whole, source="uci-bank-marketing", settings=settings)
    assert parts == _contacts(settings) and len(parts) == len(ROWS)
    days = [day for _, _, day in parts]
    assert days[2:4] == ["2008-05-08", "2008-05-09"] and days[-1].startswith("2009-03")
    again = ingest(whole, source="uci-bank-marketing", settings=settings)  # the same file again
    assert again.batch_id == loaded.batch_id and parts == _contacts(settings), (
        "a file delivered again keeps its dates"
    )
