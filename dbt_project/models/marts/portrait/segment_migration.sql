{#- Month-on-month movement between segments and between value tiers. -#}
with ordered as (
    select
        customer_id,
        month_start,
        segment_code,
        value_tier,
        lag(segment_code) over (partition by customer_id order by month_start) as previous_segment_code,
        lag(value_tier) over (partition by customer_id order by month_start) as previous_value_tier,
        lag(month_start) over (partition by customer_id order by month_start) as previous_month_start
    from {{ ref('int_customer_segments_monthly') }}
)

select
    month_start,
    'segment' as dimension,
    previous_segment_code as from_value,
    segment_code as to_value,
    count(*) as customer_count
from ordered
where previous_month_start = (month_start - interval '1 month')::date
group by 1, 2, 3, 4
union all
select
    month_start,
    'value_tier' as dimension,
    previous_value_tier as from_value,
    value_tier as to_value,
    count(*) as customer_count
from ordered
where previous_month_start = (month_start - interval '1 month')::date
group by 1, 2, 3, 4
