"""The indicator catalogue for business users, generated from the portrait's dbt YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from portrait import files
from portrait.config import Settings, get_settings

DIMENSIONS = ["basic", "assets", "products", "behaviour", "channels", "digital", "value", "risk", "marketing",
              "service", "corporate"]  # fmt: skip


def indicators(settings: Settings | None = None) -> list[dict]:
    settings = settings or get_settings()
    path = settings.dbt_project_dir / "models" / "marts" / "portrait" / "_portrait__models.yml"
    models = yaml.safe_load(path.read_text())["models"]
    portrait = next(m for m in models if m["name"] == "customer_portrait")
    return [c for c in portrait["columns"] if "meta" in c and "dimension" in c["meta"]]


def render(settings: Settings | None = None) -> str:
    items = indicators(settings)
    out = [
        "# Customer portrait: indicator catalogue",
        "",
        "Generated from `dbt_project/models/marts/portrait/_portrait__models.yml` by "
        "`portrait catalogue --out docs/indicator-catalogue.md`. Table: `marts.customer_portrait` "
        "(one row per customer as of the build date); long format: `marts.customer_indicators`.",
        "",
        f"{len(items)} indicators in {len({i['meta']['dimension'] for i in items})} dimensions.",
        "",
    ]
    for dimension in DIMENSIONS:
        rows = [i for i in items if i["meta"]["dimension"] == dimension]
        if not rows:
            continue
        out += [
            f"## {dimension}",
            "",
            "| indicator | definition | unit | type | PII | owner |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for i in rows:
            meta = i["meta"]
            out.append(
                f"| `{i['name']}` | {i['description']} | {meta['unit']} | {i['data_type']} | "
                f"{meta['pii']} | {meta['owner']} |"
            )
        out.append("")
    return "\n".join(out)


def write(path: Path, settings: Settings | None = None) -> int:
    files.write_text(path, render(settings))
    return len(indicators(settings))
