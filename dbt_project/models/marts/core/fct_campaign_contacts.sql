select
    contacts.contact_id,
    contacts.campaign_id,
    contacts.customer_id,
    campaigns.product_id,
    contacts.contact_group,
    contacts.contacted_at,
    coalesce(contacts.channel, campaigns.channel) as channel,
    contacts.has_responded,
    contacts.has_converted,
    contacts.converted_at,
    contacts.conversion_amount,
    contacts.has_converted is not null as is_outcome_known,
    contacts.attempt_number,
    contacts.days_since_previous_campaign,
    contacts.previous_contacts,
    contacts.previous_outcome,
    contacts.contact_device
from {{ ref('stg_landing__campaign_contacts') }} as contacts
inner join {{ ref('stg_landing__campaigns') }} as campaigns on contacts.campaign_id = campaigns.campaign_id
