{#- Per active, contactable customer: the eligible product with the highest expected value
    (response propensity x value of a sale), with the reasons behind the score. -#}
{{ config(schema=var('scores_schema', var('marts_schema')), tags=['scores']) }}
{#- tag scores: rebuilt after each scoring run into a side schema and swapped in (portrait.build.publish_scored_marts) -#}
with portrait as (
    select customer_id, as_of_date, is_active, age_years, has_delinquent_loan, has_defaulted_loan,
           kyc_risk_rating, contactable_channel_count
    from {{ ref('customer_portrait') }}
),

held as (
    select distinct customer_id, product_id
    from {{ ref('dim_account') }}
    where closed_date is null
),

propensities as (
    select * from {{ ref('stg_ml__customer_scores') }} where model_name = 'response_propensity'
),

churn as (
    select customer_id, score as churn_risk_score
    from {{ ref('stg_ml__customer_scores') }}
    where model_name = 'churn_risk'
),

candidates as (
    select
        propensities.customer_id,
        portrait.as_of_date,
        propensities.product_id,
        propensities.score as propensity,
        offers.annual_value_amount,
        (propensities.score * offers.annual_value_amount)::numeric(18, 2) as expected_value_amount,
        propensities.reason_codes,
        propensities.model_version,
        propensities.scored_as_of_date
    from propensities
    inner join {{ ref('offer_catalogue') }} as offers on propensities.product_id = offers.product_id
    inner join portrait on propensities.customer_id = portrait.customer_id
    left join held
        on propensities.customer_id = held.customer_id and propensities.product_id = held.product_id
    where portrait.is_active
        and held.customer_id is null
        and portrait.contactable_channel_count > 0
        and coalesce(portrait.age_years, 0) >= offers.minimum_age_years
        and (
            not offers.is_credit
            or (not coalesce(portrait.has_delinquent_loan, false)
                and not coalesce(portrait.has_defaulted_loan, false)
                and portrait.kyc_risk_rating is distinct from 'high')
        )
),

ranked as (
    select
        *,
        row_number() over (partition by customer_id order by expected_value_amount desc, product_id) as offer_rank,
        count(*) over (partition by customer_id) as eligible_offer_count
    from candidates
)

select
    ranked.customer_id,
    ranked.as_of_date,
    ranked.product_id,
    products.product_name,
    ranked.propensity,
    ranked.annual_value_amount,
    ranked.expected_value_amount,
    ranked.reason_codes,
    churn.churn_risk_score,
    ranked.eligible_offer_count,
    ranked.model_version,
    ranked.scored_as_of_date
from ranked
inner join {{ ref('dim_product') }} as products on ranked.product_id = products.product_id
left join churn on ranked.customer_id = churn.customer_id
where ranked.offer_rank = 1
