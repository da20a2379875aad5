"""Training sets: point-in-time features (as of T) joined to labels from the window after T.

- response_propensity: one row per treated campaign contact whose outcome is known; features as of
  the first day of the contact's month, plus the offered product, channel and the customer's views
  of that product; label = converted within 30 days of the contact.
- churn_risk: one row per active customer and month start T whose 90-day window is complete;
  label = relationship closed within 90 days, or deposits drained (third month after T below 20 %
  of the last month before T, from at least 100).
- customer_segmentation: the features of the latest complete month, no label.

Rows are ordered by time so that the holdout is always the later part (honest evaluation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg
from portrait.ml import features

from portrait.errors import InputError

OFFER_CATEGORICAL = ["offered_product_id", "offered_channel"]
OFFER_NUMERIC = ["offered_product_views_90d", "offered_product_views_365d"]

RESPONSE_SQL = """
select k.contacted_at as event_at, f.as_of_date, k.customer_id,
       k.product_id as offered_product_id, coalesce(k.channel, 'none') as offered_channel,
       coalesce(v.offered_product_views_90d, 0) as offered_product_views_90d,
       coalesce(v.offered_product_views_365d, 0) as offered_product_views_365d,
       (k.has_converted and k.converted_at <= k.contacted_at + interval '30 days')::int as label,
       {columns}
from marts.fct_campaign_contacts k
join ml.customer_features f
  on f.as_of_date = date_trunc('month', k.contacted_at)::date and f.customer_id = k.customer_id
  and f.as_of_date = any(%(months)s)
left join ml.customer_offer_context v
  on v.as_of_date = f.as_of_date and v.customer_id = k.customer_id and v.product_id = k.product_id
where k.contact_group = 'treated' and k.is_outcome_known
order by k.contacted_at, k.contact_id
"""

CHURN_SQL = """
with later as (
    select customer_id, sum(balance_amount)::float8 as deposits_amount
    from marts.fct_balances_monthly
    where not is_asset and month_start = (%(as_of)s::date + interval '2 months')::date
    group by customer_id
)
select f.as_of_date::timestamptz as event_at, f.as_of_date, f.customer_id,
       (coalesce(c.closed_date < %(as_of)s::date + 90, false)
        or (f.deposits_last_amount >= 100 and coalesce(l.deposits_amount, 0) < 0.2 * f.deposits_last_amount))::int as label,
       {columns}
from ml.customer_features f
join intermediate.int_customers_profiled c using (customer_id)
left join later l using (customer_id)
where f.as_of_date = %(as_of)s::date
order by f.customer_id
"""


@dataclass
class TrainingSet:
    model_name: str
    frame: pd.DataFrame
    categorical: list[str]
    numeric: list[str]
    as_of_date: date
    label: str | None = "label"

    @property
    def feature_names(self) -> list[str]:
        return self.categorical + self.numeric

    def digest(self) -> str:
        """Content hash of features and label: the same data gives the same digest."""
        columns = [*self.feature_names, *([self.label] if self.label else [])]
        hashed = pd.util.hash_pandas_object(self.frame[columns], index=False)
        return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:32]

    def split(self, holdout_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
        return time_split(self.frame, holdout_share)


def time_split(frame: pd.DataFrame, later_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Earlier rows, and the latest ``later_share`` to evaluate on (never a random split)."""
    ordered = frame.sort_values("event_at", kind="stable")
    cut = ordered["event_at"].iloc[int(len(ordered) * (1 - later_share))]
    return ordered[ordered["event_at"] < cut], ordered[ordered["event_at"] >= cut]


MIN_HISTORY_MONTHS = 4  # the longest feature window (3 months) plus the month before it


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_starts(first: date, last: date) -> list[date]:
    out, current = [], date(first.year, first.month, 1)
    while current <= last:
        out.append(current)
        current = _add_months(current, 1)
    return out


def _query(
    conn: psycopg.Connection, sql: str, params: dict[str, object] | None = None
) -> pd.DataFrame:
    cur = conn.execute(sql, params or {})
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _typed(frame: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    for name in categorical:
        frame[name] = frame[name].astype("string").fillna("unknown").astype(object)
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


COLUMNS = ", ".join(f"f.{name}" for name in features.FEATURES)


def response_set(conn: psycopg.Connection) -> TrainingSet:
    first, _ = features.data_window(conn)
    months = [
        r[0]
        for r in conn.execute(
            "select distinct date_trunc('month', contacted_at)::date from marts.fct_campaign_contacts "
            "where contact_group = 'treated' and is_outcome_known order by 1"
        ).fetchall()
    ]
    # contacts need MIN_HISTORY_MONTHS of history before them, or their features are truncated
    months = [m for m in months if first and m >= _add_months(first, MIN_HISTORY_MONTHS)]
    if not months:
        raise InputError(
            "response_propensity: no treated contact with a known outcome has "
            f"{MIN_HISTORY_MONTHS} months of balance history before it",
            where="marts.fct_campaign_contacts, marts.fct_balances_monthly",
            rule="point-in-time features need that history; a source without balances "
            "(UCI Bank Marketing) cannot train this model yet",
        )
    for month in months:
        features.materialise(conn, month)
    frame = _query(conn, RESPONSE_SQL.format(columns=COLUMNS), {"months": months})
    categorical = features.CATEGORICAL + OFFER_CATEGORICAL
    numeric = features.NUMERIC + OFFER_NUMERIC
    as_of = months[-1] if months else date.today()
    return TrainingSet(
        "response_propensity", _typed(frame, categorical, numeric), categorical, numeric, as_of
    )


def churn_set(conn: psycopg.Connection) -> TrainingSet:
    first, last = features.data_window(conn)
    frames = []
    if first and last:
        # four months of history before T, a complete 90-day window after it
        for month in _month_starts(first, last):
            if month < _add_months(first, MIN_HISTORY_MONTHS):
                continue
            if (last - month).days < 89:
                continue
            features.materialise(conn, month)
            frames.append(_query(conn, CHURN_SQL.format(columns=COLUMNS), {"as_of": month}))
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=["event_at", "as_of_date", "customer_id", "label", *features.FEATURES]
        )
    )
    as_of = frame["as_of_date"].max() if len(frame) else date.today()
    return TrainingSet(
        "churn_risk",
        _typed(frame, features.CATEGORICAL, features.NUMERIC),
        features.CATEGORICAL,
        features.NUMERIC,
        as_of,
    )


def latest_complete_month(conn: psycopg.Connection) -> date | None:
    """The as-of date whose previous month is the last complete month of history."""
    _, last = features.data_window(conn)
    if last is None:
        return None
    return _add_months(last, 1)


def segmentation_set(conn: psycopg.Connection, as_of: date | None = None) -> TrainingSet:
    as_of = as_of or latest_complete_month(conn)
    if as_of is None:
        frame = pd.DataFrame(columns=["event_at", "as_of_date", "customer_id", *features.FEATURES])
    else:
        features.materialise(conn, as_of)
        frame = _query(
            conn,
            f"select as_of_date::timestamptz as event_at, as_of_date, customer_id, {COLUMNS} "
            "from ml.customer_features f where as_of_date = %(as_of)s order by customer_id",
            {"as_of": as_of},
        )
    return TrainingSet(
        "customer_segmentation",
        _typed(frame, features.CATEGORICAL, features.NUMERIC),
        features.CATEGORICAL,
        features.NUMERIC,
        as_of or date.today(),
        label=None,
    )


BUILDERS = {
    "response_propensity": response_set,
    "churn_risk": churn_set,
    "customer_segmentation": segmentation_set,
}
