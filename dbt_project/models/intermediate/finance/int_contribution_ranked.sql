{#
  Monthly contribution ranked within month and customer type, with its value tier; incremental:
  a build re-ranks only the months int_contribution_monthly recomputed (percentiles are per month,
  so a month is always ranked whole). The customer type is the one known when the month was built.
#}
{{ config(**monthly_increment_config('customer_id')) }}

with monthly as (
    select
        contribution.*,
        customers.customer_type
    from {{ ref('int_contribution_monthly') }} as contribution
    inner join {{ ref('int_customers_profiled') }} as customers on contribution.customer_id = customers.customer_id
    {% if is_incremental() %}
    where contribution.loaded_at > {{ loaded_watermark() }}
    {% endif %}
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
    end as value_tier,
    loaded_at
from ranked
