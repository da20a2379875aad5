"""The quality gates, run beside dbt's build: the landing gate in a forked child, the marts gate
on each mart as soon as dbt has built it. Nothing is published before both verdicts."""

from __future__ import annotations

import contextlib
import functools
import re
import threading

from portrait import warehouse
from portrait.config import Settings
from portrait.dbt_runner import BUILD_SCHEMA, PUBLISHED_SCHEMA, DbtProgress, cancel_build_queries
from portrait.publication import landing_gate_inputs, request_rebuild


class LandingGateBeside:
    """The landing gate, run beside dbt's build: Great Expectations' own work (~0.2 s of Python
    per suite) overlaps dbt's longest models, which wait on the database. It runs in a child
    process forked before dbt starts (portrait/forked.py: its Python then does not take turns
    with dbt's), or in a thread where forking is not safe; a thread here waits for its verdict.
    dbt builds into the build schema and takes the new batches into the incremental tables,
    which nothing reads before publication; the gate's verdict is awaited before anything is
    published. When it fails, the next build rebuilds the incremental tables (a rebuild request)
    instead of keeping what this one took in from the refused batches."""

    def __init__(self, settings: Settings) -> None:
        from portrait import forked

        self.settings = settings
        self.result = None
        self.error: BaseException | None = None
        self._dbt_done = threading.Event()
        run = functools.partial(run_landing_gate, settings, docs_in_background=True)
        # forked first: the thread below is this process's second
        self.child = forked.ForkedGate(run, name="landing gate") if forked.can_fork() else None
        self._thread = threading.Thread(target=self._run, name="landing-gate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from portrait.expectations.gates import GateFailed

        try:
            if self.child is not None:
                self.result = self.child.result()
            else:
                self.result = run_landing_gate(self.settings, docs_in_background=True)
            if self.result is not None:
                _raise_if_failed(self.result)
        except BaseException as err:  # raised in the caller's thread by wait()
            self.error = err
            # fail fast: dbt's queries are cancelled as they start (its nodes fail, their
            # dependents are skipped) until the caller reports the gate's failure
            while isinstance(err, GateFailed) and not self._dbt_done.wait(0.2):
                with contextlib.suppress(Exception):
                    cancel_build_queries(self.settings)

    def wait(self):
        """After dbt: the gate's result (None when there was no new batch); raises what the gate
        raised."""
        self._dbt_done.set()
        self._thread.join()
        if self.error is not None:
            from portrait.expectations.gates import GateFailed

            if isinstance(self.error, GateFailed):
                request_rebuild(
                    self.settings, f"a build took in batches its landing gate refused: {self.error}"
                )
            raise self.error
        return self.result


def gx_done(landing: LandingGateBeside | None, results: list) -> None:
    """Wait for the landing gate (beside dbt or before it) and its Data Docs, whatever they raise
    (the build reports that)."""
    if landing is not None:
        landing._thread.join()
        if landing.result is not None:
            landing.result.docs_written()
    for result in results:
        result.docs_written()


def landing_gate(settings: Settings) -> dict[str, object] | None:
    """Step 2: the landing gate on the batches loaded since the last publication (None if none)."""
    result = checked_landing_gate(settings)
    return result.summary() if result else None


def checked_landing_gate(settings: Settings, *, docs_in_background: bool = False):
    result = run_landing_gate(settings, docs_in_background=docs_in_background)
    if result is not None:
        _raise_if_failed(result)
    return result


def run_landing_gate(settings: Settings, *, docs_in_background: bool = False):
    """The landing gate's GateResult, failed or not (None when no batch is new)."""
    from portrait.expectations import gates as dq
    from portrait.expectations.suites import landing

    batches, recent, delivered = landing_gate_inputs(settings)
    if not batches:
        return None
    suites = landing.suites(batches, recent, delivered, settings.stale_batch_days)
    return dq.run_gate("landing", suites, settings=settings, docs_in_background=docs_in_background)


def _raise_if_failed(result) -> None:
    """GateFailed for a failed gate, once its Data Docs (what governance opens next) are written."""
    from portrait.expectations import gates as dq

    if not result.success:
        result.finish_docs()
    dq.raise_if_failed(result)


def marts_gate(settings: Settings) -> dict[str, object]:
    """Step 4: the marts gate on the build schema, against the published marts if any."""
    return checked_marts_gate(settings).summary()


def checked_marts_gate(settings: Settings, *, docs_in_background: bool = False, ready=None):
    from portrait.expectations import gates as dq
    from portrait.expectations.suites import marts

    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        published = conn.execute(
            "select to_regclass(%s)", (f"{PUBLISHED_SCHEMA}.customer_portrait",)
        ).fetchone()[0]
    result = dq.run_gate(
        "marts",
        marts.suites(BUILD_SCHEMA, PUBLISHED_SCHEMA if published else None),
        settings=settings,
        docs_in_background=docs_in_background,
        ready=ready,
    )
    _raise_if_failed(result)
    return result


def build_tables_read(spec) -> set[str]:
    """The build schema's tables a gate suite reads: its query's and its row queries'."""
    texts = [
        spec.query,
        *(getattr(e, "unexpected_rows_query", None) or "" for e in spec.expectations),
    ]
    return set(re.findall(rf"\b{BUILD_SCHEMA}\.(\w+)", " ".join(texts)))


class MartsGateBeside:
    """The marts gate, run beside dbt's build: each suite is validated as soon as dbt has built
    the tables it reads, so the portrait's checks overlap the models dbt still builds after it
    (the long format, tags, triggers, target lists) instead of following them. Nothing is
    published before its verdict, as before. It starts once the GX work before it is done
    (``after``: the landing gate and its Data Docs; one GX context at a time), and gives up at the
    next suite when dbt fails (its verdict would not be read)."""

    def __init__(self, settings: Settings, progress: DbtProgress, after=None) -> None:
        self.settings = settings
        self.progress = progress
        self.result = None
        self.error: BaseException | None = None
        self._after = after
        self._thread = threading.Thread(target=self._run, name="marts-gate", daemon=True)
        self._thread.start()

    def _ready(self, spec) -> bool:
        return self.progress.wait_for(build_tables_read(spec))

    def _run(self) -> None:
        try:
            if self._after is not None:
                self._after()
            self.result = checked_marts_gate(
                self.settings, docs_in_background=True, ready=self._ready
            )
        except BaseException as err:  # raised in the caller's thread by wait()
            self.error = err

    def wait(self):
        """After ``progress.finished``: the gate's result; raises what it raised (GateFailed)."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def abandon(self) -> None:
        """The build failed: stop before the next suite and wait for the thread to end."""
        self.progress.finished(False)
        self._thread.join()
