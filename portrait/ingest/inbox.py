"""The landing inbox: one folder per delivery, each ingested once, under its own batch date.

A delivery is a folder moved into the inbox whole (``mv`` is atomic within a file system). Its
source and batch date come from the delivery itself, never from the run that finds it:
``delivery.json`` (``{"source": ..., "batch_date": ...}``) first, then the source adapter's own
date (the generator's ``_manifest.json``), then a date in the folder's name (``2026-01-31`` or
``20260131``). A delivery whose files (by sha256) are already loaded is not loaded again, under
any date. A loaded delivery moves to ``<inbox>/_loaded/``; a refused one to ``<inbox>/_refused/``
with the reason beside it, so that one bad delivery neither blocks the others nor is retried at
every poll.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import InputError, PortraitError

MANIFEST = "delivery.json"
REFUSED = "_refused"
LOADED = "_loaded"
_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


@dataclass(frozen=True)
class Delivery:
    folder: Path
    source: str
    batch_date: date


@dataclass
class InboxReport:
    """What one look at the inbox did."""

    loaded: list[dict] = field(default_factory=list)
    already_loaded: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "loaded": self.loaded,
            "already_loaded": self.already_loaded,
            "refused": self.refused,
        }


def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(
            f"unreadable delivery manifest: {err}",
            where=str(path),
            rule="delivery.json is a JSON object",
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            "delivery manifest is not a JSON object",
            where=str(path),
            rule="delivery.json is a JSON object",
        )
    return data


def _date_in_name(name: str) -> date | None:
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def describe(folder: Path, settings: Settings | None = None) -> Delivery:
    """The delivery's source and batch date, from the delivery (and what earlier deliveries of its
    source loaded, for a source that continues them); InputError when undated."""
    from portrait.ingest.adapters import ADAPTERS

    manifest = _manifest(folder)
    source = str(manifest.get("source", "synthetic"))
    if source not in ADAPTERS:
        raise InputError(
            f"unknown source {source!r}",
            where=str(folder / MANIFEST),
            rule="source: one of " + ", ".join(sorted(ADAPTERS)),
        )
    when: date | None = None
    if "batch_date" in manifest:
        try:
            when = date.fromisoformat(str(manifest["batch_date"]))
        except ValueError:
            raise InputError(
                f"batch_date {manifest['batch_date']!r} is not a date",
                where=str(folder / MANIFEST),
                rule="ISO 8601 date",
            ) from None
    when = when or ADAPTERS[source][1](folder, settings) or _date_in_name(folder.name)
    if when is None:
        raise InputError(
            "the delivery carries no batch date",
            where=str(folder),
            rule="batch_date in delivery.json, the source's own manifest, or a date in the folder's name",
        )
    return Delivery(folder, source, when)


def pending(settings: Settings) -> list[Path]:
    """The inbox's delivery folders, oldest name first (hidden and ``_`` folders are not)."""
    inbox = settings.inbox_dir
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def fingerprint(delivery: Delivery) -> set[str]:
    """sha256 of each file the source adapter takes from the delivery."""
    from portrait.ingest.adapters import ADAPTERS
    from portrait.ingest.readers import sha256_of

    files, _warnings = ADAPTERS[delivery.source][0](
        delivery.folder, None
    )  # the files, not their dates
    return {sha256_of(Path(f.path)) for f in files}


def loaded_as(settings: Settings, digests: set[str]) -> str | None:
    """The batch loaded from exactly these files and still in raw (not dropped), if any."""
    if not digests:
        return None
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.ingest_batches')").fetchone()[0] is None:
            return None
        from portrait.ingest.batches import CURRENT

        rows = conn.execute(
            f"select batch_id, array_agg(distinct f ->> 'sha256') from ({CURRENT}) b, "
            "jsonb_array_elements(b.files) f where b.status = 'loaded' group by batch_id"
        ).fetchall()
    return next((batch for batch, shas in rows if set(shas) == digests), None)


def _move_aside(settings: Settings, folder: Path, kind: str) -> Path:
    """Move a delivery out of the way of the next look (into ``_loaded`` or ``_refused``)."""
    target_dir = settings.inbox_dir / kind
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / folder.name
    suffix = 1
    while target.exists():
        suffix += 1
        target = target_dir / f"{folder.name}.{suffix}"
    shutil.move(str(folder), str(target))
    return target


def refuse(settings: Settings, folder: Path, error: PortraitError) -> Path:
    """Move a refused delivery aside with its reason; where it went."""
    target = _move_aside(settings, folder, REFUSED)
    (target / "REFUSED.txt").write_text(error.line() + "\n")
    return target


def done(settings: Settings, folder: Path) -> None:
    """A loaded delivery moves to ``_loaded`` (not hashed again at every look); one that cannot
    move stays, and its sha256 keeps it from loading twice."""
    with contextlib.suppress(OSError):
        _move_aside(settings, folder, LOADED)


def _load(settings: Settings, delivery: Delivery, report: InboxReport) -> None:
    """Load the delivery into raw unless its files are loaded already; noted in ``report``."""
    from portrait.ingest.api import ingest

    previous = loaded_as(settings, fingerprint(delivery))
    if previous:
        report.already_loaded.append(f"{delivery.folder.name}: already loaded as {previous}")
        return
    batch = ingest(
        delivery.folder, source=delivery.source, batch_date=delivery.batch_date, settings=settings
    )
    report.loaded.append(
        {
            "delivery": delivery.folder.name,
            "batch_id": batch.batch_id,
            "batch_date": delivery.batch_date.isoformat(),
            "rows_loaded": batch.rows_loaded,
            "rows_quarantined": batch.rows_quarantined,
        }
    )


def take(settings: Settings, *, batch_date: date | None = None) -> InboxReport:
    """Ingest every new delivery in the inbox, each once; loaded ones move to ``_loaded``,
    refused ones to ``_refused``."""
    report = InboxReport()
    for folder in pending(settings):
        try:
            delivery = describe(folder, settings)
            _load(settings, replace(delivery, batch_date=batch_date or delivery.batch_date), report)
        except PortraitError as err:
            try:
                moved = f"moved to {refuse(settings, folder, err)}"
            except OSError as os_err:
                moved = f"left in place: {os_err.strerror or os_err}"
            report.refused.append(f"{folder.name}: {err.line()} ({moved})")
            continue
        done(settings, folder)
    return report


def take_folder(
    settings: Settings, folder: Path, *, source: str | None = None, batch_date: date | None = None
) -> InboxReport:
    """One named delivery folder, outside the inbox: loaded unless its files already are; a
    refusal raises (the folder stays where it is)."""
    described = describe(folder, settings) if source is None or batch_date is None else None
    delivery = Delivery(folder, source or described.source, batch_date or described.batch_date)
    report = InboxReport()
    _load(settings, delivery, report)
    return report
