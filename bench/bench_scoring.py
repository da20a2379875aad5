"""Batch scoring against bare ``predict`` on the same in-memory frame, in the same run: the
throughput of the scoring loop (read features, predict, write; the goal's figure) and the whole
call with its fixed setup (loading the model from the registry, checking the features are
prepared: about 0.1 s whatever the size); plus the cost of reason codes and the peak memory of a
scoring process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Figure, interleaved_medians, median_seconds
from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.ingest.api import ingest
from portrait.synth.generator import generate

PEAK_PROBE = """
import json, resource, sys
from portrait.ml.score import score
result = score(sys.argv[1], log=lambda _: None)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": result.rows}))
"""


def _bare_frames(settings: Settings, name: str):
    """The exact frame scoring predicts on, read once into memory, and the champion pipeline."""
    import mlflow.sklearn
    import pandas as pd
    from portrait.ml import datasets, features, registry
    from portrait.ml.score import _chunks, _offers, prepare, stack_offers

    registry.configure(settings)
    pipeline = mlflow.sklearn.load_model(f"models:/{name}@champion")
    as_of = prepare(settings=settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        offers = _offers(conn) if name == "response_propensity" else []
        frame = pd.concat(list(_chunks(conn, as_of, 1, 0, 10**9, offers)), ignore_index=True)
    if not offers:
        return pipeline, frame[features.FEATURES]
    names = [*features.FEATURES, *datasets.OFFER_CATEGORICAL, *datasets.OFFER_NUMERIC]
    return pipeline, stack_offers(frame, offers)[names]


def run(
    settings: Settings, customers: int = 10_000, months: int = 8, repeats: int = 5
) -> list[Figure]:
    from portrait.ml.score import score
    from portrait.ml.train import train

    folder = Path(tempfile.mkdtemp(dir=settings.home, prefix="portrait-bench-scoring-"))
    generate(folder, customers=customers, months=months, seed=42)
    ingest(folder, settings=settings)
    build(settings=settings, gates=False)
    figures = []
    for name in ("response_propensity", "churn_risk"):
        result = train(name, settings=settings, log=lambda _: None)
        if not result.promoted:
            from portrait.ml.promote import override

            override(name, result.version, reason="benchmark", settings=settings)
        pipeline, frame = _bare_frames(settings, name)

        def bare(_i: int, pipeline=pipeline, frame=frame) -> None:
            pipeline.predict_proba(frame)

        loop_all: list[float] = []  # each run's loop (read, predict, write), its setup excluded

        def end_to_end(_i: int, name=name, loop_all=loop_all) -> None:
            result = score(name, settings=settings, reasons=False, drift=False, log=lambda _: None)
            loop_all.append(result.seconds - result.setup_seconds)

        def with_reasons(_i: int, name=name) -> None:
            score(name, settings=settings, reasons=True, drift=True, log=lambda _: None)

        bare(0)
        end_to_end(0)
        loop_all.clear()
        (bare_s, bare_all), (e2e_s, e2e_all) = interleaved_medians(bare, end_to_end, repeats)
        loop_s = statistics.median(loop_all)
        full_s, full_all = median_seconds(with_reasons, max(1, repeats - 2))
        probe = subprocess.run(
            [sys.executable, "-c", PEAK_PROBE, name],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        peak = json.loads(probe.stdout.strip().splitlines()[-1])
        detail = {
            "customers": customers,
            "rows_scored": len(frame),
            "bare_seconds": bare_all,
            "end_to_end_seconds": e2e_all,
            "loop_seconds": [round(t, 3) for t in loop_all],
            "with_reasons_and_drift_seconds": full_all,
            "peak_mb_scoring_process": round(peak["peak_mb"]),
        }
        figures.append(
            Figure(
                f"scoring {name}: throughput of read features, predict, write / bare predict",
                bare_s / loop_s,
                "ratio",
                ">= 0.5 (target 0.7)",
                detail,
            )
        )
        figures.append(
            Figure(
                f"scoring {name}: whole call, with model load and feature check / bare predict",
                bare_s / e2e_s,
                "ratio",
                "(reported)",
                detail,
            )
        )
        figures.append(
            Figure(
                f"scoring {name} with reason codes and drift / bare predict",
                bare_s / full_s,
                "ratio",
                "(reported)",
                detail,
            )
        )
        figures.append(
            Figure(
                f"scoring {name}: peak memory of the scoring process",
                peak["peak_mb"],
                "MB",
                "< 2048 at 100k customers",
                detail,
            )
        )
    return figures
