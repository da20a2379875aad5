{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'month_start'],
        incremental_strategy='delete+insert',
    )
}}

{% if is_incremental() %}
with touched_months as (
    select distinct date_trunc('month', booked_date)::date as month_start
    from {{ ref('int_transactions_deduplicated') }}
    where ingested_at > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
),

transactions as (
    select * from {{ ref('int_transactions_deduplicated') }}
    where booked_date >= (select min(month_start) from touched_months)
      and date_trunc('month', booked_date)::date in (select month_start from touched_months)
)
{% else %}
with transactions as (
    select * from {{ ref('int_transactions_deduplicated') }}
)
{% endif %}

select
    customer_id,
    date_trunc('month', booked_date)::date as month_start,
    count(*) as txn_count,
    count(*) filter (where direction = 'debit') as debit_count,
    coalesce(sum(amount) filter (where direction = 'credit'), 0)::numeric(18, 2) as inflow_amount,
    coalesce(sum(amount) filter (where direction = 'debit'), 0)::numeric(18, 2) as outflow_amount,
    coalesce(sum(amount) filter (where direction = 'debit' and category in
        ('groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash', 'other')), 0)::numeric(18, 2) as spend_amount,
    {% for category in ['groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash'] %}
    coalesce(sum(amount) filter (where direction = 'debit' and category = '{{ category }}'), 0)::numeric(18, 2)
        as spend_{{ category }}_amount,
    {% endfor %}
    {% for channel in ['branch', 'atm', 'pos', 'online', 'mobile', 'transfer'] %}
    count(*) filter (where channel = '{{ channel }}') as {{ channel }}_count,
    {% endfor %}
    count(*) filter (where category = 'salary') as salary_count,
    coalesce(sum(amount) filter (where category = 'salary'), 0)::numeric(18, 2) as salary_amount,
    coalesce(max(amount) filter (where direction = 'credit' and category <> 'salary'), 0)::numeric(18, 2)
        as largest_inflow_amount,
    max(booked_date) as last_booked_date,
    max(ingested_at) as loaded_at
from transactions
group by 1, 2
