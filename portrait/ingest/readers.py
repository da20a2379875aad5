"""Reading landing files into chunks of text columns with exact line numbers.

Every value is read as text: the contract checks decide what is valid, so that nothing is
silently coerced on the way in. Reading streams in blocks, so memory stays bounded.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from portrait.errors import InputError
from portrait.ingest.contract import Table

BLOCK_SIZE = 8 << 20  # bytes of CSV per chunk
PARQUET_BATCH_ROWS = 200_000


@dataclass
class ParseReject:
    line_number: int
    text: str
    rule: str
    detail: str


@dataclass
class Chunk:
    """Text columns named as in the contract, with the file line of every row."""

    data: pa.Table
    line_numbers: np.ndarray
    rejects: list[ParseReject] = field(default_factory=list)


@dataclass
class HeaderCheck:
    present: list[str]  # contract columns found in the file
    unknown: list[str]  # columns the contract does not know (ignored, reported)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_columns(table: Table, columns: list[str], where: str) -> HeaderCheck:
    """Refuse a file whose header lacks a required column or repeats one."""
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise InputError(
                f"column {name!r} appears twice in the header",
                where=where,
                rule="unique column names",
            )
        seen.add(name)
    missing = [c for c in table.required_columns if c not in seen]
    if missing:
        raise InputError(
            f"missing required column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            where=f"{where}, header",
            rule=f"required columns of {table.name}: {', '.join(table.required_columns)}",
        )
    known = set(table.column_names)
    return HeaderCheck(
        present=[c for c in columns if c in known],
        unknown=[c for c in columns if c not in known],
    )


def _first_bad_utf8_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_csv_header(path: Path, table: Table) -> HeaderCheck:
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as err:
        raise InputError(
            f"cannot read file: {err.strerror}", where=str(path), rule="readable file"
        ) from None
    if not first.strip():
        raise InputError(
            "file is empty (no header row)", where=str(path), rule="header row required"
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            "header is not valid UTF-8", where=f"{path}, line 1", rule="encoding UTF-8"
        ) from None
    names = [c.strip() for c in next(csv.reader([text.rstrip("\r\n")]))]
    return check_columns(table, names, str(path))


def iter_csv(path: Path, table: Table, header: HeaderCheck) -> Iterator[Chunk]:
    """Stream a CSV file; ragged rows become rejects with their physical line numbers."""
    ragged: list[ParseReject] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        ragged.append(
            ParseReject(
                line_number=int(row.number) if row.number is not None else -1,
                text=row.text[:2000],
                rule="column_count",
                detail=f"expected {row.expected_columns} fields, found {row.actual_columns}",
            )
        )
        return "skip"

    read_options = pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=False)
    parse_options = pacsv.ParseOptions(
        invalid_row_handler=on_invalid, ignore_empty_lines=False, newlines_in_values=False
    )
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header.present + header.unknown},
        include_columns=header.present,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=True,
    )
    next_line = 2  # line 1 is the header
    try:
        reader = pacsv.open_csv(
            path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            n = batch.num_rows
            skipped = np.array(sorted(r.line_number for r in ragged), dtype=np.int64)
            skipped = skipped[skipped >= next_line]
            candidates = np.arange(next_line, next_line + n + skipped.size, dtype=np.int64)
            lines = np.setdiff1d(candidates, skipped, assume_unique=True)[:n]
            next_line = int(lines[-1]) + 1 if n else next_line
            rejects, ragged[:] = (
                [r for r in ragged if r.line_number < next_line],
                [r for r in ragged if r.line_number >= next_line],
            )
            yield Chunk(pa.Table.from_batches([batch]), lines, rejects)
        if ragged:
            yield Chunk(
                pa.table({c: pa.array([], pa.string()) for c in header.present}),
                np.array([], np.int64),
                list(ragged),
            )
    except pa.ArrowInvalid as err:
        message = str(err)
        if "UTF8" in message or "UTF-8" in message:
            line = _first_bad_utf8_line(path)
            raise InputError(
                "file is not valid UTF-8", where=f"{path}, line {line}", rule="encoding UTF-8"
            ) from None
        raise InputError(
            f"unreadable CSV: {message.splitlines()[0]}", where=str(path), rule="CSV format"
        ) from None


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    if pa.types.is_boolean(kind):
        return pc.if_else(column, pa.scalar("true"), pa.scalar("false"))
    if pa.types.is_timestamp(kind):
        text = pc.cast(column, pa.string())
        return pc.replace_substring(text, " ", "T", max_replacements=1)
    return pc.cast(column, pa.string())


def read_parquet_header(path: Path, table: Table) -> HeaderCheck:
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (OSError, pa.ArrowException) as err:
        raise InputError(
            f"unreadable Parquet file: {str(err).splitlines()[0]}",
            where=str(path),
            rule="Parquet format",
        ) from None
    return check_columns(table, names, str(path))


def iter_parquet(path: Path, table: Table, header: HeaderCheck) -> Iterator[Chunk]:
    """Stream a Parquet file; 'line numbers' are 1-based row numbers."""
    parquet = pq.ParquetFile(path)
    offset = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=header.present):
        data = pa.Table.from_batches([batch])
        data = pa.table({name: _as_text(data[name]) for name in header.present})
        data = pa.table({name: pc.fill_null(data[name], "") for name in header.present})
        n = data.num_rows
        yield Chunk(data, np.arange(offset, offset + n, dtype=np.int64))
        offset += n
