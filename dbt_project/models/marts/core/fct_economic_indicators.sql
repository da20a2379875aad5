-- Market context by date: each value applies from indicator_date until the next value of the
-- same indicator (valid_to, exclusive), so that facts can be joined "as of" a date.
select
    indicator_date,
    lead(indicator_date) over (partition by indicator order by indicator_date) as valid_to,
    indicator,
    value,
    unit,
    source
from {{ ref('stg_landing__economic_indicators') }}
