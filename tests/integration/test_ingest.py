"""Ingest on the real server: good rows load, bad rows go to quarantine with their rule and line,
whole-file problems refuse the batch, re-ingest replaces it atomically."""

from __future__ import annotations

import csv
import itertools
import shutil
from datetime import date
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest.api import ingest
from portrait.synth.generator import generate
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
_dates = (date(2030, 1, 1) + __import__("datetime").timedelta(days=i) for i in itertools.count())


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, customers=300, months=2, seed=11)
    return out


@pytest.fixture()
def folder(landing: Path, tmp_path: Path) -> Path:
    target = tmp_path / "landing"
    shutil.copytree(landing, target)
    return target


@pytest.fixture()
def batch_date() -> date:
    """Every test loads its own batch (its own date), so tests stay independent."""
    return next(_dates)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def _count(database: Settings, query: str, *params) -> int:
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        return conn.execute(query, params).fetchone()[0]


def _quarantine(database: Settings, batch_id: str) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        return conn.execute(
            "select source_table, line_number, rule, detail, record from quarantine.rejected_rows "
            "where batch_id = %s order by source_table, line_number",
            (batch_id,),
        ).fetchall()


def _lines(path: Path) -> int:
    return len(_rows(path)) - 1


def test_clean_folder_loads_every_row_with_lineage(database, folder, batch_date):
    report = ingest(folder, batch_date=batch_date, settings=database)
    assert report.status == "loaded" and report.rows_quarantined == 0
    for f in report.files:
        assert f.rows_loaded == _lines(Path(f.file)), f.table
    bid = report.batch_id
    assert _count(
        database, "select count(*) from raw.transactions where batch_id = %s", bid
    ) == _lines(folder / "transactions.csv")
    line, source_file = _one(
        database,
        "select line_number, source_file from raw.customers where batch_id = %s "
        "and customer_id = 'C0000005'",
        bid,
    )
    assert (line, source_file) == (6, "customers.csv")
    audit = _one(
        database,
        "select status, rows_loaded, jsonb_array_length(files) from dq.ingest_batches "
        "where batch_id = %s",
        bid,
    )
    assert audit == ("loaded", report.rows_loaded, 13)


def _one(database: Settings, query: str, *params):
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        return conn.execute(query, params).fetchone()


def test_values_arrive_typed_and_exact(database, folder, batch_date):
    rows = _rows(folder / "transactions.csv")
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    report = ingest(folder, batch_date=batch_date, settings=database)
    amount, booked = _one(
        database,
        "select amount, booked_at from raw.transactions where batch_id = %s and txn_id = %s",
        report.batch_id,
        first["txn_id"],
    )
    assert str(amount) == first["amount"]
    assert booked.isoformat().replace("+00:00", "Z") == first["booked_at"]


def test_every_value_equals_the_servers_own_parse_of_the_file(
    database, folder, batch_date, monkeypatch
):
    """Chunks go to the server in binary COPY (typed values encoded by us) or, when a value is off
    the encoder's fast path, in CSV: either way each loaded value must equal what PostgreSQL
    itself makes of the delivered text. Small blocks make the transactions file many chunks, and
    a timestamp with an offset in the middle sends one of them as CSV between binary ones."""
    from portrait.ingest import loader, readers
    from portrait.ingest.contract import SQL_TYPES, TABLES

    monkeypatch.setattr(readers, "BLOCK_SIZE", 16 << 10)
    formats: list[str] = []

    def serialise(lf, checked, real=loader._serialise):
        fmt, payload = real(lf, checked)
        if lf.table.name == "transactions":
            formats.append(fmt)
        return fmt, payload

    monkeypatch.setattr(loader, "_serialise", serialise)
    rows = _rows(folder / "transactions.csv")
    middle = len(rows) // 2
    at = rows[0].index("booked_at")
    rows[middle][at] = rows[middle][at].replace("Z", "+00:00")
    _write(folder / "transactions.csv", rows)
    report = ingest(folder, batch_date=batch_date, settings=database)
    assert report.rows_quarantined == 0
    assert formats.count("csv") == 1 and formats.index("csv") > 0 and formats[-1] == "binary"
    checked = 0
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        for table in TABLES:
            path = folder / f"{table.name}.csv"
            if not path.exists():
                continue
            header = _rows(path)[0]
            types = {c.name: SQL_TYPES[c.type] for c in table.columns}
            columns = ", ".join(f'"{c}" {types[c]}' for c in header)
            conn.execute(f"create temp table parsed ({columns})")
            with conn.cursor().copy("copy parsed from stdin (format csv, header)") as copy:
                copy.write(path.read_bytes())
            names = ", ".join(f'"{c}"' for c in header)
            differ = conn.execute(
                f"select count(*) from ((select {names} from parsed except all "
                f"select {names} from raw.{table.name} where batch_id = %s) union all "
                f"(select {names} from raw.{table.name} where batch_id = %s except all "
                f"select {names} from parsed)) d",
                (report.batch_id, report.batch_id),
            ).fetchone()[0]
            assert differ == 0, f"{table.name}: {differ} rows differ from the server's parse"
            checked += conn.execute("select count(*) from parsed").fetchone()[0]
            conn.execute("drop table parsed")
    assert checked == report.rows_loaded


