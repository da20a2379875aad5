"""The models Portrait trains: what each predicts, how it is built, and its promotion rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "classifier" or "clustering"
    description: str
    primary_metric: str
    # a challenger must reach these on the holdout to be promoted
    floors: dict[str, float] = field(default_factory=dict)
    # ... and be no worse than the champion by more than this on the same holdout
    tolerance: float = 0.005
    product_specific: bool = False
    build: Callable[..., object] | None = None

    @property
    def implementation(self):
        """The module that fits, predicts and explains this kind of model."""
        from portrait.ml.models import classifier, clustering

        return classifier if self.kind == "classifier" else clustering


def _specs() -> dict[str, ModelSpec]:
    from portrait.ml.models import classifier, clustering

    return {
        spec.name: spec
        for spec in (
            ModelSpec(
                name="response_propensity",
                kind="classifier",
                description="Probability that a contacted customer converts within 30 days, per offered product",
                primary_metric="auc",
                floors={"auc": 0.6, "lift_top_decile": 1.3},
                product_specific=True,
                build=classifier.build,
            ),
            ModelSpec(
                name="churn_risk",
                kind="classifier",
                description="Probability of attrition (relationship closed or deposits drained) within 90 days",
                primary_metric="auc",
                floors={"auc": 0.6, "lift_top_decile": 1.5},
                build=classifier.build,
            ),
            ModelSpec(
                name="customer_segmentation",
                kind="clustering",
                description="Behavioural clusters on standardised portrait indicators",
                primary_metric="silhouette",
                floors={"silhouette": 0.05, "smallest_cluster_share": 0.01},
                tolerance=0.02,
                build=clustering.build,
            ),
        )
    }


def get(name: str) -> ModelSpec:
    specs = _specs()
    if name not in specs:
        from portrait.errors import InputError

        raise InputError(f"unknown model {name!r}", where="--model",
                         rule=f"one of {', '.join(specs)}")  # fmt: skip
    return specs[name]


def names() -> list[str]:
    return list(_specs())
