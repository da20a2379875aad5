"""`portrait docs`: dbt's documentation site of the published warehouse (lineage, every model
and column with its description and tests, the exposures BI and ML read), as one self-contained
page (`dbt docs generate --static`: manifest and catalogue inlined, so it opens from disk)."""

from __future__ import annotations

from pathlib import Path

from portrait import files
from portrait.config import Settings
from portrait.dbt_runner import PUBLISHED_SCHEMA, build_variables, run_dbt
from portrait.manifest_cache import parse_project


def docs_path(settings: Settings) -> Path:
    return settings.reports_dir / "dbt_docs" / "index.html"


def write_docs(settings: Settings) -> dict[str, object]:
    """Generate the site against the published marts; returns its path and what it documents."""
    variables = build_variables(schema=PUBLISHED_SCHEMA)
    manifest = parse_project(settings, variables)
    report = run_dbt(
        ["docs", "generate", "--static"], settings=settings, variables=variables, manifest=manifest
    )
    page = settings.home / "dbt" / "target" / "static_index.html"
    target = docs_path(settings)
    files.write_text(target, page.read_text())
    counts: dict[str, int] = {}
    for node in manifest.nodes.values():
        counts[str(node.resource_type)] = counts.get(str(node.resource_type), 0) + 1
    return {
        "path": str(target),
        "seconds": report.seconds,
        "exposures": sorted(e.name for e in manifest.exposures.values()),
        "nodes": dict(sorted(counts.items())),
        "bytes": target.stat().st_size,
    }