def _break(folder: Path, table: str, line: int, **changes: str) -> None:
    """Change values on a 1-based file line (line 1 is the header)."""
    path = folder / f"{table}.csv"
    rows = _rows(path)
    header = rows[0]
    for column, value in changes.items():
        rows[line - 1][header.index(column)] = value
    _write(path, rows)


@pytest.mark.parametrize(
    ("table", "changes", "rule"),
    [
        ("transactions", {"amount": "12,50"}, "type"),
        ("transactions", {"amount": "-3.00"}, "range"),
        ("transactions", {"account_id": "A99999999"}, "orphan_reference"),
        ("transactions", {"booked_at": "2099-01-01T00:00:00Z"}, "future_date"),
        ("transactions", {"txn_id": ""}, "required"),
        # the file is scanned for NUL bytes once; one found, the text columns are searched
        ("transactions", {"counterparty": "bad\x00byte"}, "invalid_character"),
        ("customers", {"customer_type": "alien"}, "allowed_values"),
        ("accounts", {"opened_date": "31/12/2024"}, "type"),
    ],
)
def test_a_bad_row_is_quarantined_with_rule_and_line_and_the_rest_loads(
    database, folder, batch_date, table, changes, rule
):
    expected_rows = _lines(folder / f"{table}.csv") - 1
    _break(folder, table, 5, **changes)
    report = ingest(folder, batch_date=batch_date, settings=database)
    by_table = {f.table: f for f in report.files}
    bad = [q for q in _quarantine(database, report.batch_id) if q[0] == table]
    assert [(q[1], q[2]) for q in bad][:1] == [(5, rule)]
    assert by_table[table].rows_loaded >= expected_rows - (len(bad) - 1)
    assert (
        _count(
            database,
            f"select count(*) from raw.{table} where batch_id = %s and line_number = 5",
            report.batch_id,
        )
        == 0
    )
    column, value = next(iter(changes.items()))
    # as delivered (a NUL character, which jsonb cannot hold, as U+2400 SYMBOL FOR NULL)
    assert bad[0][4][column] == value.replace("\x00", "\u2400"), (
        "the record keeps the row as delivered"
    )


def test_references_resolve_against_this_batch_or_earlier_ones(database, folder, batch_date):
    earlier = ingest(folder, batch_date=batch_date, settings=database)
    assert earlier.rows_quarantined == 0
    rows = _rows(folder / "customers.csv")
    known = rows[4][0]
    _write(
        folder / "customers.csv", [r for i, r in enumerate(rows) if i != 4]
    )  # customer only in the earlier batch
    accounts = _rows(folder / "accounts.csv")
    accounts[2][1] = "C7777777"  # a customer no batch has ever delivered
    _write(folder / "accounts.csv", accounts)
    later = ingest(
        folder, batch_date=date.fromordinal(batch_date.toordinal() + 1), settings=database
    )
    orphans = [q for q in _quarantine(database, later.batch_id) if q[2] == "orphan_reference"]
    assert [(q[0], q[1]) for q in orphans if q[0] == "accounts"] == [("accounts", 3)]
    assert "C7777777" in orphans[0][3]
    assert (
        _count(
            database,
            "select count(*) from raw.accounts where batch_id = %s and customer_id = %s",
            later.batch_id,
            known,
        )
        > 0
    )


def test_duplicate_keys_keep_the_first_row(database, folder, batch_date):
    path = folder / "transactions.csv"
    rows = _rows(path)
    duplicate = list(rows[3])
    duplicate[3] = "999.99"  # same txn_id, different amount
    rows.append(duplicate)
    _write(path, rows)
    report = ingest(folder, batch_date=batch_date, settings=database)
    bad = [q for q in _quarantine(database, report.batch_id) if q[0] == "transactions"]
    assert [(q[1], q[2]) for q in bad] == [(len(rows), "duplicate_key")]
    assert "line 4" in bad[0][3]
    amount = _one(
        database,
        "select amount from raw.transactions where batch_id = %s and txn_id = %s",
        report.batch_id,
        duplicate[0],
    )[0]
    assert str(amount) == rows[3][3]


