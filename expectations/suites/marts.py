"""Marts gate: the build schema is checked before it may replace the published marts.

Completeness and ranges of the portrait (critical), and distribution shift of key indicators
against the currently published marts by the population stability index (warning above 0.25).
"""

from __future__ import annotations

import great_expectations as gx
from portrait.expectations.suites import CRITICAL, WARNING, SuiteSpec, severity

PSI_INDICATORS = (
    "aum_amount",
    "contribution_month_amount",
    "txn_count_90d",
    "logins_90d",
    "product_count",
)
PSI_THRESHOLD = 0.25
RATIOS = ("spend_share_groceries_90d", "spend_share_dining_90d", "spend_share_travel_90d", "spend_share_shopping_90d",
          "spend_share_utilities_90d", "spend_share_cash_90d", "channel_share_mobile_90d", "channel_share_branch_90d",
          "app_login_share_90d", "contribution_percentile")  # fmt: skip


def psi_query(build_schema: str, published_schema: str, indicator: str) -> str:
    """Rows (one) when the PSI of ``indicator`` between build and published marts exceeds the threshold.

    Deciles are cut on the published distribution; empty bins get a small floor.
    """
    return f"""
with edges as (
    select percentile_cont(array[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]) within group (order by {indicator}) as cuts
    from {published_schema}.customer_portrait
),
binned as (
    select 'published' as side, width_bucket({indicator}::float8, (select cuts from edges)) as bin
    from {published_schema}.customer_portrait
    union all
    select 'build', width_bucket({indicator}::float8, (select cuts from edges)) from {{batch}}
),
shares as (
    select bin,
           greatest(count(*) filter (where side = 'build')::float8 / nullif(sum(count(*) filter (where side = 'build')) over (), 0), 0.0001) as actual,
           greatest(count(*) filter (where side = 'published')::float8 / nullif(sum(count(*) filter (where side = 'published')) over (), 0), 0.0001) as expected
    from binned group by bin
)
select '{indicator}' as indicator, sum((actual - expected) * ln(actual / expected)) as psi
from shares
having sum((actual - expected) * ln(actual / expected)) > {PSI_THRESHOLD}
"""


def mart_suite(schema: str, table: str, expectations: list) -> SuiteSpec:
    """The suite of one mart: named after it, validating all its rows in ``schema``."""
    return SuiteSpec(
        name=f"marts.{table}",
        table=f"{schema}.{table}",
        query=f"select * from {schema}.{table}",
        expectations=expectations,
    )


