{#
  The Pareto summary of contribution per month and customer type (published as
  marts.contribution_pareto); incremental: a build recomputes only the months int_contribution_ranked
  re-ranked (a month is always summarised whole), instead of every month of history (0.7-1.2 s of
  each build at 10k customers x 12 months).
#}
{{ config(**monthly_increment_config('customer_type')) }}

with contribution as (
    select customer_id, month_start, customer_type, contribution_amount, loaded_at
    from {{ ref('int_contribution_ranked') }}
    {% if is_incremental() %}
    where month_start in (
        select distinct month_start from {{ ref('int_contribution_ranked') }}
        where loaded_at > {{ loaded_watermark() }}
    )
    {% endif %}
),

ordered as (
    select
        month_start,
        customer_type,
        loaded_at,
        greatest(contribution_amount, 0) as positive_amount,
        contribution_amount,
        sum(greatest(contribution_amount, 0)) over (
            partition by month_start, customer_type order by contribution_amount desc, customer_id
            rows between unbounded preceding and current row
        ) as cumulative_amount,
        sum(greatest(contribution_amount, 0)) over (partition by month_start, customer_type) as total_positive_amount,
        row_number() over (partition by month_start, customer_type order by contribution_amount desc, customer_id) as position,
        count(*) over (partition by month_start, customer_type) as customers
    from contribution
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
    ) as top_decile_contribution_share,
    max(loaded_at) as loaded_at
from ordered
group by 1, 2
