{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='upsert',
        on_schema_change='fail',
        post_hook=[
            "create unique index if not exists {{ this.name }}_event_id on {{ this }} (event_id)",
            "create index if not exists {{ this.name }}_event_date_brin on {{ this }} using brin (event_date)",
            "create index if not exists {{ this.name }}_ingested_at on {{ this }} (ingested_at)",
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
