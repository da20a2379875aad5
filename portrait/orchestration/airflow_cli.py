"""Airflow's CLI for `portrait airflow -- ARGS` and `portrait scheduler`:
`python -m portrait.orchestration.airflow_cli ARGS` is `airflow ARGS`, except that `scheduler`
preloads the modules the tasks import (PRELOADED), and with ``-o`` / ``--output`` stdout holds the output alone: the log
lines Airflow writes on file descriptor 1 before and while it runs the command ("creating dag
run", a missing optional package) go to stderr, and Airflow's output console writes to the real
stdout, so that `portrait airflow -- ... -o json | jq` reads JSON alone."""

from __future__ import annotations

import os
import sys


def _output_alone_on_stdout() -> None:
    stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever writes to fd 1 (Airflow's loggers) now writes to stderr
    from airflow.cli import simple_table

    base = simple_table.AirflowConsole.__init__

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("file", stdout)
        base(self, *args, **kwargs)

    simple_table.AirflowConsole.__init__ = __init__


# what the daily chain's tasks import: loaded once in the scheduler, whose LocalExecutor forks
# its workers, which fork each task, so that no task pays for them again (a task of the chain
# spent 2-5 s importing them; the chain has 14 tasks)
PRELOADED = ("portrait.build", "portrait.orchestration.steps", "portrait.ingest.api",
             "portrait.ml.score", "portrait.ml.train", "portrait.expectations.gates",
             "dbt.cli.main", "dbt.adapters.postgres")  # fmt: skip


def _preload() -> None:
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)


def main() -> None:
    if sys.argv[1:2] == ["scheduler"] and os.environ.get("PORTRAIT_PRELOAD", "1") == "1":
        _preload()
    if any(arg in {"-o", "--output"} or arg.startswith("--output=") for arg in sys.argv[1:]):
        _output_alone_on_stdout()
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
