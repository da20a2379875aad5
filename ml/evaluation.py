"""`portrait evaluate SOURCE PATH`: model quality on a real dataset, reproducible in one command.

In a warehouse of its own (``PORTRAIT_HOME/evaluations/<source>``, so the bank's warehouse is
untouched), the source is ingested by its adapter and built by dbt with both gates, and its
event-level model is trained by ``portrait train`` (MLflow logs and registers every version).
The evaluated events are never seen by the model; the registered versions score them through the
scoring path (``score_events`` into ``ml.event_scores``), and the figures come from the stored
scores, with a bootstrap 95 % interval, beside the random-split figure papers report.

Two protocols (``PROTOCOLS``):

- ``prospects``: the latest 20 % of the source's events are delivered with their outcome open, as
  a bank's prospects are; the model trains on the known 80 % and scores the open ones, which are
  then compared with their true outcomes.
- ``holdout``: every outcome is delivered; the model's own later holdout (the latest 20 % of
  events, which the registered model was not fitted on) is scored.

Every classifier family is trained once more on its own (``--family``), so each family's figure
is measured the same way; the version ``portrait train`` picks by validation is the one reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.errors import InputError

OPEN_SHARE = 0.2  # the latest events evaluated on


@dataclass(frozen=True)
class Protocol:
    model: str
    goal_auc: (
        float  # the published or baseline figure measured against (../shared/data/BASELINES.md)
    )
    # writes a delivery whose latest events have an open outcome, and returns it with their truth
    open_latest: Callable[[Path, Path, float], tuple[Path, dict[str, int]]] | None = None

    @property
    def name(self) -> str:
        return "prospects" if self.open_latest else "holdout"


def _uci_open_latest(path: Path, folder: Path, share: float):
    from portrait.ingest.adapters import uci_bank_marketing

    return uci_bank_marketing.open_latest(path, folder, share)


PROTOCOLS = {
    # the plain time-ordered logistic baseline without `duration`
    "uci-bank-marketing": Protocol("contact_response", 0.748, _uci_open_latest),
    # a loan's outcome is always delivered: the model's own holdout
    "berka": Protocol("loan_default", 0.85),
}


@dataclass
class Evaluation:
    source: str
    protocol: str
    model_name: str
    model_version: str
    family: str  # the family `portrait train` chose by validation
    run_id: str
    home: str
    events: int  # with a known outcome, trained on (and held out, for the holdout protocol)
    evaluated_events: int
    evaluated_from: str
    evaluated_positive_rate: float
    auc: float
    auc_95: tuple[float, float]
    pr_auc: float
    lift_top_decile: float
    random_split_auc: float
    goal_auc: float
    seconds: dict[str, float]
    families: dict[str, dict[str, object]] = field(default_factory=dict)

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


def _timed(seconds: dict[str, float], step: str, work: Callable[[], object]):
    began = time.perf_counter()
    out = work()
    seconds[step] = round(time.perf_counter() - began + seconds.get(step, 0.0), 1)
    return out


def _stored_scores(settings: Settings, name: str, version: str, truth: dict[str, int] | None):
    """Labels and scores of the evaluated events: the open ones against their truth, or the
    held-out known ones."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        rows = conn.execute(
            "select event_id, label, score, event_at from ml.event_scores "
            "where model_name = %s and model_version = %s and (label is null) = %s order by event_at, event_id",
            (name, version, truth is not None),
        ).fetchall()
    labels = [truth[r[0]] if truth is not None else r[1] for r in rows]
    return np.array(labels, dtype=int), np.array([r[2] for r in rows], dtype=float), rows


def _score(settings, name, trained, truth, seconds, log):
    """Score one registered version through the scoring path; its evaluated labels and scores."""
    import mlflow
    from portrait.ml.score import score_events

    holdout_from = datetime.fromisoformat(mlflow.get_run(trained.run_id).data.tags["holdout_from"])
    since = None if truth is not None else holdout_from  # prospects: every open event
    _timed(
        seconds,
        "score",
        lambda: score_events(
            name, version=trained.version, since=since, settings=settings, log=log
        ),
    )
    return _stored_scores(settings, name, trained.version, truth)


