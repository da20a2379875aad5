"""`portrait evaluate SOURCE PATH`: model quality on a real dataset, reproducible in one command.

In a warehouse of its own (``PORTRAIT_HOME/evaluations/<source>``, so the bank's warehouse is
untouched), the source is ingested by its adapter and built by dbt with both gates; the source's
event-level model is trained by ``portrait train`` (earlier events train, the later 20 % are held
out; MLflow logs and registers it); then the registered version scores the held-out events through
the scoring path (``score_events`` into ``ml.event_scores``) and the figures are computed from the
stored scores, with a bootstrap 95 % interval, beside the random-split figure papers report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.errors import InputError

MODELS = {"uci-bank-marketing": "contact_response", "berka": "loan_default"}
# the published or baseline figures the issue measures against (../shared/data/BASELINES.md)
GOALS = {"contact_response": 0.80, "loan_default": 0.85}


@dataclass
class Evaluation:
    source: str
    model_name: str
    model_version: str
    run_id: str
    home: str
    events: int  # with a known outcome: the training set, earlier and held out
    holdout_events: int
    holdout_from: str
    holdout_positive_rate: float
    auc: float
    auc_95: tuple[float, float]
    pr_auc: float
    lift_top_decile: float
    random_split_auc: float
    goal_auc: float
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def bootstrap_auc(labels: np.ndarray, scores: np.ndarray, rounds: int = 1000, seed: int = 0):
    """95 % percentile interval of the AUC over resamples of the held-out events."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        pick = rng.integers(0, len(labels), len(labels))
        if labels[pick].min() != labels[pick].max():
            values.append(roc_auc_score(labels[pick], scores[pick]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def evaluate_source(source: str, path: Path, *, settings: Settings | None = None,
                    log=print) -> Evaluation:  # fmt: skip
    import mlflow
    from portrait.ml import registry
    from portrait.ml.score import score_events
    from portrait.ml.train import train

    from portrait.build import build
    from portrait.ingest.api import ingest

    if source not in MODELS:
        raise InputError(f"no model evaluation for source {source!r}", where="SOURCE",
                         rule=f"one of {', '.join(MODELS)}")  # fmt: skip
    base = settings or get_settings()
    home = base.home / "evaluations" / source
    own = Settings(home=home, database_url=None)
    name = MODELS[source]
    seconds: dict[str, float] = {}
    warehouse.ensure_started(own)
    began = time.perf_counter()
    report = ingest(path, source=source, settings=own)
    seconds["ingest"] = round(time.perf_counter() - began, 1)
    log(f"ingested {report.rows_loaded:,} rows ({report.rows_quarantined:,} quarantined)")
    began = time.perf_counter()
    result = build(settings=own)
    seconds["build"] = round(time.perf_counter() - began, 1)
    if not result.success:
        raise InputError(f"the {source} warehouse did not build", where="portrait build",
                         rule="see the build output above")  # fmt: skip
    began = time.perf_counter()
    trained = train(name, settings=own, log=log)
    seconds["train"] = round(time.perf_counter() - began, 1)
    registry.configure(own)
    holdout_from = datetime.fromisoformat(mlflow.get_run(trained.run_id).data.tags["holdout_from"])
    began = time.perf_counter()
    scored = score_events(name, version=trained.version, since=holdout_from, settings=own, log=log)
    seconds["score"] = round(time.perf_counter() - began, 1)
    with warehouse.connect(warehouse.owner_url(own)) as conn:
        rows = conn.execute("select label, score from ml.event_scores where model_name = %s and model_version = %s "
                            "and label is not null", (name, trained.version)).fetchall()  # fmt: skip
    labels = np.array([r[0] for r in rows], dtype=int)
    scores = np.array([r[1] for r in rows], dtype=float)
    evaluation = Evaluation(
        source=source, model_name=name, model_version=trained.version, run_id=trained.run_id,
        home=str(home), events=trained.rows_train + trained.rows_holdout, holdout_events=scored.events,
        holdout_from=holdout_from.isoformat(), holdout_positive_rate=round(float(labels.mean()), 4),
        auc=scored.metrics["auc"], auc_95=tuple(round(v, 4) for v in bootstrap_auc(labels, scores)),
        pr_auc=scored.metrics["pr_auc"], lift_top_decile=scored.metrics["lift_top_decile"],
        random_split_auc=trained.metrics.get("random_split_auc", float("nan")),
        goal_auc=GOALS[name], seconds=seconds,
    )  # fmt: skip
    # the figures beside the model in MLflow, and on disk for docs
    with mlflow.start_run(run_id=trained.run_id):
        mlflow.log_metrics({"scored_holdout_auc": evaluation.auc,
                            "scored_holdout_auc_low": evaluation.auc_95[0],
                            "scored_holdout_auc_high": evaluation.auc_95[1]})  # fmt: skip
        mlflow.set_tag("evaluated_source", source)
    (home / "evaluation.json").write_text(json.dumps(evaluation.as_dict(), indent=2))
    return evaluation
