"""Full warehouse build vs the incremental rebuild after one more month arrives, same run."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.common import Figure
from portrait.build import build
from portrait.config import Settings
from portrait.ingest.api import ingest
from portrait.ingest.contract import TABLES
from portrait.synth.generator import generate

# The time column of each increment table: rows are split into months by it.
EVENT_TIME = {"balances": "month_end_date", "transactions": "booked_at", "digital_events": "event_at",
              "service_interactions": "interaction_at", "campaign_contacts": "contacted_at"}  # fmt: skip


def split_by_month(folder: Path, last_day: str, first_day: str, out: Path) -> None:
    """A delivery holding the snapshot tables whole and the increment tables between two days
    (inclusive), read and written in streamed blocks (55 M transactions at 100k customers)."""
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        source = folder / f"{table.name}.csv"
        if not source.exists():  # a table the synthetic bank does not deliver (economic_indicators)
            continue
        if table.name not in EVENT_TIME:
            shutil.copy(source, out / source.name)
            continue
        reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=64 << 20),
                                convert_options=pacsv.ConvertOptions(
                                    column_types={c: pa.string() for c in table.column_names},
                                    strings_can_be_null=False))  # fmt: skip
        with pacsv.CSVWriter(out / source.name, reader.schema) as writer:
            for block in reader:
                day = pc.utf8_slice_codeunits(block.column(EVENT_TIME[table.name]), 0, 10)
                keep = pc.and_(pc.greater_equal(day, first_day), pc.less_equal(day, last_day))
                writer.write_batch(block.filter(keep))


def run(settings: Settings, customers: int = 10_000, months: int = 12) -> list[Figure]:
    work = Path(tempfile.mkdtemp(dir=settings.home, prefix="portrait-bench-build-"))
    result = generate(work / "all", customers=customers, months=months + 1, seed=42)
    end = date.fromisoformat(result.end_date)
    last_month_start = end.replace(day=1)
    first = last_month_start - __import__("datetime").timedelta(days=1)
    split_by_month(work / "all", first.isoformat(), "0001-01-01", work / "first")
    split_by_month(work / "all", end.isoformat(), last_month_start.isoformat(), work / "next")

    ingest(work / "first", batch_date=first, settings=settings)
    began = time.perf_counter()
    full = build(settings=settings, full_refresh=True)
    full_s = time.perf_counter() - began

    ingest(work / "next", batch_date=end, settings=settings)
    began = time.perf_counter()
    incremental = build(settings=settings)
    incremental_s = time.perf_counter() - began
    shutil.rmtree(work, ignore_errors=True)

    def slowest(report) -> list[tuple[str, float]]:
        return [(n.name, n.seconds) for n in sorted(report.nodes, key=lambda n: -n.seconds)[:6]]

    detail = {"customers": customers, "months": months, "full_seconds": round(full_s, 1),
              "incremental_seconds": round(incremental_s, 1), "full_slowest": slowest(full),
              "incremental_slowest": slowest(incremental)}  # fmt: skip
    return [
        Figure(
            f"full build seconds ({customers // 1000}k x {months} months)", full_s, "s", "", detail
        ),
        Figure(
            "incremental build (one more month) / full build",
            incremental_s / full_s,
            "ratio",
            "<= 0.25 (target 0.15)",
            detail,
        ),
    ]
