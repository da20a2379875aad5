"""Model evaluation and drift: pure functions, checked against known answers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from portrait.ml import datasets, evaluate


def test_a_perfect_ranking_has_auc_one_and_the_best_possible_lift():
    y = np.array([0] * 90 + [1] * 10)
    score = np.linspace(0, 1, 100)
    metrics = evaluate.classification_metrics(y, score)
    assert metrics["auc"] == pytest.approx(1.0)
    assert metrics["pr_auc"] == pytest.approx(1.0)
    assert metrics["lift_top_decile"] == pytest.approx(10.0)


def test_a_random_ranking_is_near_chance_and_a_calibrated_score_has_small_error():
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    metrics = evaluate.classification_metrics(y, rng.random(20_000))
    assert metrics["auc"] == pytest.approx(0.5, abs=0.02)
    calibrated = evaluate.classification_metrics(y, p)
    assert calibrated["calibration_error"] < 0.02
    assert calibrated["brier"] < metrics["brier"]


def test_metrics_with_a_single_class_are_not_a_number_rather_than_an_error():
    metrics = evaluate.classification_metrics(np.ones(10), np.linspace(0, 1, 10))
    assert np.isnan(metrics["auc"])


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 50_000)
    assert evaluate.psi(base, rng.normal(0, 1, 50_000)) < 0.01
    assert evaluate.psi(base, rng.normal(1, 1, 50_000)) > evaluate.PSI_WARNING
    categories = pd.Series(["a"] * 80 + ["b"] * 20, dtype=object)
    assert evaluate.psi(categories, categories) < 1e-6
    assert evaluate.psi(categories, pd.Series(["a"] * 20 + ["b"] * 80, dtype=object)) > 0.5


def test_missing_values_are_their_own_bin():
    values = np.array([1.0, 2.0, np.nan, 4.0] * 100)
    assert evaluate.psi(values, values) < 1e-6
    assert evaluate.psi(values, np.full(400, np.nan)) > 1.0


def test_the_holdout_is_always_the_later_part_of_a_training_set():
    frame = pd.DataFrame(
        {
            "event_at": pd.date_range("2025-01-01", periods=100, freq="D", tz="UTC"),
            "label": [0, 1] * 50,
            "x": range(100),
        }
    ).sample(frac=1, random_state=3)
    ts = datasets.TrainingSet("t", frame, [], ["x"], date(2025, 4, 10))
    train, holdout = ts.split(0.2)
    assert len(holdout) == 20 and train["event_at"].max() < holdout["event_at"].min()


def test_the_training_set_digest_follows_the_data():
    frame = pd.DataFrame({"event_at": [1, 2, 3], "label": [0, 1, 0], "x": [1.0, 2.0, 3.0]})
    ts = datasets.TrainingSet("t", frame, [], ["x"], date(2025, 1, 1))
    same = datasets.TrainingSet("t", frame.copy(), [], ["x"], date(2025, 1, 1))
    changed = datasets.TrainingSet(
        "t", frame.assign(x=[1.0, 2.0, 3.5]), [], ["x"], date(2025, 1, 1)
    )
    assert ts.digest() == same.digest() != changed.digest()
