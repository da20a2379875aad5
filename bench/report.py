"""The figures of docs/performance.md, generated: the benchmark table from bench/results.json
(`make bench`) and the scale table from bench/results-scale.json (`make bench-scale`).

`python -m bench.report` rewrites the generated blocks; both benchmark commands call it, and a
test fails when the document and the results disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.common import BENCH_DIR

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
TEMPORARY_HOME = re.compile(r"/\S*/portrait-scale-[^/\s]+")  # the run's own PORTRAIT_HOME
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w.-]+) -->\n).*?(<!-- end generated -->)", re.S)
# how a value reads in its unit
FORMATS = {
    "ratio": "{:.3f}",
    "s": "{:,.1f} s",
    "rows/s": "{:,.0f} rows/s",
    "MB": "{:,.0f} MB",
    "GB": "{:.2f} GB",
}


def _value(value: float, unit: str) -> str:
    return FORMATS.get(unit, "{:,.3f} " + unit).format(value).strip()


def _machine(results: dict) -> str:
    m = results["machine"]
    return (
        f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, PostgreSQL "
        f"{m['postgresql']}"
    )


def figures_table(results: dict) -> str:
    """Every figure of the last `make bench` run (re-run benchmarks keep their own date)."""
    lines = [
        f"Measured {results['measured_at'][:10]} on {_machine(results)}.",
        "",
        "| figure | measured | goal | benchmark | date |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for f in results["figures"]:
        lines.append(
            f"| {f['name']} | {_value(f['value'], f['unit'])} | {f['goal'] or '-'} | "
            f"`{f.get('bench') or '-'}` | {f['measured_at'][:10]} |"
        )
    return "\n".join(lines)


def scale_table(results: dict) -> str:
    """Wall time and peak memory of each stage of the last `make bench-scale` run."""
    lines = [
        f"{results['customers']:,} customers x {results['months']} months, measured "
        f"{results['measured_at'][:10]} on {_machine(results)}: {results['total_seconds'] / 60:.1f} "
        "min in the stages.",
        "",
        "| stage | command | wall time | peak memory |",
        "| --- | --- | ---: | ---: |",
    ]
    for s in results["stages"]:
        command = TEMPORARY_HOME.sub("$PORTRAIT_HOME", s["command"])
        lines.append(
            f"| {s['stage']} | `{command}` | {s['seconds']:,.1f} s | {s['peak_mb'] / 1024:.2f} GB |"
        )
    return "\n".join(lines)


TABLES = {"results.json": figures_table, "results-scale.json": scale_table}


def render(text: str, folder: Path = BENCH_DIR) -> str:
    """``text`` with each generated block replaced by the table of its results file."""

    def block(match: re.Match) -> str:
        name = match["name"]
        path = folder / name
        body = (
            TABLES[name](json.loads(path.read_text()))
            if path.exists()
            else (
                f"No `{name}` yet: run `make {'bench' if name == 'results.json' else 'bench-scale'}`."
            )
        )
        return f"{match[1]}{body}\n{match[3]}"

    return BLOCK.sub(block, text)


def main() -> int:
    DOC.write_text(render(DOC.read_text()))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
