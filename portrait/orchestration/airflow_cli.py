"""Airflow's CLI for `portrait airflow -- ARGS`: `python -m portrait.orchestration.airflow_cli ARGS`
is `airflow ARGS`, except that with ``-o`` / ``--output`` stdout holds the output alone: the log
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


def main() -> None:
    if any(arg in {"-o", "--output"} or arg.startswith("--output=") for arg in sys.argv[1:]):
        _output_alone_on_stdout()
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
