{#-
  Published month-end balances: a view over the incremental intermediate table, showing the rows
  loaded up to the last publication's watermark, as fct_transactions does. It was a table copied
  whole from int_balances_classified by every build (264k rows at 10k customers x 12 months, 0.6-0.9 s
  of each daily build, growing with history); readers filtering by month use the intermediate
  table's index on month_start, and ML's min/max of month_start an index scan.
-#}
{{ config(materialized='view') }}

select
    account_id,
    customer_id,
    product_family,
    is_asset,
    month_start,
    month_end_date,
    balance_amount,
    average_balance_amount
from {{ ref('int_balances_classified') }}
where ingested_at <= (select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications)