def evaluate_source(
    source: str, path: Path, *, settings: Settings | None = None, log=print
) -> Evaluation:
    import mlflow
    from portrait.ml import evaluate, registry
    from portrait.ml.models import classifier
    from portrait.ml.train import train

    from portrait.build import build
    from portrait.ingest.api import ingest

    if source not in PROTOCOLS:
        raise InputError(
            f"no model evaluation for source {source!r}",
            where="SOURCE",
            rule=f"one of {', '.join(PROTOCOLS)}",
        )
    protocol = PROTOCOLS[source]
    name = protocol.model
    home = (settings or get_settings()).home / "evaluations" / source
    own = Settings(home=home, database_url=None)
    seconds: dict[str, float] = {}
    warehouse.ensure_started(own)
    delivery, truth = (
        protocol.open_latest(path, home / "delivery", OPEN_SHARE)
        if protocol.open_latest
        else (path, None)
    )
    report = _timed(seconds, "ingest", lambda: ingest(delivery, source=source, settings=own))
    log(f"ingested {report.rows_loaded:,} rows ({report.rows_quarantined:,} quarantined)")
    if not _timed(seconds, "build", lambda: build(settings=own)).success:
        raise InputError(
            f"the {source} warehouse did not build",
            where="portrait build",
            rule="see the build output above",
        )
    chosen = _timed(seconds, "train", lambda: train(name, settings=own, log=log))
    registry.configure(own)
    labels, scores, rows = _score(own, name, chosen, truth, seconds, log)
    family = chosen.extra["family"]
    figures = {family: _family_figures(chosen, chosen, labels, scores)}
    for other in (f for f in classifier.FAMILIES if f != family):
        trained = _timed(
            seconds, "train", lambda f=other: train(name, family=f, settings=own, log=log)
        )
        other_labels, other_scores, _ = _score(own, name, trained, truth, seconds, log)
        figures[other] = _family_figures(chosen, trained, other_labels, other_scores)
    metrics = evaluate.classification_metrics(labels, scores)
    evaluation = Evaluation(
        source=source,
        protocol=protocol.name,
        model_name=name,
        model_version=chosen.version,
        family=family,
        run_id=chosen.run_id,
        home=str(home),
        events=chosen.rows_train + chosen.rows_holdout,
        evaluated_events=len(labels),
        evaluated_from=rows[0][3].isoformat(),
        evaluated_positive_rate=round(float(labels.mean()), 4),
        auc=round(metrics["auc"], 4),
        auc_95=tuple(round(v, 4) for v in bootstrap_auc(labels, scores)),
        pr_auc=round(metrics["pr_auc"], 4),
        lift_top_decile=round(metrics["lift_top_decile"], 4),
        random_split_auc=chosen.metrics.get("random_split_auc", float("nan")),
        goal_auc=protocol.goal_auc,
        seconds=seconds,
        families=figures,
    )
    # the figures beside the model in MLflow, and on disk for docs
    with mlflow.start_run(run_id=chosen.run_id):
        mlflow.log_metrics(
            {
                "scored_holdout_auc": evaluation.auc,
                "scored_holdout_auc_low": evaluation.auc_95[0],
                "scored_holdout_auc_high": evaluation.auc_95[1],
            }
        )
        mlflow.set_tags({"evaluated_source": source, "evaluation_protocol": protocol.name})
    (home / "evaluation.json").write_text(json.dumps(evaluation.as_dict(), indent=2))
    return evaluation


def _family_figures(chosen, trained, labels: np.ndarray, scores: np.ndarray) -> dict[str, object]:
    """One family's version, its validation AUC (from the choice) and holdout AUC in training,
    and its evaluated AUC."""
    from portrait.ml import evaluate

    family = trained.extra["family"]
    return {
        "version": trained.version,
        "validation_auc": chosen.metrics.get(f"validation_auc_{family}"),
        "holdout_auc": trained.metrics.get(f"holdout_auc_{family}"),
        "evaluated_auc": round(evaluate.classification_metrics(labels, scores)["auc"], 4),
    }
