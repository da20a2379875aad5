"""`make bench`: every benchmark, figures as ratios against baselines measured in the same run."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from bench import (
    bench_api,
    bench_build,
    bench_cut,
    bench_gates,
    bench_generator,
    bench_ingest,
    bench_orchestration,
    bench_scoring,
    report,
)
from bench.common import Figure, other_postgres_servers, private_warehouse, write_results
from portrait import warehouse


def _in_private_warehouse(run) -> list[Figure]:
    """Each benchmark gets its own embedded server, stopped afterwards, so none sees another's data."""
    settings = private_warehouse()
    others = other_postgres_servers(settings.home)
    if others:
        print(
            f"  warning: {len(others)} other PostgreSQL server(s) running ({', '.join(others)}): "
            "their autovacuum and checkpoints take CPU from this benchmark; stop them for "
            "steady figures (`PORTRAIT_HOME=... portrait db stop`)",
            flush=True,
        )
    try:
        return run(settings)
    finally:
        warehouse.EmbeddedServer(settings).stop()
        shutil.rmtree(settings.home, ignore_errors=True)  # gigabytes of database and landing files


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--scale", action="store_true", help="also measure the generator at 100k x 12"
    )
    parser.add_argument(
        "--only",
        choices=["generator", "ingest", "build", "cut", "gates", "scoring", "orchestration", "api"],
        help="run one benchmark",
    )
    args = parser.parse_args()
    figures: list[Figure] = []
    began = time.perf_counter()
    suite = [
        (
            "generator",
            lambda: (
                bench_generator.run(10_000, 12)
                + (bench_generator.run(100_000, 12) if args.scale else [])
            ),
        ),
        ("ingest", lambda: _in_private_warehouse(bench_ingest.run)),
        ("gates", lambda: _in_private_warehouse(bench_gates.run)),
        ("build", lambda: _in_private_warehouse(bench_build.run)),
        ("cut", lambda: _in_private_warehouse(bench_cut.run)),
        ("scoring", lambda: _in_private_warehouse(bench_scoring.run)),
        ("orchestration", lambda: _in_private_warehouse(bench_orchestration.run)),
        ("api", lambda: _in_private_warehouse(bench_api.run)),
    ]
    for name, bench in suite:
        if args.only not in (None, name):
            continue
        print(f"bench {name} ...", flush=True)
        started = time.perf_counter()
        measured = bench()
        for figure in measured:
            figure.bench = name
        figures += measured
        figures.append(
            Figure(
                f"wall time of the {name} benchmark", time.perf_counter() - started, "s", bench=name
            )
        )
    if args.only is None:
        figures.append(
            Figure(
                "wall time of make bench",
                time.perf_counter() - began,
                "s",
                "<= 1200 s",
                bench="all",
            )
        )
    write_results(figures, merge=args.only is not None)
    report.main()
    for f in figures:
        print(f"{f.name:<60} {f.value:>14,.3f} {f.unit:<7} goal {f.goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
