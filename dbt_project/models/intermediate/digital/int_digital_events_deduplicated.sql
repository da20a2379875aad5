{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='upsert',
        increment_as_view=true,
        on_schema_change='fail',
        post_hook=[
            "{{ ensure_index(this, 'event_id', unique=true) }}",
            "{{ ensure_index(this, 'event_date', method='brin') }}",
            "{{ ensure_index(this, 'ingested_at') }}",
            "{{ analyze_if_changed(this) }}",
        ],
    )
}}

with deduplicated as (
    {{ latest_of_new_batches(ref('stg_landing__digital_events'), 'event_id') }}
)

select
    event_id,
    {{ pseudonymise('source_customer_id') }} as customer_id,
    event_at,
    event_date,
    channel,
    event_type,
    product_id,
    batch_id,
    ingested_at
from deduplicated
-- stored in event order, for the BRIN index on event_date
order by event_date
