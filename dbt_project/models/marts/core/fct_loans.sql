select
    loans.loan_id,
    loans.account_id,
    loans.customer_id,
    loans.principal_amount,
    loans.outstanding_amount,
    loans.interest_rate,
    loans.start_date,
    loans.maturity_date,
    loans.loan_status,
    loans.days_past_due,
    loans.collateral_type,
    loans.loan_status in ('delinquent', 'default') as is_in_arrears
from {{ ref('stg_landing__loans') }} as loans
