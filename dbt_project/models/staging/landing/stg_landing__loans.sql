with latest as (
    {{ latest_delivery('loans', ['loan_id']) }}
)

select
    loan_id,
    {{ pseudonymise('account_id') }} as account_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    principal_amount::numeric(18, 2) as principal_amount,
    outstanding_amount::numeric(18, 2) as outstanding_amount,
    interest_rate,
    start_date,
    maturity_date,
    status as loan_status,
    days_past_due,
    coalesce(collateral_type, 'none') as collateral_type
from latest
