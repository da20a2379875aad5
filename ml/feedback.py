"""The closed loop: how the response champion did on campaign outcomes that arrived after it was
trained. Those outcomes are labels for the next training (datasets.response_set reads every known
outcome); here they are also an early warning when the champion stops ranking well.
"""

from __future__ import annotations

from datetime import date

from portrait.ml import datasets, evaluate, features, models, registry, schema

from portrait import warehouse
from portrait.config import Settings, get_settings

DDL = """
create table if not exists ml.model_monitoring (
    model_name text not null,
    model_version text not null,
    evaluated_at timestamptz not null default now(),
    outcomes_after date not null,
    rows bigint not null,
    positive_rate double precision,
    auc double precision,
    lift_top_decile double precision,
    status text not null
);
comment on table ml.model_monitoring is
    'Champion quality on campaign outcomes that arrived after its training (closed loop)';
"""


def evaluate_outcomes(
    *, settings: Settings | None = None, name: str = "response_propensity"
) -> dict:
    import mlflow.sklearn
    from portrait.ml.models import classifier

    settings = settings or get_settings()
    spec = models.get(name)
    client = registry.configure(settings)
    champion = registry.by_alias(client, name, registry.CHAMPION)
    if champion is None:
        return {"model": name, "status": "no champion"}
    trained_as_of = date.fromisoformat(champion.tags.get("as_of_date", "1900-01-01"))
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        schema.ensure_tables(conn)
        conn.execute(DDL)
        months = [
            r[0]
            for r in conn.execute(
                "select distinct date_trunc('month', contacted_at)::date from marts.fct_campaign_contacts "
                "where contact_group = 'treated' and is_outcome_known and contacted_at >= %s order by 1",
                (trained_as_of,),
            ).fetchall()
        ]
        for month in months:
            features.materialise(conn, month)
        frame = datasets._query(
            conn, datasets.RESPONSE_SQL.format(columns=datasets.COLUMNS), {"months": months}
        )
        frame = frame[frame["event_at"].dt.date >= trained_as_of] if len(frame) else frame
        result: dict[str, object] = {
            "model": name,
            "version": champion.version,
            "outcomes_after": trained_as_of.isoformat(),
            "rows": len(frame),
        }
        if len(frame) == 0 or frame["label"].nunique() < 2:
            result["status"] = "not enough new outcomes (both results needed)"
            return result
        categorical = features.CATEGORICAL + datasets.OFFER_CATEGORICAL
        numeric = features.NUMERIC + datasets.OFFER_NUMERIC
        frame = datasets._typed(frame, categorical, numeric)
        pipeline = mlflow.sklearn.load_model(f"models:/{name}@{registry.CHAMPION}")
        metrics = evaluate.classification_metrics(
            frame["label"].to_numpy(), classifier.predict(pipeline, frame[categorical + numeric])
        )
        status = "ok" if metrics["auc"] >= spec.floors.get("auc", 0) else "retrain"
        conn.execute(
            "insert into ml.model_monitoring (model_name, model_version, outcomes_after, rows, positive_rate, auc, "
            "lift_top_decile, status) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                name,
                champion.version,
                trained_as_of,
                len(frame),
                metrics["positive_rate"],
                metrics["auc"],
                metrics["lift_top_decile"],
                status,
            ),
        )
    return result | {
        "auc": round(metrics["auc"], 4),
        "positive_rate": round(metrics["positive_rate"], 4),
        "status": status,
    }
