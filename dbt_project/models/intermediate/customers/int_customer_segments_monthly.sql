{#
  Rule-based segment per customer and month: value tier x life stage x engagement
  (engaged = logged in at least 4 times or made 10 transactions in the month).
  Incremental: a build recomputes the months whose ranking changed or which received digital
  events since the last build. The life stage is the customer's at the month's end.
#}
{{ config(**monthly_increment_config('customer_id')) }}

with
{% if is_incremental() %}
touched_months as (
    select distinct month_start from {{ ref('int_contribution_ranked') }}
    where loaded_at > {{ loaded_watermark() }}
    union
    select distinct date_trunc('month', event_date)::date from {{ ref('int_digital_events_deduplicated') }}
    where ingested_at > {{ loaded_watermark() }}
),
{% endif %}

contribution as (
    select customer_id, month_start, customer_type, value_tier from {{ ref('int_contribution_ranked') }}
    {% if is_incremental() %}where month_start in (select month_start from touched_months){% endif %}
),

profile as (
    select customer_id, customer_type, birth_date, as_of_date from {{ ref('int_customers_profiled') }}
),

logins as (
    select customer_id, date_trunc('month', event_date)::date as month_start, count(*) as logins
    from {{ ref('int_digital_events_deduplicated') }}
    where event_type = 'login'
    {% if is_incremental() %}
      and event_date >= (select min(month_start) from touched_months)
      and date_trunc('month', event_date)::date in (select month_start from touched_months)
    {% endif %}
    group by 1, 2
),

activity as (
    select customer_id, month_start, txn_count from {{ ref('int_transactions_aggregated_monthly') }}
    {% if is_incremental() %}where month_start in (select month_start from touched_months){% endif %}
),

loaded as (
    -- the latest load the months built here reflect: the next build's watermark
    select greatest(
        (select max(loaded_at) from {{ ref('int_contribution_ranked') }}),
        (select max(ingested_at) from {{ ref('int_digital_events_deduplicated') }})
    ) as loaded_at
),

staged as (
    -- the life stage at the month's end (or the build date, in the build's own month), so that a
    -- month keeps the stage its customers were in then, whichever build computed it
    select
        contribution.*,
        {{ life_stage('profile.customer_type', 'profile.birth_date',
                      "least((contribution.month_start + interval '1 month' - interval '1 day')::date, profile.as_of_date)") }}
            as life_stage
    from contribution
    inner join profile on contribution.customer_id = profile.customer_id
)

select
    contribution.customer_id,
    contribution.month_start,
    contribution.value_tier,
    contribution.life_stage,
    coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10 as is_engaged,
    case
        when contribution.customer_type = 'corporate'
            then case when contribution.value_tier = 'key' then 'corporate-key' else 'corporate-other' end
        when contribution.value_tier = 'important'
            then 'important-' || case when coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10
                                      then contribution.life_stage || '-engaged' else 'any-passive' end
        else contribution.value_tier || '-any-'
            || case when coalesce(logins.logins, 0) >= 4 or coalesce(activity.txn_count, 0) >= 10
                    then 'engaged' else 'passive' end
    end as segment_code,
    (select loaded_at from loaded) as loaded_at
from staged as contribution
left join logins on contribution.customer_id = logins.customer_id and contribution.month_start = logins.month_start
left join activity on contribution.customer_id = activity.customer_id and contribution.month_start = activity.month_start
