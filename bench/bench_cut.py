"""What the build's batch cut costs its readers: the staging reads through landed() (rows loaded
up to dq.load_cut) against the same reads of raw as it is, interleaved in the same run."""

from __future__ import annotations

from bench.common import Figure, interleaved_medians, one_batch_taken
from portrait import warehouse
from portrait.config import Settings
from portrait.ingest.batches import LOAD_CUT

# the heaviest staging reads: every transaction, and a snapshot table's latest delivery per key
READS = {
    "transactions": "select count(*), sum(amount) from {rows}",
    "accounts (latest per key)": "select count(*) from (select distinct on (account_id) * from {rows} "
    "order by account_id, batch_date desc, ingested_at desc) latest",
}


def run(
    settings: Settings, customers: int = 10_000, months: int = 6, repeats: int = 5
) -> list[Figure]:
    one_batch_taken(settings, customers, months, "cut")

    def reads(filtered: bool):
        def once(_i: int) -> None:
            with warehouse.connect(warehouse.owner_url(settings)) as conn:
                for table, query in READS.items():
                    name = "transactions" if table == "transactions" else "accounts"
                    rows = (
                        f"(select * from raw.{name} where ingested_at <= {LOAD_CUT}) r"
                        if filtered
                        else f"raw.{name}"
                    )
                    conn.execute(query.format(rows=rows)).fetchone()

        return once

    reads(True)(0)  # warm the cache on both sides
    reads(False)(0)
    (cut_s, cut_all), (plain_s, plain_all) = interleaved_medians(reads(True), reads(False), repeats)
    detail = {
        "customers": customers,
        "months": months,
        "cut_seconds": cut_all,
        "plain_seconds": plain_all,
    }
    return [
        Figure(
            "staging reads through the batch cut / raw as it is",
            cut_s / plain_s,
            "ratio",
            "<= 1.05",
            detail,
        )
    ]
