"""`portrait build`: the warehouse's build recipe (Write-Audit-Publish), in one screen.

Its parts, one module each: dbt_runner (dbt's Python runner and its patches), manifest_cache
(dbt's parsed project between processes), gates_beside (the landing and marts gates beside dbt),
publication (the build schema, the swap, its record and rebuild requests), scored_marts.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from datetime import date

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.dbt_runner import (
    PUBLISHED_SCHEMA,
    BuildReport,
    DbtProgress,
    NodeOutcome,
    SnapshotsFailed,
    build_variables,
    dbt_environment,
    raise_for_failed_nodes,
    run_dbt,
)
from portrait.errors import PortraitError
from portrait.gates_beside import LandingGateBeside, MartsGateBeside, checked_landing_gate, gx_done
from portrait.ingest.batches import BatchesChanged, Cut, check_unchanged, take_cut
from portrait.manifest_cache import parse_project, project_fingerprint
from portrait.publication import (
    KEPT_WHEN_UNCHANGED,
    increments_to_rebuild,
    latest_batch_date,
    mark_snapshots_taken,
    prepare_build_schema,
    publish,
    request_rebuild,
    restore_published_views,
    staging_can_be_kept,
)


def ensure_pseudonym_key(settings: Settings) -> None:
    """The secret behind pseudonymous keys, stored where only the pipeline can read it."""
    key = settings.pseudonym_key or warehouse.secret_file(settings, "pseudonym.key")
    from portrait.ingest.loader import ensure_landing_tables

    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        ensure_landing_tables(
            conn
        )  # sources exist (and are up to date) even before the first ingest
        conn.execute("create table if not exists raw.pseudonym_key (key text not null)")
        conn.execute(
            "comment on table raw.pseudonym_key is 'Secret of the keyed hash behind pseudonymous ids in marts'"
        )
        current = conn.execute("select key from raw.pseudonym_key").fetchall()
        if [r[0] for r in current] != [key]:
            with conn.transaction():
                conn.execute("delete from raw.pseudonym_key")
                conn.execute("insert into raw.pseudonym_key values (%s)", (key,))


def prepare_build(settings: Settings, *, fresh: bool = True) -> None:
    """Step 1: pseudonym key, landing tables up to date, an empty build schema."""
    ensure_pseudonym_key(settings)
    prepare_build_schema(settings, fresh=fresh)


# Left out of the daily build: snapshots run after publishing; unit tests check the models' logic
# on fixed inputs, not the day's data, so they run in CI (`make test`, tests/integration/
# test_build.py) as dbt advises, instead of on every build's critical path.
DAILY_EXCLUDE = ["resource_type:snapshot", "resource_type:unit_test"]


def dbt_build(
    settings: Settings,
    *,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    manifest=None,
    keep_unchanged: bool = False,
    callbacks: list | None = None,
) -> BuildReport:
    """Step 3: dbt build (models, seeds, data tests; see DAILY_EXCLUDE) into the build schema;
    with ``keep_unchanged``, the staging views and seeds as they are (KEPT_WHEN_UNCHANGED);
    ``callbacks`` receive dbt's events (each finished node, among others)."""
    args = ["build", "--exclude", *DAILY_EXCLUDE]
    if keep_unchanged:  # "empty": the excluded models' and seeds' tests stay selected
        args += [*KEPT_WHEN_UNCHANGED, "--indirect-selection", "empty"]
    if select:
        args += ["--select", select, "--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    report = run_dbt(
        args,
        settings=settings,
        variables=build_variables(as_of),
        manifest=manifest,
        callbacks=callbacks,
    )
    report.as_of_date = as_of.isoformat() if as_of else None
    raise_for_failed_nodes(report, settings)
    return report


def unit_tests(settings: Settings | None = None) -> BuildReport:
    """dbt's unit tests (hand-computed expected rows for the contribution formula, RFM scoring,
    tag rules, triggers and uplift); raises BuildFailed naming the first that fails."""
    settings = settings or get_settings()
    # the inputs' column types come from the published marts (a built warehouse is needed)
    report = run_dbt(
        ["test", "--select", "test_type:unit"],
        settings=settings,
        variables=build_variables(schema=PUBLISHED_SCHEMA),
    )
    raise_for_failed_nodes(report, settings, publishing=False)
    return report


