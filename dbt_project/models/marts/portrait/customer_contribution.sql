with monthly as (
    select
        contribution.*,
        customers.customer_type
    from {{ ref('int_contribution_monthly') }} as contribution
    inner join {{ ref('int_customers_profiled') }} as customers on contribution.customer_id = customers.customer_id
),

ranked as (
    select
        *,
        percent_rank() over (partition by month_start, customer_type order by contribution_amount) as contribution_percentile,
        rank() over (partition by month_start, customer_type order by contribution_amount desc) as contribution_rank
    from monthly
)

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
    round(contribution_percentile::numeric, 4) as contribution_percentile,
    case
        when contribution_percentile >= {{ var('tier_key_percentile') }} then 'key'
        when contribution_percentile >= {{ var('tier_important_percentile') }} then 'important'
        when contribution_percentile >= {{ var('tier_standard_percentile') }} then 'standard'
        else 'low'
    end as value_tier
from ranked
