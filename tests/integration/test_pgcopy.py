"""The binary COPY encoder against PostgreSQL's own parsing of the same text: every value sent in
binary must read back exactly as the server reads the text (display scale of numbers included)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from portrait import pgcopy

pytestmark = pytest.mark.integration

COLUMNS = [
    ("text", ["a", None, 'ünï,"q"\\\t', "x" * 300, "O'Brien; drop table x; --"]),
    ("text", ["ID0001", "ID0002", "ID0003", "ID0004", "ID0005"]),  # one width: the matrix path
    ("bigint", ["1", "+5", None, "-9223372036854775807", "0"]),
    ("numeric", ["1.50", "-0.00", None, "123456789012345678", ".5"]),
    ("numeric", ["5.", "-12345.678901234567", "000.0001", "99999999.9999", "-1"]),
    ("numeric", ["0.10", "-7", "+3.25", "100", "999999999999.99"]),  # short: the float path
    ("date", ["2024-02-29", None, "0001-01-01", "9999-12-31", "1999-12-31"]),
    ("date", ["2024-02-29", "1900-03-01", "0001-01-01", "9999-12-31", "2000-02-29"]),
    (
        "timestamptz",
        [
            "2024-01-03T12:34:56Z",
            "2000-01-01T00:00:00Z",
            None,
            "1969-12-31T23:59:59Z",
            "2038-01-19T03:14:08Z",
        ],
    ),
    (
        "timestamptz",
        [
            "2024-01-03T12:34:56Z",
            "0001-01-01T00:00:00Z",
            "1900-02-28T23:59:59Z",
            "2400-02-29T12:00:00Z",
            "1999-12-31T23:59:59Z",
        ],
    ),
    ("boolean", ["t", "f", None, "t", "f"]),
]


def _read_back(conn, columns) -> list[tuple]:
    ddl = ", ".join(f"c{i} {sql_type}" for i, (sql_type, _) in enumerate(columns))
    conn.execute(
        f"drop table if exists pg_temp.encoded; create temp table encoded (n bigint, {ddl})"
    )
    payload = pgcopy.encode(
        [
            ("bigint", np.arange(5)),
            *((t, pa.array(v, pa.string()) if isinstance(v, list) else v) for t, v in columns),
        ]
    )
    assert payload is not None
    with conn.cursor().copy("copy encoded from stdin (format binary)") as copy:
        copy.write(pgcopy.SIGNATURE)
        copy.write(payload)
        copy.write(pgcopy.TRAILER)
    select = ", ".join(f"c{i}::text" for i in range(len(columns)))
    return conn.execute(f"select {select} from encoded order by n").fetchall()


def test_binary_values_read_back_as_the_server_parses_their_text(owner_conn):
    got = _read_back(owner_conn, COLUMNS)
    for row in range(5):
        literals = ", ".join(f"cast(%s as {sql_type})::text" for sql_type, _ in COLUMNS)
        expected = owner_conn.execute(
            f"select {literals}", [values[row] for _, values in COLUMNS]
        ).fetchone()
        assert got[row] == expected, f"row {row}"


def test_typed_dates_from_the_rules_read_back_as_their_text(owner_conn):
    """The rules pass canonical dates and date-times on typed (pgcopy.iso_typed) so that the text
    is read once: the encoder must send the values it sends for that text."""
    timed = [
        (sql_type, values) for sql_type, values in COLUMNS if sql_type in ("date", "timestamptz")
    ]
    typed = [
        (
            sql_type,
            pgcopy.iso_typed(
                pa.array(values, pa.string()),
                pgcopy.ISO_DATE if sql_type == "date" else pgcopy.ISO_TIMESTAMP,
            ),
        )
        for sql_type, values in timed
    ]
    assert [t.type for _, t in typed] == [pa.date32(), pa.date32()] + [
        pa.timestamp("us", tz="UTC")
    ] * 2
    assert _read_back(owner_conn, typed) == _read_back(owner_conn, timed)


@pytest.mark.parametrize(
    ("sql_type", "value"),
    [
        ("timestamptz", "2024-01-03 12:34:56+02"),  # an offset: the server parses it
        ("timestamptz", "2024-01-03T12:34:56.5Z"),  # fractions of a second
        ("numeric", "1234567890123456789012"),  # more digits than int64 holds
        ("date", "2025-02-30"),  # no such day: the server must refuse it, not roll it over
        ("date", "1900-02-29"),  # not a leap year
        ("timestamptz", "2024-01-01T24:00:00Z"),
        ("timestamptz", "2024-13-01T00:00:00Z"),
        ("timestamptz", "2024-01-01T23:59:60Z"),  # a leap second, which the rules refuse
        ("timestamptz", "0000-01-01T00:00:00Z"),  # year 0, which PostgreSQL does not have
        ("date", "0000-12-31"),
        ("date", "2024-1-01"),
        ("date", "2024-01-0\uff11"),  # a fullwidth digit, three bytes: not the form's width
        ("date", "2024/01/01"),
        ("date", "2024-01-0a"),
        ("timestamptz", "2024-01-01T1a:00:00Z"),
    ],
)
def test_values_off_the_fast_path_are_left_to_the_server(sql_type, value):
    assert pgcopy.encode([(sql_type, pa.array([value, None]))]) is None


def _coded(values: list[str | None], dictionary: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array([None if v is None else dictionary.index(v) for v in values], pa.int32()),
        pa.array(dictionary, pa.string()),
    )


def test_coded_text_reads_back_as_its_text(owner_conn):
    """The rules pass columns with allowed values dictionary-coded; side by side, the encoder
    sends their combinations as one piece per row (up to pgcopy._MAX_COMBINATIONS, then a new
    piece): every arrangement must read back as the plain text does."""
    many = [f"v{i:03d}" for i in range(70)]  # 71 x 71 entries with the null: more than one run
    plain = [
        ("text", ["debit", "credit", "credit", "debit", "debit"]),
        ("text", ["pos", None, "atm", "branch", "pos"]),
        ("bigint", ["1", "2", "3", "4", "5"]),
        ("text", ["v000", "v069", None, "v001", "v042"]),
        ("text", ["v013", "v013", "v069", None, "v000"]),
        ("text", ["ünï", "", "x", "y", "z"]),  # an allowed value may be empty, unlike a null
        ("text", ["a", None, "bb", "ccc", "a"]),  # variable width, between two coded columns
        ("text", ["t", "f", "t", "t", "f"]),
    ]
    dictionaries = [
        ["credit", "debit"],
        ["atm", "branch", "pos"],
        None,
        many,
        many,
        ["", "x", "y", "z", "ünï"],
        None,
        ["f", "t"],
    ]
    coded = [
        (sql_type, values if dictionary is None else _coded(values, dictionary))
        for (sql_type, values), dictionary in zip(plain, dictionaries, strict=True)
    ]
    assert _read_back(owner_conn, coded) == _read_back(owner_conn, plain)
    assert pgcopy.encode(coded) is not None


def test_doubles_from_the_rules_encode_as_their_text():
    """The rules pass short decimals on parsed as doubles (encode's ``floats``): the bytes must be
    those the text gives, the delivered display scale included."""
    text = pa.array(["0.10", "-7", "+3.25", None, "12345678.5", "5.", "-0.00"], pa.string())
    doubles = pa.array([0.1, -7.0, 3.25, None, 12345678.5, 5.0, -0.0])
    columns = [("bigint", np.arange(7)), ("numeric", text)]
    assert pgcopy.encode(columns, floats={1: doubles}) == pgcopy.encode(columns)
    wrong = pa.array([0.2, -7.0, 3.25, None, 12345678.5, 5.0, -0.0])
    assert pgcopy.encode(columns, floats={1: wrong}) != pgcopy.encode(columns)


def test_text_is_sent_from_its_own_buffers_whatever_lies_behind_a_null(owner_conn):
    """Variable-width text goes without a copy (its offsets and bytes as they are): a null must
    read back as null even when Arrow keeps bytes behind it, and a slice as the slice."""
    validity = pa.py_buffer(bytes([0b01101]))  # the second and fifth values are null...
    offsets = pa.py_buffer(np.array([0, 1, 3, 4, 5, 5], dtype=np.int32).tobytes())
    with_bytes = pa.Array.from_buffers(  # ... the second with two bytes behind it
        pa.string(), 5, [validity, offsets, pa.py_buffer(b"abbcd")]
    )
    sliced = pa.array(["zz", "a", None, "ccc", "dd", "e", "f"], pa.string()).slice(1, 5)
    assert with_bytes.to_pylist() == ["a", None, "c", "d", None]
    got = _read_back(owner_conn, [("text", with_bytes), ("text", sliced)])
    assert got == [("a", "a"), (None, None), ("c", "ccc"), ("d", "dd"), (None, "e")]
