"""K-means on standardised, log-scaled portrait indicators, with readable cluster profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd

INDICATORS = [
    "age_years",
    "tenure_months",
    "deposits_last_amount",
    "loans_last_amount",
    "product_count",
    "txn_count_3m",
    "spend_sum_3m",
    "salary_months_3m",
    "logins_90d",
    "digital_txn_share_3m",
    "complaints_90d",
]
SKEWED = ["deposits_last_amount", "loans_last_amount", "spend_sum_3m", "txn_count_3m"]
CLUSTERS = 6
TRUSTED_TYPES = ["numpy.log1p", "numpy.dtype"]


def build(
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    params: dict[str, object] | None = None,
):
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    plain = [c for c in INDICATORS if c not in SKEWED]
    prepare = ColumnTransformer(
        [
            (
                "skewed",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value=0)),
                        ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
                    ]
                ),
                SKEWED,
            ),
            ("plain", SimpleImputer(strategy="median"), plain),
        ],
        verbose_feature_names_out=False,
    )
    settings = {"n_clusters": CLUSTERS, "n_init": 10, "random_state": 0} | (params or {})
    return Pipeline(
        [("prepare", prepare), ("scale", StandardScaler()), ("model", KMeans(**settings))]
    )


def fit(pipeline, frame: pd.DataFrame, y=None, categorical=None):
    frame = frame.assign(**{c: frame[c].clip(lower=0) for c in SKEWED})
    return pipeline.fit(frame[INDICATORS])


def predict(pipeline, frame: pd.DataFrame) -> np.ndarray:
    frame = frame.assign(**{c: frame[c].clip(lower=0) for c in SKEWED})
    return pipeline.predict(frame[INDICATORS])


def metrics(pipeline, frame: pd.DataFrame, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import silhouette_score

    frame = frame.assign(**{c: frame[c].clip(lower=0) for c in SKEWED})
    scaled = pipeline[:-1].transform(frame[INDICATORS])
    sample = min(len(frame), 5000)
    shares = np.bincount(labels, minlength=pipeline[-1].n_clusters) / max(len(labels), 1)
    return {
        "silhouette": float(silhouette_score(scaled, labels, sample_size=sample, random_state=0)),
        "inertia_per_customer": float(pipeline[-1].inertia_ / max(len(frame), 1)),
        "smallest_cluster_share": float(shares.min()),
        "rows": float(len(frame)),
    }


def profiles(frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster: size, share, indicator means and a name from its most distinctive indicators."""
    data = frame[INDICATORS].astype(float)
    overall_mean, overall_std = data.mean(), data.std().replace(0, 1)
    rows = []
    for cluster in sorted(np.unique(labels)):
        part = data[labels == cluster]
        z = (part.mean() - overall_mean) / overall_std
        top = z.abs().sort_values(ascending=False).index[:2]
        name = " / ".join(
            f"{'high' if z[c] > 0 else 'low'} {c.removesuffix('_amount').replace('_', ' ')}"
            for c in top
        )
        rows.append(
            {
                "cluster": int(cluster),
                "cluster_name": name,
                "customers": len(part),
                "share": len(part) / len(data),
                **part.mean().round(2).to_dict(),
            }
        )
    return pd.DataFrame(rows)
