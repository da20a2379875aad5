"""Event-level models: one row per event (a campaign contact, a loan), features as of the event.

The customer-level models (``datasets.py``) read the monthly portrait features, which need months
of balance history before T. Some decisions are taken per event instead, and some sources have no
history at all: UCI Bank Marketing is one row per telephone contact, Berka's loans start between
1993 and 1998 while its shared transaction file stops in March 1994. Event-level features read
only what the warehouse knew before the event:

- ``contact_response``: per treated contact with a known outcome (T = contacted_at): the
  month and weekday of T, the customer's attributes and age at T, products held on T's day
  (accounts are dated by day; UCI records the loans a client holds on the day of the call), the
  customer's earlier contacts and conversions, the bank's contact load in the 7 and 30 days
  before T and the conversion rate of the contacts 31-90 days before T whose outcome is known,
  and every market indicator in force at T (``marts.fct_economic_indicators``). Label: converted
  within 30 days.
- ``loan_default``: per loan (T = start_date): loan terms, the borrower's attributes and age,
  tenure, products and cards held before T, earlier loans, deposits and transactions in the three
  months before T. Label: the loan is in default or delinquent at the latest delivery (Berka
  status B or D).

Indicators a source does not deliver are null (each model family handles missing values); they
are never filled with invented values. Rows are ordered by event time so the holdout is the later part.
"""

from __future__ import annotations

import re

import psycopg
from portrait.ml import features
from portrait.ml.datasets import TrainingSet, _query, _typed

ATTRIBUTES = ["customer_type", "gender", "marital_status", "education", "occupation", "region",
              "kyc_risk_rating"]  # fmt: skip
HOLDINGS = [f"has_{family}" for family in features.FAMILIES]


CONTACT_SQL = f"""
with contacts as (
    select k.contact_id, k.contacted_at, k.customer_id, k.product_id,
           coalesce(k.channel, 'none') as channel, k.has_converted, k.converted_at, k.is_outcome_known,
           k.attempt_number, k.days_since_previous_campaign, k.previous_contacts, k.previous_outcome, k.contact_device
    from marts.fct_campaign_contacts k
    where k.contact_group = 'treated'
),
daily as (
    -- the conversion rate counts contacts whose outcome is known (an open one is no failure)
    select contacted_at::date as day, count(*)::float8 as contacts,
           count(*) filter (where is_outcome_known)::float8 as closed_contacts,
           count(*) filter (where has_converted and converted_at <= contacted_at + interval '30 days')::float8 as conversions
    from contacts group by 1
),
context as (
    -- the bank's recent activity as known on the morning of each day
    select day,
        coalesce(sum(contacts) over (order by day range between interval '7 days' preceding and interval '1 day' preceding), 0) as bank_contacts_7d,
        coalesce(sum(contacts) over (order by day range between interval '30 days' preceding and interval '1 day' preceding), 0) as bank_contacts_30d,
        sum(conversions) over w / nullif(sum(closed_contacts) over w, 0) as bank_conversion_rate_31_90d
    from daily
    window w as (order by day range between interval '90 days' preceding and interval '31 days' preceding)
),
events as (
    select k.* from contacts k
    where (k.is_outcome_known or not %(known_only)s)
      and (%(since)s::timestamptz is null or k.contacted_at >= %(since)s::timestamptz)
),
-- joins and groups rather than lateral subqueries: hash joins on the customer, one pass each
holdings as (
    select k.contact_id, count(*)::float8 as product_count, {features.HOLDINGS_SQL}
    from events k join marts.dim_account a on a.customer_id = k.customer_id
    where a.opened_date <= k.contacted_at::date
      and (a.closed_date is null or a.closed_date > k.contacted_at::date)
    group by k.contact_id
),
prior as (
    select k.contact_id, count(*)::float8 as prior_contacts,
           count(*) filter (where e.has_converted and e.converted_at < k.contacted_at)::float8 as prior_conversions,
           (k.contacted_at::date - max(e.contacted_at)::date)::float8 as days_since_prior_contact
    from events k join contacts e on e.customer_id = k.customer_id and e.contacted_at < k.contacted_at
    group by k.contact_id, k.contacted_at
)
select k.contact_id as event_id, k.contacted_at as event_at, k.customer_id,
       k.product_id as offered_product_id, k.channel as offered_channel,
       -- null while the outcome is open: such a contact is scored (a prospect), never a label
       case when k.is_outcome_known
            then (k.has_converted and k.converted_at <= k.contacted_at + interval '30 days')::int end as label,
       {", ".join(f"c.{a}" for a in ATTRIBUTES)},
       -- calendar: campaigns and their responses follow the season and the weekday
       extract(month from k.contacted_at::date)::int::text as contact_month,
       extract(isodow from k.contacted_at::date)::int::text as contact_weekday,
       c.annual_income_amount::float8 as annual_income_amount,
       date_part('year', age(k.contacted_at::date, c.birth_date))::float8 as age_years,
       (k.contacted_at::date - c.onboarded_date)::float8 as tenure_days,
       coalesce(h.product_count, 0) as product_count, {", ".join(f"coalesce(h.{h}, 0) as {h}" for h in HOLDINGS)},
       coalesce(p.prior_contacts, 0) as prior_contacts, coalesce(p.prior_conversions, 0) as prior_conversions,
       p.days_since_prior_contact,
       x.bank_contacts_7d, x.bank_contacts_30d, x.bank_conversion_rate_31_90d,
       -- the contact history the source recorded at the call (null where it keeps none)
       k.attempt_number::float8 as attempt_number, k.days_since_previous_campaign::float8 as days_since_previous_campaign,
       k.previous_contacts::float8 as previous_contacts, k.previous_outcome, k.contact_device
       {{indicators}}
from events k
join intermediate.int_customers_profiled c using (customer_id)
join context x on x.day = k.contacted_at::date
left join holdings h using (contact_id)
left join prior p using (contact_id)
{{indicator_join}}
order by k.contacted_at, k.contact_id
"""

