-- Rule: every customer onboarded by the as-of date has exactly one portrait row.
select customers.customer_id
from {{ ref('int_customers_profiled') }} as customers
left join {{ ref('customer_portrait') }} as portrait on customers.customer_id = portrait.customer_id
where customers.onboarded_date <= customers.as_of_date and portrait.customer_id is null
