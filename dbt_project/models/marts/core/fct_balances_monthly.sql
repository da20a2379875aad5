{# indexed on month_start: readers filter by month, and ML finds the extent of history with min/max #}
{{ config(post_hook=["{{ ensure_index(this, 'month_start') }}"]) }}

select
    account_id,
    customer_id,
    product_family,
    is_asset,
    month_start,
    month_end_date,
    balance_amount,
    average_balance_amount
from {{ ref('int_balances_classified') }}