LOAN_SQL = f"""
with events as (
    select l.*, date_trunc('month', l.start_date)::date as start_month from marts.fct_loans l
    where l.start_date is not null and (%(since)s::date is null or l.start_date >= %(since)s::date)
),
holdings as (
    select l.loan_id, count(*)::float8 as product_count, {features.HOLDINGS_SQL}
    from events l join marts.dim_account a on a.customer_id = l.customer_id
    where a.account_id <> l.account_id and a.opened_date < l.start_date
      and (a.closed_date is null or a.closed_date >= l.start_date)
    group by l.loan_id
),
cards as (
    select l.loan_id, count(*)::float8 as card_count, max(d.card_tier) as card_tier
    from events l join staging.stg_landing__cards d on d.customer_id = l.customer_id
    where d.issued_date < l.start_date
    group by l.loan_id
),
prior as (
    select l.loan_id, count(*)::float8 as prior_loans, sum(e.principal_amount)::float8 as prior_principal_amount
    from events l join marts.fct_loans e on e.customer_id = l.customer_id and e.start_date < l.start_date
    group by l.loan_id
),
deposits as (
    -- the three complete months before the loan's month
    select l.loan_id,
           sum(m.balance_amount) filter (where m.month_start = l.start_month - interval '1 month')::float8 as deposits_last_amount,
           (sum(m.average_balance_amount) / 3)::float8 as deposits_average_3m_amount,
           min(m.balance_amount)::float8 as deposits_minimum_3m_amount
    from events l join marts.fct_balances_monthly m on m.customer_id = l.customer_id
    where not m.is_asset and m.month_start < l.start_month
      and m.month_start >= l.start_month - interval '3 months'
    group by l.loan_id
),
activity as (
    select l.loan_id, sum(t.txn_count)::float8 as txn_count_3m, sum(t.inflow_amount)::float8 as inflow_sum_3m,
           sum(t.outflow_amount)::float8 as outflow_sum_3m,
           count(*) filter (where t.salary_count > 0)::float8 as salary_months_3m
    from events l join intermediate.int_transactions_aggregated_monthly t on t.customer_id = l.customer_id
    where t.month_start < l.start_month and t.month_start >= l.start_month - interval '3 months'
    group by l.loan_id
)
select l.loan_id as event_id, l.start_date::timestamptz as event_at, l.customer_id,
       l.is_in_arrears::int as label,
       coalesce(l.collateral_type, 'none') as collateral_type,
       {", ".join(f"c.{a}" for a in ATTRIBUTES)},
       l.principal_amount::float8 as principal_amount,
       ((l.maturity_date - l.start_date) / 30.4375)::float8 as term_months,
       l.interest_rate::float8 as interest_rate,
       (l.principal_amount / nullif((l.maturity_date - l.start_date) / 30.4375, 0))::float8 as principal_per_month_amount,
       c.annual_income_amount::float8 as annual_income_amount,
       date_part('year', age(l.start_date, c.birth_date))::float8 as age_years,
       (l.start_date - c.onboarded_date)::float8 as tenure_days,
       coalesce(h.product_count, 0) as product_count, {", ".join(f"coalesce(h.{h}, 0) as {h}" for h in HOLDINGS)},
       coalesce(cards.card_count, 0) as card_count, cards.card_tier,
       coalesce(prior.prior_loans, 0) as prior_loans, prior.prior_principal_amount,
       d.deposits_last_amount, d.deposits_average_3m_amount, d.deposits_minimum_3m_amount,
       t.txn_count_3m, t.inflow_sum_3m, t.outflow_sum_3m, t.salary_months_3m
from events l
join intermediate.int_customers_profiled c using (customer_id)
left join holdings h using (loan_id)
left join cards using (loan_id)
left join prior using (loan_id)
left join deposits d using (loan_id)
left join activity t using (loan_id)
order by l.start_date, l.loan_id
"""

