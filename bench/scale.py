"""`make bench-scale`: the platform end to end at 100k customers x 12 months, stage by stage.

Each stage is the user's own command, run as a child process: its wall time and its peak
resident memory (from the kernel's rusage of that child; the PostgreSQL server is a separate
process and not included) go to bench/results-scale.json and the scale table of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench import report
from bench.bench_build import split_by_month
from bench.common import BENCH_DIR, machine

PORTRAIT = Path(sys.executable).with_name("portrait")


def _stage(name: str, args: list[str], env: dict[str, str], rows: list[dict]) -> None:
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: become the command
        os.execve(str(PORTRAIT), [str(PORTRAIT), *args], env)  # noqa: S606 (no shell, on purpose)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    rows.append(
        {
            "stage": name,
            "command": "portrait " + shlex.join(args),
            "seconds": round(seconds, 1),
            "peak_mb": round(usage.ru_maxrss / 1024),
            "exit_code": code,
        }
    )
    print(
        f"{name:<34} {seconds:>8.1f} s {usage.ru_maxrss / 1024:>8.0f} MB  exit {code}", flush=True
    )
    if code != 0:
        raise SystemExit(f"stage {name} failed (exit {code})")


def _split(
    generated: Path, first: Path, second: Path, first_end: date, next_month: date, second_end: date
) -> None:
    split_by_month(generated, str(first_end), "0001-01-01", first)
    split_by_month(generated, str(second_end), str(next_month), second)
    shutil.rmtree(generated)


def _write(rows: list[dict], customers: int, months: int) -> None:
    payload = {
        "machine": machine(),
        "customers": customers,
        "months": months,
        "stages": rows,
        "total_seconds": round(sum(r["seconds"] for r in rows), 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (BENCH_DIR / "results-scale.json").write_text(json.dumps(payload, indent=2) + "\n")
    report.main()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--keep", action="store_true", help="keep the warehouse and files for inspection"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="portrait-scale-"))
    env = {**os.environ, "PORTRAIT_HOME": str(home)}
    env.pop("PORTRAIT_DATABASE_URL", None)
    generated, first, second = (home / "landing" / d for d in ("all", "day1", "day2"))
    # the bank is generated once with one month more; the first delivery holds months 1-12, the
    # next one month 13 of the increment tables (and the snapshot tables whole), as a bank sends
    start = date(2025, 1, 1)
    next_month = date(
        start.year + (start.month - 1 + args.months) // 12,
        (start.month - 1 + args.months) % 12 + 1,
        1,
    )
    first_end = next_month - timedelta(days=1)
    second_end = date(
        next_month.year + next_month.month // 12, next_month.month % 12 + 1, 1
    ) - timedelta(days=1)
    rows: list[dict] = []
    try:
        _stage(
            f"generate ({args.months + 1} months)",
            [
                "generate",
                "--customers",
                str(args.customers),
                "--months",
                str(args.months + 1),
                "--start-date",
                str(start),
                "--out",
                str(generated),
            ],
            env,
            rows,
        )
        began = time.perf_counter()
        # in a child of its own: the arrow buffers of the split would otherwise stay in this
        # process, and every later stage, forked from it, would count them in its peak memory
        splitter = multiprocessing.get_context("spawn").Process(
            target=_split, args=(generated, first, second, first_end, next_month, second_end)
        )
        splitter.start()
        splitter.join()
        if splitter.exitcode != 0:
            raise SystemExit(f"splitting the deliveries failed (exit {splitter.exitcode})")
        print(
            f"{'(split into two deliveries)':<34} {time.perf_counter() - began:>8.1f} s", flush=True
        )
        _stage("ingest", ["ingest", str(first), "--batch-date", str(first_end)], env, rows)
        _stage("full build (gates, dbt, publish)", ["build"], env, rows)
        _stage("train (3 models)", ["train"], env, rows)
        _stage("score + marketing marts", ["score"], env, rows)
        _stage(
            "next delivery: ingest (1 month)",
            ["ingest", str(second), "--batch-date", str(second_end)],
            env,
            rows,
        )
        _stage("next delivery: incremental build", ["build"], env, rows)
        _stage("next delivery: score", ["score"], env, rows)
    finally:
        _write(rows, args.customers, args.months)
        os.spawnve(os.P_WAIT, str(PORTRAIT), [str(PORTRAIT), "db", "stop"], env)  # noqa: S606
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)  # tens of gigabytes at 100k customers
    return 0


if __name__ == "__main__":
    sys.exit(main())
