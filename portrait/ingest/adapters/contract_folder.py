"""A landing folder in the contract's own format: `<table>.csv` or `<table>.parquet` per table.

This is what the synthetic generator writes and what a bank delivering to the contract sends.
"""

from __future__ import annotations

import json
from datetime import date
from functools import partial
from pathlib import Path

from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest.contract import TABLES, TABLES_BY_NAME
from portrait.ingest.loader import LandingFile
from portrait.ingest.readers import iter_csv, iter_parquet, read_csv_header, read_parquet_header


def discover(folder: Path, settings: Settings | None = None) -> tuple[list[LandingFile], list[str]]:
    """The folder's landing files, header-checked; whole-file problems raise InputError."""
    if not folder.exists():
        raise InputError("landing folder does not exist", where=str(folder), rule="landing folder")
    if not folder.is_dir():
        raise InputError("not a folder", where=str(folder), rule="landing folder")
    warnings: list[str] = []
    files: list[LandingFile] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or not entry.is_file():
            continue
        stem, suffix = entry.stem, entry.suffix.lower()
        if stem not in TABLES_BY_NAME or suffix not in {".csv", ".parquet"}:
            warnings.append(f"{entry.name}: not a contract table file, ignored")
            continue
        if any(f.table.name == stem for f in files):
            raise InputError(
                f"table {stem} is delivered twice (CSV and Parquet)",
                where=str(entry),
                rule="one file per table",
            )
        table = TABLES_BY_NAME[stem]
        if suffix == ".csv":
            header = read_csv_header(entry, table)
            files.append(LandingFile(table, entry, header, partial(iter_csv, entry, table, header)))
        else:
            header = read_parquet_header(entry, table)
            files.append(
                LandingFile(table, entry, header, partial(iter_parquet, entry, table, header))
            )
    delivered = {f.table.name for f in files}
    for table in TABLES:
        if table.required and table.name not in delivered:
            raise InputError(
                f"required table {table.name} is missing",
                where=f"{folder}/{table.name}.csv",
                rule="required tables: " + ", ".join(t.name for t in TABLES if t.required),
            )
    return files, warnings


def default_batch_date(folder: Path, settings: Settings | None = None) -> date | None:
    """The generator's manifest says which day its data runs to."""
    manifest = folder / "_manifest.json"
    if manifest.exists():
        try:
            return date.fromisoformat(json.loads(manifest.read_text())["end_date"])
        except (ValueError, KeyError, json.JSONDecodeError):
            return None
    return None
