"""The landing contract: complete, consistent, and its document up to date."""

from __future__ import annotations

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
