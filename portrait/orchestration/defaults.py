"""Default task arguments of every Portrait DAG: retries with backoff, timeouts, a clear failure log."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

log = logging.getLogger("portrait.orchestration")


def log_failure(context: dict) -> None:
    """One line that says which task of which run failed and why (the exception's own line)."""
    ti = context.get("task_instance")
    error = context.get("exception")
    reason = getattr(error, "line", None)
    reason = (
        reason() if callable(reason) else str(error).strip().splitlines()[0] if error else "unknown"
    )
    log.error(
        "portrait task failed: dag=%s task=%s run=%s reason=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        reason,
    )


DEFAULT_ARGS = {
    "owner": "portrait",
    # operators may tune both (e.g. a short delay for local runs); at least 2 retries are kept
    "retries": max(2, int(os.environ.get("PORTRAIT_TASK_RETRIES", "2"))),
    "retry_delay": timedelta(seconds=float(os.environ.get("PORTRAIT_RETRY_DELAY_SECONDS", "30"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": log_failure,
}
