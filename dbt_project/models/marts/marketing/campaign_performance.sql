{#
  Treated vs control per campaign, on closed outcomes only: contacts whose attribution window
  (var attribution_window_days) ended by the as-of date and whose outcome is known. While a
  campaign runs, conversions arrive first and non-conversions only when the window closes, so
  counting every known outcome would count the conversions alone (both arms near 1.0).
  Status: 'pending' (fewer than var min_closed_outcomes closed on either arm: every figure NULL),
  'partial' (some contacts still open), 'final' (all closed).
  Uplift = conversion rate treated - conversion rate control, with a 95% normal-approximation
  interval; incremental revenue = incremental conversions x average conversion amount x product margin.
#}
with contacts as (
    select
        *,
        is_outcome_known
        and contacted_at::date + {{ var('attribution_window_days') }} <= {{ as_of_date() }} as is_closed
    from {{ ref('fct_campaign_contacts') }}
),

campaigns as (
    select campaigns.*, products.margin_rate
    from {{ ref('stg_landing__campaigns') }} as campaigns
    left join {{ ref('stg_landing__products') }} as products on campaigns.product_id = products.product_id
),

counted as (
    select
        campaign_id,
        count(*) filter (where contact_group = 'treated') as treated_count,
        count(*) filter (where contact_group = 'control') as control_count,
        count(*) filter (where contact_group = 'treated' and is_closed) as treated_closed_count,
        count(*) filter (where contact_group = 'control' and is_closed) as control_closed_count,
        avg(has_responded::int) filter (where contact_group = 'treated' and is_closed) as treated_response_rate,
        avg(has_converted::int) filter (where contact_group = 'treated' and is_closed) as treated_conversion_rate,
        avg(has_converted::int) filter (where contact_group = 'control' and is_closed) as control_conversion_rate,
        avg(conversion_amount) filter (where has_converted and is_closed) as average_conversion_amount
    from contacts
    group by 1
),

measurable as (
    select
        *,
        least(treated_closed_count, control_closed_count) >= {{ var('min_closed_outcomes') }} as has_enough_closed
    from counted
),

rates as (
    select
        campaign_id,
        treated_count,
        control_count,
        treated_closed_count,
        control_closed_count,
        case
            when not has_enough_closed then 'pending'
            when treated_closed_count + control_closed_count < treated_count + control_count then 'partial'
            else 'final'
        end as measurement_status,
        average_conversion_amount,
        case when has_enough_closed then treated_response_rate end as treated_response_rate,
        case when has_enough_closed then treated_conversion_rate end as treated_conversion_rate,
        case when has_enough_closed then control_conversion_rate end as control_conversion_rate
    from measurable
),

measured as (
    select
        rates.*,
        rates.treated_conversion_rate - rates.control_conversion_rate as uplift,
        1.96 * sqrt(
            rates.treated_conversion_rate * (1 - rates.treated_conversion_rate) / nullif(rates.treated_closed_count, 0)
            + rates.control_conversion_rate * (1 - rates.control_conversion_rate) / nullif(rates.control_closed_count, 0)
        ) as uplift_margin
    from rates
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.product_id,
    campaigns.channel,
    campaigns.start_date,
    measured.treated_count,
    measured.control_count,
    measured.treated_closed_count,
    measured.control_closed_count,
    measured.measurement_status,
    round(measured.treated_response_rate, 4) as treated_response_rate,
    round(measured.treated_conversion_rate, 4) as treated_conversion_rate,
    round(measured.control_conversion_rate, 4) as control_conversion_rate,
    round(measured.uplift, 4) as uplift,
    round(measured.uplift - measured.uplift_margin, 4) as uplift_ci_low,
    round(measured.uplift + measured.uplift_margin, 4) as uplift_ci_high,
    round(measured.uplift * measured.treated_count, 1) as incremental_conversions,
    round(measured.uplift * measured.treated_count * coalesce(measured.average_conversion_amount, 0)
          * coalesce(campaigns.margin_rate, 0), 2)::numeric(18, 2) as incremental_revenue_amount,
    (measured.treated_count * campaigns.cost_per_contact_amount)::numeric(18, 2) as cost_amount,
    round({{ safe_divide(
        'measured.uplift * measured.treated_count * coalesce(measured.average_conversion_amount, 0) * coalesce(campaigns.margin_rate, 0)'
        ~ ' - measured.treated_count * campaigns.cost_per_contact_amount',
        'measured.treated_count * campaigns.cost_per_contact_amount') }}, 4) as return_on_investment
from measured
inner join campaigns on measured.campaign_id = campaigns.campaign_id
