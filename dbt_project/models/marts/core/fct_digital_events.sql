select
    event_id,
    customer_id,
    event_at,
    event_date,
    channel,
    event_type,
    product_id
from {{ ref('stg_landing__digital_events') }}
