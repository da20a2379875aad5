with latest as (
    {{ latest_delivery('products', ['product_id']) }}
)

select
    product_id,
    product_name,
    family as product_family,
    is_asset,
    coalesce(customer_rate, 0) as customer_rate,
    ftp_rate,
    coalesce(fee_rate, 0) as fee_rate,
    coalesce(monthly_fee_amount, 0)::numeric(18, 2) as monthly_fee_amount,
    coalesce(margin_rate, 0) as margin_rate,
    term_months
from latest
