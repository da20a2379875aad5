"""Shared by adapters that convert a source in memory: contract tables as landing files."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from portrait.ingest.contract import TABLES_BY_NAME
from portrait.ingest.loader import LandingFile
from portrait.ingest.readers import Chunk, HeaderCheck, ParseReject

# table name -> (rows as text, each row's line in its source file)
Converted = dict[str, tuple[pd.DataFrame, np.ndarray]]


def _chunks(table: str, frame: pd.DataFrame, lines: np.ndarray, rejects: list[ParseReject]):
    columns = [c for c in TABLES_BY_NAME[table].column_names if c in frame.columns]
    data = pa.table(
        {c: pa.array(frame[c].fillna("").astype(str).to_numpy(), pa.string()) for c in columns}
    )
    yield Chunk(data, np.asarray(lines, dtype=np.int64), rejects)


def landing_files(
    tables: Converted, source_file: dict[str, Path], rejects: dict[str, list[ParseReject]]
) -> list[LandingFile]:
    """One landing file per converted table; lineage names the source file each table came from.
    ``rejects`` (rows the source itself could not give) are quarantined with that table."""
    files = []
    for table, (frame, lines) in tables.items():
        present = [c for c in TABLES_BY_NAME[table].column_names if c in frame.columns]
        chunks = functools.partial(_chunks, table, frame, lines, rejects.get(table, []))
        files.append(
            LandingFile(TABLES_BY_NAME[table], source_file[table], HeaderCheck(present, []), chunks)
        )
    return files


def read_source_csv(path: Path, rule: str) -> tuple[pd.DataFrame, list[str]]:
    """A `;`-separated file as text columns plus its raw lines (for quarantine), header excluded;
    ``__line`` holds each row's physical line."""
    from portrait.errors import InputError

    try:
        frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, quotechar='"')
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise InputError(
            f"unreadable file: {str(err).splitlines()[0]}", where=str(path), rule=rule
        ) from None
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        texts = [line.rstrip("\r\n") for line in handle][1:]
    frame["__line"] = np.arange(2, len(frame) + 2)
    frame["__text"] = (texts + [""] * len(frame))[: len(frame)]
    return frame, texts


def reject_rows(
    frame: pd.DataFrame, bad: dict[str, pd.Series], rule: str = "source format"
) -> tuple[pd.DataFrame, list[ParseReject]]:
    """Split off the rows any ``bad`` mask marks; each becomes a reject naming its column and value."""
    rejects = []
    for column, mask in bad.items():
        for line, text, value in frame.loc[mask, ["__line", "__text", column]].itertuples(
            index=False
        ):
            rejects.append(
                ParseReject(
                    int(line), str(text)[:2000], rule, f"{column} {value!r} is not a valid value"
                )
            )
    keep = (
        ~np.logical_or.reduce([m.to_numpy() for m in bad.values()])
        if bad
        else np.ones(len(frame), bool)
    )
    return frame[keep].reset_index(drop=True), rejects


def product_master(products: dict[str, tuple[str, str, bool]]) -> tuple[pd.DataFrame, np.ndarray]:
    """The fixed products a source implies (id: name, family, is_asset). Real sources carry no
    product economics: the required FTP rate is 0 and documented as unknown (docs/sources.md)."""
    frame = pd.DataFrame(
        {
            "product_id": list(products),
            "product_name": [v[0] for v in products.values()],
            "family": [v[1] for v in products.values()],
            "is_asset": ["true" if v[2] else "false" for v in products.values()],
            "ftp_rate": "0",
        }
    )
    return frame, np.ones(len(products), dtype=np.int64)  # line 1: not from a data row
