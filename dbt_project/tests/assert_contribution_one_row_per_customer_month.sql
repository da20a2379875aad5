-- Rule: customer_contribution has exactly one row per customer and month.
select customer_id, month_start, count(*) as rows_per_key
from {{ ref('customer_contribution') }}
group by 1, 2
having count(*) > 1
