"""Full warehouse build vs the incremental rebuild after one more month arrives, same run."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.common import Figure, cpu_seconds, cpu_used
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
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=64 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in table.column_names}, strings_can_be_null=False
            ),
        )
        with pacsv.CSVWriter(out / source.name, reader.schema) as writer:
            for block in reader:
                day = pc.utf8_slice_codeunits(block.column(EVENT_TIME[table.name]), 0, 10)
                keep = pc.and_(pc.greater_equal(day, first_day), pc.less_equal(day, last_day))
                writer.write_batch(block.filter(keep))


def _month_start(day: date, back: int) -> date:
    """The first day of the month ``back`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def run(
    settings: Settings, customers: int = 10_000, months: int = 12, pairs: int = 3
) -> list[Figure]:
    """``pairs`` interleaved measurements: a full build on ``months`` months, then the incremental
    build after one more month arrives; then a full build of that history and the next month's
    incremental, and so on. Each ratio compares an incremental build with the full build of the
    history it starts from, so a slow spell of the machine lands on both sides of it; the figure
    is the median of the ratios."""
    work = Path(tempfile.mkdtemp(dir=settings.home, prefix="portrait-bench-build-"))
    result = generate(work / "all", customers=customers, months=months + pairs, seed=42)
    end = date.fromisoformat(result.end_date)
    # the deliveries: the first `months` months, then one month each (the last ends on `end`)
    starts = [_month_start(end, back) for back in range(pairs - 1, -1, -1)]
    lasts = [following - timedelta(days=1) for following in starts[1:]] + [end]
    split_by_month(
        work / "all", (starts[0] - timedelta(days=1)).isoformat(), "0001-01-01", work / "first"
    )
    for i, (first_day, last_day) in enumerate(zip(starts, lasts, strict=True)):
        split_by_month(work / "all", last_day.isoformat(), first_day.isoformat(), work / f"next{i}")

    ingest(work / "first", batch_date=starts[0] - timedelta(days=1), settings=settings)
    full_s: list[float] = []
    incremental_s: list[float] = []
    # CPU seconds of each build: (Python, server); None for the server on an external database
    full_cpu: list[tuple[float, float | None]] = []
    incremental_cpu: list[tuple[float, float | None]] = []

    def timed(**kwargs):
        cpu = cpu_seconds()  # first: it can wait for closing connections' backends to exit
        began = time.perf_counter()
        report = build(settings=settings, **kwargs)
        seconds = time.perf_counter() - began
        return report, seconds, cpu_used(cpu)

    for i, last_day in enumerate(lasts):
        full, seconds, cpu = timed(full_refresh=True)
        full_s.append(seconds)
        full_cpu.append(cpu)
        ingest(work / f"next{i}", batch_date=last_day, settings=settings)
        incremental, seconds, cpu = timed()
        incremental_s.append(seconds)
        incremental_cpu.append(cpu)
        print(
            f"  build pair {i + 1}/{pairs}: full {full_s[-1]:.1f} s, incremental {incremental_s[-1]:.1f} s",
            flush=True,
        )
        if i == 0:
            first_full, first_incremental = full, incremental
    shutil.rmtree(work, ignore_errors=True)

    def slowest(report) -> list[tuple[str, float]]:
        return [(n.name, n.seconds) for n in sorted(report.nodes, key=lambda n: -n.seconds)[:6]]

    ratios = [inc / full for inc, full in zip(incremental_s, full_s, strict=True)]

    def total(cpu: tuple[float, float | None]) -> float | None:
        return None if cpu[1] is None else cpu[0] + cpu[1]

    cpu_ratios = [
        None if total(f) is None else total(i) / total(f)
        for i, f in zip(incremental_cpu, full_cpu, strict=True)
    ]
    detail = {
        "customers": customers,
        "months": months,
        "pairs": pairs,
        "full_seconds": [round(s, 1) for s in full_s],
        "incremental_seconds": [round(s, 1) for s in incremental_s],
        "ratios": [round(r, 3) for r in ratios],
        "full_cpu_seconds_python_server": [
            [round(x, 1) if x is not None else None for x in c] for c in full_cpu
        ],
        "incremental_cpu_seconds_python_server": [
            [round(x, 1) if x is not None else None for x in c] for c in incremental_cpu
        ],
        "cpu_ratios": [None if r is None else round(r, 3) for r in cpu_ratios],
        "full_slowest": slowest(first_full),
        "incremental_slowest": slowest(first_incremental),
    }
    return [
        Figure(
            f"full build seconds ({customers // 1000}k x {months} months, first pair)",
            full_s[0],
            "s",
            "",
            detail,
        ),
        Figure(
            f"incremental build (one more month) / full build, median of {pairs} pairs",
            statistics.median(ratios),
            "ratio",
            "<= 0.25 (target 0.15)",
            detail,
        ),
    ] + (
        []
        if None in cpu_ratios
        else [
            Figure(
                f"incremental / full build in CPU seconds (Python + server), median of {pairs} pairs",
                statistics.median(cpu_ratios),
                "ratio",
                "beside the wall-time ratio: the work each build does, whatever else the machine runs",
                detail,
            )
        ]
    )
