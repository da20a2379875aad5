{#
  Accounts with their product's attributes and the account's funds-transfer-pricing rate:
  the product's base FTP rate (the product master) plus the treasury curve's term liquidity
  premium (seed ftp_curve) at the longest curve tenor not above the account's original tenor
  (whole months from opening to contractual maturity; 0 without a maturity). Products the treasury
  does not price (a base rate of 0: insurance, wealth) get no premium.
#}
with accounts as (
    select
        accounts.*,
        case when accounts.maturity_date > accounts.opened_date
             then (extract(year from age(accounts.maturity_date, accounts.opened_date)) * 12
                   + extract(month from age(accounts.maturity_date, accounts.opened_date)))::integer
             else 0 end as tenor_months
    from {{ ref('stg_landing__accounts') }} as accounts
)

select
    accounts.account_id,
    accounts.source_account_id,
    accounts.customer_id,
    accounts.product_id,
    products.product_family,
    products.is_asset,
    products.customer_rate,
    products.ftp_rate + coalesce(premium.liquidity_premium_rate, 0) as ftp_rate,
    products.ftp_rate as ftp_base_rate,
    coalesce(premium.liquidity_premium_rate, 0) as ftp_premium_rate,
    accounts.tenor_months,
    products.fee_rate,
    products.monthly_fee_amount,
    products.margin_rate,
    accounts.currency,
    accounts.opened_date,
    accounts.closed_date,
    accounts.maturity_date,
    accounts.account_status
from accounts
inner join {{ ref('stg_landing__products') }} as products on accounts.product_id = products.product_id
left join lateral (
    select curve.liquidity_premium_rate
    from {{ ref('ftp_curve') }} as curve
    where curve.tenor_months <= accounts.tenor_months
      and products.ftp_rate > 0
    order by curve.tenor_months desc
    limit 1
) as premium on true
