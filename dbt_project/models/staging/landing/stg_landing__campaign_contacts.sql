with latest as (
    {{ latest_delivery('campaign_contacts', ['contact_id']) }}
)

select
    contact_id,
    campaign_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    contact_group,
    contacted_at,
    channel,
    has_responded,
    has_converted,
    converted_at,
    conversion_amount::numeric(18, 2) as conversion_amount,
    attempt_number,
    days_since_previous_campaign,
    previous_contacts,
    previous_outcome,
    contact_device
from latest
