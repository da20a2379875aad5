{# The ranking lives in int_contribution_ranked (incremental by month); the mart is its audited copy. #}
select
    customer_id,
    month_start,
    customer_type,
    deposit_spread_income_amount,
    loan_margin_income_amount,
    expected_loss_amount,
    fee_income_amount,
    cost_to_serve_amount,
    contribution_amount,
    contribution_rank,
    contribution_percentile,
    value_tier
from {{ ref('int_contribution_ranked') }}
