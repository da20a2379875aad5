-- Rule: a key customer never has a lower contribution than an important one of the same type and month.
select key_tier.customer_id
from {{ ref('customer_contribution') }} as key_tier
inner join {{ ref('customer_contribution') }} as important_tier
    on key_tier.month_start = important_tier.month_start
   and key_tier.customer_type = important_tier.customer_type
where key_tier.value_tier = 'key'
  and important_tier.value_tier = 'important'
  and key_tier.contribution_amount < important_tier.contribution_amount
