{#
  Rule-based segment per customer and month: value tier x life stage x engagement
  (engaged = logged in at least 4 times or made 10 transactions in the month).
#}
with contribution as (
    select customer_id, month_start, customer_type, value_tier from {{ ref('customer_contribution') }}
),

profile as (
    select customer_id, life_stage from {{ ref('int_customers_profiled') }}
),

logins as (
    select customer_id, date_trunc('month', event_date)::date as month_start, count(*) as logins
    from {{ ref('int_digital_events_deduplicated') }}
    where event_type = 'login'
    group by 1, 2
),

activity as (
    select customer_id, month_start, txn_count from {{ ref('int_transactions_aggregated_monthly') }}
)

select
    contribution.customer_id,
    contribution.month_start,
    contribution.value_tier,
    profile.life_stage,
    coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10 as is_engaged,
    case
        when contribution.customer_type = 'corporate'
            then case when contribution.value_tier = 'key' then 'corporate-key' else 'corporate-other' end
        when contribution.value_tier = 'important'
            then 'important-' || case when coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10
                                      then profile.life_stage || '-engaged' else 'any-passive' end
        else contribution.value_tier || '-any-'
            || case when coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10
                    then 'engaged' else 'passive' end
    end as segment_code
from contribution
inner join profile on contribution.customer_id = profile.customer_id
left join logins on contribution.customer_id = logins.customer_id and contribution.month_start = logins.month_start
left join activity on contribution.customer_id = activity.customer_id and contribution.month_start = activity.month_start
