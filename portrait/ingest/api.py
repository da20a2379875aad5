"""`ingest(path, source, batch_date)`: the one function the CLI and the DAGs call."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest.adapters import ADAPTERS
from portrait.ingest.loader import BatchReport, ProgressFn, ingest_files, record_refusal


def ingest(
    path: Path,
    *,
    source: str = "synthetic",
    batch_date: date | None = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> BatchReport:
    """Load one landing delivery as a batch. Default batch date: the delivery's own, else today (UTC)."""
    if source not in ADAPTERS:
        raise InputError(
            f"unknown source {source!r}",
            where="--source",
            rule="one of " + ", ".join(sorted(ADAPTERS)),
        )
    discover, default_date = ADAPTERS[source]
    when = batch_date or default_date(path, settings) or datetime.now(UTC).date()
    try:
        files, warnings = discover(path, settings)
    except InputError as err:
        record_refusal(source, when, err, settings)
        raise
    return ingest_files(
        files,
        source=source,
        batch_date=when,
        settings=settings,
        progress=progress,
        warnings=warnings,
    )
