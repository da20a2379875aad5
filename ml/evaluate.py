"""Model evaluation: metrics, plots and the population stability index (pure functions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PSI_WARNING = 0.2  # PSI above this is a material shift


def classification_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC, lift in the top decile, Brier score and expected calibration error."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y_true = np.asarray(y_true, dtype=int)
    score = np.asarray(score, dtype=float)
    base = float(y_true.mean()) if y_true.size else 0.0
    metrics = {"positive_rate": base, "rows": float(y_true.size)}
    if y_true.size == 0 or y_true.min() == y_true.max():
        return metrics | {
            "auc": float("nan"),
            "pr_auc": float("nan"),
            "lift_top_decile": float("nan"),
            "brier": float("nan"),
            "calibration_error": float("nan"),
        }
    top = np.argsort(-score, kind="stable")[: max(1, y_true.size // 10)]
    bins = np.clip((score * 10).astype(int), 0, 9)
    ece = sum(
        abs(y_true[bins == b].mean() - score[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    return metrics | {
        "auc": float(roc_auc_score(y_true, score)),
        "pr_auc": float(average_precision_score(y_true, score)),
        "lift_top_decile": float(y_true[top].mean() / base) if base else float("nan"),
        "brier": float(brier_score_loss(y_true, score)),
        "calibration_error": float(ece),
    }


def reference(values) -> dict[str, object]:
    """A distribution to measure drift against: decile edges and shares, or category shares."""
    series = pd.Series(values)
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        shares = series.fillna("<missing>").astype(str).value_counts(normalize=True)
        return {"kind": "categorical", "shares": {str(k): float(v) for k, v in shares.items()}}
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    finite = numbers[~np.isnan(numbers)]
    edges = (
        np.unique(np.quantile(finite, np.linspace(0, 1, 11))[1:-1]) if finite.size else np.array([])
    )
    return {"kind": "numeric", "edges": edges.tolist(), "shares": _bin_shares(numbers, edges)}


def _bin_shares(numbers: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    """Shares per bin; missing values are bin -1."""
    codes = np.where(np.isnan(numbers), -1, np.searchsorted(edges, numbers, side="right"))
    keys, counts = np.unique(codes, return_counts=True)
    total = max(int(counts.sum()), 1)
    return {str(int(k)): float(c) / total for k, c in zip(keys, counts, strict=True)}


def psi_against(ref: dict[str, object], values) -> float:
    """Population stability index of ``values`` against a ``reference``."""
    if ref["kind"] == "categorical":
        actual = reference(pd.Series(values, dtype=object))["shares"]
    else:
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        actual = _bin_shares(numbers, np.asarray(ref["edges"], dtype=float))
    expected = ref["shares"]
    keys = set(expected) | set(actual)
    e = np.array([expected.get(k, 0.0) for k in keys]) + 1e-4
    a = np.array([actual.get(k, 0.0) for k in keys]) + 1e-4
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected, actual) -> float:
    """Population stability index of ``actual`` against ``expected`` (decile bins of expected)."""
    return psi_against(reference(expected), actual)


def plot_classifier(y_true: np.ndarray, score: np.ndarray, folder: Path) -> list[Path]:
    """ROC, cumulative lift and calibration plots as PNG files in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    folder.mkdir(parents=True, exist_ok=True)
    y_true = np.asarray(y_true, dtype=int)
    score = np.asarray(score, dtype=float)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 4))
    fpr, tpr, _ = roc_curve(y_true, score)
    ax.plot(fpr, tpr, label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (holdout)")
    ax.legend()
    paths.append(folder / "roc.png")
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    order = np.argsort(-score, kind="stable")
    deciles = np.array_split(y_true[order], 10)
    lift = [d.mean() / y_true.mean() if y_true.mean() else 0 for d in deciles]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.bar(range(1, 11), lift)
    ax.axhline(1, color="grey", linestyle="--")
    ax.set(xlabel="score decile (1 = highest)", ylabel="lift", title="Lift by decile (holdout)")
    paths.append(folder / "lift.png")
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    bins = np.clip((score * 10).astype(int), 0, 9)
    predicted = [score[bins == b].mean() for b in range(10) if (bins == b).any()]
    observed = [y_true[bins == b].mean() for b in range(10) if (bins == b).any()]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(predicted, observed, "o-", label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="predicted", ylabel="observed", title="Calibration (holdout)")
    ax.legend()
    paths.append(folder / "calibration.png")
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)
    return paths
