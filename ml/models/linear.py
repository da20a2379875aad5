"""The linear family: an L2-regularised logistic regression on one-hot categories and
standardised numbers (medians fill the missing ones).

Its explanations are exact too: a score's log-odds are the intercept plus one term per input
column, and a feature's contribution is the sum of its columns' terms (all of its categories).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARAMS = {"C": 0.1, "max_iter": 2000}
TRUSTED_TYPES = ["numpy.dtype"]  # the one-hot encoder records its output dtype


def build(categorical: list[str], numeric: list[str], params: dict[str, object] | None = None):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = Pipeline(
        [
            ("fill", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    prepare = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
            ("numeric", numbers, numeric),
        ],
        verbose_feature_names_out=False,
    )
    model = LogisticRegression(**(PARAMS | (params or {})))
    return Pipeline([("prepare", prepare), ("model", model)])


def fit(pipeline, frame: pd.DataFrame, y: np.ndarray, categorical: list[str]):
    return pipeline.fit(frame, y)


def _owners(pipeline) -> np.ndarray:
    """The input feature behind each column the model sees (a category's column -> its feature)."""
    prepare = pipeline[0]
    owners: list[str] = []
    for kind, transformer, columns in prepare.transformers_:
        if kind == "categorical":
            for column, categories in zip(columns, transformer.categories_, strict=True):
                owners += [column] * len(categories)
        elif kind == "numeric":
            owners += list(columns)
    return np.asarray(owners)


def _contributions(pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row and input feature, its terms in the log-odds; and the feature names."""
    owners = _owners(pipeline)
    terms = np.asarray(pipeline[0].transform(frame), dtype=float) * pipeline[-1].coef_[0]
    names, index = np.unique(owners, return_inverse=True)
    summed = np.zeros((terms.shape[0], len(names)))
    np.add.at(summed.T, index, terms.T)
    return summed, names


def reason_codes(pipeline, frame: pd.DataFrame, top: int = 3) -> list[str]:
    """The ``top`` features that raised each score most (their exact terms in the log-odds)."""
    contributions, names = _contributions(pipeline, frame)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    positive = np.take_along_axis(contributions, order, axis=1) > 0
    return [",".join(names[o][p]) for o, p in zip(order, positive, strict=True)]


def importance(pipeline) -> pd.DataFrame:
    """Per input feature, how far it moves the log-odds: a number's coefficient per standard
    deviation, a category's largest gap between two of its values."""
    owners = _owners(pipeline)
    weight = (
        pd.Series(pipeline[-1].coef_[0])
        .groupby(owners)
        .agg(lambda c: c.max() - c.min() if len(c) > 1 else abs(c.iloc[0]))
    )
    return pd.DataFrame({"feature": weight.index, "importance": weight.to_numpy()})
