"""`make bench`: every benchmark, figures as ratios against baselines measured in the same run."""

from __future__ import annotations

import argparse
import sys

from bench import bench_generator, bench_ingest
from bench.common import private_warehouse, write_results
from portrait import warehouse


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--scale", action="store_true", help="also measure the generator at 100k x 12"
    )
    args = parser.parse_args()
    figures = []
    figures += bench_generator.run(10_000, 12)
    if args.scale:
        figures += bench_generator.run(100_000, 12)
    settings = private_warehouse()
    try:
        figures += bench_ingest.run(settings)
    finally:
        warehouse.EmbeddedServer(settings).stop()
    write_results(figures)
    for f in figures:
        print(f"{f.name:<60} {f.value:>14,.3f} {f.unit:<7} goal {f.goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
