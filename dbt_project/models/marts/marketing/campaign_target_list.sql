{#- Who to contact with their next best offer, on which channel: consent per channel, a cap on
    contacts in 30 days and a cooldown after the last contact; a deterministic hash-based control
    group (never contacted) so that the uplift can be measured afterwards. -#}
{{ config(schema=var('scores_schema', var('marts_schema')), tags=['scores'],
          post_hook=["{{ ensure_index(this, 'customer_id') }}"]) }}  {# the API reads one customer #}
{#- tag scores: rebuilt after each scoring run into a side schema and swapped in (portrait.build.publish_scored_marts) -#}
with offers as (
    select * from {{ ref('next_best_offer') }}
    where propensity >= {{ var('target_min_propensity') }}
),

portrait as (
    select customer_id, consent_app, consent_email, consent_sms, consent_phone, contacts_30d
    from {{ ref('customer_portrait') }}
),

last_contact as (
    select customer_id, max(contacted_at) as last_contacted_at
    from {{ ref('fct_campaign_contacts') }}
    where contact_group = 'treated'
    group by customer_id
),

channels as (
    select
        offers.customer_id,
        preferences.channel,
        preferences.cost_per_contact_amount,
        row_number() over (partition by offers.customer_id order by preferences.preference_rank) as pick
    from offers
    inner join portrait on offers.customer_id = portrait.customer_id
    inner join {{ ref('channel_preferences') }} as preferences
        on (preferences.channel = 'app' and portrait.consent_app)
        or (preferences.channel = 'email' and portrait.consent_email)
        or (preferences.channel = 'sms' and portrait.consent_sms)
        or (preferences.channel = 'phone' and portrait.consent_phone)
),

eligible as (
    select
        offers.customer_id,
        offers.as_of_date,
        offers.product_id,
        channels.channel,
        offers.propensity,
        offers.expected_value_amount,
        (offers.expected_value_amount - channels.cost_per_contact_amount)::numeric(18, 2) as expected_net_value_amount,
        offers.reason_codes,
        last_contact.last_contacted_at,
        {# a stable draw in [0, 1) per customer, list date and product #}
        (('x' || substr(md5(offers.customer_id || ':' || offers.as_of_date || ':' || offers.product_id), 1, 8))::bit(32)::bigint
            / 4294967296.0) as control_draw
    from offers
    inner join portrait on offers.customer_id = portrait.customer_id
    inner join channels on offers.customer_id = channels.customer_id and channels.pick = 1
    left join last_contact on offers.customer_id = last_contact.customer_id
    where coalesce(portrait.contacts_30d, 0) < {{ var('contact_cap_30d') }}
        and (last_contact.last_contacted_at is null
            or last_contact.last_contacted_at < offers.as_of_date - {{ var('contact_cooldown_days') }})
        and offers.expected_value_amount > channels.cost_per_contact_amount
)

select
    md5(customer_id || ':' || as_of_date || ':' || product_id) as target_id,
    customer_id,
    as_of_date,
    product_id,
    channel,
    propensity,
    expected_value_amount,
    expected_net_value_amount,
    reason_codes,
    case when control_draw < {{ var('target_control_share') }} then 'control' else 'treated' end as contact_group,
    row_number() over (order by expected_net_value_amount desc, customer_id) as priority_rank
from eligible
