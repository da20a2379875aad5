{#
  No de-duplication here (as for transactions): the incremental intermediate de-duplicates only
  the new batches by key, so a daily build never re-sorts every event ever delivered.
#}
select
    event_id,
    customer_id as source_customer_id,
    event_at,
    (event_at at time zone 'UTC')::date as event_date,
    channel,
    event_type,
    product_id,
    batch_id,
    batch_date,
    ingested_at
from {{ landed('digital_events') }}
