{#
  One row per customer as of the build's as-of date: the index system of the customer portrait.
  Every indicator is documented in customer_portrait.yml (dimension, definition, unit, owner, pii).
  Windows end on the as-of date: _30d / _90d / _12m look back that far from it.
#}
with profile as (
    select * from {{ ref('int_customers_profiled') }}
),

as_of as (
    select
        max(as_of_date) as as_of_date,
        date_trunc('month', max(as_of_date))::date as as_of_month
    from profile
),

month_totals as (
    select
        monthly.customer_id,
        monthly.month_start,
        monthly.deposit_amount,
        monthly.wealth_amount,
        monthly.average_liability_amount,
        monthly.loan_amount,
        monthly.mortgage_amount,
        monthly.card_amount,
        monthly.current_account_amount
    from {{ ref('int_balances_customer_monthly') }} as monthly
    cross join as_of
    where monthly.month_start between (as_of.as_of_month - interval '11 months')::date and as_of.as_of_month
),

assets as (
    select
        month_totals.customer_id,
        max(month_totals.month_start) as latest_month,
        sum(coalesce(deposit_amount, 0)) filter (where month_start = as_of.as_of_month) as deposit_balance_amount,
        sum(coalesce(wealth_amount, 0)) filter (where month_start = as_of.as_of_month) as wealth_balance_amount,
        sum(coalesce(loan_amount, 0)) filter (where month_start = as_of.as_of_month) as loan_balance_amount,
        sum(coalesce(mortgage_amount, 0)) filter (where month_start = as_of.as_of_month) as mortgage_balance_amount,
        sum(coalesce(card_amount, 0)) filter (where month_start = as_of.as_of_month) as card_balance_amount,
        sum(coalesce(current_account_amount, 0)) filter (where month_start = as_of.as_of_month) as current_account_balance_amount,
        avg(coalesce(average_liability_amount, 0)) filter (where month_start > (as_of.as_of_month - interval '3 months')::date)
            as average_balance_3m_amount,
        avg(coalesce(average_liability_amount, 0)) as average_balance_12m_amount,
        sum(coalesce(deposit_amount, 0) + coalesce(wealth_amount, 0))
            filter (where month_start = (as_of.as_of_month - interval '3 months')::date) as aum_3m_ago_amount
    from month_totals
    cross join as_of
    group by 1
),

holdings as (
    select
        accounts.customer_id,
        count(*) as product_count,
        count(distinct accounts.product_family) as product_family_count,
        {% for family in var('product_families') %}
        bool_or(accounts.product_family = '{{ family }}') as has_{{ family }},
        {% endfor %}
        max(accounts.opened_date) as last_product_opened_date,
        min(accounts.maturity_date) filter (where accounts.maturity_date > as_of.as_of_date) as next_maturity_date
    from {{ ref('int_accounts_classified') }} as accounts
    cross join as_of
    where accounts.opened_date <= as_of.as_of_date
      and (accounts.closed_date is null or accounts.closed_date > as_of.as_of_date)
    group by 1
),

cards as (
    select
        customer_id,
        sum(credit_limit_amount) filter (where card_type = 'credit' and card_status = 'active') as credit_limit_amount,
        count(*) filter (where card_status = 'active') as active_card_count
    from {{ ref('stg_landing__cards') }}
    group by 1
),

loans as (
    select
        customer_id,
        sum(outstanding_amount) as loan_outstanding_amount,
        max(days_past_due) as max_days_past_due,
        bool_or(loan_status = 'delinquent') as has_delinquent_loan,
        bool_or(loan_status = 'default') as has_defaulted_loan,
        count(*) filter (where loan_status in ('delinquent', 'default')) as loans_in_arrears_count
    from {{ ref('stg_landing__loans') }}
    group by 1
),

recent_transactions as (
    select * from {{ ref('int_transactions_summarised_90d') }}
),

monthly_transactions as (
    select
        monthly.customer_id,
        count(*) filter (where monthly.salary_count > 0 and monthly.month_start > (as_of.as_of_month - interval '3 months')::date)
            as salary_months_3m,
        avg(monthly.salary_amount) filter (where monthly.salary_count > 0 and monthly.month_start > (as_of.as_of_month - interval '3 months')::date)
            as salary_average_3m_amount,
        sum(monthly.txn_count) as txn_count_12m,
        max(monthly.last_booked_date) as last_booked_date_12m
    from {{ ref('int_transactions_aggregated_monthly') }} as monthly
    cross join as_of
    where monthly.month_start between (as_of.as_of_month - interval '11 months')::date and as_of.as_of_month
    group by 1
),

digital as (
    select * from {{ ref('int_digital_events_summarised_90d') }}
),

value as (
    select
        contribution.customer_id,
        sum(contribution.contribution_amount) filter (where contribution.month_start = as_of.as_of_month) as contribution_month_amount,
        sum(contribution.contribution_amount) as contribution_12m_amount,
        min(contribution.contribution_rank) filter (where contribution.month_start = as_of.as_of_month) as contribution_rank,
        max(contribution.contribution_percentile) filter (where contribution.month_start = as_of.as_of_month) as contribution_percentile,
        max(contribution.value_tier) filter (where contribution.month_start = as_of.as_of_month) as value_tier,
        sum(contribution.expected_loss_amount) filter (where contribution.month_start = as_of.as_of_month) as expected_loss_month_amount
    from {{ ref('customer_contribution') }} as contribution
    cross join as_of
    where contribution.month_start between (as_of.as_of_month - interval '11 months')::date and as_of.as_of_month
    group by 1
),

marketing as (
    select
        contacts.customer_id,
        count(*) filter (where contacts.contact_group = 'treated' and contacts.contacted_at > as_of.as_of_date - 30) as contacts_30d,
        count(*) filter (where contacts.contact_group = 'treated' and contacts.contacted_at > as_of.as_of_date - 90) as contacts_90d,
        max(contacts.contacted_at) filter (where contacts.contact_group = 'treated' and contacts.has_responded)
            as last_response_at,
        max(contacts.converted_at) filter (where contacts.has_converted) as last_conversion_at,
        avg(contacts.has_responded::int) filter (where contacts.contact_group = 'treated' and contacts.has_responded is not null)
            as response_rate,
        avg(contacts.has_converted::int) filter (where contacts.contact_group = 'treated' and contacts.has_converted is not null)
            as conversion_rate
    from {{ ref('stg_landing__campaign_contacts') }} as contacts
    cross join as_of
    where contacts.contacted_at <= as_of.as_of_date + 1
    group by 1
),

service as (
    select
        interactions.customer_id,
        count(*) filter (where interactions.interaction_type = 'complaint' and interactions.interaction_date > as_of.as_of_date - 90)
            as complaints_90d,
        count(*) filter (where interactions.interaction_type = 'complaint' and interactions.interaction_date > as_of.as_of_date - 365)
            as complaints_12m,
        count(*) filter (where interactions.interaction_date > as_of.as_of_date - 90) as interactions_90d,
        avg(interactions.satisfaction_score) filter (where interactions.interaction_date > as_of.as_of_date - 365)
            as satisfaction_average_12m,
        max(interactions.interaction_date) filter (where interactions.interaction_type = 'complaint') as last_complaint_date
    from {{ ref('stg_landing__service_interactions') }} as interactions
    cross join as_of
    where interactions.interaction_date <= as_of.as_of_date
    group by 1
),

corporate as (
    select distinct on (financials.customer_id)
        financials.customer_id,
        financials.fiscal_year,
        financials.revenue_amount,
        financials.total_assets_amount,
        financials.total_liabilities_amount,
        financials.settlement_volume_amount,
        financials.employee_count
    from {{ ref('stg_landing__corporate_financials') }} as financials
    cross join as_of
    where financials.fiscal_year <= extract(year from as_of.as_of_date)
    order by financials.customer_id, financials.fiscal_year desc
),

assembled as (
    select
        profile.customer_id,
        as_of.as_of_date,
        -- basic attributes and life stage
        profile.customer_type,
        profile.is_active,
        profile.age_years,
        profile.gender,
        profile.life_stage,
        profile.marital_status,
        profile.education,
        profile.occupation,
        profile.region,
        profile.home_branch_id,
        profile.tenure_months,
        case
            when profile.annual_income_amount is null then 'unknown'
            when profile.annual_income_amount < 20000 then 'low'
            when profile.annual_income_amount < 40000 then 'middle'
            when profile.annual_income_amount < 80000 then 'upper_middle'
            else 'high'
        end as income_band,
        profile.kyc_risk_rating,
        -- assets and liabilities
        coalesce(assets.deposit_balance_amount, 0)::numeric(18, 2) as deposit_balance_amount,
        coalesce(assets.wealth_balance_amount, 0)::numeric(18, 2) as wealth_balance_amount,
        (coalesce(assets.deposit_balance_amount, 0) + coalesce(assets.wealth_balance_amount, 0))::numeric(18, 2) as aum_amount,
        coalesce(assets.current_account_balance_amount, 0)::numeric(18, 2) as balance_current_account_amount,
        coalesce(assets.average_balance_3m_amount, 0)::numeric(18, 2) as average_balance_3m_amount,
        coalesce(assets.average_balance_12m_amount, 0)::numeric(18, 2) as average_balance_12m_amount,
        round({{ safe_divide('coalesce(assets.deposit_balance_amount, 0) + coalesce(assets.wealth_balance_amount, 0) - assets.aum_3m_ago_amount', 'assets.aum_3m_ago_amount') }}, 4)
            as aum_change_3m_ratio,
        coalesce(loans.loan_outstanding_amount, 0)::numeric(18, 2) as loan_outstanding_amount,
        coalesce(assets.mortgage_balance_amount, 0)::numeric(18, 2) as mortgage_balance_amount,
        coalesce(assets.card_balance_amount, 0)::numeric(18, 2) as credit_card_balance_amount,
        coalesce(cards.credit_limit_amount, 0)::numeric(18, 2) as credit_limit_amount,
        round({{ safe_divide('assets.card_balance_amount', 'cards.credit_limit_amount') }}, 4) as credit_utilisation_ratio,
        (coalesce(assets.deposit_balance_amount, 0) + coalesce(assets.wealth_balance_amount, 0)
            - coalesce(loans.loan_outstanding_amount, 0))::numeric(18, 2) as net_position_amount,
        -- product holdings and cross-sell depth
        coalesce(holdings.product_count, 0) as product_count,
        coalesce(holdings.product_family_count, 0) as product_family_count,
        {% for family in var('product_families') %}
        coalesce(holdings.has_{{ family }}, false) as has_{{ family }},
        {% endfor %}
        coalesce(cards.active_card_count, 0) as active_card_count,
        (as_of.as_of_date - holdings.last_product_opened_date) / 30 as months_since_last_product,
        holdings.next_maturity_date - as_of.as_of_date as days_to_next_maturity,
        -- transaction behaviour
        coalesce(recent_transactions.txn_count_30d, 0) as txn_count_30d,
        coalesce(recent_transactions.txn_count_90d, 0) as txn_count_90d,
        coalesce(monthly_transactions.txn_count_12m, 0) as txn_count_12m,
        coalesce(recent_transactions.inflow_sum_90d, 0)::numeric(18, 2) as inflow_sum_90d,
        coalesce(recent_transactions.outflow_sum_90d, 0)::numeric(18, 2) as outflow_sum_90d,
        coalesce(recent_transactions.spend_sum_90d, 0)::numeric(18, 2) as spend_sum_90d,
        as_of.as_of_date - coalesce(recent_transactions.last_transaction_date, monthly_transactions.last_booked_date_12m)
            as days_since_last_transaction,
        coalesce(monthly_transactions.salary_months_3m, 0) >= 2 as has_salary_inflow,
        coalesce(monthly_transactions.salary_average_3m_amount, 0)::numeric(18, 2) as salary_average_3m_amount,
        {% for category in ['groceries', 'dining', 'travel', 'shopping', 'utilities', 'cash'] %}
        round(coalesce({{ safe_divide('recent_transactions.spend_' ~ category ~ '_90d', 'recent_transactions.spend_sum_90d') }}, 0), 4)
            as spend_share_{{ category }}_90d,
        {% endfor %}
        {% for channel in ['branch', 'atm', 'pos', 'online', 'mobile'] %}
        round(coalesce({{ safe_divide('recent_transactions.channel_' ~ channel ~ '_90d', 'recent_transactions.txn_count_90d') }}, 0), 4)
            as channel_share_{{ channel }}_90d,
        {% endfor %}
        -- digital engagement
        coalesce(digital.logins_30d, 0) as logins_30d,
        coalesce(digital.logins_90d, 0) as logins_90d,
        coalesce(digital.product_views_90d, 0) as product_views_90d,
        round(coalesce({{ safe_divide('digital.app_logins_90d', 'digital.logins_90d') }}, 0), 4) as app_login_share_90d,
        as_of.as_of_date - digital.last_login_date as days_since_last_login,
        coalesce(digital.logins_30d, 0) >= 4 as is_digitally_active,
        -- value
        coalesce(value.contribution_month_amount, 0)::numeric(18, 2) as contribution_month_amount,
        coalesce(value.contribution_12m_amount, 0)::numeric(18, 2) as contribution_12m_amount,
        value.contribution_rank,
        value.contribution_percentile,
        coalesce(value.value_tier, 'low') as value_tier,
        -- risk
        coalesce(loans.max_days_past_due, 0) as max_days_past_due,
        coalesce(loans.has_delinquent_loan, false) as has_delinquent_loan,
        coalesce(loans.has_defaulted_loan, false) as has_defaulted_loan,
        coalesce(loans.loans_in_arrears_count, 0) as loans_in_arrears_count,
        coalesce(value.expected_loss_month_amount, 0)::numeric(18, 2) as expected_loss_month_amount,
        -- marketing
        coalesce(profile.consent_email, false) as consent_email,
        coalesce(profile.consent_sms, false) as consent_sms,
        coalesce(profile.consent_phone, false) as consent_phone,
        coalesce(profile.consent_app, false) as consent_app,
        (coalesce(profile.consent_email, false)::int + coalesce(profile.consent_sms, false)::int
            + coalesce(profile.consent_phone, false)::int + coalesce(profile.consent_app, false)::int) as contactable_channel_count,
        coalesce(marketing.contacts_30d, 0) as contacts_30d,
        coalesce(marketing.contacts_90d, 0) as contacts_90d,
        marketing.last_response_at,
        marketing.last_conversion_at,
        round(marketing.response_rate, 4) as response_rate,
        round(marketing.conversion_rate, 4) as conversion_rate,
        -- service
        coalesce(service.complaints_90d, 0) as complaints_90d,
        coalesce(service.complaints_12m, 0) as complaints_12m,
        coalesce(service.interactions_90d, 0) as interactions_90d,
        round(service.satisfaction_average_12m, 2) as satisfaction_average_12m,
        as_of.as_of_date - service.last_complaint_date as days_since_last_complaint,
        -- corporate key customers
        profile.industry,
        corporate.fiscal_year as financials_fiscal_year,
        corporate.revenue_amount,
        corporate.total_assets_amount,
        round({{ safe_divide('corporate.total_liabilities_amount', 'corporate.total_assets_amount') }}, 4) as leverage_ratio,
        corporate.settlement_volume_amount,
        corporate.employee_count,
        case when profile.customer_type = 'corporate'
             then (coalesce(loans.loan_outstanding_amount, 0) + coalesce(cards.credit_limit_amount, 0))::numeric(18, 2) end
            as credit_exposure_amount
    from profile
    cross join as_of
    left join assets on profile.customer_id = assets.customer_id
    left join holdings on profile.customer_id = holdings.customer_id
    left join cards on profile.customer_id = cards.customer_id
    left join loans on profile.customer_id = loans.customer_id
    left join recent_transactions on profile.customer_id = recent_transactions.customer_id
    left join monthly_transactions on profile.customer_id = monthly_transactions.customer_id
    left join digital on profile.customer_id = digital.customer_id
    left join value on profile.customer_id = value.customer_id
    left join marketing on profile.customer_id = marketing.customer_id
    left join service on profile.customer_id = service.customer_id
    left join corporate on profile.customer_id = corporate.customer_id
    where profile.onboarded_date <= as_of.as_of_date
)

select
    *,
    -- RFM: quintile scores among customers who transacted in the last 90 days (5 = best)
    case when txn_count_90d > 0 then 6 - ntile(5) over (
        partition by (txn_count_90d > 0) order by days_since_last_transaction asc nulls last) end as rfm_recency_score,
    case when txn_count_90d > 0 then ntile(5) over (
        partition by (txn_count_90d > 0) order by txn_count_90d) end as rfm_frequency_score,
    case when txn_count_90d > 0 then ntile(5) over (
        partition by (txn_count_90d > 0) order by outflow_sum_90d) end as rfm_monetary_score
from assembled
