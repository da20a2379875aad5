"""The gradient-boosted family: LightGBM behind an ordinal encoder for categorical inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

PARAMS = {
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "random_state": 0,
    "n_jobs": 2,
    "verbose": -1,
}
# what skops must trust to load the pipeline (checked types, no arbitrary pickle)
TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
]


def build(categorical: list[str], numeric: list[str], params: dict[str, object] | None = None):
    from lightgbm import LGBMClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    prepare = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
                categorical,
            ),
            ("numeric", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return Pipeline([("prepare", prepare), ("model", LGBMClassifier(**(PARAMS | (params or {}))))])


def fit(pipeline, frame: pd.DataFrame, y: np.ndarray, categorical: list[str]):
    return pipeline.fit(frame, y, model__categorical_feature=list(range(len(categorical))))


def reason_codes(pipeline, frame: pd.DataFrame, top: int = 3) -> list[str]:
    """The ``top`` features that raised each score most (LightGBM's exact SHAP contributions)."""
    prepared = pipeline[:-1].transform(frame)
    contributions = pipeline[-1].booster_.predict(prepared, pred_contrib=True)[:, :-1]
    names = np.asarray(prepared.columns)
    order = np.argsort(-contributions, axis=1)[:, :top]
    positive = np.take_along_axis(contributions, order, axis=1) > 0
    return [",".join(names[o][p]) for o, p in zip(order, positive, strict=True)]


def importance(pipeline) -> pd.DataFrame:
    """Total split gain per input feature."""
    booster = pipeline[-1].booster_
    gain = booster.feature_importance(importance_type="gain")
    return pd.DataFrame({"feature": booster.feature_name(), "importance": gain})
