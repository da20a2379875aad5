"""`portrait build` on a small synthetic bank: real dbt on the real server.

A private warehouse (own PORTRAIT_HOME) keeps these marts apart from the ingest tests' batches.
"""

from __future__ import annotations

import pickle
import shutil
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from portrait import manifest_cache as manifest_cache_module
from portrait import warehouse
from portrait.build import build, unit_tests
from portrait.config import Settings
from portrait.dbt_runner import BuildFailed, build_variables
from portrait.ingest.api import ingest
from portrait.manifest_cache import MANIFEST_CACHE, parse_project
from portrait.publication import restore_published_views
from portrait.synth.generator import generate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("build_home")
    settings = Settings(home=home, database_url=None)
    warehouse.ensure_started(settings)
    landing = tmp_path_factory.mktemp("build_landing")
    generate(landing, customers=400, months=4, seed=5)
    ingest(landing, settings=settings)
    report = build(settings=settings)
    assert report.success
    yield settings
    warehouse.EmbeddedServer(settings).stop()


def _rows(settings: Settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()


def _project_copy(tmp_path: Path) -> Path:
    """A copy of the project to break on purpose (the checkout stays as it is)."""
    project = tmp_path / "project"
    shutil.copytree(
        REPO / "dbt_project",
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    return project


def test_every_published_mart_has_rows(built):
    for table in (
        "dim_customer",
        "dim_account",
        "dim_product",
        "fct_transactions",
        "fct_balances_monthly",
        "fct_loans",
        "fct_digital_events",
        "fct_campaign_contacts",
        "customer_portrait",
        "customer_indicators",
        "customer_tags",
        "customer_contribution",
        "contribution_pareto",
        "customer_segments",
        "segment_migration",
        "marketing_triggers",
        "campaign_performance",
    ):
        assert _rows(built, f"select count(*) from marts.{table}")[0][0] > 0, table


def test_every_model_and_every_mart_column_is_described(built):
    """Documentation is part of the contract BI and governance read: every model, seed and
    snapshot has a description, and so has every column the published marts hold."""
    manifest = parse_project(built, build_variables())
    nodes = [n for n in manifest.nodes.values() if n.resource_type in ("model", "seed", "snapshot")]
    assert len(nodes) > 50
    assert [n.name for n in nodes if not n.description.strip()] == []
    marts = [n for n in nodes if n.resource_type == "model" and "/marts/" in n.original_file_path]
    undescribed = {}
    for node in marts:
        columns = [
            r[0]
            for r in _rows(
                built,
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = %s",
                node.alias,
            )
        ]
        assert columns, f"{node.name} is not published"
        missing = [
            c for c in columns if not (node.columns.get(c) and node.columns[c].description.strip())
        ]
        if missing:
            undescribed[node.name] = missing
    assert undescribed == {}


def test_portrait_has_one_row_per_customer_and_sixty_plus_indicators(built):
    customers, distinct = _rows(
        built, "select count(*), count(distinct customer_id) from marts.customer_portrait"
    )[0]
    assert (
        customers
        == distinct
        == _rows(
            built, "select count(*) from marts.dim_customer where onboarded_date <= as_of_date"
        )[0][0]
    )
    columns = _rows(
        built,
        "select count(*) from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'customer_portrait'",
    )[0][0]
    assert columns >= 62


def test_marts_hold_no_raw_personal_data(built):
    raw = _rows(
        built,
        "select customer_id, full_name, email, national_id, phone from raw.customers limit 50",
    )
    marts_text = _rows(
        built, "select string_agg(t::text, ' ') from (select * from marts.dim_customer) t"
    )[0][0]
    for source_id, name, email, national_id, phone in raw:
        for value in (source_id, name, email, national_id, phone):
            if value:
                assert value not in marts_text, (
                    f"raw value {value!r} leaked into marts.dim_customer"
                )


def test_key_customers_make_most_of_the_contribution(built):
    share = _rows(
        built,
        "select top_decile_contribution_share from marts.contribution_pareto "
        "where customer_type = 'retail' order by month_start desc limit 1",
    )[0][0]
    assert share > 0.5


def test_bi_role_reads_the_portrait(built):
    with psycopg.connect(warehouse.bi_url(built)) as conn:
        assert conn.execute("select count(*) from marts.customer_portrait").fetchone()[0] > 0


def test_autovacuum_is_off_only_for_the_tables_rebuilt_whole(built):
    """Marts and table models are written once per build (autovacuum off); incremental tables
    change with every build and keep it."""
    options = dict(
        _rows(
            built,
            "select c.relname, coalesce(array_to_string(c.reloptions, ','), '') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' "
            "and n.nspname in ('marts', 'intermediate')",
        )
    )
    assert "autovacuum_enabled=false" in options["customer_portrait"]
    assert "autovacuum_enabled=false" in options["int_transactions_summarised_90d"]
    assert "autovacuum_enabled" not in options["int_transactions_deduplicated"]


def test_dbt_nodes_reuse_their_threads_connections(built):
    """dbt opened a connection (a new backend, SCRAM authentication) for every node; each thread
    now keeps one for the invocation, reset between nodes, and dbt's own release is back after it."""
    from dbt.adapters.postgres.connections import PostgresConnectionManager

    def sessions() -> int:
        return _rows(
            built, "select sessions from pg_stat_database where datname = current_database()"
        )[0][0]

    before = sessions()
    report = build(settings=built)
    opened = sessions() - before
    assert len(report.nodes) > 60
    assert opened < len(report.nodes) // 2, (opened, len(report.nodes))
    assert "release" not in PostgresConnectionManager.__dict__


def test_a_failed_landing_gate_can_cancel_the_builds_queries(built):
    """dbt's sessions carry this process's application name (PGAPPNAME; the profile leaves it
    unset), so that the landing gate, failing beside dbt's build, cancels what they run instead
    of waiting for the build to end."""
    from portrait.dbt_runner import (
        build_application_name,
        build_variables,
        cancel_build_queries,
        invoke,
    )

    shown = invoke(
        [
            "show",
            "--inline",
            "select application_name from pg_stat_activity where pid = pg_backend_pid()",
        ],
        built,
        build_variables(),
    )
    assert shown.success
    assert shown.result.results[0].agate_table.rows[0][0] == build_application_name()

    canceled: list[Exception] = []

    def query() -> None:
        with psycopg.connect(
            warehouse.owner_url(built), application_name=build_application_name(), autocommit=True
        ) as conn:
            try:
                conn.execute("select pg_sleep(60)")
            except psycopg.errors.QueryCanceled as err:
                canceled.append(err)

    running = threading.Thread(target=query)
    running.start()
    deadline = time.monotonic() + 20
    while not cancel_build_queries(built) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the query has started
    running.join(20)
    assert canceled and not running.is_alive()


def test_a_build_of_an_unchanged_project_keeps_the_staging_views_and_seeds(built):
    """A daily build from the project the last publication was built from leaves the staging views
    and seeds as they are (their data tests still run); one that is gone is built again."""
    build(settings=built)  # published with this project's fingerprint
    lines: list[str] = []
    report = build(settings=built, progress=lines.append)
    kept = {n.name: n.resource_type for n in report.nodes}
    # what `portrait build` shows as it goes: the steps, and dbt's nodes as they finish
    steps = [line for line in lines if not line.startswith("dbt: ")]
    assert steps[-4:] == ["dbt build", "marts gate", "publishing", "snapshots"]
    counted = [line for line in lines if line.startswith("dbt: ")]
    dbt_nodes = len([n for n in report.nodes if n.resource_type != "snapshot"])
    assert (
        counted[-1].startswith(f"dbt: {dbt_nodes} nodes done, last ") and len(counted) == dbt_nodes
    )
    assert "seed" not in kept.values() and "stg_landing__customers" not in kept
    assert any(name.startswith("primary_key_stg_landing__customers_customer_id") for name in kept)
    assert "customer_portrait" in kept
    with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:
        conn.execute("drop view staging.stg_landing__branches")
    rebuilt = {n.name: n.resource_type for n in build(settings=built).nodes}
    assert "stg_landing__branches" in rebuilt and "tag_rules" in rebuilt


def test_rebuilding_the_same_day_gives_identical_marts(built):
    def digest() -> dict[str, str]:
        return {
            t: _rows(
                built, f"select md5(string_agg(t::text, '|' order by t::text)) from marts.{t} t"
            )[0][0]
            for t in (
                "customer_portrait",
                "customer_contribution",
                "customer_tags",
                "marketing_triggers",
            )
        }

    before = digest()
    build(settings=built)
    assert digest() == before


# as-of dates: the 90-day window starting on a month's 1st (31 March); starting late in a month,
# read as the month's aggregate less its first days (15 April: less 1-15 January; 3 April); ending
# mid-month (15 and 3 April, 20 January, before any whole month); the 30-day count as a month's less
# its 1st day (31 March) or with two days of the month before (28 February)
@pytest.mark.parametrize(
    "as_of",
    [
        "2025-04-30",
        "2025-03-31",
        "2025-04-15",
        "2025-04-03",
        "2025-03-01",
        "2025-02-28",
        "2025-01-20",
    ],
)
def test_the_90_day_summary_from_monthly_aggregates_equals_a_scan_of_the_window(built, as_of):
    """int_transactions_summarised_90d adds up the monthly aggregates of the months its windows
    cover whole and reads transactions only at the edges: the same rows as summing the window."""
    from portrait.dbt_runner import build_variables, run_dbt

    report = run_dbt(
        ["compile", "--select", "int_transactions_summarised_90d"],
        settings=built,
        variables={**build_variables(), "as_of_date": as_of},
    )
    assert report.success
    compiled = next(
        (built.home / "dbt" / "target" / "compiled").rglob("int_transactions_summarised_90d.sql")
    )
    day = f"date '{as_of}'"
    categories = ["groceries", "dining", "travel", "shopping", "utilities", "cash"]
    scan = ", ".join(
        [
            f"count(*) filter (where booked_date > {day} - 30)",
            "count(*)",
            "coalesce(sum(amount) filter (where direction = 'credit'), 0)",
            "coalesce(sum(amount) filter (where direction = 'debit'), 0)",
            f"coalesce(sum(amount) filter (where direction = 'debit' and category in ({', '.join(repr(c) for c in categories)}, 'other')), 0)",
        ]
        + [
            f"coalesce(sum(amount) filter (where direction = 'debit' and category = '{c}'), 0)"
            for c in categories
        ]
        + [
            f"count(*) filter (where channel = '{c}')"
            for c in ["branch", "atm", "pos", "online", "mobile"]
        ]
        + ["max(booked_date)"]
    )
    expected = (
        f"select customer_id, {scan} from intermediate.int_transactions_deduplicated "
        f"where booked_date > {day} - 90 and booked_date <= {day} group by 1"
    )
    model = compiled.read_text()
    assert _rows(built, f"select count(*) from ({expected}) e")[0][0] > 0
    assert _rows(built, f"select count(*) from (({model}) except all ({expected})) d")[0][0] == 0
    assert _rows(built, f"select count(*) from (({expected}) except all ({model})) d")[0][0] == 0


def test_a_new_batch_is_added_incrementally(built, tmp_path):
    before = _rows(built, "select count(*) from marts.fct_transactions")[0][0]
    generate(tmp_path, customers=400, months=5, seed=5)
    report = ingest(tmp_path, settings=built)
    build(settings=built)
    after = _rows(
        built,
        "select count(*), count(distinct txn_id), max(booked_date) from marts.fct_transactions",
    )[0]
    assert after[0] == after[1], "no duplicate transactions across batches"
    assert after[0] > before and str(after[2]) <= report.batch_date
    # the second bank reuses the first one's ids: its deliveries replace those rows (upsert on
    # the key), and the published views show them once the build is published
    for table, key in (
        ("int_transactions_deduplicated", "txn_id"),
        ("int_digital_events_deduplicated", "event_id"),
    ):
        total, keys, from_new, new_delivered = _rows(
            built,
            (
                f"select count(*), count(distinct {key}), count(*) filter (where batch_id = %s), "
                f"(select count(distinct {key}) from raw.{table.removeprefix('int_').removesuffix('_deduplicated')} "
                f" where batch_id = %s) from intermediate.{table}"
            ),
            report.batch_id,
            report.batch_id,
        )[0]
        assert total == keys, f"{table}: one row per {key}"
        assert from_new == new_delivered > 0, (
            f"{table}: every key of the new batch carries its latest delivery"
        )
    published = _rows(
        built, "select count(*), count(distinct event_id) from marts.fct_digital_events"
    )[0]
    assert (
        published[0]
        == published[1]
        == _rows(built, "select count(*) from intermediate.int_digital_events_deduplicated")[0][0]
    )


def test_the_dbt_unit_tests_pass(built):
    """The unit tests (hand-computed expected rows) run here, in CI, not in each daily build;
    dbt reads their inputs' column types from the built warehouse."""
    report = unit_tests(built)
    assert sorted(n.name for n in report.nodes) == sorted(
        [
            "contribution_formula_by_hand",
            "uplift_with_confidence_interval_by_hand",
            "campaign_in_flight_shows_no_figures_until_outcomes_close",
            "triggers_fire_on_the_documented_events",
            "tag_rules_apply_to_the_indicators_they_name",
            "rfm_scores_are_quintiles_among_recent_transactors",
            "ftp_is_base_rate_plus_curve_premium_at_tenor",
        ]
    )
    assert {n.status for n in report.nodes} == {"pass"}
    assert not any(n.resource_type == "unit_test" for n in build(settings=built).nodes), (
        "the daily build leaves them out"
    )


def test_a_wrong_expected_row_fails_the_unit_tests_naming_the_test(built, tmp_path):
    project = _project_copy(tmp_path)
    tests = (
        project / "dbt_project" / "models" / "intermediate" / "finance" / "_finance__unit_tests.yml"
    )
    text = tests.read_text()
    assert "contribution_amount: -324.30" in text
    tests.write_text(text.replace("contribution_amount: -324.30", "contribution_amount: -324.31"))
    with pytest.raises(BuildFailed, match="contribution_formula_by_hand") as failure:
        unit_tests(Settings(home=built.home, project_dir=project, database_url=None))
    assert "dbt test" in str(failure.value) and "published" not in str(failure.value)


def test_a_tag_rule_with_an_unknown_indicator_fails_with_a_clear_error(built, tmp_path):
    project = _project_copy(tmp_path)
    rules = project / "dbt_project" / "seeds" / "tag_rules.csv"
    rules.write_text(
        rules.read_text() + "bogus,favourite_colour = 'blue',Not an indicator,nobody\n"
    )
    settings = Settings(home=built.home, project_dir=project, database_url=None)
    with pytest.raises(BuildFailed, match="unknown indicator 'favourite_colour'"):
        build(settings=settings)


def _failed_build(built: Settings, project: Path, match: str) -> BuildFailed:
    """The BuildFailed a build of ``project`` raises (matching ``match``); nothing published."""
    published = _rows(built, "select max(published_at) from dq.publications")
    settings = Settings(home=built.home, project_dir=project, database_url=None)
    with pytest.raises(BuildFailed, match=match) as failure:
        build(settings=settings)
    assert _rows(built, "select max(published_at) from dq.publications") == published
    return failure.value


def test_the_parsed_project_is_reused_until_what_it_is_parsed_from_changes(
    built, tmp_path, monkeypatch
):
    """A build loads the manifest the last parse cached instead of invoking dbt's parse, as long as
    the project's files, the variables and the profile's environment are the same."""
    project = _project_copy(tmp_path)
    settings = Settings(home=built.home, project_dir=project, database_url=None)
    first = parse_project(settings, build_variables())
    assert first is not None
    invoked: list[list[str]] = []
    real = manifest_cache_module.invoke
    monkeypatch.setattr(
        manifest_cache_module,
        "invoke",
        lambda args, *rest: invoked.append(args) or real(args, *rest),
    )

    again = parse_project(settings, build_variables())
    assert invoked == [] and again is not first and sorted(again.nodes) == sorted(first.nodes)
    tags = "model.portrait.customer_tags"
    assert again.nodes[tags].raw_code == first.nodes[tags].raw_code

    model = project / "dbt_project" / "models" / "marts" / "portrait" / "customer_tags.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    changed = parse_project(settings, build_variables())
    assert invoked == [["parse"]] and changed.nodes[tags].raw_code.endswith("-- changed")
    assert parse_project(settings, build_variables()).nodes[tags].raw_code.endswith("-- changed")
    assert len(invoked) == 1

    parse_project(settings, build_variables(as_of=date(2025, 1, 31)))  # other variables
    monkeypatch.setenv("PORTRAIT_DBT_THREADS", "1")  # another profile
    parse_project(settings, build_variables(as_of=date(2025, 1, 31)))
    assert len(invoked) == 3
    # another version of a package dbt parses with (pytest's stands in for an upgrade)
    monkeypatch.setattr(
        manifest_cache_module, "DBT_PACKAGES", (*manifest_cache_module.DBT_PACKAGES, "pytest")
    )
    parse_project(settings, build_variables(as_of=date(2025, 1, 31)))
    parse_project(settings, build_variables(as_of=date(2025, 1, 31)))
    assert len(invoked) == 4
    cache = built.home / "dbt" / "target" / MANIFEST_CACHE
    cache.write_bytes(cache.read_bytes()[:200])  # a damaged cache: parsed again
    assert parse_project(settings, build_variables(as_of=date(2025, 1, 31))) is not None
    assert len(invoked) == 5
    # a cache altered by someone without the home's key is never unpickled
    header, signature, _payload = cache.read_bytes().split(b"\n", 2)
    cache.write_bytes(b"\n".join([header, signature, pickle.dumps(_Unpickled())]))
    assert parse_project(settings, build_variables(as_of=date(2025, 1, 31))) is not None
    assert _UNPICKLED == [] and len(invoked) == 6


_UNPICKLED: list[str] = []


def _record_unpickling(what: str) -> None:
    _UNPICKLED.append(what)


class _Unpickled:
    """Records being unpickled (in _UNPICKLED)."""

    def __reduce__(self):
        return _record_unpickling, ("unpickled",)


def test_a_project_that_does_not_parse_fails_the_build_with_one_line(built, tmp_path):
    """The project is parsed in the background while the landing gate runs; when it does not
    parse, the build's own invocation parses again and says why."""
    project = _project_copy(tmp_path)
    models = project / "dbt_project" / "models" / "marts" / "core" / "_core__models.yml"
    models.write_text(models.read_text() + "- name: [unclosed\n")
    failure = _failed_build(built, project, r"dbt build could not run: .*_core__models\.yml")
    assert "\n" not in failure.line()


def test_a_mart_key_that_comes_out_null_fails_the_build_naming_model_and_column(built, tmp_path):
    """The marts' keys are PRIMARY KEY constraints of their enforced contracts: PostgreSQL refuses
    the row when the table is built, and nothing is published."""
    project = _project_copy(tmp_path)
    model = project / "dbt_project" / "models" / "marts" / "core" / "dim_product.sql"
    text = model.read_text()
    assert text.startswith("select\n    product_id,")
    model.write_text(
        text.replace("    product_id,", "    nullif(product_id, 'P01') as product_id,", 1)
    )
    failure = _failed_build(built, project, r"model dim_product error: .*product_id.*not-null")
    assert "nothing published" in str(failure)


def test_a_mart_key_that_comes_out_twice_fails_the_build_naming_model_and_constraint(
    built, tmp_path
):
    """The same constraint refuses a duplicated key (what a `unique` test found after the fact)."""
    project = _project_copy(tmp_path)
    model = project / "dbt_project" / "models" / "marts" / "core" / "dim_product.sql"
    text = model.read_text()
    assert text.startswith("select\n    product_id,")
    model.write_text(
        text.replace(
            "    product_id,",
            "    case when product_id = 'P02' then 'P01' else product_id end as product_id,",
            1,
        )
    )
    failure = _failed_build(
        built, project, r"model dim_product error: .*duplicate key value violates unique constraint"
    )
    assert "nothing published" in str(failure)


@pytest.mark.parametrize("key", ["'B001'", "null"], ids=["duplicated", "null"])
def test_a_staging_key_that_is_duplicated_or_null_fails_its_primary_key_test(built, tmp_path, key):
    """`primary_key` (tests/generic) is `unique` and `not_null` in one query: either failure stops
    the build before anything is published, naming the test."""
    project = _project_copy(tmp_path)
    model = project / "dbt_project" / "models" / "staging" / "landing" / "stg_landing__branches.sql"
    text = model.read_text()
    assert text.rstrip().endswith("from latest")
    extra = f"\nunion all\nselect {key}, branch_name, region, city, opened_date, batch_id from latest where branch_id = 'B001'\n"
    model.write_text(text.rstrip() + extra)
    failure = _failed_build(
        built, project, r"test primary_key_stg_landing__branches_branch_id fail"
    )
    assert "nothing published" in str(failure)


def test_a_failed_full_refresh_leaves_the_published_fact_views_in_place(built, tmp_path):
    """A full refresh swaps in new incremental tables under the published fact views; when the
    build then fails, the views still show what was published."""
    count = "select count(*), max(booked_date) from marts.fct_transactions"
    before = _rows(built, count)
    project = _project_copy(tmp_path)
    model = project / "dbt_project" / "models" / "marts" / "marketing" / "campaign_target_list.sql"
    model.write_text("select 1 / 0 as division_by_zero\n")
    settings = Settings(home=built.home, project_dir=project, database_url=None)
    marts_runs = "select count(distinct run_id) from dq.validation_results where stage = 'marts'"
    runs_before = _rows(built, marts_runs)
    with pytest.raises(BuildFailed, match="campaign_target_list"):
        build(settings=settings, full_refresh=True)
    assert _rows(built, count) == before
    # the marts gate beside dbt had checked the portrait already; dbt's failure stopped it before
    # the target list's suite, and it recorded nothing
    assert _rows(built, marts_runs) == runs_before
    # a published view the swap could not move (its table lost a column) goes with the old table;
    # after the failed build it is created again from the build schema's
    with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:
        conn.execute("drop view marts.fct_transactions")
    assert restore_published_views(built) == ["fct_transactions"]
    with warehouse.connect(warehouse.bi_url(built)) as conn:
        assert conn.execute(count).fetchone() == tuple(before[0])
    assert restore_published_views(built) == [], "only what is missing"
    assert _rows(built, "select count(*) from marts.fct_digital_events")[0][0] > 0
    with warehouse.connect(warehouse.bi_url(built)) as conn:  # BI reads them as before
        assert conn.execute(count).fetchone() == tuple(before[0])


def test_a_full_refresh_moves_the_published_fact_views_to_the_rebuilt_tables(built):
    """dbt swaps a rebuilt incremental table in and drops the old one with CASCADE; the views
    over it (the published facts, a user's own view) are moved to the new table before that, so
    BI never finds them missing, even before the rebuilt marts are published."""
    facts = ("fct_transactions", "fct_digital_events")
    tables = {
        "fct_transactions": "int_transactions_deduplicated",
        "fct_digital_events": "int_digital_events_deduplicated",
    }

    def state() -> dict[str, tuple]:
        return {
            view: _rows(
                built,
                (
                    f"select 'marts.{view}'::regclass::oid, "
                    f"'intermediate.{tables[view]}'::regclass::oid, "
                    f"(select count(*) from marts.{view}), "
                    "(select array_agg(distinct d.refobjid::regclass::text) from pg_depend d "
                    "join pg_rewrite r on r.oid = d.objid "
                    f"where r.ev_class = 'marts.{view}'::regclass and d.refobjid::regclass::text like 'intermediate.%%')"
                ),
            )[0]
            for view in facts
        }

    with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:
        conn.execute(
            "create or replace view public.recent_transactions as select txn_id, booked_date "
            "from intermediate.int_transactions_deduplicated where booked_date > '2000-01-01'"
        )
    before = state()
    # the incremental tables rebuilt from raw, nothing published (a build stopped after dbt)
    build(settings=built, select=" ".join(tables.values()), full_refresh=True)
    after = state()
    for view in facts:
        view_oid, table_oid, rows, reads = before[view]
        assert after[view][0] == view_oid, f"{view}: the same view, not one created again"
        assert after[view][1] != table_oid, f"{view}: {tables[view]} was rebuilt"
        assert after[view][2] == rows
        assert after[view][3] == reads == [f"intermediate.{tables[view]}"]
    with warehouse.connect(warehouse.bi_url(built)) as conn:  # grants kept
        assert (
            conn.execute("select count(*) from marts.fct_transactions").fetchone()[0]
            == before["fct_transactions"][2]
        )
    mine = _rows(
        built,
        "select to_regclass('public.recent_transactions') is not null, "
        "(select count(*) > 0 from public.recent_transactions)",
    )[0]
    assert tuple(mine) == (True, True), "a user's view over an intermediate table stays too"
    with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:
        conn.execute("drop view public.recent_transactions")


def test_a_full_refresh_keeps_the_incremental_tables_indexed(built):
    """dbt rebuilds a table beside the old one: the indexes must follow the new table, or the
    next day's upsert finds no unique index for its ON CONFLICT (found by the build benchmark)."""

    def indexes() -> list[tuple[str, str, str, bool]]:
        # a sorted list, not a set: an index created twice must show up twice
        return sorted(
            _rows(
                built,
                (
                    "select c.relname, a.attname, am.amname, i.indisunique from pg_index i "
                    "join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace "
                    "join pg_class ic on ic.oid = i.indexrelid join pg_am am on am.oid = ic.relam "
                    "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
                    "where n.nspname = 'intermediate' and c.relname like 'int\\_%%\\_deduplicated'"
                ),
            )
        )

    expected = sorted(
        [
            ("int_transactions_deduplicated", "txn_id", "btree", True),
            ("int_transactions_deduplicated", "booked_date", "brin", False),
            ("int_transactions_deduplicated", "ingested_at", "btree", False),
            ("int_digital_events_deduplicated", "event_id", "btree", True),
            ("int_digital_events_deduplicated", "event_date", "brin", False),
            ("int_digital_events_deduplicated", "ingested_at", "btree", False),
        ]
    )
    assert indexes() == expected
    before = _rows(built, "select count(*) from marts.fct_transactions")[0][0]
    build(settings=built, full_refresh=True)
    assert indexes() == expected, "each index once, on the rebuilt tables"
    build(settings=built)  # the incremental upsert needs the unique indexes
    assert indexes() == expected
    assert _rows(built, "select count(*) from marts.fct_transactions")[0][0] == before


def test_snapshots_that_fail_after_publishing_say_so_and_the_next_build_takes_them(built):
    from portrait.dbt_runner import SnapshotsFailed
    from portrait.publication import snapshots_pending

    schema = _rows(
        built,
        "select table_schema from information_schema.tables "
        "where table_name = 'customer_portrait_history'",
    )[0][0]
    published = _rows(built, "select count(*) from dq.publications")[0][0]
    with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:  # a broken history
        conn.execute(
            f"alter table {schema}.customer_portrait_history rename column dbt_valid_to to valid_to_moved"
        )
    try:
        with pytest.raises(
            SnapshotsFailed, match=r"the marts were published .* then the snapshots failed"
        ):
            build(settings=built)
        assert _rows(built, "select count(*) from dq.publications")[0][0] == published + 1
        assert snapshots_pending(built)
    finally:
        with warehouse.connect(warehouse.owner_url(built), autocommit=True) as conn:
            conn.execute(
                f"alter table {schema}.customer_portrait_history rename column valid_to_moved to dbt_valid_to"
            )
    assert SnapshotsFailed.exit_code not in (0, 5)
    build(settings=built)
    assert not snapshots_pending(built)


def test_dbt_docs_document_the_warehouse_and_what_bi_and_ml_read(built):
    """`portrait docs` writes one page with the manifest and catalogue inlined; its exposures
    name every published mart (BI) and every table the ML code reads (found in its SQL)."""
    import re

    from portrait.dbt_docs import write_docs

    result = write_docs(built)
    page = Path(result["path"]).read_text()
    assert result["exposures"] == ["bi_and_marketing", "ml_features"]
    assert "customer_scores" in page and "ml_features" in page and "Write-Audit-Publish" in page
    assert not re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""", page), (
        "loads nothing from the network"
    )
    manifest = parse_project(built, build_variables())
    depends = {
        e.name: {n.split(".")[-1] for n in e.depends_on.nodes} for e in manifest.exposures.values()
    }
    marts = {
        n.name
        for n in manifest.nodes.values()
        if n.resource_type == "model" and "/marts/" in n.original_file_path
    }
    assert depends["bi_and_marketing"] == marts
    read_by_ml = {
        m.group(1)
        for f in (REPO / "ml").glob("*.py")
        for m in re.finditer(r"\b(?:marts|intermediate|staging)\.([a-z_]+)", f.read_text())
    }
    assert read_by_ml and read_by_ml <= depends["ml_features"], read_by_ml - depends["ml_features"]
