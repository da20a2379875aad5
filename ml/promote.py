"""Promotion as code: a challenger becomes champion only if it passes the quality floors and is
no worse than the current champion on the same holdout (within the model's tolerance).

Every alias change is audited in ``ml.promotions`` and as tags on the model version.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import numpy as np
from portrait.ml import models, registry, schema

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.errors import InputError


@dataclass
class Decision:
    promoted: bool
    reason: str
    champion_metric: float | None = None


def _champion_metric(spec: models.ModelSpec, holdout, labels) -> float | None:
    """The current champion's primary metric on the challenger's holdout (None if it cannot score)."""
    import mlflow.sklearn
    from portrait.ml import evaluate

    module = spec.implementation
    try:
        champion = mlflow.sklearn.load_model(f"models:/{spec.name}@{registry.CHAMPION}")
        output = module.predict(champion, holdout)
        if spec.kind == "classifier":
            return evaluate.classification_metrics(labels, output)[spec.primary_metric]
        return module.metrics(champion, holdout, output)[spec.primary_metric]
    except Exception:  # a champion trained on other inputs cannot score this holdout
        return None


def decide(spec: models.ModelSpec, client, version: str, metrics: dict[str, float], holdout,
           labels: np.ndarray | None, *, settings: Settings | None = None) -> Decision:  # fmt: skip
    failed = [f"{k} {metrics.get(k, float('nan')):.3f} < {floor}" for k, floor in spec.floors.items()
              if not metrics.get(k, float("nan")) >= floor]  # fmt: skip
    challenger = metrics.get(spec.primary_metric, float("nan"))
    current = registry.by_alias(client, spec.name, registry.CHAMPION)
    champion_metric = None
    if failed:
        decision = Decision(
            False, "stays challenger: below quality floor (" + "; ".join(failed) + ")"
        )
    elif current is None:
        decision = Decision(True, "promoted to champion: first version passing the floors")
    else:
        champion_metric = _champion_metric(spec, holdout, labels)
        if champion_metric is None or not np.isfinite(champion_metric):
            decision = Decision(
                True,
                f"promoted to champion: champion v{current.version} cannot score the new holdout",
            )
        elif challenger >= champion_metric - spec.tolerance:
            decision = Decision(True, f"promoted to champion: {spec.primary_metric} {challenger:.3f} vs champion "
                                      f"v{current.version} {champion_metric:.3f} on the same holdout (tolerance {spec.tolerance})")  # fmt: skip
        else:
            decision = Decision(False, f"stays challenger: {spec.primary_metric} {challenger:.3f} below champion "
                                       f"v{current.version} {champion_metric:.3f} - {spec.tolerance} on the same holdout")  # fmt: skip
    decision.champion_metric = champion_metric
    client.set_model_version_tag(spec.name, version, "promotion_decision", decision.reason)
    if decision.promoted:
        _set_champion(client, spec.name, version, "portrait train", decision.reason, settings)
    return decision


def _set_champion(
    client, name: str, version: str, by: str, reason: str, settings: Settings | None
) -> None:
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    challenger = registry.by_alias(client, name, registry.CHALLENGER)
    if challenger is not None and challenger.version == str(version):
        client.delete_registered_model_alias(name, registry.CHALLENGER)
    settings = settings or get_settings()
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        schema.ensure_tables(conn)
        conn.execute(
            "insert into ml.promotions (model_name, model_version, alias, decided_by, reason) values (%s, %s, %s, %s, %s)",
            (name, str(version), registry.CHAMPION, by, reason),
        )


def override(name: str, version: str, *, reason: str | None = None,
             settings: Settings | None = None) -> dict[str, str]:  # fmt: skip
    """`portrait promote NAME VERSION`: a human makes a version champion, audited."""
    settings = settings or get_settings()
    spec = models.get(name)
    client = registry.configure(settings)
    if registry.version(client, spec.name, version) is None:
        raise InputError(f"model {name} has no version {version}", where="MLflow registry",
                         rule="promote an existing version (see `portrait models`)")  # fmt: skip
    previous = registry.by_alias(client, name, registry.CHAMPION)
    user = getpass.getuser()
    text = reason or "manual override"
    by = f"{user} (portrait promote)"
    _set_champion(client, name, str(version), by, text, settings)
    client.set_model_version_tag(name, str(version), "promotion_decision", f"{text} by {user}")
    return {"model": name, "champion": str(version),
            "previous_champion": previous.version if previous else "", "by": by, "reason": text}  # fmt: skip


def listing(settings: Settings | None = None) -> list[dict[str, object]]:
    """Every model Portrait knows: champion and challenger versions with their key metrics."""
    settings = settings or get_settings()
    client = registry.configure(settings)
    rows = []
    for name in models.names(on_demand=True):
        spec = models.get(name)
        row: dict[str, object] = {"model": name, "primary_metric": spec.primary_metric}
        for alias in (registry.CHAMPION, registry.CHALLENGER):
            found = registry.by_alias(client, name, alias)
            row[alias] = found.version if found else None
            keys = [
                spec.primary_metric,
                *[k for k in ("pr_auc", "lift_top_decile", "brier") if spec.kind == "classifier"],
            ]
            row[f"{alias}_metrics"] = {
                k: round(found.metrics[k], 4) for k in keys if found and k in found.metrics
            }
        try:
            versions = client.search_model_versions(f"name = '{name}'")
        except Exception:
            versions = []
        row["versions"] = len(versions)
        rows.append(row)
    return rows
