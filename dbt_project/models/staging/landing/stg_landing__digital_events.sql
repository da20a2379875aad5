with latest as (
    {{ latest_delivery('digital_events', ['event_id']) }}
)

select
    event_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    event_at,
    (event_at at time zone 'UTC')::date as event_date,
    channel,
    event_type,
    product_id
from latest