def suites(build_schema: str, published_schema: str | None) -> list[SuiteSpec]:
    e = gx.expectations
    portrait = mart_suite(
        build_schema,
        "customer_portrait",
        [
            e.ExpectTableRowCountToBeBetween(
                min_value=1, meta=severity(CRITICAL, rule="portrait not empty")
            ),
            e.UnexpectedRowsExpectation(
                description="every onboarded customer has a portrait row",
                unexpected_rows_query=(
                    f"select customer_id from {build_schema}.dim_customer where onboarded_date <= as_of_date "
                    "and customer_id not in (select customer_id from {batch})"
                ),
                meta=severity(CRITICAL, rule="completeness"),
            ),
            e.ExpectColumnValuesToBeUnique(
                column="customer_id", meta=severity(CRITICAL, rule="key")
            ),
            e.ExpectColumnValuesToNotBeNull(
                column="value_tier", meta=severity(CRITICAL, rule="completeness")
            ),
            e.ExpectColumnValuesToBeInSet(
                column="value_tier",
                value_set=["key", "important", "standard", "low"],
                meta=severity(CRITICAL, rule="allowed values"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="age_years",
                min_value=0,
                max_value=120,
                meta=severity(CRITICAL, rule="range"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="product_count",
                min_value=0,
                max_value=200,
                meta=severity(CRITICAL, rule="range"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="rfm_recency_score",
                min_value=1,
                max_value=5,
                meta=severity(CRITICAL, rule="range"),
            ),
            e.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column="region", min_value=0.95, meta=severity(WARNING, rule="completeness")
            ),
        ],
    )
    portrait.expectations += [
        e.ExpectColumnValuesToBeBetween(
            column=c, min_value=0, max_value=1, meta=severity(CRITICAL, rule="ratio range")
        )
        for c in RATIOS
    ]
    if published_schema:
        portrait.expectations += [
            e.UnexpectedRowsExpectation(
                description=f"PSI of {indicator} against the published marts stays below {PSI_THRESHOLD}",
                unexpected_rows_query=psi_query(build_schema, published_schema, indicator),
                meta=severity(
                    WARNING,
                    rule="distribution shift (PSI)",
                    column=indicator,
                    threshold=PSI_THRESHOLD,
                    report_rows=True,  # its one row is the indicator and its PSI: the observed value
                ),
            )
            for indicator in PSI_INDICATORS
        ]
    contribution = mart_suite(
        build_schema,
        "customer_contribution",
        [
            e.ExpectCompoundColumnsToBeUnique(
                column_list=["customer_id", "month_start"], meta=severity(CRITICAL, rule="key")
            ),
            e.ExpectColumnValuesToNotBeNull(
                column="contribution_amount", meta=severity(CRITICAL, rule="completeness")
            ),
        ],
    )
    campaigns = mart_suite(
        build_schema,
        "campaign_performance",
        [
            e.ExpectColumnValuesToBeBetween(
                column="treated_conversion_rate",
                min_value=0,
                max_value=1,
                meta=severity(CRITICAL, rule="range"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="control_conversion_rate",
                min_value=0,
                max_value=1,
                meta=severity(CRITICAL, rule="range"),
            ),
        ],
    )
    return [portrait, contribution, campaigns, *score_suites(build_schema)]


def score_suites(schema: str) -> list[SuiteSpec]:
    """Score ranges in the marts built from ml.customer_scores (empty before scoring)."""
    e = gx.expectations
    offers = mart_suite(
        schema,
        "next_best_offer",
        [
            e.ExpectColumnValuesToBeUnique(
                column="customer_id", meta=severity(CRITICAL, rule="key")
            ),
            e.ExpectColumnValuesToBeBetween(
                column="propensity",
                min_value=0,
                max_value=1,
                meta=severity(CRITICAL, rule="score range"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="churn_risk_score",
                min_value=0,
                max_value=1,
                meta=severity(CRITICAL, rule="score range"),
            ),
            e.ExpectColumnValuesToBeBetween(
                column="expected_value_amount", min_value=0, meta=severity(CRITICAL, rule="range")
            ),
        ],
    )
    targets = mart_suite(
        schema,
        "campaign_target_list",
        [
            e.ExpectColumnValuesToBeInSet(
                column="contact_group",
                value_set=["treated", "control"],
                meta=severity(CRITICAL, rule="allowed values"),
            ),
            e.UnexpectedRowsExpectation(
                description="the control group is between 2% and 30% of a target list of 200 or more",
                unexpected_rows_query=(
                    "select count(*) from {batch} having count(*) >= 200 and "
                    "avg((contact_group = 'control')::int) not between 0.02 and 0.30"
                ),
                meta=severity(WARNING, rule="control group share"),
            ),
        ],
    )
    scores = mart_suite(
        schema,
        "customer_scores",
        [
            e.ExpectColumnValuesToNotBeNull(
                column="model_version", meta=severity(CRITICAL, rule="lineage")
            ),
            e.ExpectColumnValuesToNotBeNull(
                column="score_band", meta=severity(CRITICAL, rule="completeness")
            ),
            e.UnexpectedRowsExpectation(
                description="a banded (classifier) score is a probability",
                unexpected_rows_query="select * from {batch} where score_band in ('low', 'medium', 'high') and score not between 0 and 1",
                meta=severity(CRITICAL, rule="score range"),
            ),
        ],
    )
    prospects = mart_suite(
        schema,
        "contact_prospects",
        [
            e.ExpectColumnValuesToBeUnique(
                column="contact_id", meta=severity(CRITICAL, rule="key")
            ),
            e.ExpectColumnValuesToBeBetween(
                column="score",
                min_value=0,
                max_value=1,
                meta=severity(CRITICAL, rule="score range"),
            ),
            e.ExpectColumnValuesToNotBeNull(
                column="model_version", meta=severity(CRITICAL, rule="lineage")
            ),
        ],
    )
    return [offers, targets, scores, prospects]
