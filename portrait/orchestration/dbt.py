"""dbt in the warehouse_build DAG through Astronomer Cosmos.

The dbt steps run as Cosmos operators: ``ExecutionMode.LOCAL`` (dbt in the worker's environment,
where it is installed with Portrait) and ``InvocationMode.DBT_RUNNER`` (dbt's Python runner, no
subprocess). One ``dbt build`` of the whole project into the build schema, not one task per model:
measured on 2 cores, per-model tasks took 6 min 37 s against 38 s for one build (each task parses
the project and opens its connections again), and tests that span two models fail when attached
to the first model's task in a fresh build schema. See docs/orchestration.md.

No secret is in the DAG or in a rendered template field: ``profiles.yml`` reads ``env_var()``s that
``pre_execute`` puts into the worker's environment from Portrait's settings at run time.
"""

from __future__ import annotations

import os
from typing import Any

from portrait.config import Settings, apply_telemetry_off, get_settings

# Cosmos runs dbt in a temporary copy of the project and manages its target path and partial
# parsing there; Portrait's own locations would send it elsewhere
_COSMOS_MANAGED = ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET_PATH")


def _dbt_environment(context: Any = None) -> None:
    """pre_execute: PORTRAIT_DB_* for profiles.yml and dbt's switches, from the run's settings."""
    from portrait.build import behaviour_flag_source_by_frames, dbt_env

    env = {k: v for k, v in dbt_env(get_settings()).items() if k not in _COSMOS_MANAGED}
    os.environ.update(env)
    for key in _COSMOS_MANAGED:
        # set for Portrait's own dbt runs by `portrait run` (dag.test in one process): left here,
        # dbt wrote its target (and partial-parsing state) into Portrait's instead of Cosmos's
        # copy of the project, where Cosmos looks for it and takes it to its cache
        os.environ.pop(key, None)
    apply_telemetry_off()
    behaviour_flag_source_by_frames()  # dbt runs in this process (InvocationMode.DBT_RUNNER)


def _common(settings: Settings, task_id: str) -> dict[str, Any]:
    from cosmos.config import ProfileConfig
    from cosmos.constants import InvocationMode

    return {
        "project_dir": str(settings.dbt_project_dir),
        "profile_config": ProfileConfig(
            profile_name="portrait",
            target_name="default",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        "invocation_mode": InvocationMode.DBT_RUNNER,
        "install_deps": False,  # no packages: the few macros Portrait needs are its own
        "should_store_compiled_sql": False,  # 130 nodes' SQL does not belong in Airflow's metadata
        "emit_datasets": False,  # the published marts are the asset (assets.PUBLISHED_MARTS)
        "pre_execute": _dbt_environment,
        # the task's dbt partial-parsing state, kept between runs (operators outside a DbtDag
        # keep none by default, and dbt parsed the whole project in every task: ~3 s)
        "cache_dir": settings.home / "dbt" / "cosmos" / task_id,
    }


def build_operator(task_id: str = "dbt_build", settings: Settings | None = None,
                   full_refresh: bool | str = False):  # fmt: skip
    """``dbt build`` (models, seeds, data tests; snapshots after publishing, unit tests in CI)
    into the build schema; ``full_refresh`` may be a template (the prepare task's verdict)."""
    from cosmos.operators.local import DbtBuildLocalOperator

    from portrait.build import DAILY_EXCLUDE, build_variables

    settings = settings or get_settings()
    return DbtBuildLocalOperator(task_id=task_id, vars=build_variables(), exclude=DAILY_EXCLUDE,
                                 full_refresh=full_refresh, **_common(settings, task_id))  # fmt: skip


def snapshot_operator(task_id: str = "snapshot", settings: Settings | None = None):
    """``dbt snapshot`` of the published marts (SCD2 history of the portrait)."""
    from cosmos.operators.local import DbtSnapshotLocalOperator

    from portrait.build import build_variables

    settings = settings or get_settings()
    # the build's variables: the snapshots read the published marts through a source
    # the snapshots write persistent tables (schema snapshots): Cosmos emits one asset per
    # snapshot through OpenLineage's dbt artifact processor (postgres://127.0.0.1:<port>/...)
    return DbtSnapshotLocalOperator(task_id=task_id, vars=build_variables(),
                                    **(_common(settings, task_id) | {"emit_datasets": True}))  # fmt: skip
