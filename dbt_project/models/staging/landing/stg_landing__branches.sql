with latest as (
    {{ latest_delivery('branches', ['branch_id']) }}
)

select
    branch_id,
    branch_name,
    region,
    city,
    opened_date,
    batch_id
from latest
