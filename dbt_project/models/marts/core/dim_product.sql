select
    product_id,
    product_name,
    product_family,
    is_asset,
    customer_rate,
    ftp_rate,
    fee_rate,
    monthly_fee_amount,
    margin_rate,
    term_months
from {{ ref('stg_landing__products') }}
