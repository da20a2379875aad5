"""The read-only BI role: reads marts and dq, now and later; nothing else, and never writes."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from portrait import warehouse
from portrait.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture()
def table_name() -> str:
    return f"t_{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def bi_conn(database: Settings):
    with warehouse.connect(warehouse.bi_url(database), autocommit=True) as conn:
        yield conn


def test_bi_reads_a_marts_table_created_after_the_role(owner_conn, bi_conn, table_name):
    owner_conn.execute(f"create table marts.{table_name} as select 42 as answer")
    assert bi_conn.execute(f"select answer from marts.{table_name}").fetchone() == (42,)


def test_bi_reads_dq_tables(owner_conn, bi_conn, table_name):
    owner_conn.execute(f"create table dq.{table_name} (ok boolean)")
    owner_conn.execute(f"insert into dq.{table_name} values (true)")
    assert bi_conn.execute(f"select count(*) from dq.{table_name}").fetchone() == (1,)


@pytest.mark.parametrize("schema", ["raw", "quarantine", "staging", "ml", "snapshots"])
def test_bi_cannot_read_pipeline_schemas(owner_conn, bi_conn, table_name, schema):
    owner_conn.execute(f"create table {schema}.{table_name} as select 'secret' as pii")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bi_conn.execute(f"select * from {schema}.{table_name}")


@pytest.mark.parametrize(
    "statement",
    [
        "create table marts.{t}_new (x int)",
        "insert into marts.{t} values (1)",
        "update marts.{t} set answer = 0",
        "delete from marts.{t}",
        "drop table marts.{t}",
        "create table public.{t}_bi (x int)",
        "create temporary table {t}_tmp (x int)",
        "create schema bi_{t}",
    ],
)
def test_bi_cannot_create_or_modify_anything(owner_conn, bi_conn, table_name, statement):
    owner_conn.execute(f"create table marts.{table_name} as select 1 as answer")
    with pytest.raises(
        (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
    ):
        bi_conn.execute(statement.format(t=table_name))
    assert owner_conn.execute(f"select count(*) from marts.{table_name}").fetchone() == (1,)


def test_a_pii_value_failing_a_check_is_stored_withheld_and_bi_cannot_read_it(
    database: Settings, owner_conn, bi_conn, table_name
):
    """A real gate on a table with contract PII columns (email: contact; national_id: direct) and
    a plain one: the failing values BI can read in dq.validation_results are the plain ones."""
    import great_expectations.expectations as gxe
    from portrait.expectations.gates import run_gate
    from portrait.expectations.suites import CRITICAL, SuiteSpec, severity

    owner_conn.execute(
        f"create table quarantine.{table_name} as select * from (values "
        "('jane@bank.example', 'ID-123456', 'spaceship'), ('ok@bank.example', 'ID-1', 'deposit')) "
        "as v(email, national_id, family)"
    )
    spec = SuiteSpec(
        name="test.pii",
        table=f"quarantine.{table_name}",
        query=f"select * from quarantine.{table_name}",
    )
    spec.expectations += [
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex="^ok@", meta=severity(CRITICAL)),
        gxe.ExpectColumnValuesToBeInSet(
            column="national_id", value_set=["ID-1"], meta=severity(CRITICAL)
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="family", value_set=["deposit"], meta=severity(CRITICAL)
        ),
    ]
    result = run_gate("landing", [spec], settings=database, docs=False)
    samples = dict(
        bi_conn.execute(
            'select "column", sample::text from dq.validation_results where run_id = %s and not success',
            (result.run_id,),
        ).fetchall()
    )
    assert set(samples) == {"email", "national_id", "family"}, samples
    assert "jane@" not in samples["email"] and "withheld: contact PII" in samples["email"]
    assert (
        "ID-123456" not in samples["national_id"]
        and "withheld: direct PII" in samples["national_id"]
    )
    assert "spaceship" in samples["family"]
