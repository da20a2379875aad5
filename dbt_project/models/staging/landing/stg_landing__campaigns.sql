with latest as (
    {{ latest_delivery('campaigns', ['campaign_id']) }}
)

select
    campaign_id,
    campaign_name,
    product_id,
    channel,
    start_date,
    end_date,
    coalesce(cost_per_contact_amount, 0)::numeric(18, 2) as cost_per_contact_amount,
    control_share
from latest
