"""`portrait demo`: every stage that exists, end to end, then where to look."""

from __future__ import annotations

import time

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings


def demo(as_json: bool = JsonOption) -> None:
    """Start the warehouse, run the pipeline on synthetic data and print where to look."""
    settings = get_settings()
    began = time.perf_counter()
    steps: list[dict] = []

    t0 = time.perf_counter()
    started = warehouse.ensure_started(settings)
    steps.append({"step": "warehouse", "seconds": round(time.perf_counter() - t0, 2),
                  "detail": "started" if started else "already running"})  # fmt: skip

    payload = {
        "steps": steps,
        "seconds": round(time.perf_counter() - began, 2),
        "database": warehouse.status(settings).as_dict(),
        "home": str(settings.home),
    }

    def human(p: dict) -> None:
        for step in p["steps"]:
            console.print(
                f"[green]✓[/] {step['step']:<12} {step['seconds']:>6.1f}s  {step['detail']}"
            )
        db = p["database"]
        console.print(f"\nWarehouse: {db['url']} (data in {db['data_dir']})")
        console.print(f"Local state: {p['home']}")
        console.print("BI connection string: `portrait db url --role bi`")

    emit(payload, as_json, human)
