"""The models Portrait trains: what each predicts, how it is built, and its promotion rules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "classifier" or "clustering"
    description: str
    primary_metric: str
    # a challenger must reach these on the holdout to be promoted
    floors: dict[str, float] = field(default_factory=dict)
    # ... and beat the champion by at least this on the same holdout (a tie keeps the champion:
    # retraining on the same data must not change champions every week)
    margin: float = 0.005
    product_specific: bool = False
    # "customer": scored per active customer as of a date (ml.customer_scores); "event": one row
    # per event, features as of the event (ml/events.py, scored into ml.event_scores)
    grain: str = "customer"
    # trained by `portrait train` without --model and by the training DAG; on-demand otherwise
    scheduled: bool = True
    # the classifier families that compete (ml/models/classifier.py FAMILIES); the one with the
    # best AUC on a time-ordered validation inside the training rows is fitted and registered
    families: tuple[str, ...] = ("lightgbm",)
    # estimator settings over a family's defaults, per family
    params: dict[str, dict[str, object]] = field(default_factory=dict)
    # refit the chosen family on every known event before registering: under strong drift the
    # latest outcomes matter most (the holdout figures come from the fit without them)
    refit: bool = False

    @property
    def implementation(self):
        """The module that fits, predicts and explains this kind of model."""
        from portrait.ml.models import classifier, clustering

        return classifier if self.kind == "classifier" else clustering


def _specs() -> dict[str, ModelSpec]:
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
            ),
            ModelSpec(
                name="churn_risk",
                kind="classifier",
                description="Probability of attrition (relationship closed or deposits drained) within 90 days",
                primary_metric="auc",
                floors={"auc": 0.6, "lift_top_decile": 1.5},
            ),
            ModelSpec(
                name="customer_segmentation",
                kind="clustering",
                description="Behavioural clusters on standardised portrait indicators",
                primary_metric="silhouette",
                floors={"silhouette": 0.05, "smallest_cluster_share": 0.01},
                margin=0.01,
            ),
            ModelSpec(
                name="contact_response",
                kind="classifier",
                description="Probability that a campaign contact converts within 30 days, from what "
                "was known at the contact (sources without history, e.g. UCI Bank Marketing)",
                primary_metric="auc",
                floors={"auc": 0.6, "lift_top_decile": 1.3},
                grain="event",
                scheduled=False,
                families=("lightgbm", "logistic"),
                # 41k contacts, strong drift over time: shallow trees, large leaves
                params={
                    "lightgbm": {"num_leaves": 7, "min_child_samples": 200, "n_estimators": 250}
                },
                refit=True,
            ),
            ModelSpec(
                name="loan_default",
                kind="classifier",
                description="Probability that a loan ends in default or delinquency, from what was "
                "known when it started",
                primary_metric="auc",
                floors={"auc": 0.6, "lift_top_decile": 1.5},
                grain="event",
                scheduled=False,
                families=("lightgbm", "logistic"),
                # a few hundred loans (Berka: 682): small trees, few of them
                params={
                    "lightgbm": {"num_leaves": 4, "min_child_samples": 20, "n_estimators": 150}
                },
            ),
        )
    }


def get(name: str) -> ModelSpec:
    specs = _specs()
    if name not in specs:
        from portrait.errors import InputError

        raise InputError(
            f"unknown model {name!r}", where="--model", rule=f"one of {', '.join(specs)}"
        )
    return specs[name]


def names(*, on_demand: bool = False) -> list[str]:
    """Models trained on schedule; with ``on_demand`` also those trained only when named."""
    return [name for name, spec in _specs().items() if spec.scheduled or on_demand]
