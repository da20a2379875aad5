{#-
  Published digital events: a view over the incremental intermediate table up to the last
  publication's watermark (as fct_transactions): a new batch's events become visible to BI only
  when a build including them passes its gates and is published.
-#}
{{ config(materialized='view') }}

select
    event_id,
    customer_id,
    event_at,
    event_date,
    channel,
    event_type,
    product_id
from {{ ref('int_digital_events_deduplicated') }}
where ingested_at <= (select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications)
