{#-
  Whom to call next: every treated campaign contact whose outcome is still open, ranked by the
  latest contact_response scoring (the champion's, `portrait score --model contact_response`),
  with its model version. A contact on a channel the customer has refused (consent recorded false)
  is left out; where the source records no consent, the contact stays.
-#}
{{ config(schema=var('scores_schema', var('marts_schema')), tags=['scores']) }}
with latest as (
    select model_version
    from {{ source('ml', 'event_scores') }}
    where model_name = 'contact_response'
    order by scored_at desc
    limit 1
),

scores as (
    select scores.event_id as contact_id, scores.score, scores.model_version, scores.scored_at
    from {{ source('ml', 'event_scores') }} as scores
    inner join latest on scores.model_version = latest.model_version
    where scores.model_name = 'contact_response' and scores.label is null
),

open_contacts as (
    select contacts.contact_id, contacts.campaign_id, contacts.customer_id, contacts.product_id, contacts.channel,
           contacts.contacted_at
    from {{ ref('fct_campaign_contacts') }} as contacts
    where contacts.contact_group = 'treated' and not contacts.is_outcome_known
)

select
    open_contacts.contact_id,
    open_contacts.campaign_id,
    open_contacts.customer_id,
    open_contacts.product_id,
    open_contacts.channel,
    open_contacts.contacted_at,
    scores.score,
    rank() over (order by scores.score desc, open_contacts.contact_id)::integer as priority_rank,
    scores.model_version,
    scores.scored_at
from open_contacts
inner join scores on open_contacts.contact_id = scores.contact_id
left join {{ ref('customer_portrait') }} as portrait on open_contacts.customer_id = portrait.customer_id
where coalesce(case open_contacts.channel
    when 'app' then portrait.consent_app
    when 'email' then portrait.consent_email
    when 'sms' then portrait.consent_sms
    when 'phone' then portrait.consent_phone
end, true)
