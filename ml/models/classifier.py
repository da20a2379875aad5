"""Binary classifiers: a table of model families behind one interface (build, fit, predict,
explain). A fitted pipeline knows its family, so scoring and promotion need not be told it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from portrait.ml.models import gbm, linear

FAMILIES = {"lightgbm": gbm, "logistic": linear}
# the estimator class each family fits, so a loaded pipeline finds its family
ESTIMATORS = {"LGBMClassifier": "lightgbm", "LogisticRegression": "logistic"}
# what skops must trust to load any family's pipeline (checked types, no arbitrary pickle)
TRUSTED_TYPES = sorted({t for module in FAMILIES.values() for t in module.TRUSTED_TYPES})


def build(
    categorical: list[str],
    numeric: list[str],
    params: dict[str, object] | None = None,
    family: str = "lightgbm",
):
    return FAMILIES[family].build(categorical, numeric, params)


def family_of(pipeline) -> str:
    return ESTIMATORS[type(pipeline[-1]).__name__]


def fit(pipeline, frame: pd.DataFrame, y: np.ndarray, categorical: list[str]):
    return FAMILIES[family_of(pipeline)].fit(pipeline, frame, y, categorical)


def predict(pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(frame)[:, 1]


def reason_codes(pipeline, frame: pd.DataFrame, top: int = 3) -> list[str]:
    return FAMILIES[family_of(pipeline)].reason_codes(pipeline, frame, top)


def importance(pipeline) -> pd.DataFrame:
    """Each input feature's importance in its family's measure, largest first."""
    table = FAMILIES[family_of(pipeline)].importance(pipeline)
    return table.sort_values("importance", ascending=False).reset_index(drop=True)
