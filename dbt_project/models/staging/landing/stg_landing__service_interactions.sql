with latest as (
    {{ latest_delivery('service_interactions', ['interaction_id']) }}
)

select
    interaction_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    interaction_at,
    (interaction_at at time zone 'UTC')::date as interaction_date,
    channel,
    interaction_type,
    satisfaction_score,
    is_resolved,
    ingested_at
from latest