CONTACT_CATEGORICAL = [
    *ATTRIBUTES,
    "contact_month",
    "contact_weekday",
    "offered_product_id",
    "offered_channel",
    "previous_outcome",
    "contact_device",
]
CONTACT_NUMERIC = ["annual_income_amount", "age_years", "tenure_days", "product_count", *HOLDINGS,
                   "prior_contacts", "prior_conversions", "days_since_prior_contact",
                   "bank_contacts_7d", "bank_contacts_30d", "bank_conversion_rate_31_90d",
                   "attempt_number", "days_since_previous_campaign", "previous_contacts"]  # fmt: skip
LOAN_CATEGORICAL = [*ATTRIBUTES, "collateral_type", "card_tier"]
LOAN_NUMERIC = ["principal_amount", "term_months", "interest_rate", "principal_per_month_amount",
                "annual_income_amount", "age_years", "tenure_days", "product_count", *HOLDINGS,
                "card_count", "prior_loans", "prior_principal_amount", "deposits_last_amount",
                "deposits_average_3m_amount", "deposits_minimum_3m_amount", "txn_count_3m",
                "inflow_sum_3m", "outflow_sum_3m", "salary_months_3m"]  # fmt: skip


def indicator_column(indicator: str) -> str:
    """The feature name of a market indicator (``euribor_3m`` -> ``market_euribor_3m``)."""
    return "market_" + re.sub(r"[^a-z0-9]+", "_", indicator.lower()).strip("_")


def _indicators(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select distinct indicator from marts.fct_economic_indicators order by 1"
        ).fetchall()
    ]


def _indicator_sql(indicators: list[str]) -> tuple[str, str]:
    """Select list and join: each indicator's value in force at the contact (as-of join)."""
    if not indicators:
        return "", ""
    pivot = ", ".join(
        f"max(i.value) filter (where i.indicator = {psycopg.sql.Literal(name).as_string(None)})::float8 as {indicator_column(name)}"
        for name in indicators
    )
    join = f"""left join lateral (
    select {pivot}
    from marts.fct_economic_indicators i
    where i.indicator_date <= k.contacted_at::date
      and (i.valid_to is null or i.valid_to > k.contacted_at::date)
) m on true"""
    columns = "".join(f", m.{indicator_column(name)}" for name in indicators)
    return columns, join


def contact_response_set(
    conn: psycopg.Connection, since=None, known_only: bool = True
) -> TrainingSet:
    """Contacts from ``since`` (all by default), with every market indicator delivered; scoring
    keeps the columns its model was trained on (see ``score.score_events``). Training takes the
    contacts whose outcome is known; scoring (``known_only=False``) the open ones too, label null."""
    indicators = _indicators(conn)
    columns, join = _indicator_sql(indicators)
    sql = CONTACT_SQL.replace("{indicators}", columns).replace("{indicator_join}", join)
    frame = _query(conn, sql, {"since": since, "known_only": known_only})
    numeric = CONTACT_NUMERIC + [indicator_column(name) for name in indicators]
    as_of = frame["event_at"].max().date() if len(frame) else None
    return TrainingSet(
        "contact_response",
        _typed(frame, CONTACT_CATEGORICAL, numeric),
        CONTACT_CATEGORICAL,
        numeric,
        as_of,
    )


def loan_default_set(conn: psycopg.Connection, since=None, known_only: bool = True) -> TrainingSet:
    """Loans from ``since``; a loan's outcome (arrears) is always recorded, so ``known_only`` has
    nothing to leave out."""
    frame = _query(conn, LOAN_SQL, {"since": since})
    as_of = frame["event_at"].max().date() if len(frame) else None
    return TrainingSet(
        "loan_default",
        _typed(frame, LOAN_CATEGORICAL, LOAN_NUMERIC),
        LOAN_CATEGORICAL,
        LOAN_NUMERIC,
        as_of,
    )


BUILDERS = {"contact_response": contact_response_set, "loan_default": loan_default_set}
