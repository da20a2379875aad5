"""What the DAG tasks call: one function each, returning a small JSON-able summary (XCom)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from portrait.config import get_settings


def ingest_batch(landing_dir: str, source: str, batch_date: str) -> dict:
    from portrait.ingest.api import ingest

    report = ingest(Path(landing_dir), source=source, batch_date=date.fromisoformat(batch_date))
    return {"batch_id": report.batch_id, "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined, "seconds": report.seconds}  # fmt: skip


def prepare_build() -> None:
    from portrait.build import prepare_build as run

    run(get_settings())


def landing_gate() -> dict | None:
    from portrait.build import landing_gate as run

    return run(get_settings())


def dbt_build() -> dict:
    from portrait.build import dbt_build as run

    report = run(get_settings())
    return {"counts": report.counts, "seconds": report.seconds}


def marts_gate() -> dict:
    from portrait.build import marts_gate as run

    return run(get_settings())


def publish(landing: dict | None, marts: dict | None) -> dict:
    from portrait.build import publish as run

    gates = [g for g in (landing, marts) if g]
    run(get_settings(), as_of=None, seconds=0.0,
        landing_run=landing["run_id"] if landing else None, marts_run=marts["run_id"] if marts else None,
        warnings=sum(int(g["warnings"]) for g in gates))  # fmt: skip
    return {"published": True, "warnings": sum(int(g["warnings"]) for g in gates)}


def snapshot() -> dict:
    from portrait.build import snapshot as run

    report = run(get_settings())
    return {"snapshots": len(report.nodes)}
