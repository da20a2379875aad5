{# The summary lives in int_contribution_pareto_monthly (incremental by month); the mart is its audited copy. #}
select
    month_start,
    customer_type,
    customer_count,
    total_contribution_amount,
    customer_share_for_80pct,
    top_decile_contribution_share
from {{ ref('int_contribution_pareto_monthly') }}
