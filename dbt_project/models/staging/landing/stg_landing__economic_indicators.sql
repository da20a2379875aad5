with latest as (
    {{ latest_delivery('economic_indicators', ['indicator_date', 'indicator']) }}
)

select
    indicator_date,
    indicator,
    value::numeric(18, 6) as value,
    unit,
    source
from latest
