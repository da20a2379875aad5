{#
  No de-duplication here: the incremental fact de-duplicates only the new batches by key.
  The account id stays the source one: hashing 24k accounts once and joining is far cheaper than
  hashing millions of transaction rows, so fct_transactions takes the pseudonym from the accounts.
#}
select
    txn_id,
    account_id as source_account_id,
    booked_at,
    (booked_at at time zone 'UTC')::date as booked_date,
    amount::numeric(18, 2) as amount,
    direction,
    case when direction = 'credit' then amount else -amount end::numeric(18, 2) as signed_amount,
    channel,
    category,
    counterparty,
    batch_id,
    batch_date,
    ingested_at
from {{ source('landing', 'transactions') }}
