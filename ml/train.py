"""`portrait train`: build the point-in-time training set, fit, evaluate on the later holdout,
log everything to MLflow, register the version as `challenger` and let promotion decide.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from portrait.ml import datasets, evaluate, events, models, promote, registry, schema
from portrait.ml.models import classifier

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.errors import InputError

MIN_ROWS = 200
HOLDOUT_SHARE = 0.2
VALIDATION_SHARE = 0.2  # of the training rows: the latest, to choose a family on


@dataclass
class TrainResult:
    model_name: str
    version: str
    run_id: str
    as_of_date: str
    rows_train: int
    rows_holdout: int
    metrics: dict[str, float]
    promoted: bool
    decision: str
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("scikit-learn", "lightgbm", "pandas", "numpy")]


def train(
    name: str, *, family: str | None = None, settings: Settings | None = None, log=print
) -> TrainResult:
    """Train one model end to end: training set, fit, MLflow run and registered version,
    the training set's record, promotion. ``family`` fits that classifier family only, without
    the validation that picks one. Raises InputError when the warehouse has too little history."""
    settings = settings or get_settings()
    spec = models.get(name)
    began = time.perf_counter()
    client = registry.configure(settings)
    ts = _training_set(spec, settings, log)
    if spec.kind == "classifier":
        fitted = _fit_classifier(spec, ts, _families(spec, family), log)
    else:
        fitted = _fit_clustering(spec, ts, log)
    digest, code = ts.digest(), registry.code_version(settings)
    run_id, version = _log_run(spec, ts, fitted, settings, digest, code)
    _tag_version(client, spec, version, ts, fitted, digest)
    _record(settings, spec, ts, fitted, run_id, version, digest, code)
    holdout, metrics = fitted.holdout, fitted.metrics
    decision = promote.decide(
        spec,
        client,
        version,
        metrics,
        holdout[ts.feature_names],
        holdout["label"].to_numpy() if ts.label else None,
        holdout_from=str(holdout["event_at"].min()),
        settings=settings,
    )
    log(
        f"{name}: version {version} {metrics.get(spec.primary_metric, float('nan')):.3f} "
        f"{spec.primary_metric}; {decision.reason}"
    )
    return TrainResult(
        name,
        version,
        run_id,
        str(ts.as_of_date),
        len(fitted.train_frame),
        len(holdout),
        {k: round(v, 4) for k, v in metrics.items() if np.isfinite(v)},
        decision.promoted,
        decision.reason,
        round(time.perf_counter() - began, 2),
        fitted.extra,
    )


def _training_set(spec: models.ModelSpec, settings: Settings, log):
    """The model's point-in-time training set, refused when it is too small to learn from."""
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        schema.ensure_tables(conn)
        log(f"{spec.name}: building the point-in-time training set")
        ts = (events.BUILDERS if spec.grain == "event" else datasets.BUILDERS)[spec.name](conn)
    if len(ts.frame) < MIN_ROWS:
        raise InputError(
            f"{spec.name}: only {len(ts.frame)} training rows (at least {MIN_ROWS} needed)",
            where="warehouse (marts, ml.customer_features)",
            rule="enough history: run `portrait run` on more months of data first",
        )
    return ts


