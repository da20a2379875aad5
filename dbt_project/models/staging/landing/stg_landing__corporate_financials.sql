with latest as (
    {{ latest_delivery('corporate_financials', ['customer_id', 'fiscal_year']) }}
)

select
    {{ pseudonymise('customer_id') }} as customer_id,
    fiscal_year,
    revenue_amount::numeric(18, 2) as revenue_amount,
    total_assets_amount::numeric(18, 2) as total_assets_amount,
    total_liabilities_amount::numeric(18, 2) as total_liabilities_amount,
    settlement_volume_amount::numeric(18, 2) as settlement_volume_amount,
    employee_count
from latest
