"""Generator throughput and peak memory, each size in its own process (peak RSS is per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from bench.common import Figure

CODE = """
import json, sys, tempfile, shutil
from pathlib import Path
from portrait.synth.generator import generate
out = Path(tempfile.mkdtemp(prefix="portrait-bench-gen-"))
r = generate(out, customers=int(sys.argv[1]), months=int(sys.argv[2]), seed=42)
shutil.rmtree(out)
print(json.dumps(r.as_dict()))
"""


def measure(customers: int, months: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CODE, str(customers), str(months)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(customers: int = 10_000, months: int = 12) -> list[Figure]:
    r = measure(customers, months)
    label = f"{customers // 1000}k customers x {months} months"
    return [
        Figure(
            f"generator transactions per second ({label})",
            r["transactions_per_second"],
            "rows/s",
            ">= 1,000,000",
            r,
        ),
        Figure(
            f"generator peak memory ({label})", r["peak_memory_mb"], "MB", "< 4096 at 100k x 12", r
        ),
    ]
