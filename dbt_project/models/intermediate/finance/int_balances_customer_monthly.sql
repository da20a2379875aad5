{#
  Balances per customer and month by product group, summed from the accounts' month-end and
  average balances: what the portrait's asset indicators read (customers x months instead of
  accounts x months: 0.4 s of the portrait's 1.4 s query at 10k customers was this sum).
  Incremental as int_balances_classified: a build recomputes the months whose balances were
  loaded since the table's own watermark.
#}
{{ config(**monthly_increment_config('customer_id')) }}

with balances as (
    select * from {{ ref('int_balances_classified') }}
    {% if is_incremental() %}
    where month_start in (
        select month_start from {{ ref('int_balances_classified') }} where ingested_at > {{ loaded_watermark() }}
    )
    {% endif %}
)

select
    customer_id,
    month_start,
    sum(balance_amount) filter (where not is_asset and product_family <> 'wealth') as deposit_amount,
    sum(balance_amount) filter (where product_family = 'wealth') as wealth_amount,
    sum(average_balance_amount) filter (where not is_asset) as average_liability_amount,
    sum(balance_amount) filter (where is_asset and product_family <> 'credit_card') as loan_amount,
    sum(balance_amount) filter (where product_family = 'mortgage') as mortgage_amount,
    sum(balance_amount) filter (where product_family = 'credit_card') as card_amount,
    sum(balance_amount) filter (where product_family = 'current_account') as current_account_amount,
    -- the latest load the months built here reflect: the next build's watermark
    (select max(ingested_at) from {{ ref('int_balances_classified') }}) as loaded_at
from balances
group by 1, 2
