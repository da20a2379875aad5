"""Running a gate: GX suites on the warehouse, every result stored in ``dq.validation_results``.

A gate fails when any ``critical`` expectation fails; ``warning`` failures are stored and flagged
but do not block. The GX context is ephemeral (suites live in code); results live in the
warehouse, where governance and BI read them (``dq.validation_pass_rate``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from portrait.expectations import datadocs
from portrait.expectations.suites import CRITICAL, SuiteSpec

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.errors import PortraitError


class GateFailed(PortraitError):
    """A critical expectation failed: nothing is published."""

    exit_code = 6


@dataclass
class CheckResult:
    suite: str
    table: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    observed: str | None
    description: str | None = None
    sample: list | None = None
    rule: str | None = None  # the suite's meta rule: what the report's next step is keyed on
    threshold: str | None = None  # what the check allows (range, set, PSI limit), for the report


@dataclass
class GateResult:
    run_id: str
    stage: str
    seconds: float
    checks: list[CheckResult] = field(default_factory=list)
    # Data Docs being written in the background (run_gate(docs_in_background=True))
    _docs: threading.Thread | None = field(default=None, repr=False, compare=False)
    _docs_error: BaseException | None = field(default=None, repr=False, compare=False)

    def docs_written(self) -> None:
        """Wait for the Data Docs written in the background (what writing them raised stays for
        finish_docs)."""
        docs = self._docs
        if docs is not None:
            docs.join()

    def finish_docs(self) -> None:
        """Wait for the Data Docs written in the background; raise what writing them raised."""
        if self._docs is not None:
            self._docs.join()
            self._docs = None
        if self._docs_error is not None:
            error, self._docs_error = self._docs_error, None
            raise error

    @property
    def critical_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == CRITICAL]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity != CRITICAL]

    @property
    def success(self) -> bool:
        return not self.critical_failures

    def summary(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "seconds": round(self.seconds, 2),
            "checks": len(self.checks),
            "passed": sum(c.success for c in self.checks),
            "critical_failures": len(self.critical_failures),
            "warnings": len(self.warnings),
        }


DDL = """
create table if not exists dq.validation_results (
    run_id text not null,
    stage text not null,
    suite text not null,
    table_name text,
    expectation text not null,
    "column" text,
    severity text not null,
    success boolean not null,
    unexpected_count bigint,
    observed text,
    description text,
    sample jsonb,
    run_at timestamptz not null default now()
);
alter table dq.validation_results add column if not exists build_id text;
alter table dq.validation_results add column if not exists rule text;
alter table dq.validation_results add column if not exists threshold text;
comment on column dq.validation_results.build_id is
    'The build whose gates ran this check (dq.load_cut, dq.publications): the DQ report shows the latest build''s gates together';
create index if not exists validation_results_run on dq.validation_results (run_at, stage);
comment on table dq.validation_results is 'Every data-quality check ever run: stage, suite, expectation, severity, outcome';
create or replace view dq.validation_pass_rate as
select
    run_at::date as run_date,
    stage,
    suite,
    table_name,
    count(*) as checks,
    count(*) filter (where success) as passed,
    round(avg(success::int), 4) as pass_rate,
    count(*) filter (where not success and severity = 'critical') as critical_failures,
    count(*) filter (where not success and severity <> 'critical') as warnings
from dq.validation_results
group by 1, 2, 3, 4;
comment on view dq.validation_pass_rate is 'Pass rate of data-quality checks by day, stage, suite and table (for BI)';
"""


def ensure_tables(settings: Settings) -> None:
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute(DDL)


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _quiet_gx() -> None:
    warnings.filterwarnings("ignore", module="great_expectations")
    for name in [*logging.root.manager.loggerDict, "great_expectations"]:
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.ERROR)
    _no_tqdm_monitor()


def _no_tqdm_monitor() -> None:
    """GX opens a tqdm bar for every validation, disabled or not, and tqdm's first bar starts a
    monitor thread that lives as long as the process. That thread kept every later build in the
    process from forking its landing gate (portrait/forked.py forks only a single-threaded
    process): the gate ran in a thread instead, in dbt's GIL. The monitor only adjusts the refresh
    of stalled bars, and GX's are disabled: none is started, and one already running is stopped."""
    from tqdm import std

    std.tqdm.monitor_interval = 0
    monitor = std.tqdm.monitor
    if monitor is not None:
        with contextlib.suppress(Exception):
            monitor.exit()
        std.tqdm.monitor = None


class GateAbandoned(Exception):
    """The caller no longer wants the verdict (``ready`` said no: the build it checks failed)."""