def snapshot(settings: Settings, as_of: date | None = None) -> BuildReport:
    """Step 6 (after publishing): SCD2 snapshots of the published portrait.

    The snapshots read the published marts through the source ``published``; the variables are
    the build's own, so dbt's partial parsing holds between the two invocations (a full parse
    costs ~3.5 s each time the variables change)."""
    # --no-write-json: the build's invocation just wrote the same manifest, and its run results
    # (130 nodes) stay in target/ instead of being replaced by these two snapshots'
    variables = build_variables(as_of)
    manifest = parse_project(settings, variables)  # the build's, from the cache
    try:
        report = run_dbt(
            ["snapshot", "--no-write-json"],
            settings=settings,
            variables=variables,
            manifest=manifest,
        )
        raise_for_failed_nodes(report, settings, publishing=False)
    except PortraitError as err:  # the marts are published by now: say so
        raise SnapshotsFailed(
            f"the marts were published (as of {as_of or 'the latest batch'}), then the "
            f"snapshots failed: {err.what}",
            where=err.where,
            rule="the next build (or `portrait run`) takes the snapshots",
        ) from None
    mark_snapshots_taken(settings)
    return report


def _batch_set_changed(settings: Settings, cut: Cut) -> BatchesChanged | None:
    """The error to raise if a batch of the set was replaced or dropped during the build: the
    models may have read part of it, so nothing is published (and a test that failed on it names
    this as its cause). The incremental tables took it in: a rebuild is requested."""
    try:
        check_unchanged(settings, cut)
    except BatchesChanged as err:
        request_rebuild(settings, err.what)
        return err
    return None


def build(
    *,
    settings: Settings | None = None,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    gates: bool = True,
    progress: Callable[[str], None] | None = None,
    wait: float = 0.0,
) -> BuildReport:
    """The warehouse_build pipeline's steps (portrait.orchestration.chain) in this process: what
    `portrait build` runs, and what the warehouse_build DAG's tasks run one by one. Publish_build,
    then the snapshots of what it published; the nodes and counts of both. The build lock is held
    throughout (BuildBusy after ``wait`` seconds if another build holds it)."""
    from portrait.build_lock import held
    from portrait.orchestration.chain import run_local

    settings = settings or get_settings()
    params = {
        "as_of": as_of.isoformat() if as_of else "",
        "select": select or "",
        "full_refresh": full_refresh,
        "gates": gates,
    }
    with held(settings, wait):
        results = run_local(
            "warehouse_build", params, say=progress or (lambda _line: None), settings=settings
        )
    report = BuildReport.from_dict(results["build"])
    snapshots = results.get("snapshots", {})
    for node in snapshots.get("nodes", []):
        report.nodes.append(NodeOutcome(**node))
    for key, value in snapshots.get("counts", {}).items():
        report.counts[key] = report.counts.get(key, 0) + value
    return report


