{#-
  Published transactions: a view over the incremental intermediate table, showing the rows loaded
  up to the last publication's watermark. New batches become visible to BI only when a build that
  includes them passes its gates and is published (Write-Audit-Publish for an incremental fact).
-#}
{{ config(materialized='view') }}

select
    txn_id,
    account_id,
    customer_id,
    product_family,
    booked_at,
    booked_date,
    amount,
    direction,
    signed_amount,
    channel,
    category,
    batch_id,
    ingested_at
from {{ ref('int_transactions_deduplicated') }}
where ingested_at <= (select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications)