def _log_run(spec: models.ModelSpec, ts, fitted, settings: Settings, digest: str, code: str):
    """One MLflow run: parameters, metrics, tags, the training data, plots and reference
    distributions, and the model registered under the model's name. Its run id and version."""
    import mlflow
    import mlflow.data
    import mlflow.sklearn
    from mlflow.models import infer_signature

    module, pipeline = spec.implementation, fitted.pipeline
    train_frame, holdout = fitted.train_frame, fitted.holdout
    mlflow.set_experiment(experiment_id=registry.experiment(settings, spec.name))
    with (
        mlflow.start_run(run_name=f"{spec.name} as of {ts.as_of_date}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        estimator = pipeline[-1].get_params()
        mlflow.log_params(
            {k: v for k, v in estimator.items() if isinstance(v, int | float | str | bool)}
        )
        mlflow.log_params(
            {
                "holdout_share": HOLDOUT_SHARE if spec.kind == "classifier" else 0,
                "features": len(ts.feature_names),
                "rows_train": len(train_frame),
                "rows_holdout": len(holdout),
                "rows_fitted": fitted.rows_fitted,
            }
        )
        mlflow.log_metrics({k: v for k, v in fitted.metrics.items() if np.isfinite(v)})
        mlflow.set_tags(
            {
                "as_of_date": str(ts.as_of_date),
                "data_digest": digest,
                "code_version": code,
                "model_kind": spec.kind,
                "holdout_from": str(holdout["event_at"].min()),
                **({"model_family": fitted.extra["family"]} if "family" in fitted.extra else {}),
            }
        )
        dataset = mlflow.data.from_pandas(
            train_frame[[*ts.feature_names, *(["label"] if ts.label else [])]],
            name=f"{spec.name}_training",
            targets=ts.label,
        )
        mlflow.log_input(dataset, context="training")
        for path in _artifacts(spec, fitted, folder):
            mlflow.log_artifact(str(path), "plots" if path.parent.name == "plots" else None)
        # training distribution of every input and of the output, for drift monitoring
        reference = _reference_distributions(train_frame[ts.feature_names], fitted.output)
        (folder / "reference.json").write_text(json.dumps(reference))
        mlflow.log_artifact(str(folder / "reference.json"))
        example = train_frame[ts.feature_names].head(5)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            registered_model_name=spec.name,
            signature=infer_signature(example, module.predict(pipeline, example)),
            input_example=example,
            pip_requirements=_requirements(),
            skops_trusted_types=module.TRUSTED_TYPES,
        )
        return run.info.run_id, str(info.registered_model_version)


def _artifacts(spec: models.ModelSpec, fitted, folder: Path) -> list[Path]:
    """A classifier's ROC, lift and calibration plots and feature importance; a clustering's
    cluster profiles."""
    if spec.kind != "classifier":
        fitted.profile.to_csv(folder / "cluster_profiles.csv", index=False)
        return [folder / "cluster_profiles.csv"]
    plots = evaluate.plot_classifier(
        fitted.holdout["label"].to_numpy(), fitted.output, folder / "plots"
    )
    spec.implementation.importance(fitted.pipeline).to_csv(
        folder / "feature_importance.csv", index=False
    )
    return [*plots, folder / "feature_importance.csv"]


def _tag_version(client, spec: models.ModelSpec, version: str, ts, fitted, digest: str) -> None:
    """The new version becomes challenger, with what it was trained on as tags."""
    name, extra = spec.name, fitted.extra
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    client.update_registered_model(name, description=spec.description)
    tags = {
        "as_of_date": str(ts.as_of_date),
        "data_digest": digest,
        # the latest event the registered model was fitted on (promotion compares on later ones)
        "fitted_through": fitted.fitted_through,
        **({"model_family": extra["family"]} if "family" in extra else {}),
        **(
            {"cluster_names": json.dumps(extra["cluster_names"])}
            if "cluster_names" in extra
            else {}
        ),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _record(
    settings: Settings, spec, ts, fitted, run_id: str, version: str, digest: str, code: str
) -> None:
    """The training set's row in ml.training_sets (what BI and audits read)."""
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute(
            "insert into ml.training_sets (model_name, run_id, model_version, as_of_date, rows_train, "
            "rows_holdout, positive_rate, data_digest, code_version) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                spec.name,
                run_id,
                version,
                ts.as_of_date,
                len(fitted.train_frame),
                len(fitted.holdout),
                float(ts.frame["label"].mean()) if ts.label else None,
                digest,
                code,
            ),
        )


@dataclass
class Fitted:
    """A fitted model with the rows and figures it was judged on."""

    pipeline: object  # the one registered
    train_frame: object
    holdout: object
    metrics: dict[str, float]
    output: np.ndarray  # the judged model's output on the holdout (or on every row, clustering)
    rows_fitted: int  # rows the registered pipeline saw
    fitted_through: str  # the latest event among them
    extra: dict[str, object] = field(default_factory=dict)
    profile: object = None


def _families(spec: models.ModelSpec, family: str | None) -> tuple[str, ...]:
    if family is None:
        return spec.families
    if family not in classifier.FAMILIES:
        raise InputError(
            f"unknown model family {family!r}",
            where="--family",
            rule=f"one of {', '.join(classifier.FAMILIES)}",
        )
    return (family,)


def _fit(spec: models.ModelSpec, family: str, ts, rows):
    pipeline = classifier.build(ts.categorical, ts.numeric, spec.params.get(family), family)
    return classifier.fit(
        pipeline, rows[ts.feature_names], rows["label"].to_numpy(), ts.categorical
    )


def _auc(pipeline, ts, rows) -> float:
    score = classifier.predict(pipeline, rows[ts.feature_names])
    return evaluate.classification_metrics(rows["label"].to_numpy(), score)["auc"]


def _choose(spec: models.ModelSpec, families: tuple[str, ...], ts, train_frame, log):
    """The family with the best AUC on the latest rows of the training period (the holdout is not
    looked at); with one family, that one. Returns it and each family's validation AUC."""
    if len(families) == 1:
        return families[0], {}
    earlier, validation = datasets.time_split(train_frame, VALIDATION_SHARE)
    if earlier["label"].nunique() < 2 or validation["label"].nunique() < 2:
        return families[0], {}
    figures = {f: _auc(_fit(spec, f, ts, earlier), ts, validation) for f in families}
    chosen = max(families, key=lambda f: figures[f] if np.isfinite(figures[f]) else -1.0)
    log(
        f"{spec.name}: validation AUC "
        + ", ".join(f"{f} {v:.3f}" for f, v in figures.items())
        + f"; {chosen} chosen"
    )
    return chosen, figures


def _fit_classifier(spec: models.ModelSpec, ts, families: tuple[str, ...], log) -> Fitted:
    train_frame, holdout = ts.split(HOLDOUT_SHARE)
    for part, rows in (("training", train_frame), ("holdout", holdout)):
        if rows["label"].nunique() < 2:
            raise InputError(
                f"{spec.name}: the {part} rows have a single label value",
                where="warehouse",
                rule="both outcomes needed to train a classifier",
            )
    chosen, validation = _choose(spec, families, ts, train_frame, log)
    log(
        f"{spec.name}: fitting {chosen} on {len(train_frame):,} rows, holding out {len(holdout):,} later rows"
    )
    fits = {f: _fit(spec, f, ts, train_frame) for f in families}
    pipeline = fits[chosen]
    output = classifier.predict(pipeline, holdout[ts.feature_names])
    metrics = evaluate.classification_metrics(holdout["label"].to_numpy(), output)
    metrics["train_auc"] = _auc(pipeline, ts, train_frame)
    for f in families:  # every family's figures, the chosen one's above
        metrics[f"holdout_auc_{f}"] = metrics["auc"] if f == chosen else _auc(fits[f], ts, holdout)
        if f in validation:
            metrics[f"validation_auc_{f}"] = validation[f]
    if spec.grain == "event":
        # the figure papers report: a stratified 5-fold split that ignores time (optimistic
        # under drift); the time-ordered holdout above stays the primary metric
        metrics["random_split_auc"] = _random_split_auc(spec, chosen, ts)
    fitted_rows = train_frame
    if spec.refit:
        log(f"{spec.name}: refitting {chosen} on all {len(ts.frame):,} known rows")
        pipeline, fitted_rows = _fit(spec, chosen, ts, ts.frame), ts.frame
    return Fitted(
        pipeline,
        train_frame,
        holdout,
        metrics,
        output,
        len(fitted_rows),
        str(fitted_rows["event_at"].max()),
        {"family": chosen},
    )


def _fit_clustering(spec: models.ModelSpec, ts, log) -> Fitted:
    module, frame = spec.implementation, ts.frame
    log(f"{spec.name}: fitting on {len(frame):,} rows")
    pipeline = module.build(ts.categorical, ts.numeric)
    module.fit(pipeline, frame[ts.feature_names], None, ts.categorical)
    labels = module.predict(pipeline, frame[ts.feature_names])
    metrics = module.metrics(pipeline, frame[ts.feature_names], labels)
    profile = module.profiles(frame, labels)
    names = dict(zip(profile["cluster"].astype(str), profile["cluster_name"], strict=True))
    return Fitted(
        pipeline,
        frame,
        frame,
        metrics,
        labels,
        len(frame),
        str(frame["event_at"].max()),
        {"cluster_names": names},
        profile,
    )


def _random_split_auc(spec, family: str, ts, folds: int = 5) -> float:
    from sklearn.model_selection import StratifiedKFold

    y = ts.frame["label"].to_numpy()
    score = np.zeros(len(y))
    for train_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=0).split(
        ts.frame, y
    ):
        pipeline = _fit(spec, family, ts, ts.frame.iloc[train_rows])
        score[test_rows] = classifier.predict(pipeline, ts.frame[ts.feature_names].iloc[test_rows])
    return evaluate.classification_metrics(y, score)["auc"]


def _reference_distributions(frame, output) -> dict[str, object]:
    """What drift is measured against: every input's and the output's distribution at training."""
    refs = {name: evaluate.reference(frame[name]) for name in frame.columns}
    return refs | {"__score__": evaluate.reference(np.asarray(output, dtype=float))}
