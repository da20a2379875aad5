{{
    config(
        materialized='incremental',
        unique_key='txn_id',
        incremental_strategy='upsert',
        increment_as_view=true,
        on_schema_change='fail',
        pre_hook="set local work_mem = '512MB'",
        post_hook=[
            "{{ ensure_index(this, 'txn_id', unique=true) }}",
            "{{ ensure_index(this, 'booked_date', method='brin') }}",
            "{{ ensure_index(this, 'ingested_at') }}",
            "{{ analyze_if_changed(this) }}",
        ],
    )
}}

with deduplicated as (
    {{ latest_of_new_batches('(' ~ staged_transactions() ~ ') as staged', 'txn_id') }}
),

-- the accounts and their product family: the staging selects of transactions, accounts and
-- products read from the sources (macros/staged_landing.sql), so that this model, the longest of an
-- incremental build, does not wait for every staging view and test (dbt schedules by depth)
accounts as (
    select accounts.account_id, accounts.source_account_id, accounts.customer_id, products.product_family
    from ({{ staged_accounts() }}) as accounts
    inner join ({{ staged_products() }}) as products on accounts.product_id = products.product_id
)

select
    deduplicated.txn_id,
    accounts.account_id,
    accounts.customer_id,
    accounts.product_family,
    deduplicated.booked_at,
    deduplicated.booked_date,
    deduplicated.amount,
    deduplicated.direction,
    deduplicated.signed_amount,
    deduplicated.channel,
    deduplicated.category,
    deduplicated.batch_id,
    deduplicated.ingested_at
from deduplicated
inner join accounts on deduplicated.source_account_id = accounts.source_account_id
-- stored in booking order (the hash join returns the accounts' order): the BRIN index on
-- booked_date then skips all but the recent blocks for the portrait's 90-day window
order by deduplicated.booked_date
