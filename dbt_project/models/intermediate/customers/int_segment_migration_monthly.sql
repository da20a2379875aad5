{#
  Month-on-month movement between segments and between value tiers (published as
  marts.segment_migration); incremental: a build recomputes the months int_customer_segments_monthly
  rebuilt and the month after each (whose "from" side they are), instead of every month of history.
#}
{{ config(**monthly_increment_config('dimension')) }}

with
{% if is_incremental() %}
months as (
    select month_start from {{ ref('int_customer_segments_monthly') }} where loaded_at > {{ loaded_watermark() }}
    union
    select (month_start + interval '1 month')::date from {{ ref('int_customer_segments_monthly') }}
    where loaded_at > {{ loaded_watermark() }}
),
{% endif %}

segments as (
    select customer_id, month_start, segment_code, value_tier, loaded_at
    from {{ ref('int_customer_segments_monthly') }}
    {% if is_incremental() %}
    where month_start in (select month_start from months)
       or month_start in (select (month_start - interval '1 month')::date from months)
    {% endif %}
),

ordered as (
    select
        customer_id,
        month_start,
        segment_code,
        value_tier,
        lag(segment_code) over (partition by customer_id order by month_start) as previous_segment_code,
        lag(value_tier) over (partition by customer_id order by month_start) as previous_value_tier,
        lag(month_start) over (partition by customer_id order by month_start) as previous_month_start,
        (select max(loaded_at) from segments) as loaded_at
    from segments
)

{% for dimension, column in [('segment', 'segment_code'), ('value_tier', 'value_tier')] %}
select
    month_start,
    '{{ dimension }}' as dimension,
    previous_{{ column }} as from_value,
    {{ column }} as to_value,
    count(*) as customer_count,
    max(loaded_at) as loaded_at
from ordered
where previous_month_start = (month_start - interval '1 month')::date
    {%- if is_incremental() %} and month_start in (select month_start from months){% endif %}
group by 1, 2, 3, 4
{{ "union all" if not loop.last }}
{%- endfor %}
