{# No de-duplication here: the incremental fact de-duplicates only the new batches by key. #}
select
    txn_id,
    {{ pseudonymise('account_id') }} as account_id,
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
