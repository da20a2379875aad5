"""Great Expectations Data Docs kept as a history and readable offline.

Each gate run writes its own site (``data_docs/<stage>/<run_id>/``), and ``data_docs/<stage>/
index.html`` lists the runs, newest first (the last KEEP_RUNS; older sites are removed). The
static files GX copies into every site (4.4 MB of fonts and images) live once in
``data_docs/_static``, linked from each site. The pages load their CSS and JavaScript (Bootstrap,
jQuery, bootstrap-table, Font Awesome, Vega) from CDNs; the same files, installed from the npm
registry by ``make setup`` (deploy/datadocs/package-lock.json), are copied to
``data_docs/_assets`` and the pages point there, so the docs render with no network.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

from portrait.config import Settings

KEEP_RUNS = 30
NPM_ROOT = Path(__file__).resolve().parents[1] / "deploy" / "datadocs" / "node_modules"
_STATIC = "_static"
_ASSETS = "_assets"

# the CDN address in GX's templates: the file of the npm package that serves it
CDN_FILES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}  # fmt: skip
# folders a copied file refers to (Font Awesome's CSS loads ../webfonts/)
CDN_FOLDERS = ["@fortawesome/fontawesome-free/webfonts"]
_GX_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[^\"']*/(logo-long\.png)[^\"']*")
_EXTERNAL = re.compile(r"""(?:src|href)=["'](https?://[^"']+)["']""")


def root(settings: Settings) -> Path:
    return settings.reports_dir / "data_docs"


def run_dir(settings: Settings, stage: str, run_id: str) -> Path:
    return root(settings) / stage / run_id


def finish_site(settings: Settings, stage: str, run_id: str) -> None:
    """After GX wrote a run's site: share its static files, point its pages at local assets,
    list it in the stage's index and drop the runs beyond KEEP_RUNS."""
    site = run_dir(settings, stage, run_id)
    _share_static(settings, site)
    if _copy_assets(settings):
        for page in site.rglob("*.html"):
            _localise(page, root(settings) / _ASSETS, root(settings) / _STATIC)
    _write_index(settings, stage)


def _share_static(settings: Settings, site: Path) -> None:
    shared = root(settings) / _STATIC
    static = site / "static"
    if not static.is_dir() or static.is_symlink():
        return
    if not shared.exists():
        shutil.copytree(static, shared)
    shutil.rmtree(static)
    static.symlink_to(os.path.relpath(shared, site), target_is_directory=True)


def _copy_assets(settings: Settings) -> bool:
    """The npm files under data_docs/_assets (once); False when `make setup` has not installed
    them (the pages then keep their CDN addresses)."""
    assets = root(settings) / _ASSETS
    if not all((NPM_ROOT / f).is_file() for f in CDN_FILES.values()):
        return assets.is_dir()
    for name in [*CDN_FILES.values(), *CDN_FOLDERS]:
        source, target = NPM_ROOT / name, assets / name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    return True


def _localise(page: Path, assets: Path, static: Path) -> None:
    text = page.read_text()
    for url, name in CDN_FILES.items():
        text = text.replace(f'"{url}"', f'"{os.path.relpath(assets / name, page.parent)}"')
    page.write_text(
        _GX_LOGO.sub(lambda m: os.path.relpath(static / "images" / m.group(1), page.parent), text)
    )


def external_assets(page: Path) -> list[str]:
    """The addresses a page loads from the network (links to other sites excluded)."""
    return [
        url
        for url in _EXTERNAL.findall(page.read_text())
        if re.search(r"\.(css|js|png|svg|woff2?)(\?|$)|/npm/", url)
    ]


def _write_index(settings: Settings, stage: str) -> None:
    folder = root(settings) / stage
    runs = sorted((p for p in folder.iterdir() if (p / "index.html").is_file()), reverse=True)
    for old in runs[KEEP_RUNS:]:
        shutil.rmtree(old, ignore_errors=True)
    items = "\n".join(
        f"<li><a href='{html.escape(r.name)}/index.html'>{html.escape(r.name)}</a></li>"
        for r in runs[:KEEP_RUNS]
    )
    from portrait import files

    files.write_text(
        folder / "index.html",
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(stage)} gate: Data Docs</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2rem; }}</style></head><body>
<h1>Validation runs of the {html.escape(stage)} gate, newest first</h1>
<p>The last {KEEP_RUNS} runs; each holds every suite the run validated.</p>
<ul>
{items}
</ul></body></html>
""",
    )
