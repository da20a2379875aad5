{#
  Per customer, the last 90 days of transactions as of the build's as-of date: counts over 30 and
  90 days, flows, spend by category and counts by channel.
  A model of its own so that it runs beside the contribution models as soon as
  int_transactions_deduplicated is built, instead of on the portrait's critical path
  (a scan of about 1.2 M rows at 10k customers x 12 months, 2.7 s of the portrait's 5-6 s).
#}
with as_of as (
    select {{ as_of_date() }} as as_of_date
)

select
    transactions.customer_id,
    count(*) filter (where transactions.booked_date > as_of.as_of_date - 30) as txn_count_30d,
    count(*) as txn_count_90d,
    coalesce(sum(transactions.amount) filter (where transactions.direction = 'credit'), 0) as inflow_sum_90d,
    coalesce(sum(transactions.amount) filter (where transactions.direction = 'debit'), 0) as outflow_sum_90d,
    coalesce(sum(transactions.amount) filter (where transactions.direction = 'debit' and transactions.category in
        ('groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash', 'other')), 0) as spend_sum_90d,
    {% for category in ['groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash'] %}
    coalesce(sum(transactions.amount) filter (where transactions.direction = 'debit' and transactions.category = '{{ category }}'), 0)
        as spend_{{ category }}_90d,
    {% endfor %}
    {% for channel in ['branch', 'atm', 'pos', 'online', 'mobile'] %}
    count(*) filter (where transactions.channel = '{{ channel }}') as channel_{{ channel }}_90d,
    {% endfor %}
    max(transactions.booked_date) as last_transaction_date
from {{ ref('int_transactions_deduplicated') }} as transactions
cross join as_of
where transactions.booked_date > as_of.as_of_date - 90
  and transactions.booked_date <= as_of.as_of_date
group by 1
