with latest as (
    {{ latest_delivery('cards', ['card_id']) }}
)

select
    card_id,
    {{ pseudonymise('account_id') }} as account_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    card_type,
    card_tier,
    credit_limit_amount::numeric(18, 2) as credit_limit_amount,
    issued_date,
    status as card_status
from latest