def run_gate(
    stage: str,
    specs: list[SuiteSpec],
    *,
    settings: Settings | None = None,
    docs: bool = True,
    docs_in_background: bool = False,
    ready: Callable[[SuiteSpec], bool] | None = None,
) -> GateResult:
    """Validate every suite; store the results; return them (never raises for failed checks).

    With ``ready``, each suite waits for ``ready(suite)`` before it is validated (a gate run beside
    the build of what it checks); when that returns False the run stops, stores nothing and
    raises GateAbandoned.

    With ``docs``, GX Data Docs of this run are written to PORTRAIT_HOME/reports/data_docs/<stage>/
    <run_id>/ and listed in that stage's index (expectations/datadocs.py). Rendering
    them is pure Python (1.2 s for the landing gate at 10k customers); ``docs_in_background``
    writes them in a thread while the caller goes on, and ``GateResult.finish_docs()`` waits
    for them (the build overlaps them with dbt and with the snapshots; one GX context at a time).
    """
    settings = settings or get_settings()
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_gx()  # again: importing GX creates its loggers

    began = time.perf_counter()
    result = GateResult(
        run_id=f"{stage}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        stage=stage,
        seconds=0,
    )
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    site = f"portrait_{stage}"
    if docs:  # a site per run (expectations/datadocs.py)
        site_dir = datadocs.run_dir(settings, stage, result.run_id)
        context.add_data_docs_site(
            site_name=site,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_postgres(
        name="warehouse", connection_string=_sqlalchemy_url(warehouse.owner_url(settings))
    )
    views: list[str] = []  # created suite by suite, as their tables are ready
    try:
        _validate(context, source, specs, views, result, settings, ready)
    finally:
        _drop_views(settings, views)
        _close_connections(source)
    result.seconds = time.perf_counter() - began
    store(result, settings)
    if docs:

        def write_docs() -> None:
            try:
                context.build_data_docs(site_names=[site])
                datadocs.finish_site(settings, stage, result.run_id)
            except BaseException as err:  # handed to finish_docs(), in the caller's thread
                result._docs_error = err

        if docs_in_background:
            result._docs = threading.Thread(target=write_docs, name=f"data-docs-{stage}")
            result._docs.start()
        else:
            write_docs()
            result.finish_docs()
    return result


def _close_connections(source) -> None:
    """The data source's engines (its own and its execution engine's) keep their pooled
    connections until the context is garbage-collected: two idle server processes after each gate
    run in a long-lived process (``portrait run``'s dag.test, a notebook, the benchmarks)."""
    for engine in (source.get_engine, lambda: source.get_execution_engine().engine):
        with contextlib.suppress(Exception):  # a source that never connected has nothing to close
            engine().dispose()


GATE_SCHEMA = "dq_gate"  # one view per suite and run, dropped after the run


def _create_view(conn, run_id: str, index: int, spec: SuiteSpec) -> str:
    """The suite's query as a view, validated as a table asset: on a query asset GX fetched the
    whole query result into memory to learn its columns (1.3 GB at 3M transactions, 20 GB at
    50M); on a table asset it reads them from the catalogue."""
    token = run_id.rsplit("-", 1)[-1]
    view = f"gate_{token}_{index:02d}_{spec.name.replace('.', '_')}"[:63]
    conn.execute(f"create schema if not exists {GATE_SCHEMA}")
    conn.execute(f'create view {GATE_SCHEMA}."{view}" as {spec.query}')
    return view


def _drop_views(settings: Settings, views: list[str]) -> None:
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        for view in views:
            conn.execute(f'drop view if exists {GATE_SCHEMA}."{view}"')


def _run(context, batch, name: str, expectations: list, result_format: dict) -> list:
    """Validate ``expectations`` as suite ``name``; the results in the order of ``expectations``."""
    import great_expectations as gx
    from portrait.expectations.verdicts import verdict_only

    # copies: GX binds an expectation to one suite, and specs may be validated more than once
    verdicts = result_format.get("result_format") == "BOOLEAN_ONLY"
    copies = [verdict_only(e) if verdicts else copy.copy(e) for e in expectations]
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=copies))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}.run", data=batch, suite=suite)
    )
    results = definition.run(result_format=result_format).results
    by_id = {item.expectation_config.id: item for item in results}
    return [by_id[c.id] for c in copies]


def _table_observations(conn, view: str) -> dict[str, object]:
    """What GX reports as the observed value of the table-level checks that passed (row count,
    columns), read directly instead of in a second GX run per suite (measured: landing gate at
    10k, one month, 4.1-4.4 s -> 3.8-4.2 s). The count repeats the one GX's first pass made, as
    the second pass did before."""
    count = conn.execute(f'select count(*) from {GATE_SCHEMA}."{view}"').fetchone()[0]
    columns = [
        r[0]
        for r in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "order by attnum",
            (f'{GATE_SCHEMA}."{view}"',),
        ).fetchall()
    ]
    return {"ExpectTableRowCountToBeBetween": count, "ExpectTableColumnsToMatchSet": columns}


