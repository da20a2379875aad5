{#
  The staging selects that the transactions upsert also reads, straight from the sources. dbt
  schedules nodes by depth: reading the staging views made the upsert, the longest model of an
  incremental build, wait until every staging view, seed and staging test had run (3.2 s into an
  incremental build at 10k customers); reading the sources through the same SQL, it starts first.
  The staging views and their tests are unchanged, and a failed test still fails the build before
  anything is published.
#}
{% macro staged_transactions() -%}
select
    txn_id,
    account_id as source_account_id,
    booked_at,
    (booked_at at time zone 'UTC')::date as booked_date,
    amount::numeric(18, 2) as amount,
    direction,
    case when direction = 'credit' then amount else -amount end::numeric(18, 2) as signed_amount,
    channel,
    category,
    counterparty,
    batch_id,
    batch_date,
    ingested_at
from {{ landed('transactions') }}
{%- endmacro %}

{% macro staged_accounts() -%}
with latest as (
    {{ latest_delivery('accounts', ['account_id']) }}
)

select
    {{ pseudonymise('account_id') }} as account_id,
    account_id as source_account_id,
    {{ pseudonymise('customer_id') }} as customer_id,
    product_id,
    branch_id,
    currency,
    opened_date,
    closed_date,
    maturity_date,
    status as account_status
from latest
{%- endmacro %}

{% macro staged_products() -%}
with latest as (
    {{ latest_delivery('products', ['product_id']) }}
)

select
    product_id,
    product_name,
    family as product_family,
    is_asset,
    coalesce(customer_rate, 0) as customer_rate,
    ftp_rate,
    coalesce(fee_rate, 0) as fee_rate,
    coalesce(monthly_fee_amount, 0)::numeric(18, 2) as monthly_fee_amount,
    coalesce(margin_rate, 0) as margin_rate,
    term_months
from latest
{%- endmacro %}
