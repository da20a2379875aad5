select
    accounts.account_id,
    accounts.source_account_id,
    accounts.customer_id,
    accounts.product_id,
    products.product_family,
    products.is_asset,
    products.customer_rate,
    products.ftp_rate,
    products.fee_rate,
    products.monthly_fee_amount,
    products.margin_rate,
    accounts.currency,
    accounts.opened_date,
    accounts.closed_date,
    accounts.maturity_date,
    accounts.account_status
from {{ ref('stg_landing__accounts') }} as accounts
inner join {{ ref('stg_landing__products') }} as products on accounts.product_id = products.product_id