def _validate(
    context,
    source,
    specs: list[SuiteSpec],
    views: list[str],
    result: GateResult,
    settings: Settings,
    ready: Callable[[SuiteSpec], bool] | None,
) -> None:
    """Each suite in turn, once ``ready`` says its tables are; ``views`` lists the views made."""
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        for index, spec in enumerate(specs):
            if ready is not None and not ready(spec):
                raise GateAbandoned(f"{result.stage} gate abandoned before {spec.name}")
            views.append(_create_view(conn, result.run_id, index, spec))
            _validate_suite(context, source, spec, views[-1], result, conn)


# table-level checks whose failure GX details with nothing but the observed value
_OBSERVED_WHEN_FAILED = {"ExpectTableRowCountToBeBetween"}


def _validate_suite(context, source, spec: SuiteSpec, view: str, result: GateResult, conn) -> None:
    asset = source.add_table_asset(name=spec.name, table_name=view, schema_name=GATE_SCHEMA)
    batch = asset.add_batch_definition_whole_table(f"{spec.name}.batch")

    # pass 1: every check, verdicts only (GX otherwise scans each column again for samples);
    # pass 2, for the failures only: counts, observed values and sample rows. The observed value
    # of a passing table-level check (row count, columns), which governance reads, is read
    # directly (_table_observations)
    verdicts = _run(context, batch, spec.name, spec.expectations, {"result_format": "BOOLEAN_ONLY"})
    # a row count out of range says all it has to say with its observed value, read directly: no
    # second pass for it (the volume warning of a first monthly delivery after a history load
    # cost a GX run per table, 1.5 s of a 4.5 s landing gate at 10k)
    detailed = [
        i
        for i, v in enumerate(verdicts)
        if not v.success and type(spec.expectations[i]).__name__ not in _OBSERVED_WHEN_FAILED
    ]
    items = list(verdicts)
    # rows that name what failed (no personal data: batch ids and dates) are kept whole
    whole = [i for i in detailed if (spec.expectations[i].meta or {}).get("report_rows")]
    for group, suffix, result_format in (
        (whole, "rows", {"result_format": "COMPLETE"}),
        (
            [i for i in detailed if i not in whole],
            "details",
            {"result_format": "SUMMARY", "partial_unexpected_count": 5},
        ),
    ):
        if not group:
            continue
        details = _run(
            context,
            batch,
            f"{spec.name}.{suffix}",
            [spec.expectations[i] for i in group],
            result_format,
        )
        for i, item in zip(group, details, strict=True):
            items[i] = item
    table_checks = any(type(e).__name__.startswith("ExpectTable") for e in spec.expectations)
    observations = _table_observations(conn, view) if table_checks else {}
    # one check result per expectation, in the suite's order
    for expectation, item in zip(spec.expectations, items, strict=True):
        config = item.expectation_config
        meta = config.meta or {}
        details = item.result or {}
        observed = details.get("observed_value")
        if observed is None and (
            item.success or type(expectation).__name__ in _OBSERVED_WHEN_FAILED
        ):
            observed = observations.get(type(expectation).__name__)
        sample = pii_safe(
            config.kwargs.get("column"),
            details.get("partial_unexpected_list")
            or details.get("details", {}).get("unexpected_rows"),
            pseudonymised=result.stage != "landing",
        )
        if not item.success and type(expectation).__name__ == "UnexpectedRowsExpectation":
            observed = _observed_in(sample) or observed  # its row says more than its row count
        error = _exception_message(item.exception_info)
        if error:
            observed = f"error: {error[:300]}"
        result.checks.append(
            CheckResult(
                suite=spec.name,
                table=spec.table,
                expectation=expectation.expectation_type,  # as in the suite (pass 1 may count only)
                column=config.kwargs.get("column")
                or meta.get("column")
                or (",".join(config.kwargs.get("column_list") or []) or None),
                severity=str(meta.get("severity", CRITICAL)),
                success=bool(item.success),
                # a passing check without `mostly` (none of ours has one) found no unexpected row
                unexpected_count=details.get(
                    "unexpected_count",
                    0 if item.success and not config.type.startswith("expect_table") else None,
                ),
                observed=None if observed is None else str(observed)[:500],
                description=config.description or meta.get("rule"),
                sample=sample,
                rule=meta.get("rule"),
                threshold=threshold_of(config.kwargs, meta),
            )
        )


