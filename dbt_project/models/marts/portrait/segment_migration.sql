{#- Month-on-month movement between segments and between value tiers; computed in
    int_segment_migration_monthly (incremental by month), of which the mart is the audited copy. -#}
select month_start, dimension, from_value, to_value, customer_count
from {{ ref('int_segment_migration_monthly') }}
