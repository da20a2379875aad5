{#
  Per customer, the last 90 days of transactions as of the build's as-of date: counts over 30 and
  90 days, flows, spend by category and counts by channel.
  A model of its own so that it runs beside the contribution models, instead of on the portrait's
  critical path.

  The window is cut at month boundaries (macros/month_windows.sql): the months it covers whole come
  from int_transactions_aggregated_monthly, already summed by earlier builds, and only the days of
  the months it covers in part are read from the transactions, or, where that is fewer days, the
  month's aggregate less the days outside the window. On a month-end as-of date (the 31st of
  January: 3 November to 31 January) that is the aggregates of November to January less the
  transactions of 1-2 November, and for the 30-day count January's less its 1st: about 30,000
  rows instead of the 1.2 M the window holds at 10k customers x 12 months. Sums and counts add up
  exactly across the pieces; the last transaction date is the latest of theirs that falls inside.
#}
{%- set categories = ['groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash'] -%}
{%- set channels = ['branch', 'atm', 'pos', 'online', 'mobile'] -%}
{#- (name, aggregate over transactions, column of the monthly aggregate) -#}
{%- set measures = [
    ('txn_count_90d', 'count(*)', 'txn_count'),
    ('inflow_sum_90d', "sum(amount) filter (where direction = 'credit')", 'inflow_amount'),
    ('outflow_sum_90d', "sum(amount) filter (where direction = 'debit')", 'outflow_amount'),
    ('spend_sum_90d', "sum(amount) filter (where direction = 'debit' and category in ('groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash', 'other'))", 'spend_amount'),
] -%}
{%- for category in categories -%}
    {%- do measures.append(('spend_' ~ category ~ '_90d', "sum(amount) filter (where direction = 'debit' and category = '" ~ category ~ "')", 'spend_' ~ category ~ '_amount')) -%}
{%- endfor -%}
{%- for channel in channels -%}
    {%- do measures.append(('channel_' ~ channel ~ '_90d', "count(*) filter (where channel = '" ~ channel ~ "')", channel ~ '_count')) -%}
{%- endfor -%}
{#- the measures over rows of transactions, as read at the window's edges and before it -#}
{%- set measured_from_transactions -%}
    {%- for name, aggregate, _ in measures %}{{ aggregate }} as {{ name }}{{ ",\n        " if not loop.last }}{% endfor -%}
{%- endset -%}

{%- set as_of = as_of_day() -%}
{%- set window = month_windows(as_of, 90) if as_of else {"first_day": "1900-01-01", "last_day": "1899-12-31", "whole_months": [], "parts": []} -%}
{%- set recent = month_windows(as_of, 30) if as_of else window -%}
{#- (nothing delivered yet, or parsing: an empty result of the same columns)
    Months read as their aggregate: those the window covers whole, and the month it starts in when
    the days before the start are fewer than the days after (subtracted: `before_window`); the
    other parts are read day by day (`edges`). The 30-day window lies in the 90-day window's last
    two or three months: a part of it in an edge is counted there, a month the 90-day window covers
    whole is taken from its monthly count plus the part or less the rest, whichever is shorter. -#}
{%- set monthly, edges, before_window = window.whole_months[:], [], [] -%}
{%- for part in window.parts -%}
    {%- if part.first_day == window.first_day and part.last_day == part.month_end and rest_is_shorter(part) -%}
        {%- do monthly.append(part.month_start) -%}
        {%- do before_window.extend(outside(part)) -%}
    {%- else -%}
        {%- do edges.append(part) -%}
    {%- endif -%}
{%- endfor -%}
{%- set edge_months = edges | map(attribute='month_start') | list -%}
{%- set recent_monthly, recent_added, recent_subtracted = recent.whole_months[:], [], [] -%}
{%- for part in recent.parts if part.month_start not in edge_months -%}
    {%- if rest_is_shorter(part) -%}
        {%- do recent_monthly.append(part.month_start) -%}
        {%- do recent_subtracted.extend(outside(part)) -%}
    {%- else -%}
        {%- do recent_added.append(part) -%}
    {%- endif -%}
{%- endfor %}

with whole_months as (
    select
        customer_id,
        {% for name, _, column in measures -%}
        sum({{ column }}) as {{ name }},
        {% endfor -%}
        sum(txn_count) filter (where month_start in {{ date_list(recent_monthly) }}) as txn_count_30d,
        -- the start month's latest day counts when it falls inside the window
        max(last_booked_date) filter (where last_booked_date >= date '{{ window.first_day }}') as last_transaction_date
    from {{ ref('int_transactions_aggregated_monthly') }}
    where month_start in {{ date_list(monthly) }}
    group by 1
),

edges as (
    select
        customer_id,
        {{ measured_from_transactions }},
        count(*) filter (where booked_date >= date '{{ recent.first_day }}') as txn_count_30d,
        max(booked_date) as last_transaction_date
    from {{ ref('int_transactions_deduplicated') }}
    where {{ within_days('booked_date', edges) }}
    group by 1
),

before_window as (
    select
        customer_id,
        {{ measured_from_transactions }}
    from {{ ref('int_transactions_deduplicated') }}
    where {{ within_days('booked_date', before_window) }}
    group by 1
),

recent_days as (
    select
        customer_id,
        count(*) filter (where {{ within_days('booked_date', recent_added) }})
            - count(*) filter (where {{ within_days('booked_date', recent_subtracted) }}) as txn_count_30d
    from {{ ref('int_transactions_deduplicated') }}
    where {{ within_days('booked_date', recent_added + recent_subtracted) }}
    group by 1
),

combined as (
    select
        customer_id,
        (coalesce(whole_months.txn_count_30d, 0) + coalesce(edges.txn_count_30d, 0)
            + coalesce(recent_days.txn_count_30d, 0))::bigint as txn_count_30d,
        {% for name, _, _ in measures -%}
        (coalesce(whole_months.{{ name }}, 0) + coalesce(edges.{{ name }}, 0) - coalesce(before_window.{{ name }}, 0)){{ '::bigint' if name.startswith(('txn_count', 'channel_')) }} as {{ name }},
        {% endfor -%}
        greatest(whole_months.last_transaction_date, edges.last_transaction_date) as last_transaction_date
    from whole_months
    full join edges using (customer_id)
    left join before_window using (customer_id)
    left join recent_days using (customer_id)
)

select
    customer_id,
    txn_count_30d,
    {% for name, _, _ in measures -%}
    {{ name }},
    {% endfor -%}
    last_transaction_date
from combined
where txn_count_90d > 0
