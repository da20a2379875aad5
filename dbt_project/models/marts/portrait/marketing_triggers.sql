{#
  Events worth acting on, detected in the month of the as-of date (or for maturities, ahead of it):
  large inflow, salary start / stop, AUM drop beyond a threshold, maturity within N days,
  dormancy, value-tier change.
#}
{{ config(post_hook=["{{ ensure_index(this, 'customer_id') }}"]) }}  {# the API reads one customer #}
with as_of as (
    select max(as_of_date) as as_of_date, date_trunc('month', max(as_of_date))::date as as_of_month
    from {{ ref('customer_portrait') }}
),

monthly as (
    select
        monthly.*,
        lag(monthly.salary_count, 1) over (partition by customer_id order by month_start) as salary_count_1m_ago,
        lag(monthly.salary_count, 2) over (partition by customer_id order by month_start) as salary_count_2m_ago,
        avg(monthly.inflow_amount) over (
            partition by customer_id order by month_start rows between 6 preceding and 1 preceding) as inflow_average_6m
    from {{ ref('int_transactions_aggregated_monthly') }} as monthly
),

this_month as (
    select monthly.* from monthly cross join as_of where monthly.month_start = as_of.as_of_month
),

portrait as (
    select * from {{ ref('customer_portrait') }}
),

tiers as (
    select
        customer_id,
        month_start,
        value_tier,
        lag(value_tier) over (partition by customer_id order by month_start) as previous_value_tier
    from {{ ref('customer_contribution') }}
),

triggers as (
    select customer_id, 'large_inflow' as trigger_type, last_booked_date as detected_on,
           'largest inflow ' || largest_inflow_amount || ' vs 6-month average monthly inflow ' || round(coalesce(inflow_average_6m, 0), 2) as reason,
           largest_inflow_amount as metric_value
    from this_month
    where largest_inflow_amount >= {{ var('trigger_large_inflow_amount') }}
      and largest_inflow_amount > 3 * coalesce(inflow_average_6m, 0)
    union all
    select customer_id, 'salary_start', last_booked_date, 'salary received this month after two months without', salary_amount
    from this_month
    where salary_count > 0 and coalesce(salary_count_1m_ago, 0) = 0 and coalesce(salary_count_2m_ago, 0) = 0
      and salary_count_1m_ago is not null
    union all
    select customer_id, 'salary_stop', last_booked_date, 'no salary this month after salary in each of the two months before', 0
    from this_month
    where salary_count = 0 and salary_count_1m_ago > 0 and salary_count_2m_ago > 0
    union all
    select portrait.customer_id, 'aum_drop', portrait.as_of_date,
           'assets under management fell ' || round(-100 * portrait.aum_change_3m_ratio, 1) || '% in 3 months',
           portrait.aum_change_3m_ratio
    from portrait
    where portrait.aum_change_3m_ratio <= -{{ var('trigger_aum_drop_ratio') }}
    union all
    select portrait.customer_id, 'maturity_soon', portrait.as_of_date,
           'a deposit or loan matures in ' || portrait.days_to_next_maturity || ' days', portrait.days_to_next_maturity
    from portrait
    where portrait.days_to_next_maturity between 0 and {{ var('trigger_maturity_days') }}
    union all
    select portrait.customer_id, 'dormancy', portrait.as_of_date,
           'no transaction for ' || portrait.days_since_last_transaction || ' days', portrait.days_since_last_transaction
    from portrait
    where portrait.is_active and portrait.days_since_last_transaction > {{ var('trigger_dormancy_days') }}
    union all
    select tiers.customer_id, 'tier_change', as_of.as_of_date,
           'value tier ' || tiers.previous_value_tier || ' -> ' || tiers.value_tier, null
    from tiers
    cross join as_of
    where tiers.month_start = as_of.as_of_month and tiers.previous_value_tier <> tiers.value_tier
)

select
    {{ dbt.hash("customer_id || '|' || trigger_type || '|' || detected_on") }} as trigger_id,
    customer_id,
    trigger_type,
    detected_on,
    reason,
    metric_value::numeric(18, 4) as metric_value
from triggers
