with latest as (
    {{ latest_delivery('balances', ['account_id', 'month_end_date']) }}
)

select
    {{ pseudonymise('account_id') }} as account_id,
    month_end_date,
    balance_amount::numeric(18, 2) as balance_amount,
    average_balance_amount::numeric(18, 2) as average_balance_amount,
    ingested_at
from latest
