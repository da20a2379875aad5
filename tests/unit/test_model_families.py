"""Classifier families: each fits, predicts, explains itself exactly, and is found from a pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from portrait.ml.models import classifier


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(1)
    n = 3000
    data = pd.DataFrame(
        {
            "device": rng.choice(["mobile", "landline"], n).astype(object),
            "month": rng.choice([str(m) for m in range(1, 13)], n).astype(object),
            "age_years": rng.normal(40, 10, n),
            "previous_contacts": rng.poisson(0.3, n).astype(float),
            "noise": rng.normal(0, 1, n),
        }
    )
    data.loc[rng.random(n) < 0.1, "age_years"] = np.nan  # missing values are filled, not refused
    logit = -2 + 1.5 * (data["device"] == "mobile") + 0.8 * data["previous_contacts"]
    data["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return data


CATEGORICAL, NUMERIC = ["device", "month"], ["age_years", "previous_contacts", "noise"]


@pytest.mark.parametrize("family", sorted(classifier.FAMILIES))
def test_each_family_learns_the_planted_signal_and_names_it_first(frame, family):
    pipeline = classifier.build(CATEGORICAL, NUMERIC, family=family)
    classifier.fit(pipeline, frame[CATEGORICAL + NUMERIC], frame["label"].to_numpy(), CATEGORICAL)
    assert classifier.family_of(pipeline) == family
    score = classifier.predict(pipeline, frame[CATEGORICAL + NUMERIC])
    assert ((score > 0) & (score < 1)).all()
    importance = classifier.importance(pipeline)
    assert set(importance["feature"]) == set(CATEGORICAL + NUMERIC)
    assert importance["importance"].is_monotonic_decreasing
    codes = classifier.reason_codes(pipeline, frame[CATEGORICAL + NUMERIC].head(200))
    head = frame.head(200)
    plain_mobile = (head["device"].eq("mobile") & head["previous_contacts"].eq(0)).to_numpy()
    firsts = [c.split(",")[0] for c, m in zip(codes, plain_mobile, strict=True) if m]
    assert firsts and set(firsts) == {"device"}


def test_linear_contributions_add_up_to_the_log_odds(frame):
    from portrait.ml.models import linear

    pipeline = classifier.build(CATEGORICAL, NUMERIC, family="logistic")
    classifier.fit(pipeline, frame[CATEGORICAL + NUMERIC], frame["label"].to_numpy(), CATEGORICAL)
    rows = frame[CATEGORICAL + NUMERIC].head(50)
    contributions, names = linear._contributions(pipeline, rows)
    assert sorted(names) == sorted(CATEGORICAL + NUMERIC)
    log_odds = contributions.sum(axis=1) + pipeline[-1].intercept_[0]
    np.testing.assert_allclose(log_odds, pipeline.decision_function(rows), rtol=0, atol=1e-9)


def test_an_unseen_category_scores_without_error(frame):
    for family in classifier.FAMILIES:
        pipeline = classifier.build(CATEGORICAL, NUMERIC, family=family)
        classifier.fit(
            pipeline, frame[CATEGORICAL + NUMERIC], frame["label"].to_numpy(), CATEGORICAL
        )
        unseen = frame[CATEGORICAL + NUMERIC].head(3).assign(device="satellite")
        assert np.isfinite(classifier.predict(pipeline, unseen)).all()
