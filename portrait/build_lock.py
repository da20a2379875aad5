"""One build at a time per warehouse: a PostgreSQL advisory lock, held by a session of its own for
the whole build (publish and snapshots included). The session's application_name says who holds
it (pid, host, start), so a refused build can name the one that runs."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import PortraitError

# the advisory lock's key: "portrait build" as a bigint
LOCK_KEY = int.from_bytes(b"ptbuild1", "big") >> 1
_held = threading.local()


class BuildBusy(PortraitError):
    """Another build holds the warehouse."""

    exit_code = 4


def _holder(conn) -> str:
    row = conn.execute(
        "select a.application_name, a.backend_start from pg_locks l join pg_stat_activity a using (pid) "
        "where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s",
        (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
    ).fetchone()
    return (
        f"{row[0]} (connected {row[1]:%Y-%m-%d %H:%M:%S %Z})" if row else "a build that just ended"
    )


@contextlib.contextmanager
def held(settings: Settings, wait: float = 0.0) -> Iterator[None]:
    """Hold the build lock for the block; wait up to ``wait`` seconds for it, then raise BuildBusy
    naming the holder. Re-entrant within a thread (the CLI's build holds it around both steps)."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    name = (
        f"portrait-build-lock pid={os.getpid()} host={socket.gethostname()} "
        f"started={datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    )[:63]
    with warehouse.connect(
        warehouse.owner_url(settings), autocommit=True, application_name=name
    ) as conn:
        deadline = time.monotonic() + max(0.0, wait)
        while not conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise BuildBusy(
                    f"another build is running: {_holder(conn)}",
                    where="the warehouse's build lock",
                    rule="one build at a time; wait for it (`portrait build --wait SECONDS`)",
                )
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            with contextlib.suppress(Exception):
                conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
