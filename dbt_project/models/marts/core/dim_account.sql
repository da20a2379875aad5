select
    account_id,
    customer_id,
    product_id,
    product_family,
    is_asset,
    currency,
    opened_date,
    closed_date,
    maturity_date,
    account_status
from {{ ref('int_accounts_classified') }}
