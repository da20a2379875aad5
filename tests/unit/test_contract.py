"""The landing contract: complete, consistent, and its document up to date."""

from __future__ import annotations

import re
from pathlib import Path

from portrait.ingest.contract import (
    DBT_SOURCES_PATH,
    TABLES,
    TABLES_BY_NAME,
    load_order,
    render_dbt_sources,
    render_markdown,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_design_table_is_in_the_contract():
    expected = {
        "customers",
        "branches",
        "products",
        "accounts",
        "balances",
        "transactions",
        "loans",
        "cards",
        "digital_events",
        "service_interactions",
        "campaigns",
        "campaign_contacts",
        "corporate_financials",
    }
    assert expected <= set(TABLES_BY_NAME)
    # beyond DESIGN.md: market context for sources that deliver it (docs/sources.md)
    assert set(TABLES_BY_NAME) - expected == {"economic_indicators"}


def test_fixed_names_the_rest_relies_on():
    assert TABLES_BY_NAME["customers"].key == ("customer_id",)
    assert TABLES_BY_NAME["accounts"].column("customer_id").references == "customers.customer_id"
    txn = TABLES_BY_NAME["transactions"]
    assert txn.key == ("txn_id",)
    assert {"account_id", "booked_at", "amount"} <= set(txn.column_names)
    assert txn.column("booked_at").type == "timestamp"


def test_keys_are_required_columns_and_references_point_at_keys():
    for table in TABLES:
        for key in table.key:
            assert table.column(key).required, f"{table.name}.{key}"
        for column in table.columns:
            if column.references:
                parent, parent_col = column.references.split(".")
                assert TABLES_BY_NAME[parent].key == (parent_col,), column.references


def test_personal_data_is_classified():
    customers = TABLES_BY_NAME["customers"]
    for name in ("full_name", "national_id", "phone", "email"):
        assert customers.column(name).pii != "none", name


def test_load_order_puts_parents_first():
    order = [t.name for t in load_order()]
    for table in TABLES:
        for parent in table.parents:
            assert order.index(parent) < order.index(table.name)


def test_generated_document_is_up_to_date():
    doc = (REPO / "docs" / "landing-contract.md").read_text()
    assert doc == render_markdown(), "run: portrait contract --out docs/landing-contract.md"


def test_generated_dbt_sources_are_up_to_date():
    sources = (REPO / DBT_SOURCES_PATH).read_text()
    assert sources == render_dbt_sources(), (
        f"run: portrait contract --dbt-sources {DBT_SOURCES_PATH}"
    )


def _staging_sql(table: str) -> str:
    """A landing table's staging SQL, with the staged_* macro it calls written out."""
    models = REPO / "dbt_project" / "models"
    text = (models / "staging" / "landing" / f"stg_landing__{table}.sql").read_text()
    macros = (REPO / "dbt_project" / "macros" / "staged_landing.sql").read_text()
    for name in re.findall(r"\{\{\s*(staged_\w+)\(\)\s*\}\}", text):
        text += re.search(rf"macro {name}\(\).*?endmacro", macros, re.S)[0]
    return text


def test_staging_pseudonymises_exactly_the_columns_marked_identifier():
    """The contract's `identifier` mark and the staging SQL agree: a marked key is replaced by its
    pseudonym or kept only as source_<column> for the pipeline; no other column is hashed."""
    for table in TABLES:
        sql = _staging_sql(table.name)
        hashed = set(re.findall(r"pseudonymise\('(\w+)'\)", sql))
        marked = {c.name for c in table.columns if c.pii == "identifier"}
        assert hashed <= marked, f"{table.name}: {hashed - marked} hashed but not marked identifier"
        for name in marked:
            own = re.search(rf"pseudonymise\('{name}'\) \}}\}} as {name}\b", sql)
            kept = re.search(rf"\b{name} as source_{name}\b", sql)
            raw = re.search(rf"^\s*{name},?$", sql, re.M)
            assert (own or kept) and not raw, (
                f"{table.name}.{name} is marked identifier: pseudonymise it"
            )
