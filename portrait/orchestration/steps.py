"""The daily chain's steps (declared in portrait.orchestration.chain): one function each, taking a
StepContext and returning a small JSON-able result (an XCom in Airflow). Heavy imports stay
inside the functions: the DAG processor imports this module's callers, not these."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from portrait.orchestration.chain import StepContext


def _date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def ingest(ctx: StepContext) -> dict:
    """New deliveries from the inbox, each once under its own date; or the one folder named in
    the parameters (``landing_dir``)."""
    from portrait.ingest import inbox

    settings = ctx.config
    folder = ctx.params.get("landing_dir")
    when = _date(ctx.params.get("batch_date"))
    if not folder:
        ctx.say(f"inbox {settings.inbox_dir}")
        return inbox.take(settings, batch_date=when).as_dict()
    return inbox.take_folder(
        settings, Path(folder), source=ctx.params.get("source") or None, batch_date=when
    ).as_dict()


# a scheduled build waits this long for one that holds the build lock (a CLI build, say)
LOCK_WAIT = 3600.0


def build(ctx: StepContext) -> dict:
    """Write-Audit-Publish of the warehouse: landing gate beside dbt, marts gate, publish."""
    from portrait.build import publish_build
    from portrait.build_lock import held

    settings = ctx.config
    with held(settings, LOCK_WAIT):
        report = publish_build(
            settings=settings,
            as_of=_date(ctx.params.get("as_of")),
            select=ctx.params.get("select") or None,
            full_refresh=bool(ctx.params.get("full_refresh")),
            gates=ctx.params.get("gates", True),
            progress=ctx.say,
        )
    result = report.as_dict()
    result["asset_uris"] = published_table_uris(settings) if report.published else []
    return result


def table_uri(url: str, schema: str, table: str) -> str:
    """A warehouse table as the Airflow postgres provider names it (credentials left out):
    ``postgres://host:port/database/schema/table``."""
    parts = urlsplit(url)
    return (
        f"postgres://{parts.hostname}:{parts.port or 5432}/{parts.path.strip('/')}/{schema}/{table}"
    )


def published_table_uris(settings) -> list[str]:
    """Asset URIs of every table and view in the published marts."""
    from portrait import warehouse

    url = warehouse.owner_url(settings)
    with warehouse.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
    return [table_uri(url, "marts", name) for name in names]


def snapshots(ctx: StepContext) -> dict:
    """SCD2 snapshots of what the build published (nothing when it published nothing)."""
    from portrait.build import snapshot

    built = ctx.inputs["build"]
    if not built.get("published"):
        return {"skipped": "nothing was published"}
    from portrait.build_lock import held

    ctx.say("snapshots")
    with held(ctx.config, LOCK_WAIT):
        return snapshot(ctx.config, _date(built.get("as_of_date"))).as_dict()


def scheduled_models(ctx: StepContext) -> list[str]:
    from portrait.ml import models

    return models.names()


def train(ctx: StepContext) -> dict:
    from portrait.ml.train import train as run

    result = run(ctx.item, settings=ctx.config)
    return {
        "model": ctx.item,
        "version": result.version,
        "promoted": result.promoted,
        "decision": result.decision,
        "metrics": result.metrics,
    }


def features(ctx: StepContext) -> dict:
    """Features materialised once before the slices; the as-of date they share."""
    from portrait.ml.score import prepare

    return {"as_of": prepare(_date(ctx.params.get("as_of")), settings=ctx.config).isoformat()}


def slices(ctx: StepContext) -> list[dict]:
    """The scoring work: each champion in customer-hash slices (PORTRAIT_SCORING_SLICES), one
    mapped task each, which separate workers can take."""
    from portrait.ml.promote import listing

    as_of = ctx.inputs["features"]["as_of"]
    count = ctx.config.scoring_slices
    champions = [row["model"] for row in listing(ctx.config) if row["champion"]]
    return [
        {"model": m, "as_of": as_of, "slice_index": i, "slices": count}
        for m in champions
        for i in range(count)
    ]


def score(ctx: StepContext) -> dict:
    from portrait.ml.score import score as run

    work = ctx.item
    result = run(
        work["model"],
        as_of=date.fromisoformat(work["as_of"]),
        slice_index=work["slice_index"],
        slices=work["slices"],
        settings=ctx.config,
    )
    return {
        "model": work["model"],
        "slice": result.slice,
        "rows": result.rows,
        "seconds": result.seconds,
    }


def drift(ctx: StepContext) -> dict:
    """PSI of each scored model's features against its training set."""
    from portrait.ml.score import measure_drift

    as_of = date.fromisoformat(ctx.inputs["features"]["as_of"])
    models = sorted({s["model"] for s in ctx.inputs.get("score") or []})  # none: no champion
    return {
        "drift_warnings": {m: len(measure_drift(m, as_of, settings=ctx.config)) for m in models}
    }


def marketing_marts(ctx: StepContext) -> dict:
    """Next best offer, target lists and ML segments from the scores, published together."""
    from portrait.scored_marts import publish_scored_marts

    report = publish_scored_marts(ctx.config)
    return {"counts": report.counts, "seconds": report.seconds}


def campaign_feedback(ctx: StepContext) -> dict:
    from portrait.ml.feedback import evaluate_outcomes

    return evaluate_outcomes(settings=ctx.config)
