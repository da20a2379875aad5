with latest as (
    {{ latest_delivery('accounts', ['account_id']) }}
)

select
    {{ pseudonymise('account_id') }} as account_id,
    account_id as source_account_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    product_id,
    branch_id,
    currency,
    opened_date,
    closed_date,
    maturity_date,
    status as account_status
from latest
