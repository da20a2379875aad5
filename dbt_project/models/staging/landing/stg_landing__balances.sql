{#
  Every delivered balance row, typed; de-duplicated by int_balances_classified, which takes only
  the batches new to it. The account id stays the source one (joined to the pseudonym there).
#}
select
    account_id as source_account_id,
    month_end_date,
    balance_amount::numeric(18, 2) as balance_amount,
    average_balance_amount::numeric(18, 2) as average_balance_amount,
    batch_id,
    batch_date,
    ingested_at
from {{ landed('balances') }}
