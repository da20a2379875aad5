{#
  Per customer, the last 90 days of transactions as of the build's as-of date: counts over 30 and
  90 days, flows, spend by category and counts by channel.
  A model of its own so that it runs beside the contribution models, instead of on the portrait's
  critical path.

  The window is cut at month boundaries (macros/month_windows.sql): the months it covers whole come
  from int_transactions_aggregated_monthly, already summed by earlier builds, and only the parts of
  months at its edges are read from the transactions. On a month-end as-of date that is the month
  the window starts in, about a third of the 1.2 M rows it scanned at 10k customers x 12 months.
  The 30-day count takes a month the 90-day window covers whole from its monthly count, less the
  days outside the 30 days when those are fewer than the days inside (on the 31st: the month's
  count less its 1st day). Sums and counts add up exactly across the pieces; the last transaction
  date is the latest of theirs.
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

{%- set as_of = as_of_day() -%}
{%- if as_of -%}
    {%- set window = month_windows(as_of, 90) -%}
    {%- set recent = month_windows(as_of, 30) -%}
    {#- the 30-day window's partial months: inside the 90-day window's edges (read there), or months
        the 90-day window covers whole, read as their monthly count plus or minus the days outside -#}
    {%- set edge_months = window.parts | map(attribute='month_start') | list -%}
    {%- set recent_whole = recent.whole_months -%}
    {%- set recent_added = [] -%}
    {%- set recent_subtracted = [] -%}
    {%- set recent_monthly = recent.whole_months[:] -%}
    {%- for part in recent.parts if part.month_start not in edge_months -%}
        {%- set month = modules.datetime.date.fromisoformat(part.month_start) -%}
        {%- set inside = (modules.datetime.date.fromisoformat(part.last_day) - modules.datetime.date.fromisoformat(part.first_day)).days + 1 -%}
        {%- set length = (modules.datetime.date.fromisoformat(part.month_end) - month).days + 1 -%}
        {%- if length - inside < inside -%}
            {%- do recent_monthly.append(part.month_start) -%}
            {%- if part.first_day > part.month_start -%}
                {%- do recent_subtracted.append({"first_day": part.month_start, "last_day": (modules.datetime.date.fromisoformat(part.first_day) - modules.datetime.timedelta(days=1)).isoformat()}) -%}
            {%- endif -%}
            {%- if part.last_day < part.month_end -%}
                {%- do recent_subtracted.append({"first_day": (modules.datetime.date.fromisoformat(part.last_day) + modules.datetime.timedelta(days=1)).isoformat(), "last_day": part.month_end}) -%}
            {%- endif -%}
        {%- else -%}
            {%- do recent_added.append(part) -%}
        {%- endif -%}
    {%- endfor -%}
{%- else -%}
    {#- nothing delivered yet (or parsing): an empty result of the same columns -#}
    {%- set window = {"first_day": "1900-01-01", "last_day": "1899-12-31", "whole_months": [], "parts": []} -%}
    {%- set recent = window -%}
    {%- set recent_monthly, recent_added, recent_subtracted = [], [], [] -%}
{%- endif %}

with whole_months as (
    select
        customer_id,
        {% for name, _, column in measures -%}
        sum({{ column }}) as {{ name }},
        {% endfor -%}
        sum(txn_count) filter (where month_start in {{ date_list(recent_monthly) }}) as txn_count_30d,
        max(last_booked_date) as last_transaction_date
    from {{ ref('int_transactions_aggregated_monthly') }}
    where month_start in {{ date_list(window.whole_months) }}
    group by 1
),

edges as (
    select
        customer_id,
        {% for name, aggregate, _ in measures -%}
        {{ aggregate }} as {{ name }},
        {% endfor -%}
        count(*) filter (where booked_date >= date '{{ recent.first_day }}') as txn_count_30d,
        max(booked_date) as last_transaction_date
    from {{ ref('int_transactions_deduplicated') }}
    where {{ within_days('booked_date', window.parts) }}
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
        (coalesce(whole_months.{{ name }}, 0) + coalesce(edges.{{ name }}, 0)){{ '::bigint' if name.startswith(('txn_count', 'channel_')) }} as {{ name }},
        {% endfor -%}
        greatest(whole_months.last_transaction_date, edges.last_transaction_date) as last_transaction_date
    from whole_months
    full join edges using (customer_id)
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
