"""The online API: latency and throughput of `GET /v1/customers/{id}` and `/offers` at 1, 8 and 32
concurrent clients against a bare primary-key lookup of the same rows over the same driver, and
the time from a posted event to its trigger, all in the same run.

`portrait serve` runs as a child process (one HTTP worker, the event worker in process) over a
built synthetic bank; clients are threads with their own HTTP connection.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import Figure
from portrait import warehouse
from portrait.api import keys
from portrait.build import build
from portrait.config import Settings
from portrait.ingest.api import ingest
from portrait.synth.generator import generate

CLIENTS = (1, 8, 32)
WORKERS = 2  # HTTP worker processes: one per core
SECONDS = 5.0  # per measurement
PORTRAIT = Path(sys.executable).with_name("portrait")


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _closed_loop(call, customers: list[str], clients: int) -> tuple[list[float], float]:
    """Each client calls back to back for SECONDS; every latency, and requests per second."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + SECONDS

    def client(i: int) -> None:
        rng = random.Random(i)
        session = call.session()
        while time.perf_counter() < stop:
            began = time.perf_counter()
            call(session, rng.choice(customers))
            latencies[i].append(time.perf_counter() - began)
        call.close(session)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [x for per in latencies for x in per]
    return flat, len(flat) / (time.perf_counter() - began)


class _Http:
    def __init__(self, base: str, key: str, suffix: str) -> None:
        self.base, self.key, self.suffix = base, key, suffix

    def session(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=30)

    def __call__(self, session: httpx.Client, customer: str) -> None:
        assert session.get(f"/v1/customers/{customer}{self.suffix}").status_code == 200

    def close(self, session: httpx.Client) -> None:
        session.close()


class _Lookup:
    """The baseline: the portrait's row by primary key, one connection per client."""

    def __init__(self, url: str) -> None:
        self.url = url

    def session(self):
        return warehouse.connect(self.url, autocommit=True)

    def __call__(self, conn, customer: str) -> None:
        assert conn.execute(
            "select * from marts.customer_portrait where customer_id = %s", (customer,)
        ).fetchone()

    def close(self, conn) -> None:
        conn.close()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def _event_latency(
    settings: Settings, base: str, key: str, customers: list[str], rate: int, seconds: float
):
    """Post `rate` large-inflow events per second (batches of 20); seconds from receipt to trigger."""
    client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)
    sent, batch = 0, 20
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        events = [
            {
                "event_id": f"bench-{sent + i}",
                "kind": "transaction",
                "customer_id": random.choice(customers),
                "occurred_at": datetime.now(UTC).isoformat(),
                "amount": 5_000_000,
                "direction": "credit",
                "channel": "transfer",
                "category": "transfer_in",
            }
            for i in range(batch)
        ]
        assert client.post("/v1/events", json={"events": events}).status_code == 202
        sent += batch
        time.sleep(max(0.0, began + sent / rate - time.perf_counter()))
    client.close()
    deadline = time.perf_counter() + 60
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        while conn.execute(
            "select count(*) from api.event_outbox where applied_at is null"
        ).fetchone()[0]:
            assert time.perf_counter() < deadline, "backlog not drained within 60 s"
            time.sleep(0.1)
        lags = [
            r[0]
            for r in conn.execute(
                "select extract(epoch from t.detected_at - o.received_at)::float8 from api.online_triggers t "
                "join api.event_outbox o using (event_id) where o.event_id like 'bench-%%'"
            ).fetchall()
        ]
    return sent, lags


def _peak_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (uvicorn's workers), in MB."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    peaks = [
        Path(f"/proc/{p}/status").read_text().split("VmHWM:")[1].split()[0]
        for p in [pid, *children]
    ]
    return sum(int(kb) for kb in peaks) / 1024


def run(settings: Settings, customers: int = 10_000, months: int = 6) -> list[Figure]:
    folder = Path(tempfile.mkdtemp(dir=settings.home, prefix="portrait-bench-api-"))
    generate(folder, customers=customers, months=months, seed=42)
    ingest(folder, settings=settings)
    assert build(settings=settings).success
    url = warehouse.owner_url(settings)
    with warehouse.connect(url, autocommit=True) as conn:
        _, key = keys.create(conn, "bench", "rm")
        ids = [
            r[0] for r in conn.execute("select customer_id from marts.customer_portrait").fetchall()
        ]
    port = _port()
    env = os.environ | {"PORTRAIT_HOME": str(settings.home)}
    server = subprocess.Popen(
        [str(PORTRAIT), "serve", "--port", str(port), "--workers", str(WORKERS)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        figures, detail = [], {"customers": customers, "seconds_per_measurement": SECONDS}
        for clients in CLIENTS:
            base_lat, base_rps = _closed_loop(_Lookup(url), ids, clients)
            for name, suffix in (("portrait", ""), ("offers", "/offers")):
                lat, rps = _closed_loop(_Http(base, key, suffix), ids, clients)
                detail[f"{name}_{clients}"] = _percentiles(lat) | {"rps": round(rps, 1)}
            detail[f"lookup_{clients}"] = _percentiles(base_lat) | {"rps": round(base_rps, 1)}
        at8 = detail["portrait_8"]
        figures.append(
            Figure("API GET portrait p95 at 8 clients", at8["p95_ms"], "ms", "<= 20 ms", detail)
        )
        figures.append(
            Figure(
                "API GET portrait throughput / bare primary-key lookup, 8 clients",
                at8["rps"] / detail["lookup_8"]["rps"],
                "ratio",
                ">= 0.5",
                detail,
            )
        )
        sent, lags = _event_latency(settings, base, key, ids, rate=200, seconds=20)
        q = statistics.quantiles(lags, n=100)
        figures.append(
            Figure(
                "API event to trigger p95 at 200 events/s",
                q[94],
                "s",
                "<= 2 s",
                {
                    "events": sent,
                    "triggers": len(lags),
                    "p50_s": round(q[49], 3),
                    "p99_s": round(q[98], 3),
                },
            )
        )
        figures.append(
            Figure("API serving processes peak memory", _peak_mb(server.pid), "MB", "< 1024 MB")
        )
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)
