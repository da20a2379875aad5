with latest as (
    {{ latest_delivery('customers', ['customer_id']) }}
)

select
    {{ pseudonymise('customer_id') }} as customer_id,
    customer_id as source_customer_id,
    customer_type,
    full_name,
    national_id,
    birth_date,
    gender,
    phone,
    email,
    postal_code,
    occupation,
    annual_income_amount::numeric(18, 2) as annual_income_amount,
    marital_status,
    education,
    industry,
    home_branch_id,
    onboarded_date,
    closed_date,
    kyc_risk_rating,
    consent_email,
    consent_sms,
    consent_phone,
    consent_app,
    batch_date
from latest
