with customers as (
    select * from {{ ref('stg_landing__customers') }}
),

branches as (
    select * from {{ ref('stg_landing__branches') }}
),

as_of as (
    select {{ as_of_date() }} as as_of_date
)

select
    customers.customer_id,
    customers.customer_type,
    customers.gender,
    customers.marital_status,
    customers.education,
    customers.occupation,
    customers.industry,
    customers.annual_income_amount,
    customers.kyc_risk_rating,
    customers.home_branch_id,
    branches.region,
    customers.postal_code,
    customers.birth_date,
    customers.onboarded_date,
    customers.closed_date,
    customers.consent_email,
    customers.consent_sms,
    customers.consent_phone,
    customers.consent_app,
    customers.full_name,
    customers.email,
    customers.phone,
    as_of.as_of_date,
    case when customers.customer_type = 'retail'
         then extract(year from age(as_of.as_of_date, customers.birth_date))::int end as age_years,
    {{ life_stage('customers.customer_type', 'customers.birth_date', 'as_of.as_of_date') }} as life_stage,
    (extract(year from age(as_of.as_of_date, customers.onboarded_date)) * 12
        + extract(month from age(as_of.as_of_date, customers.onboarded_date)))::int as tenure_months,
    (customers.closed_date is null or customers.closed_date > as_of.as_of_date)
        and customers.onboarded_date <= as_of.as_of_date as is_active
from customers
cross join as_of
left join branches on customers.home_branch_id = branches.branch_id
