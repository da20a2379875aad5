"""Row rules on small hand-made chunks: each rule catches what it should and nothing else."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from portrait.ingest.contract import TABLES_BY_NAME
from portrait.ingest.rules import (
    DECIMAL_RE,
    _short_decimals,
    check_chunk,
    has_repeats,
    key_hashes,
    later_duplicates,
)

TXN = TABLES_BY_NAME["transactions"]
GOOD = {"txn_id": "T1", "account_id": "A1", "booked_at": "2025-03-01T10:00:00Z", "amount": "12.50",
        "direction": "debit", "channel": "pos", "category": "groceries", "counterparty": "SHOP"}  # fmt: skip


def _check(rows: list[dict], parents=None, table=TXN):
    data = pa.table({c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in rows[0]})
    return check_chunk(
        table, data, np.arange(2, len(rows) + 2), batch_date=date(2025, 3, 31), parents=parents
    )


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"amount": "12,50"}, "type"),
        ({"amount": "abc"}, "type"),
        ({"amount": "-5"}, "range"),
        ({"txn_id": ""}, "required"),
        ({"direction": "sideways"}, "allowed_values"),
        ({"booked_at": "2025-04-01T00:00:00Z"}, "future_date"),
        ({"booked_at": "2025-02-30T10:00:00Z"}, "type"),
        ({"booked_at": "0000-01-01"}, "type"),
        ({"booked_at": "yesterday"}, "type"),
        ({"account_id": "A404"}, "orphan_reference"),
        ({"counterparty": "bad\x00byte"}, "invalid_character"),
        ({"direction": " debit"}, "allowed_values"),
    ],
)
def test_each_rule_rejects_the_broken_row_and_keeps_the_good_one(change, rule):
    checked = _check(
        [GOOD, {**GOOD, "txn_id": "T2", **change}],
        parents={"accounts.account_id": pa.array(["A1"])},
    )
    assert checked.rejects.rules == [rule]
    assert checked.rejects.line_numbers.tolist() == [3]
    assert checked.valid["txn_id"].to_pylist() == ["T1"]
    assert checked.rejects.records[0]["txn_id"] == {**GOOD, "txn_id": "T2", **change}["txn_id"]


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-01T10:00:00Z",
        "2025-03-01 10:00",
        "2025-03-01T10:00:00.123+01:00",
        "2025-03-01",
        "2025-03-01T23:59:59-0500",
    ],
)
def test_iso_8601_variants_are_accepted(value):
    checked = _check([{**GOOD, "booked_at": value}])
    assert len(checked.rejects) == 0, checked.rejects.details


def test_canonical_dates_and_times_are_passed_on_typed_and_other_forms_as_text():
    checked = _check([GOOD, {**GOOD, "txn_id": "T2", "booked_at": "2024-02-29T23:59:59Z"}])
    assert checked.valid["booked_at"].type == pa.timestamp("us", tz="UTC")
    assert checked.valid["booked_at"].to_pylist() == [
        datetime(2025, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    ]
    # one value off the canonical form: the column goes on as delivered, the server parses it
    checked = _check([GOOD, {**GOOD, "txn_id": "T2", "booked_at": "2025-03-01 10:00"}])
    assert checked.valid["booked_at"].to_pylist() == ["2025-03-01T10:00:00Z", "2025-03-01 10:00"]


def test_typed_dates_in_a_key_hash_as_their_text():
    text = pa.table(
        {
            "a": pa.array(["A1", "A1", "A2"]),
            "d": pa.array(["2025-01-31", "2025-02-28", "2025-01-31"]),
        }
    )
    typed = text.set_column(1, "d", pa.array([20119, 20147, 20119], pa.date32()))
    assert typed["d"].to_pylist()[0] == date(2025, 1, 31)
    assert key_hashes(typed, ("a", "d")).tolist() == key_hashes(text, ("a", "d")).tolist()


def test_sql_looking_text_is_plain_data():
    text = "'); drop table raw.customers; --"
    checked = _check([{**GOOD, "counterparty": text}])
    assert checked.valid["counterparty"].to_pylist() == [text]


def test_empty_optional_values_become_null_and_booleans_are_normalised():
    customers = TABLES_BY_NAME["customers"]
    row = {
        "customer_id": "C1",
        "customer_type": "retail",
        "full_name": "A B",
        "onboarded_date": "2020-01-01",
        "consent_email": "YES",
        "consent_sms": "0",
        "email": "",
    }
    checked = _check([row], table=customers)
    assert len(checked.rejects) == 0
    assert checked.valid["email"].to_pylist() == [None]
    assert checked.valid["consent_email"].to_pylist() == ["t"]
    assert checked.valid["consent_sms"].to_pylist() == ["f"]


def test_allowed_values_are_passed_on_coded_and_an_empty_optional_one_as_null():
    customers = TABLES_BY_NAME["customers"]
    rows = [
        {
            "customer_id": f"C{i}",
            "customer_type": kind,
            "full_name": "A B",
            "onboarded_date": "2020-01-01",
            "gender": gender,
        }
        for i, (kind, gender) in enumerate([("retail", "F"), ("corporate", ""), ("retail", "M")])
    ]
    checked = _check(rows, table=customers)
    assert len(checked.rejects) == 0
    for name, values in [
        ("customer_type", ["retail", "corporate", "retail"]),
        ("gender", ["F", None, "M"]),
    ]:
        column = checked.valid[name]
        assert pa.types.is_dictionary(column.type)
        assert column.to_pylist() == values
        assert column.combine_chunks().dictionary.to_pylist() == list(
            customers.column(name).allowed
        )


def test_first_broken_rule_wins_and_detail_names_column_and_value():
    checked = _check([{**GOOD, "amount": "x", "direction": "nope"}])
    assert checked.rejects.rules == ["type"]
    assert "amount='x'" in checked.rejects.details[0]


def test_later_duplicates_keep_the_first_occurrence():
    data = pa.table({"txn_id": pa.array(["T1", "T2", "T1", "T3", "T2"])})
    assert later_duplicates(key_hashes(data, ("txn_id",))).tolist() == [2, 4]


def test_variable_width_and_composite_keys_hash_consistently():
    data = pa.table({"a": pa.array(["x", "yy", "x", "yy"]), "b": pa.array(["1", "1", "1", "2"])})
    assert later_duplicates(key_hashes(data, ("a",))).tolist() == [2, 3]
    assert later_duplicates(key_hashes(data, ("a", "b"))).tolist() == [2]


def test_chunk_hashes_clear_a_file_without_repeats_and_find_repeats_across_chunks():
    """Chunks as the loader sees them, hashes in arrival order: a repeat that spans two chunks is
    found (and located by later_duplicates), and a file without any repeat is cleared."""
    chunks = [
        pa.table({"txn_id": pa.array([f"T{i:010d}" for i in range(start, start + 1000)])})
        for start in (0, 1000, 2000)
    ]
    assert not has_repeats([key_hashes(c, ("txn_id",)) for c in chunks])
    repeated = [
        *chunks,
        pa.table({"txn_id": pa.array(["T0000000007", "T0000002999", "T9999999999"])}),
    ]
    hashes = [key_hashes(c, ("txn_id",)) for c in repeated]
    assert has_repeats(hashes)
    assert later_duplicates(np.concatenate(hashes)).tolist() == [3000, 3001]
    assert not has_repeats([]) and not has_repeats([hashes[0][:1]])


def test_fixed_width_hashes_differ_for_keys_that_differ_in_any_byte():
    """Ids of 1 to 24 bytes that differ in one byte, in any position, never share a hash (the
    word-wise hash is a bijection of each 8-byte word)."""
    for width in (1, 7, 8, 9, 11, 16, 17, 24):
        base = "A" * width
        keys = [base] + [base[:i] + "B" + base[i + 1 :] for i in range(width)]
        hashes = key_hashes(pa.table({"k": pa.array(keys)}), ("k",))
        assert len(set(hashes.tolist())) == len(keys), width


def test_the_nul_pre_check_reads_only_the_values_in_view():
    from portrait.ingest.rules import _may_hold_nul

    clean = pa.array(["ab", None, "", "cd"])
    assert not _may_hold_nul(clean) and not _may_hold_nul(pa.chunked_array([clean, clean]))
    dirty = pa.array(["ab", "c\x00d", "ef"])
    assert _may_hold_nul(dirty) and _may_hold_nul(pa.chunked_array([clean, dirty]))
    # a slice sees its own values only, not the NUL of a value outside it
    assert not _may_hold_nul(dirty.slice(2)) and not _may_hold_nul(dirty.slice(0, 1))
    assert _may_hold_nul(dirty.slice(1, 1))
    assert _may_hold_nul(pa.array(["\x00"], pa.large_string()))  # no fast path: searched


DECIMAL_TEXTS = ["1", "+5", "5.", ".5", "-.5", "+.5", "-0", "007.50", "-", ".", "+", "+-1", "1-2",
                 "1.2.3", "--1", "1e5", "inf", "nan", " 1", "1 ", "1,5", "0x1F", "١٢", "12345678901.5",
                 "0.12345678901", "0.123456789012", ".1234567890123", "123456789012345678901234",
                 "1234567890123456789012345", "5.0000000000000"]  # fmt: skip


@pytest.mark.parametrize("value", DECIMAL_TEXTS)
def test_the_decimal_fast_path_gives_the_rules_verdict(value):
    """A chunk of short decimals skips the regex (_short_decimals): whichever path a value takes,
    it is refused as a type exactly when it does not match DECIMAL_RE."""
    checked = _check([GOOD, {**GOOD, "txn_id": "T2", "amount": value}])
    refused_as_type = checked.rejects.rules == ["type"]
    assert refused_as_type == (re.fullmatch(DECIMAL_RE, value) is None)


def test_short_decimals_take_the_fast_path_and_others_the_regex():
    short = [v for v in DECIMAL_TEXTS if re.fullmatch(DECIMAL_RE, v) and len(v) <= 13]
    numbers = _short_decimals(pa.array(short), np.ones(len(short), dtype=bool))
    assert numbers is not None
    assert numbers.to_pylist() == [float(v) for v in short]
    for other in ("1e5", "1 ", "-", "0.123456789012"):
        assert _short_decimals(pa.array(["1", other]), np.ones(2, dtype=bool)) is None


def test_short_decimals_are_passed_on_as_doubles_for_the_valid_rows():
    checked = _check(
        [GOOD, {**GOOD, "txn_id": "T2", "amount": "-5"}, {**GOOD, "txn_id": "T3", "amount": "7.5"}]
    )
    assert checked.rejects.rules == ["range"]
    assert checked.numbers["amount"].to_pylist() == [12.5, 7.5]
    assert checked.valid["amount"].to_pylist() == ["12.50", "7.5"]
