{#- No raw personal data: pseudonymous key, masked display fields, banded age. -#}
select
    customer_id,
    customer_type,
    is_active,
    left(full_name, 1) || '. ' || left(split_part(full_name, ' ', 2), 1) || repeat('*', 4) as display_name_masked,
    case when email is not null
         then left(email, 1) || '***@' || split_part(email, '@', 2) end as email_masked,
    case when phone is not null then repeat('*', greatest(length(phone) - 3, 0)) || right(phone, 3) end as phone_masked,
    gender,
    case
        when age_years is null then null
        when age_years < 25 then '18-24'
        when age_years < 35 then '25-34'
        when age_years < 45 then '35-44'
        when age_years < 55 then '45-54'
        when age_years < 65 then '55-64'
        else '65+'
    end as age_band,
    life_stage,
    region,
    home_branch_id,
    industry,
    onboarded_date,
    closed_date,
    as_of_date
from {{ ref('int_customers_profiled') }}