def _observed_in(sample: list | None) -> str | None:
    """What an unexpected-rows check saw, from its one reported row (a PSI check's row is the
    indicator and its PSI): the row's fields, numbers rounded."""
    if not sample or len(sample) != 1 or not isinstance(sample[0], dict):
        return None
    fields = [
        f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in list(sample[0].items())[:4]
    ]
    return ", ".join(fields)


def threshold_of(kwargs: dict, meta: dict) -> str | None:
    """What a check allows, in a few words: its range, set, pattern or the limit in its meta."""
    parts = [
        f"{sign} {kwargs[key]}"
        for key, sign in (("min_value", ">="), ("max_value", "<="))
        if kwargs.get(key) is not None
    ]
    if kwargs.get("value_set") is not None:
        values = [str(v) for v in kwargs["value_set"]]
        parts.append("in {" + ", ".join(values[:8]) + (", …" if len(values) > 8 else "") + "}")
    if kwargs.get("regex"):
        parts.append(f"matches {kwargs['regex']}")
    if meta.get("threshold") is not None:
        parts.append(f"<= {meta['threshold']}")
    return "; ".join(parts) or None


@functools.cache  # the contract is code: read once, not for every check of every run
def _pii_classes() -> dict[str, str]:
    """Column name: PII class, of every contract column classed as PII (any table: a marts or
    quarantine column of the same name holds the same kind of value)."""
    from portrait.ingest.contract import TABLES

    return {c.name: c.pii for t in TABLES for c in t.columns if c.pii != "none"}


def pii_safe(
    column: str | None, sample: list | None, *, pseudonymised: bool = False
) -> list | None:
    """A failing-value sample with every PII value withheld (BI reads dq.validation_results):
    the values of a PII column, or the PII fields of sample rows. Past staging, an identifier is
    its pseudonym (what BI sees anyway) and stays readable."""
    if not sample:
        return sample
    classes = {
        name: pii
        for name, pii in _pii_classes().items()
        if not (pseudonymised and pii == "identifier")
    }

    def withheld(name: str, value: object) -> object:
        return (
            f"<withheld: {classes[name]} PII>" if name in classes and value is not None else value
        )

    if isinstance(sample[0], dict):
        return [{k: withheld(k, v) for k, v in row.items()} for row in sample]
    return [withheld(column, v) for v in sample] if column in classes else sample


def data_docs_dir(settings: Settings, stage: str) -> Path:
    return settings.reports_dir / "data_docs" / stage


def _exception_message(info: object) -> str | None:
    """GX reports errors either flat or keyed by metric; an erroring check counts as failed."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message")).splitlines()[0]
    return None


def store(result: GateResult, settings: Settings) -> None:
    """The run's checks, under the build that ran them (the latest cut's build id)."""
    ensure_tables(settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        build = None  # a gate run before any build belongs to none
        if conn.execute("select to_regclass('dq.load_cut')").fetchone()[0] is not None:
            build = conn.execute("select max(build_id) from dq.load_cut").fetchone()[0]
        with conn.cursor().copy(
            'copy dq.validation_results (run_id, stage, suite, table_name, expectation, "column", severity, success, '
            "unexpected_count, observed, description, sample, rule, threshold, build_id) from stdin"
        ) as stream:
            for c in result.checks:
                stream.write_row(
                    (
                        result.run_id,
                        result.stage,
                        c.suite,
                        c.table,
                        c.expectation,
                        c.column,
                        c.severity,
                        c.success,
                        c.unexpected_count,
                        c.observed,
                        c.description,
                        None if c.sample is None else json.dumps(c.sample, default=str)[:10000],
                        c.rule,
                        c.threshold,
                        build,
                    )
                )
        conn.commit()


def raise_if_failed(result: GateResult) -> None:
    failures = result.critical_failures
    if failures:
        first = failures[0]
        more = f" (+{len(failures) - 1} more critical)" if len(failures) > 1 else ""
        what = first.description or first.expectation
        column = f", column {first.column}" if first.column else ""
        raise GateFailed(
            f"{result.stage} gate failed: suite {first.suite}, expectation {first.expectation} ({what}){more}; nothing published",
            where=f"{first.table}{column}; observed {first.observed}, unexpected {first.unexpected_count}"
            + (f"; first: {_first_sample(first.sample)}" if first.sample else ""),
            rule=f"see dq.validation_results where run_id = '{result.run_id}'",
        )


def _first_sample(sample: list) -> str:
    """The first unexpected value or row, as ``key value`` pairs (a row names its own fields)."""
    first = sample[0]
    if isinstance(first, dict):
        return ", ".join(f"{k} {v}" for k, v in first.items())
    return str(first)