def test_ragged_rows_are_quarantined_with_their_physical_line(database, folder, batch_date):
    path = folder / "transactions.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6].rstrip("\n") + ',"extra"\n'  # line 7
    lines[9] = ",".join(lines[9].split(",")[:3]) + "\n"  # line 10
    path.write_text("".join(lines))
    report = ingest(folder, batch_date=batch_date, settings=database)
    bad = [(q[1], q[2]) for q in _quarantine(database, report.batch_id) if q[0] == "transactions"]
    assert bad == [(7, "column_count"), (10, "column_count")]
    assert (
        _count(
            database, "select count(*) from raw.transactions where batch_id = %s", report.batch_id
        )
        == len(lines) - 3
    )
    assert (
        _count(
            database,
            "select count(*) from raw.transactions where batch_id = %s and line_number = 11",
            report.batch_id,
        )
        == 1
    )


def test_sql_looking_text_loads_as_plain_data(database, folder, batch_date):
    text = "Robert'); DROP TABLE raw.customers; --"
    _break(folder, "customers", 3, full_name=text)
    report = ingest(folder, batch_date=batch_date, settings=database)
    stored = _one(
        database,
        "select full_name from raw.customers where batch_id = %s and line_number = 3",
        report.batch_id,
    )
    assert stored == (text,)
    assert _count(
        database, "select count(*) from raw.customers where batch_id = %s", report.batch_id
    ) == _lines(folder / "customers.csv")


def test_an_extra_unknown_column_is_ignored_and_reported(database, folder, batch_date):
    path = folder / "branches.csv"
    rows = _rows(path)
    _write(path, [[*rows[0], "branch_manager"]] + [[*r, "someone"] for r in rows[1:]])
    report = ingest(folder, batch_date=batch_date, settings=database)
    assert report.rows_quarantined == 0
    assert any("branch_manager" in w for w in report.warnings)


