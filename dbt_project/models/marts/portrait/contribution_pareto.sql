with ordered as (
    select
        month_start,
        customer_type,
        greatest(contribution_amount, 0) as positive_amount,
        contribution_amount,
        sum(greatest(contribution_amount, 0)) over (
            partition by month_start, customer_type order by contribution_amount desc, customer_id
            rows between unbounded preceding and current row
        ) as cumulative_amount,
        sum(greatest(contribution_amount, 0)) over (partition by month_start, customer_type) as total_positive_amount,
        row_number() over (partition by month_start, customer_type order by contribution_amount desc, customer_id) as position,
        count(*) over (partition by month_start, customer_type) as customers
    from {{ ref('customer_contribution') }}
)

select
    month_start,
    customer_type,
    max(customers) as customer_count,
    sum(contribution_amount)::numeric(18, 2) as total_contribution_amount,
    round(
        count(*) filter (where cumulative_amount - positive_amount < 0.8 * total_positive_amount)::numeric
        / max(customers), 4
    ) as customer_share_for_80pct,
    round(
        {{ safe_divide('sum(positive_amount) filter (where position <= ceil(customers * 0.1))', 'max(total_positive_amount)') }}, 4
    ) as top_decile_contribution_share
from ordered
group by 1, 2
