{#
  Month-end balances with their account's product attributes, incremental: each build adds the
  balance rows of the batches loaded since the last one (a later delivery of an account-month
  replaces the stored row). Product rates are those known when the month was delivered; after a
  change to past rates or to the products, `portrait build --full-refresh` restates history.
#}
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'month_end_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{{ ensure_index(this, 'month_start') }}",
            "{{ ensure_index(this, 'ingested_at') }}",
            "{{ analyze_if_changed(this) }}",
        ],
    )
}}

with delivered as (
    {{ latest_of_new_batches(ref('stg_landing__balances'), 'source_account_id, month_end_date') }}
)

select
    accounts.account_id,
    accounts.customer_id,
    accounts.product_id,
    accounts.product_family,
    accounts.is_asset,
    date_trunc('month', delivered.month_end_date)::date as month_start,
    delivered.month_end_date,
    delivered.balance_amount,
    delivered.average_balance_amount,
    accounts.customer_rate,
    accounts.ftp_rate,
    accounts.fee_rate,
    accounts.monthly_fee_amount,
    delivered.ingested_at
from delivered
inner join {{ ref('int_accounts_classified') }} as accounts on delivered.source_account_id = accounts.source_account_id
order by month_start
