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


def prepare_build() -> dict:
    """The build schema, and whether dbt must rebuild the incremental tables (and why)."""
    from portrait.build import increments_to_rebuild
    from portrait.build import prepare_build as run

    settings = get_settings()
    run(settings)
    reason = increments_to_rebuild(settings)
    return {"full_refresh": reason is not None, "reason": reason}


def landing_gate() -> dict | None:
    from portrait.build import landing_gate as run

    return run(get_settings())


def marts_gate() -> dict:
    from portrait.build import marts_gate as run

    return run(get_settings())


def publish(landing: dict | None, marts: dict | None, prepared: dict | None = None) -> dict:
    from portrait.build import publish as run

    gates = [g for g in (landing, marts) if g]
    run(get_settings(), as_of=None, seconds=0.0,
        landing_run=landing["run_id"] if landing else None, marts_run=marts["run_id"] if marts else None,
        warnings=sum(int(g["warnings"]) for g in gates),
        full_refresh=bool(prepared and prepared["full_refresh"]))  # fmt: skip
    return {"published": True, "warnings": sum(int(g["warnings"]) for g in gates),
            "tables": published_table_uris()}  # fmt: skip


def published_table_uris() -> list[str]:
    """Asset URIs of every table and view in the published marts."""
    from portrait import warehouse
    from portrait.build import PUBLISHED_SCHEMA
    from portrait.orchestration.assets import table_uri

    url = warehouse.owner_url(get_settings())
    with warehouse.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1",
            (PUBLISHED_SCHEMA,)).fetchall()]  # fmt: skip
    return [table_uri(url, PUBLISHED_SCHEMA, name) for name in names]


def train_model(name: str) -> dict:
    from portrait.ml.train import train

    result = train(name, settings=get_settings())
    return {"model": name, "version": result.version, "promoted": result.promoted,
            "decision": result.decision, "metrics": result.metrics}  # fmt: skip


def champions() -> list[str]:
    from portrait.ml.promote import listing

    return [row["model"] for row in listing(get_settings()) if row["champion"]]


def prepare_scoring(logical_date: str | None = None) -> str:
    """Materialise features once before the slices; returns the as-of date they share."""
    from portrait.ml.score import prepare

    return prepare(date.fromisoformat(logical_date) if logical_date else None,
                   settings=get_settings()).isoformat()  # fmt: skip


def score_slice(model: str, as_of: str, slice_index: int, slices: int) -> dict:
    from portrait.ml.score import score

    result = score(model, as_of=date.fromisoformat(as_of), slice_index=slice_index, slices=slices,
                   settings=get_settings())  # fmt: skip
    return {"model": model, "slice": result.slice, "rows": result.rows, "seconds": result.seconds}


def measure_drift(models: list[str], as_of: str) -> dict:
    from portrait.ml.score import measure_drift as run

    warnings = {m: len(run(m, date.fromisoformat(as_of), settings=get_settings())) for m in models}
    return {"drift_warnings": warnings}


def publish_scored_marts() -> dict:
    from portrait.build import publish_scored_marts as run

    report = run(get_settings())
    return {"counts": report.counts, "seconds": report.seconds}


def campaign_feedback() -> dict:
    from portrait.ml.feedback import evaluate_outcomes

    return evaluate_outcomes(settings=get_settings())
