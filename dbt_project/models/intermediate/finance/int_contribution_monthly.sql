{#
  Monthly profit contribution per customer:
    deposit FTP spread income  = average balance x (FTP rate - customer rate) / 12   (liabilities)
  + loan margin over FTP       = average balance x (customer rate - FTP rate) / 12   (assets)
  - expected loss              = PD x LGD x EAD / 12, EAD = month-end outstanding     (loans)
  + fee income                 = average balance x fee rate / 12 + flat monthly fee
  - cost to serve              = transactions and service interactions x channel unit cost
  Incremental: a build recomputes only the months its new deliveries touch (balances, transactions
  or service interactions loaded since the last build), every customer of those months.
#}
{{ config(**monthly_increment_config('customer_id')) }}

with
{% if is_incremental() %}
touched_months as (
    select month_start from {{ ref('int_balances_classified') }}
    where ingested_at > {{ loaded_watermark() }}
    union
    select month_start from {{ ref('int_transactions_aggregated_monthly') }}
    where loaded_at > {{ loaded_watermark() }}
    union
    select date_trunc('month', interaction_date)::date from {{ ref('stg_landing__service_interactions') }}
    where ingested_at > {{ loaded_watermark() }}
),
{% endif %}

balances as (
    select * from {{ ref('int_balances_classified') }}
    {% if is_incremental() %}where month_start in (select month_start from touched_months){% endif %}
),

risk as (
    select
        loans.account_id,
        pd.value * lgd.value as loss_rate
    from {{ ref('stg_landing__loans') }} as loans
    left join {{ ref('credit_risk_parameters') }} as pd on pd.parameter = 'pd' and pd.key = loans.loan_status
    left join {{ ref('credit_risk_parameters') }} as lgd on lgd.parameter = 'lgd' and lgd.key = loans.collateral_type
),

account_months as (
    select
        balances.customer_id,
        balances.month_start,
        case when not balances.is_asset
             then balances.average_balance_amount * (balances.ftp_rate - balances.customer_rate) / 12 else 0 end
            as deposit_spread_income,
        case when balances.is_asset
             then balances.average_balance_amount * (balances.customer_rate - balances.ftp_rate) / 12 else 0 end
            as loan_margin_income,
        case when balances.is_asset
             then coalesce(risk.loss_rate, 0) * greatest(balances.balance_amount, 0) / 12 else 0 end
            as expected_loss,
        greatest(balances.average_balance_amount, 0) * balances.fee_rate / 12 + balances.monthly_fee_amount as fee_income
    from balances
    left join risk on balances.account_id = risk.account_id
),

income as (
    select
        customer_id,
        month_start,
        sum(deposit_spread_income) as deposit_spread_income,
        sum(loan_margin_income) as loan_margin_income,
        sum(expected_loss) as expected_loss,
        sum(fee_income) as fee_income
    from account_months
    group by 1, 2
),

costs as (
    select channel, cost_per_event_amount from {{ ref('channel_costs') }}
),

transaction_costs as (
    select
        monthly.customer_id,
        monthly.month_start,
        {% for channel in ['branch', 'atm', 'pos', 'online', 'mobile', 'transfer'] %}
        monthly.{{ channel }}_count * (select cost_per_event_amount from costs where channel = '{{ channel }}')
        {%- if not loop.last %} + {% endif %}
        {% endfor %} as transaction_cost
    from {{ ref('int_transactions_aggregated_monthly') }} as monthly
    {% if is_incremental() %}where monthly.month_start in (select month_start from touched_months){% endif %}
),

service_costs as (
    select
        interactions.customer_id,
        date_trunc('month', interactions.interaction_date)::date as month_start,
        sum(costs.cost_per_event_amount) as service_cost
    from {{ ref('stg_landing__service_interactions') }} as interactions
    left join costs on costs.channel = 'service_' || interactions.channel
    {% if is_incremental() %}
    where date_trunc('month', interactions.interaction_date)::date in (select month_start from touched_months)
    {% endif %}
    group by 1, 2
),

loaded as (
    -- the latest load the months built here reflect: the next build's watermark
    select greatest(
        (select max(ingested_at) from {{ ref('int_balances_classified') }}),
        (select max(loaded_at) from {{ ref('int_transactions_aggregated_monthly') }}),
        (select max(ingested_at) from {{ ref('stg_landing__service_interactions') }})
    ) as loaded_at
)

select
    income.customer_id,
    income.month_start,
    round(income.deposit_spread_income::numeric, 2)::numeric(18, 2) as deposit_spread_income_amount,
    round(income.loan_margin_income::numeric, 2)::numeric(18, 2) as loan_margin_income_amount,
    round(income.expected_loss::numeric, 2)::numeric(18, 2) as expected_loss_amount,
    round(income.fee_income::numeric, 2)::numeric(18, 2) as fee_income_amount,
    round((coalesce(transaction_costs.transaction_cost, 0) + coalesce(service_costs.service_cost, 0))::numeric, 2)::numeric(18, 2)
        as cost_to_serve_amount,
    round((
        income.deposit_spread_income + income.loan_margin_income - income.expected_loss + income.fee_income
        - coalesce(transaction_costs.transaction_cost, 0) - coalesce(service_costs.service_cost, 0))::numeric, 2
    )::numeric(18, 2) as contribution_amount,
    (select loaded_at from loaded) as loaded_at
from income
left join transaction_costs
    on income.customer_id = transaction_costs.customer_id and income.month_start = transaction_costs.month_start
left join service_costs
    on income.customer_id = service_costs.customer_id and income.month_start = service_costs.month_start