def _refused(database, folder, batch_date, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        ingest(folder, batch_date=batch_date, settings=database)
    bid = f"synthetic-{batch_date:%Y%m%d}"
    for table in ("customers", "accounts", "transactions"):
        assert (
            _count(database, f"select count(*) from raw.{table} where batch_id = %s", bid) == 0
        ), table
    assert _one(database, "select status from dq.ingest_batches where batch_id = %s", bid) == (
        "refused",
    )
    # files committed before the refusal (each file commits on its own) are dropped again
    assert _staging_tables(database) == []
    return info.value


def _staging_tables(database) -> list[str]:
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        rows = conn.execute(
            "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'raw' and relname like '\\_load\\_%' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_a_renamed_key_column_refuses_the_batch(database, folder, batch_date):
    rows = _rows(folder / "customers.csv")
    rows[0][0] = "cust_id"
    _write(folder / "customers.csv", rows)
    err = _refused(database, folder, batch_date, "missing required column 'customer_id'")
    assert "customers.csv" in err.where


def test_a_missing_key_column_refuses_the_batch(database, folder, batch_date):
    rows = _rows(folder / "accounts.csv")
    _write(folder / "accounts.csv", [r[1:] for r in rows])
    _refused(database, folder, batch_date, "missing required column 'account_id'")


def test_invalid_utf8_refuses_the_batch_and_names_the_line(database, folder, batch_date):
    path = folder / "transactions.csv"
    data = path.read_bytes().split(b"\n")
    data[41] = data[41].replace(b"debit", b"d\xff\xfebit").replace(b"credit", b"c\xff\xferedit")
    path.write_bytes(b"\n".join(data))
    err = _refused(database, folder, batch_date, "not valid UTF-8")
    assert err.where.endswith("line 42")


def test_a_header_only_required_file_refuses_the_batch(database, folder, batch_date):
    path = folder / "products.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    _refused(database, folder, batch_date, "required table products has no rows")


def test_a_missing_required_table_refuses_the_batch(database, folder, batch_date):
    (folder / "customers.csv").unlink()
    _refused(database, folder, batch_date, "required table customers is missing")


def test_reingesting_the_same_batch_replaces_it(database, folder, batch_date):
    _break(folder, "transactions", 5, amount="oops")
    first = ingest(folder, batch_date=batch_date, settings=database)
    second = ingest(folder, batch_date=batch_date, settings=database)
    assert second.replaced and not first.replaced
    bid = second.batch_id
    assert _count(
        database, "select count(*) from raw.transactions where batch_id = %s", bid
    ) == first.rows_loaded - sum(f.rows_loaded for f in first.files if f.table != "transactions")
    assert len(_quarantine(database, bid)) == 1
    assert _count(database, "select count(*) from dq.ingest_batches where batch_id = %s", bid) == 2


def test_a_refused_reingest_keeps_the_loaded_batch(database, folder, batch_date):
    loaded = ingest(folder, batch_date=batch_date, settings=database)
    customers = _lines(folder / "customers.csv")
    (folder / "customers.csv").write_text("garbage\n")
    with pytest.raises(InputError):
        ingest(folder, batch_date=batch_date, settings=database)
    assert (
        _count(database, "select count(*) from raw.customers where batch_id = %s", loaded.batch_id)
        == customers
    )


def test_parquet_delivery_loads_like_csv(database, tmp_path, batch_date):
    generate(tmp_path, customers=300, months=2, seed=11, fmt="parquet")
    report = ingest(tmp_path, batch_date=batch_date, settings=database)
    assert report.rows_quarantined == 0
    txn = next(f for f in report.files if f.table == "transactions")
    assert txn.rows_loaded > 1000 and txn.file.endswith(".parquet")


def test_cli_refusal_is_one_line_without_traceback(database, folder):
    rows = _rows(folder / "customers.csv")
    rows[0][0] = "cust_id"
    _write(folder / "customers.csv", rows)
    result = run_cli("ingest", str(folder), "--batch-date", "2031-06-01")
    assert result.returncode == InputError.exit_code
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "customer_id" in lines[0] and "rule:" in lines[0]


def test_cli_json_summary(database, folder):
    result = run_cli("ingest", str(folder), "--batch-date", "2031-06-02", "--json")
    assert result.returncode == 0, result.stderr
    import json

    payload = json.loads(result.stdout)
    assert payload["status"] == "loaded" and payload["rows_loaded"] > 0
    assert {f["table"] for f in payload["files"]} >= {"customers", "transactions"}


def test_a_refusal_after_committed_files_leaves_nothing_of_the_batch(database, folder, batch_date):
    """Customers, accounts and balances commit before the bad transaction is read."""
    path = folder / "transactions.csv"
    data = path.read_bytes().split(b"\n")
    data[-3] = data[-3] + b"\xff"
    path.write_bytes(b"\n".join(data))
    _refused(database, folder, batch_date, "not valid UTF-8")
    bid = f"synthetic-{batch_date:%Y%m%d}"
    assert _count(database, "select count(*) from raw.balances where batch_id = %s", bid) == 0


def test_a_load_killed_midway_leaves_staging_that_the_next_load_drops(database, folder, batch_date):
    """A table this delivery does not bring (economic_indicators) as well as one it does."""
    bid = f"synthetic-{batch_date:%Y%m%d}"
    leftovers = [
        f"_load_{t}__synthetic_{batch_date:%Y%m%d}" for t in ("customers", "economic_indicators")
    ]
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        for leftover in leftovers:
            conn.execute(f"create table raw.{leftover} (customer_id text)")
        conn.commit()
    assert set(leftovers) <= set(_staging_tables(database))
    assert not (folder / "economic_indicators.csv").exists()
    report = ingest(folder, batch_date=batch_date, settings=database)
    assert _staging_tables(database) == []
    assert _count(database, "select count(*) from raw.customers where batch_id = %s", bid) == next(
        f.rows_loaded for f in report.files if f.table == "customers"
    )


def test_a_second_load_of_the_same_batch_waits_for_the_first(database, folder, batch_date):
    """The batch's advisory lock, held here as a first load would hold it."""
    import threading

    bid = f"synthetic-{batch_date:%Y%m%d}"
    with warehouse.connect(warehouse.owner_url(database), autocommit=True) as holder:
        holder.execute(
            "select pg_advisory_lock(hashtextextended(%s, 0))", (f"portrait ingest {bid}",)
        )
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (ingest(folder, batch_date=batch_date, settings=database), done.set())
        )
        worker.start()
        assert not done.wait(3), "the second load did not wait for the batch's lock"
        assert _count(database, "select count(*) from raw.customers where batch_id = %s", bid) == 0
        holder.execute(
            "select pg_advisory_unlock(hashtextextended(%s, 0))", (f"portrait ingest {bid}",)
        )
        worker.join(120)
    assert done.is_set()
    assert _count(database, "select count(*) from raw.customers where batch_id = %s", bid) > 0


def test_lineage_constants_live_in_the_catalogue_not_in_each_row(database, folder, batch_date):
    """batch_date, ingested_at and source_file: one value per file, read back on every row."""
    report = ingest(folder, batch_date=batch_date, settings=database)
    partition = f"raw.transactions__synthetic_{batch_date:%Y%m%d}"
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        missing = conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and atthasmissing order by 1",
            (partition,),
        ).fetchall()
        values = conn.execute(
            "select batch_date, source_file, count(*), count(distinct ingested_at) from raw.transactions "
            "where batch_id = %s group by 1, 2",
            (report.batch_id,),
        ).fetchall()
    assert [m[0] for m in missing] == ["batch_date", "ingested_at", "source_file"]
    rows = next(f.rows_loaded for f in report.files if f.table == "transactions")
    assert values == [(batch_date, "transactions.csv", rows, 1)]