def publish_build(
    *,
    settings: Settings | None = None,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    gates: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Write-Audit-Publish: landing gate, dbt build into the build schema, marts gate, swap.

    With ``select`` the build schema is built for inspection and nothing is published.
    Raises GateFailed or BuildFailed naming the first failure; the published marts stay as they were.
    ``as_of`` defaults to the latest batch date delivered, read once here: every model, the
    publication's record and the snapshots use that one date.
    ``progress`` receives a short line at each step and as dbt finishes each node (on dbt's
    threads); it is first called after the landing gate has forked (a spinner's thread started
    before would keep it from forking).
    """
    settings = settings or get_settings()
    cut = take_cut(settings)  # the batch set, fixed before anything reads raw
    as_of = as_of or latest_batch_date(settings)
    # dbt's variables are set here, on this thread, for the whole build: the parse thread's own
    # invocation then finds them set and removes none of them when it ends, while Great
    # Expectations (the landing gate, beside it) copies os.environ key by key (a key removed in
    # between raised KeyError: 'PORTRAIT_DB_HOST' in the gate)
    with dbt_environment(settings):
        return _build(
            settings,
            cut=cut,
            as_of=as_of,
            select=select,
            full_refresh=full_refresh,
            gates=gates,
            say=progress or (lambda _line: None),
        )


def _build(
    settings: Settings,
    *,
    cut: Cut,
    as_of: date | None,
    select: str | None,
    full_refresh: bool,
    gates: bool,
    say: Callable[[str], None],
) -> BuildReport:
    from concurrent.futures import ThreadPoolExecutor

    began = time.perf_counter()
    prepare_build(settings, fresh=select is None)
    reason = None if full_refresh or select is not None else increments_to_rebuild(settings)
    full_refresh = full_refresh or reason is not None
    # the landing gate beside dbt starts first: it forks a child process while this one has a
    # single thread
    landing = LandingGateBeside(settings) if gates and select is None and not full_refresh else None
    # dbt parses the project, then builds, while the landing gate validates beside it (nothing is
    # published before its verdict); each gate's Data Docs are written while the next step runs:
    # the landing gate's during dbt, the marts gate's during publishing and the snapshots
    say("landing gate and dbt's parse" if landing else "dbt's parse")
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbt-parse")
    fingerprint = project_fingerprint(settings)  # the cached manifest's key, the publication's
    parsing = parser.submit(parse_project, settings, build_variables(as_of), fingerprint)
    results = []
    if gates and select is None and full_refresh:
        # before dbt when rebuilding: a full refresh replaces the incremental tables under the
        # published fact views (macros/repoint_dependent_views.sql moves the views to the new
        # tables), and a refused batch must stop it while the views still read the old ones
        say("landing gate (before a full refresh)")
        try:
            gate = checked_landing_gate(settings, docs_in_background=True)
        finally:
            parser.shutdown(wait=True)
        results += [gate] if gate else []
    progress = DbtProgress(say)
    marts_gate = None
    try:
        dbt_succeeded = False
        try:
            manifest = parsing.result()
            keep = (
                select is None
                and not full_refresh
                and staging_can_be_kept(settings, manifest, fingerprint)
            )
            if gates and select is None:
                marts_gate = MartsGateBeside(
                    settings, progress, after=functools.partial(gx_done, landing, list(results))
                )
            say("dbt build" + (" (full refresh)" if full_refresh else ""))
            report = dbt_build(
                settings,
                as_of=as_of,
                select=select,
                full_refresh=full_refresh,
                manifest=manifest,
                keep_unchanged=keep,
                callbacks=[progress.on_event],
            )
            dbt_succeeded = True
        finally:
            progress.finished(dbt_succeeded)
            # a failed landing gate is the error to report, whatever dbt did beside it
            gate = landing.wait() if landing else None
            results += [gate] if gate else []
        report.full_refresh_reason = reason
        if select is not None:
            return report
        for result in results:
            result.finish_docs()  # one GX context at a time
        if marts_gate is not None:
            say("marts gate")
            results.append(marts_gate.wait())
        say("publishing")
        gate_summaries = [result.summary() for result in results]
        changed = _batch_set_changed(settings, cut)
        if changed is not None:
            raise changed
        publish(
            settings,
            cut=cut,
            as_of=as_of,
            seconds=time.perf_counter() - began,
            landing_run=next(
                (g["run_id"] for g in gate_summaries if g["stage"] == "landing"), None
            ),
            marts_run=next((g["run_id"] for g in gate_summaries if g["stage"] == "marts"), None),
            warnings=sum(int(g["warnings"]) for g in gate_summaries),
            fingerprint=fingerprint,
            full_refresh=full_refresh,
        )
    except BaseException as err:
        if marts_gate is not None:
            marts_gate.abandon()
        for result in results:
            with contextlib.suppress(Exception):  # the build's own error is the one to report
                result.finish_docs()
        if full_refresh and select is None:
            with contextlib.suppress(Exception):
                restore_published_views(settings)
        if select is None and not isinstance(err, BatchesChanged):
            changed = None
            with contextlib.suppress(Exception):  # the build's own error stands if this cannot run
                changed = _batch_set_changed(settings, cut)
            if changed is not None:  # a batch that changed under the build is the cause
                raise changed from err
        raise
    finally:
        parser.shutdown(wait=True)
    for result in results:
        result.finish_docs()
    report.gates = gate_summaries
    report.batches = cut.as_dict()
    report.published = True
    report.seconds = round(time.perf_counter() - began, 2)
    return report
