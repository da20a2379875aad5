{#
  Treated vs control per campaign, on contacts whose outcome is known.
  Uplift = conversion rate treated - conversion rate control, with a 95% normal-approximation
  interval; incremental revenue = incremental conversions x average conversion amount x product margin.
#}
with contacts as (
    select * from {{ ref('fct_campaign_contacts') }} where is_outcome_known
),

campaigns as (
    select campaigns.*, products.margin_rate
    from {{ ref('stg_landing__campaigns') }} as campaigns
    left join {{ ref('stg_landing__products') }} as products on campaigns.product_id = products.product_id
),

rates as (
    select
        campaign_id,
        count(*) filter (where contact_group = 'treated') as treated_count,
        count(*) filter (where contact_group = 'control') as control_count,
        avg(has_responded::int) filter (where contact_group = 'treated') as treated_response_rate,
        avg(has_converted::int) filter (where contact_group = 'treated') as treated_conversion_rate,
        avg(has_converted::int) filter (where contact_group = 'control') as control_conversion_rate,
        avg(conversion_amount) filter (where has_converted) as average_conversion_amount
    from contacts
    group by 1
),

measured as (
    select
        rates.*,
        rates.treated_conversion_rate - rates.control_conversion_rate as uplift,
        1.96 * sqrt(
            rates.treated_conversion_rate * (1 - rates.treated_conversion_rate) / nullif(rates.treated_count, 0)
            + rates.control_conversion_rate * (1 - rates.control_conversion_rate) / nullif(rates.control_count, 0)
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
