"""Promotion as code: a challenger becomes champion only if it passes the quality floors and
beats the current champion on the same holdout by the model's margin (a tie keeps the champion).
A champion refitted on every known event has seen that holdout; it is then judged by the figure it
was promoted on.

Every alias change is audited in ``ml.promotions`` and as tags on the versions: the new
champion's decision, and on the version it replaces, when and by which version it was replaced.
A champion alias moved outside Portrait (the MLflow UI) is found by ``alias_drift``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date

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


def _compared(spec, current, holdout, labels, holdout_from: str | None) -> tuple[float | None, str]:
    """The champion's primary metric and where it was measured: on the challenger's holdout, or,
    when the champion was refitted on those rows (``fitted_through`` at or after the holdout's
    first event), on its own holdout, the figure it was promoted on."""
    through = current.tags.get("fitted_through")
    if through and holdout_from and through >= holdout_from:
        return current.metrics.get(
            spec.primary_metric
        ), "its own holdout (it was fitted on this one)"
    return _champion_metric(spec, holdout, labels), "the same holdout"


def decide(
    spec: models.ModelSpec,
    client,
    version: str,
    metrics: dict[str, float],
    holdout,
    labels: np.ndarray | None,
    *,
    holdout_from: str | None = None,
    settings: Settings | None = None,
) -> Decision:
    failed = [
        f"{k} {metrics.get(k, float('nan')):.3f} < {floor}"
        for k, floor in spec.floors.items()
        if not metrics.get(k, float("nan")) >= floor
    ]
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
        champion_metric, where = _compared(spec, current, holdout, labels, holdout_from)
        if champion_metric is None or not np.isfinite(champion_metric):
            decision = Decision(
                True,
                f"promoted to champion: champion v{current.version} cannot score the new holdout",
            )
        elif challenger >= champion_metric + spec.margin and challenger > champion_metric:
            decision = Decision(
                True,
                f"promoted to champion: {spec.primary_metric} {challenger:.4f} beats champion "
                f"v{current.version} {champion_metric:.4f} by at least {spec.margin} on {where}",
            )
        else:
            decision = Decision(
                False,
                f"stays challenger: {spec.primary_metric} {challenger:.4f} does not beat champion "
                f"v{current.version} {champion_metric:.4f} by {spec.margin} on {where}",
            )
    decision.champion_metric = champion_metric
    client.set_model_version_tag(spec.name, version, "promotion_decision", decision.reason)
    if decision.promoted:
        _set_champion(client, spec.name, version, "portrait train", decision.reason, settings)
    return decision


def _set_champion(
    client, name: str, version: str, by: str, reason: str, settings: Settings | None
) -> None:
    previous = registry.by_alias(client, name, registry.CHAMPION)
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    if previous is not None and previous.version != str(version):  # its tags say it no longer is
        client.set_model_version_tag(
            name,
            previous.version,
            "replaced_as_champion",
            f"by v{version} on {date.today().isoformat()} ({by}: {reason})",
        )
    if (
        "replaced_as_champion" in client.get_model_version(name, str(version)).tags
    ):  # champion again
        client.delete_model_version_tag(name, str(version), "replaced_as_champion")
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


def alias_drift(client, name: str, settings: Settings) -> str | None:
    """A champion alias that is not the last audited promotion (moved outside Portrait), or None."""
    current = registry.by_alias(client, name, registry.CHAMPION)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        schema.ensure_tables(conn)
        audited = conn.execute(
            "select model_version from ml.promotions where model_name = %s and alias = %s "
            "order by decided_at desc limit 1",
            (name, registry.CHAMPION),
        ).fetchone()
    have = current.version if current else None
    want = audited[0] if audited else None
    if have == want:
        return None
    return (
        f"champion alias is v{have or '-'} but the last audited promotion is v{want or '-'}: moved "
        f"outside Portrait; `portrait promote {name} {want or have}` repairs it"
    )


def override(
    name: str, version: str, *, reason: str | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """`portrait promote NAME VERSION`: a human makes a version champion, audited."""
    settings = settings or get_settings()
    spec = models.get(name)
    client = registry.configure(settings)
    if registry.version(client, spec.name, version) is None:
        raise InputError(
            f"model {name} has no version {version}",
            where="MLflow registry",
            rule="promote an existing version (see `portrait models`)",
        )
    previous = registry.by_alias(client, name, registry.CHAMPION)
    user = getpass.getuser()
    text = reason or "manual override"
    by = f"{user} (portrait promote)"
    _set_champion(client, name, str(version), by, text, settings)
    client.set_model_version_tag(name, str(version), "promotion_decision", f"{text} by {user}")
    return {
        "model": name,
        "champion": str(version),
        "previous_champion": previous.version if previous else "",
        "by": by,
        "reason": text,
    }


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
        row["alias_drift"] = alias_drift(client, name, settings)
        rows.append(row)
    return rows
