select
    balances.account_id,
    accounts.customer_id,
    accounts.product_id,
    accounts.product_family,
    accounts.is_asset,
    date_trunc('month', balances.month_end_date)::date as month_start,
    balances.month_end_date,
    balances.balance_amount,
    balances.average_balance_amount,
    accounts.customer_rate,
    accounts.ftp_rate,
    accounts.fee_rate,
    accounts.monthly_fee_amount
from {{ ref('stg_landing__balances') }} as balances
inner join {{ ref('int_accounts_classified') }} as accounts on balances.account_id = accounts.account_id
