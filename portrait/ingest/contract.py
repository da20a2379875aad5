"""The landing contract: what a bank delivers, table by table and column by column.

This module is the single source of truth. The loader checks rows against it, the raw tables are
created from it, and ``docs/landing-contract.md`` is generated from it (``portrait contract``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CONTRACT_VERSION = "1.2.0"  # 1.2.0: campaign_contacts history columns; 1.1.0: economic_indicators

ColumnType = Literal["text", "int", "decimal", "date", "timestamp", "bool"]
PiiClass = Literal["none", "identifier", "direct", "quasi", "contact", "sensitive"]

SQL_TYPES: dict[str, str] = {
    "text": "text",
    "int": "bigint",
    "decimal": "numeric",
    "date": "date",
    "timestamp": "timestamptz",
    "bool": "boolean",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    references: str | None = None  # "table.column" of a parent key
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    not_after_batch: bool = False  # a date or time that cannot lie after the batch date
    pii: PiiClass = "none"

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    def rules(self) -> list[str]:
        """Human-readable rules, for the generated document."""
        out = []
        if self.required:
            out.append("required")
        if self.allowed:
            out.append("one of " + ", ".join(f"`{v}`" for v in self.allowed))
        if self.minimum is not None and self.maximum is not None:
            out.append(f"between {self.minimum:g} and {self.maximum:g}")
        elif self.minimum is not None:
            out.append(f">= {self.minimum:g}")
        elif self.maximum is not None:
            out.append(f"<= {self.maximum:g}")
        if self.not_after_batch:
            out.append("not after the batch date")
        if self.references:
            out.append(f"references `{self.references}`")
        return out


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required: bool = False  # the batch is refused without this table (or with it empty)
    grain: str = ""
    delivery: Literal["snapshot", "increment"] = "increment"
    # delivered with every batch, so a stale table is worth a warning (dbt source freshness);
    # False for context a source may never deliver
    regular: bool = True

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name}.{name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def parents(self) -> set[str]:
        return {c.references.split(".")[0] for c in self.columns if c.references}


def _c(name: str, type_: ColumnType, description: str, **kw: object) -> Column:
    return Column(name, type_, description, **kw)  # type: ignore[arg-type]


CHANNELS_CONTACT = ("email", "sms", "phone", "app", "branch")
REGIONS = ("north", "south", "east", "west", "central")
# The product families, the one list the generator, the portrait (`has_<family>`, through the
# dbt var product_families), the ML features and the landing gate read. Retail families are the
# portrait's holdings; the corporate ones are products of the catalogue only.
RETAIL_FAMILIES = (
    "current_account", "savings", "term_deposit", "personal_loan", "mortgage", "credit_card",
    "wealth", "insurance",
)  # fmt: skip
CORPORATE_FAMILIES = ("business_loan", "cash_management")
PRODUCT_FAMILIES = RETAIL_FAMILIES + CORPORATE_FAMILIES
TXN_CHANNELS = ("branch", "atm", "pos", "online", "mobile", "transfer")
TXN_CATEGORIES = (
    "salary", "transfer_in", "transfer_out", "groceries", "dining", "travel", "utilities",
    "shopping", "cash", "fees", "interest", "loan_payment", "investment", "settlement", "other",
)  # fmt: skip

TABLES: tuple[Table, ...] = (
    Table(
        "branches",
        "The bank's branches and their regions.",
        key=("branch_id",),
        grain="one row per branch",
        delivery="snapshot",
        columns=(
            _c("branch_id", "text", "Branch identifier.", required=True),
            _c("branch_name", "text", "Branch name.", required=True),
            _c("region", "text", "Sales region.", required=True, allowed=REGIONS),
            _c("city", "text", "City of the branch."),
            _c("opened_date", "date", "Date the branch opened.", not_after_batch=True),
        ),
    ),
    Table(
        "products",
        "Product catalogue with transfer-pricing (FTP) and fee rates.",
        key=("product_id",),
        grain="one row per product",
        delivery="snapshot",
        required=True,
        columns=(
            _c("product_id", "text", "Product identifier.", required=True),
            _c("product_name", "text", "Product name.", required=True),
            _c("family", "text", "Product family.", required=True, allowed=PRODUCT_FAMILIES),
            _c("is_asset", "bool", "True for lending products (the bank's assets).", required=True),
            _c("customer_rate", "decimal", "Annual rate paid to (deposits) or charged to (loans) the customer, as a fraction.", minimum=0, maximum=1),
            _c("ftp_rate", "decimal", "Annual base funds-transfer-pricing rate, as a fraction (an account adds the term premium of seed ftp_curve at its tenor).", required=True, minimum=0, maximum=1),
            _c("fee_rate", "decimal", "Annual fee as a fraction of the balance.", minimum=0, maximum=1),
            _c("monthly_fee_amount", "decimal", "Flat monthly fee per account.", minimum=0),
            _c("margin_rate", "decimal", "Expected margin per unit of balance used to value offers (annual fraction).", minimum=-1, maximum=1),
            _c("term_months", "int", "Contractual term for term products.", minimum=0),
        ),
    ),
    Table(
        "customers",
        "Retail and corporate customers, with personal data and marketing consent per channel.",
        key=("customer_id",),
        grain="one row per customer",
        delivery="snapshot",
        required=True,
        columns=(
            _c("customer_id", "text", "Customer identifier of the core banking system.", required=True, pii="identifier"),
            _c("customer_type", "text", "Retail person or corporate client.", required=True, allowed=("retail", "corporate")),
            _c("full_name", "text", "Person's or company's name.", required=True, pii="direct"),
            _c("national_id", "text", "National identity or company registration number.", pii="direct"),
            _c("birth_date", "date", "Date of birth (retail) or incorporation (corporate).", not_after_batch=True, pii="quasi"),
            _c("gender", "text", "Gender as recorded (retail only).", allowed=("F", "M", "U"), pii="quasi"),
            _c("phone", "text", "Phone number.", pii="contact"),
            _c("email", "text", "E-mail address.", pii="contact"),
            _c("postal_code", "text", "Postal code of the address.", pii="quasi"),
            _c("occupation", "text", "Occupation (retail).", allowed=("employee", "self_employed", "civil_servant", "retired", "student", "unemployed", "homemaker", "unknown")),
            _c("annual_income_amount", "decimal", "Declared annual income (retail) in the account currency.", minimum=0, pii="sensitive"),
            _c("marital_status", "text", "Marital status (retail).", allowed=("single", "married", "divorced", "widowed", "unknown")),
            _c("education", "text", "Highest education (retail).", allowed=("primary", "secondary", "tertiary", "unknown")),
            _c("industry", "text", "Industry sector (corporate).", allowed=("manufacturing", "retail_trade", "construction", "services", "technology", "agriculture", "logistics", "healthcare", "other")),
            _c("home_branch_id", "text", "Branch that manages the relationship.", references="branches.branch_id"),
            _c("onboarded_date", "date", "Date the relationship started.", required=True, not_after_batch=True),
            _c("closed_date", "date", "Date the relationship ended, if it has.", not_after_batch=True),
            _c("kyc_risk_rating", "text", "Anti-money-laundering risk rating.", allowed=("low", "medium", "high")),
            _c("consent_email", "bool", "Consents to marketing by e-mail (empty: not asked)."),
            _c("consent_sms", "bool", "Consents to marketing by SMS (empty: not asked)."),
            _c("consent_phone", "bool", "Consents to marketing by phone (empty: not asked)."),
            _c("consent_app", "bool", "Consents to marketing in the mobile app (empty: not asked)."),
        ),
    ),
    Table(
        "accounts",
        "Accounts (deposit, lending, card and wealth) and the product they are opened on.",
        key=("account_id",),
        grain="one row per account",
        delivery="snapshot",
        required=True,
        columns=(
            _c("account_id", "text", "Account identifier.", required=True, pii="identifier"),
            _c("customer_id", "text", "Owner of the account.", required=True, references="customers.customer_id", pii="identifier"),
            _c("product_id", "text", "Product the account is opened on.", required=True, references="products.product_id"),
            _c("branch_id", "text", "Branch holding the account.", references="branches.branch_id"),
            _c("currency", "text", "ISO 4217 currency code.", required=True, allowed=("EUR", "USD", "CZK", "GBP", "CHF", "CNY")),
            _c("opened_date", "date", "Opening date.", required=True, not_after_batch=True),
            _c("closed_date", "date", "Closing date, if closed.", not_after_batch=True),
            _c("maturity_date", "date", "Contractual maturity (term deposits, loans)."),
            _c("status", "text", "Account status at extraction.", required=True, allowed=("active", "dormant", "closed")),
        ),
    ),
    Table(
        "balances",
        "Month-end balance per account, with the month's average daily balance.",
        key=("account_id", "month_end_date"),
        grain="one row per account per month end",
        columns=(
            _c("account_id", "text", "Account.", required=True, references="accounts.account_id", pii="identifier"),
            _c("month_end_date", "date", "Last calendar day of the month.", required=True, not_after_batch=True),
            _c("balance_amount", "decimal", "Balance at month end (loans: outstanding principal, positive).", required=True),
            _c("average_balance_amount", "decimal", "Average daily balance over the month.", required=True),
        ),
    ),
    Table(
        "transactions",
        "Booked transactions; `amount` is always positive and `direction` gives the sign.",
        key=("txn_id",),
        grain="one row per booked transaction",
        columns=(
            _c("txn_id", "text", "Transaction identifier.", required=True),
            _c("account_id", "text", "Account the transaction is booked on.", required=True, references="accounts.account_id", pii="identifier"),
            _c("booked_at", "timestamp", "Booking time, ISO 8601 (UTC if no offset).", required=True, not_after_batch=True),
            _c("amount", "decimal", "Absolute amount in the account currency.", required=True, minimum=0.0),
            _c("direction", "text", "credit (money in) or debit (money out).", required=True, allowed=("credit", "debit")),
            _c("channel", "text", "Channel the transaction came through.", required=True, allowed=TXN_CHANNELS),
            _c("category", "text", "Spending or income category.", required=True, allowed=TXN_CATEGORIES),
            _c("counterparty", "text", "Merchant or counterparty as delivered.", pii="quasi"),
        ),
    ),
    Table(
        "loans",
        "Loan contracts with their repayment status.",
        key=("loan_id",),
        grain="one row per loan",
        delivery="snapshot",
        columns=(
            _c("loan_id", "text", "Loan identifier.", required=True),
            _c("account_id", "text", "Lending account.", required=True, references="accounts.account_id", pii="identifier"),
            _c("customer_id", "text", "Borrower.", required=True, references="customers.customer_id", pii="identifier"),
            _c("principal_amount", "decimal", "Amount lent.", required=True, minimum=0.01),
            _c("outstanding_amount", "decimal", "Principal still owed.", required=True, minimum=0),
            _c("interest_rate", "decimal", "Annual interest rate, as a fraction.", required=True, minimum=0, maximum=1),
            _c("start_date", "date", "Disbursement date.", required=True, not_after_batch=True),
            _c("maturity_date", "date", "Final repayment date."),
            _c("status", "text", "Repayment status.", required=True, allowed=("current", "delinquent", "default", "closed")),
            _c("days_past_due", "int", "Days the oldest unpaid instalment is overdue (empty: not known, e.g. Berka).", minimum=0),
            _c("collateral_type", "text", "Collateral.", allowed=("none", "property", "vehicle", "deposit", "guarantee")),
        ),
    ),
    Table(
        "cards",
        "Debit and credit cards.",
        key=("card_id",),
        grain="one row per card",
        delivery="snapshot",
        columns=(
            _c("card_id", "text", "Card identifier (never the card number).", required=True),
            _c("account_id", "text", "Account the card draws on.", required=True, references="accounts.account_id", pii="identifier"),
            _c("customer_id", "text", "Cardholder.", required=True, references="customers.customer_id", pii="identifier"),
            _c("card_type", "text", "Debit or credit.", required=True, allowed=("debit", "credit")),
            _c("card_tier", "text", "Card tier.", allowed=("classic", "gold", "platinum", "business")),
            _c("credit_limit_amount", "decimal", "Credit limit (credit cards).", minimum=0),
            _c("issued_date", "date", "Issue date.", required=True, not_after_batch=True),
            _c("status", "text", "Card status.", required=True, allowed=("active", "blocked", "closed")),
        ),
    ),
    Table(
        "digital_events",
        "App and web sessions: logins, product views and self-service actions.",
        key=("event_id",),
        grain="one row per event",
        columns=(
            _c("event_id", "text", "Event identifier.", required=True),
            _c("customer_id", "text", "Customer.", required=True, references="customers.customer_id", pii="identifier"),
            _c("event_at", "timestamp", "Event time, ISO 8601.", required=True, not_after_batch=True),
            _c("channel", "text", "Mobile app or web banking.", required=True, allowed=("app", "web")),
            _c("event_type", "text", "What happened.", required=True, allowed=("login", "product_view", "transfer", "bill_pay", "profile_update")),
            _c("product_id", "text", "Product viewed (product_view only).", references="products.product_id"),
        ),
    ),
    Table(
        "service_interactions",
        "Contacts with customer service: inquiries, requests, complaints, with satisfaction.",
        key=("interaction_id",),
        grain="one row per interaction",
        columns=(
            _c("interaction_id", "text", "Interaction identifier.", required=True),
            _c("customer_id", "text", "Customer.", required=True, references="customers.customer_id", pii="identifier"),
            _c("interaction_at", "timestamp", "Time of the interaction.", required=True, not_after_batch=True),
            _c("channel", "text", "Where it happened.", required=True, allowed=("branch", "phone", "app", "web", "email")),
            _c("interaction_type", "text", "Kind of interaction.", required=True, allowed=("inquiry", "request", "complaint", "compliment")),
            _c("satisfaction_score", "int", "Survey score after the interaction, 1 (worst) to 5.", minimum=1, maximum=5),
            _c("is_resolved", "bool", "Whether the matter was resolved."),
        ),
    ),
    Table(
        "campaigns",
        "Marketing campaigns: product, channel, dates, cost and control-group share.",
        key=("campaign_id",),
        grain="one row per campaign",
        delivery="snapshot",
        columns=(
            _c("campaign_id", "text", "Campaign identifier.", required=True),
            _c("campaign_name", "text", "Campaign name.", required=True),
            _c("product_id", "text", "Product promoted.", references="products.product_id"),
            _c("channel", "text", "Contact channel.", required=True, allowed=CHANNELS_CONTACT),
            _c("start_date", "date", "First contact day.", required=True),
            _c("end_date", "date", "Last day a conversion is attributed."),
            _c("cost_per_contact_amount", "decimal", "Cost of one contact.", minimum=0),
            _c("control_share", "decimal", "Share of the target list held out as control.", minimum=0, maximum=1),
        ),
    ),
    Table(
        "campaign_contacts",
        "Who was targeted by a campaign (treated or held-out control) and the outcome.",
        key=("contact_id",),
        grain="one row per targeted customer per campaign",
        columns=(
            _c("contact_id", "text", "Contact identifier.", required=True),
            _c("campaign_id", "text", "Campaign.", required=True, references="campaigns.campaign_id"),
            _c("customer_id", "text", "Customer targeted.", required=True, references="customers.customer_id", pii="identifier"),
            _c("contact_group", "text", "treated (contacted) or control (held out).", required=True, allowed=("treated", "control")),
            _c("contacted_at", "timestamp", "When the contact was made (control: when it would have been).", required=True, not_after_batch=True),
            _c("channel", "text", "Channel used.", allowed=CHANNELS_CONTACT),
            _c("has_responded", "bool", "Customer responded (opened, answered, clicked); empty while unknown."),
            _c("has_converted", "bool", "Customer took the product within the attribution window; empty while unknown."),
            _c("converted_at", "timestamp", "When the conversion happened.", not_after_batch=True),
            _c("conversion_amount", "decimal", "Amount of the product taken (balance, limit or principal).", minimum=0),
            # the contact history as the source knew it at the contact (empty where it keeps none)
            _c("attempt_number", "int", "Contacts of this customer in this campaign so far, this one included.", minimum=1),
            _c("days_since_previous_campaign", "int", "Days since the customer's contact in an earlier campaign; empty if none.", minimum=0),
            _c("previous_contacts", "int", "Contacts of this customer before this campaign.", minimum=0),
            _c("previous_outcome", "text", "Outcome of the earlier campaign's contact.", allowed=("success", "failure", "other")),
            _c("contact_device", "text", "Device the customer was reached on.", allowed=("mobile", "landline")),
        ),
    ),
    Table(
        "corporate_financials",
        "Yearly financial statements of corporate customers.",
        key=("customer_id", "fiscal_year"),
        grain="one row per corporate customer per fiscal year",
        columns=(
            _c("customer_id", "text", "Corporate customer.", required=True, references="customers.customer_id", pii="identifier"),
            _c("fiscal_year", "int", "Fiscal year.", required=True, minimum=1900, maximum=2100),
            _c("revenue_amount", "decimal", "Revenue.", minimum=0),
            _c("total_assets_amount", "decimal", "Total assets.", minimum=0),
            _c("total_liabilities_amount", "decimal", "Total liabilities.", minimum=0),
            _c("settlement_volume_amount", "decimal", "Payments settled through the bank in the year.", minimum=0),
            _c("employee_count", "int", "Employees at year end.", minimum=0),
        ),
    ),
    Table(
        "economic_indicators",
        "Market context the bank's marketing runs in: rates, prices, confidence, employment, by date.",
        key=("indicator_date", "indicator"),
        grain="one row per indicator per date it applies from",
        regular=False,
        columns=(
            _c("indicator_date", "date", "First day the value applies.", required=True, not_after_batch=True),
            _c("indicator", "text", "Indicator name in snake_case, e.g. euribor_3m_rate.", required=True),
            _c("value", "decimal", "Value of the indicator.", required=True),
            _c("unit", "text", "Unit, e.g. percent, index, thousands of people."),
            _c("source", "text", "Publisher of the figure."),
        ),
    ),
)  # fmt: skip

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

# Lineage columns added to every raw table.
LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("batch_id", "text", "Load batch: `<source>-<YYYYMMDD>`."),
    ("batch_date", "date", "Business date of the batch."),
    ("ingested_at", "timestamptz", "When the batch was loaded."),
    ("source_file", "text", "File the row came from."),
    ("line_number", "bigint", "Line in that file (header = line 1)."),
)


def load_order() -> list[Table]:
    """Tables with parents after their parents, so references can be checked as rows arrive."""
    done: list[Table] = []
    names: set[str] = set()
    pending = list(TABLES)
    while pending:
        for table in pending:
            if table.parents - {table.name} <= names:
                done.append(table)
                names.add(table.name)
                pending.remove(table)
                break
        else:  # pragma: no cover - the contract is acyclic, a test proves it
            raise ValueError(f"reference cycle among {[t.name for t in pending]}")
    return done


DBT_SOURCES_PATH = "dbt_project/models/staging/landing/_landing__sources.yml"


def render_dbt_sources() -> str:
    """dbt's source definitions of the raw tables: descriptions, types and each column's PII class
    (meta.pii), so dbt docs and lineage show what is personal data. Kept in sync by a test."""
    import yaml

    def column(col: Column) -> dict[str, object]:
        out: dict[str, object] = {
            "name": col.name,
            "data_type": col.sql_type,
            "description": col.description,
        }
        if col.pii != "none":
            out["meta"] = {"pii": col.pii}
        return out

    tables = []
    for table in TABLES:
        lineage = [{"name": n, "data_type": t, "description": d} for n, t, d in LINEAGE_COLUMNS]
        entry: dict[str, object] = {
            "name": table.name,
            "description": table.description,
            "columns": [column(c) for c in table.columns] + lineage,
        }
        if not table.regular:
            entry["freshness"] = None
        tables.append(entry)
    source = {
        "name": "landing",
        "schema": "raw",
        "loaded_at_field": "ingested_at",
        "description": "Landing tables as loaded by `portrait ingest` (one partition per batch). "
        "See docs/landing-contract.md.",
        "freshness": {
            "warn_after": {"count": 2, "period": "day"},
            "error_after": {"count": 7, "period": "day"},
        },
        "tables": tables,
    }
    header = (
        f"# Generated from portrait/ingest/contract.py by `portrait contract --dbt-sources "
        f"{DBT_SOURCES_PATH}`; do not edit by hand.\n"
    )
    body = yaml.safe_dump(
        {"version": 2, "sources": [source]}, sort_keys=False, width=110, allow_unicode=True
    )
    return header + body


def render_markdown() -> str:
    """The contract as a document for the banks that deliver files and the people who read them."""
    out = [
        "# Landing contract",
        "",
        f"Version **{CONTRACT_VERSION}**. Generated from `portrait/ingest/contract.py` by "
        "`portrait contract --out docs/landing-contract.md`; do not edit by hand.",
        "",
        "One file per table in a landing folder: `<table>.csv` (UTF-8, header row, comma-separated, "
        '`"` quotes; empty means missing) or `<table>.parquet`. Column order is free; unknown columns '
        "are reported and ignored. Dates are `YYYY-MM-DD`; times are ISO 8601 "
        "(`2026-01-31T14:05:00Z`; UTC when no offset); booleans are `true`/`false` "
        "(also `1`/`0`, `yes`/`no`, `t`/`f`); decimals use `.`.",
        "",
        "A row that breaks a rule goes to `quarantine.rejected_rows` with the rule and the reason; "
        "the other rows load. A whole-file problem (unreadable file, wrong encoding, missing required "
        "column, required table missing or empty) refuses the whole batch.",
        "",
        "PII classes: `identifier` is a core-banking key of a person or their account: staging "
        "replaces it by its pseudonym (sha256 with the secret key) and keeps the delivered value as "
        "`source_<column>` for the pipeline only. `direct` identifies a person alone; `contact` "
        "reaches a person; `quasi` identifies in combination; `sensitive` is financial or personal "
        "detail. None of them reaches the published marts unmasked.",
        "",
        "| table | grain | delivery | required | key |",
        "| --- | --- | --- | --- | --- |",
    ]
    for table in TABLES:
        out.append(
            f"| [`{table.name}`](#{table.name}) | {table.grain} | {table.delivery} | "
            f"{'yes' if table.required else 'no'} | {', '.join(table.key)} |"
        )
    for table in TABLES:
        out += [
            "",
            f"## {table.name}",
            "",
            table.description,
            "",
            "| column | type | PII | rules | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for col in table.columns:
            key = " (key)" if col.name in table.key else ""
            out.append(
                f"| `{col.name}`{key} | {col.type} | {col.pii if col.pii != 'none' else ''} | "
                f"{'; '.join(col.rules())} | {col.description} |"
            )
    out += [
        "",
        "## Lineage columns (added to every raw table)",
        "",
        "| column | type | description |",
        "| --- | --- | --- |",
    ]
    out += [f"| `{name}` | {type_} | {desc} |" for name, type_, desc in LINEAGE_COLUMNS]
    return "\n".join(out) + "\n"
