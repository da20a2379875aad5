"""`portrait serve`, `portrait worker` and `portrait api-keys`: the online API and its clients."""

from __future__ import annotations

import threading

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="HTTP worker processes."),
    event_worker: bool = typer.Option(
        True, "--event-worker/--no-event-worker", help="Also apply posted events in this process."
    ),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs and /openapi.json) over the published warehouse."""
    import uvicorn

    from portrait.api import worker

    settings = get_settings()
    warehouse.ensure_started(settings)
    _require_publication(settings)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        kwargs={"settings": settings, "stop": stop},
        name="portrait-event-worker",
        daemon=True,
    )
    if event_worker:
        thread.start()
    try:
        uvicorn.run(
            "portrait.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    finally:
        stop.set()
        if event_worker:
            thread.join(timeout=5)


def _require_publication(settings) -> None:
    """The API serves published marts: refuse to start before the first publication."""
    from portrait.errors import InputError

    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        exists = conn.execute("select to_regclass('dq.publications') is not null").fetchone()[0]
        published = (
            exists and conn.execute("select exists (select 1 from dq.publications)").fetchone()[0]
        )
    if not published:
        raise InputError(
            "nothing is published yet",
            where="dq.publications",
            rule="build the warehouse first (`portrait run` or `portrait build`)",
        )


def run_worker() -> None:
    """Apply posted events to the online state and raise triggers (when `serve` runs without it)."""
    from portrait.api import worker

    settings = get_settings()
    warehouse.ensure_started(settings)
    worker.run(settings, log=lambda line: console.print(line, markup=False))


keys_app = typer.Typer(
    help="API keys of the clients that call `portrait serve`.", no_args_is_help=True
)


@keys_app.command("create")
def create(
    client: str = typer.Option(..., "--client", help="Name of the calling application."),
    role: str = typer.Option(
        ..., "--role", help="admin, rm (masked PII) or channel (offers and events)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """A new key; it is shown once and only its hash is stored."""
    from portrait.api import keys

    settings = get_settings()
    warehouse.ensure_started(settings)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        made, secret = keys.create(conn, client, role)

    def human(p: dict) -> None:
        console.print(f"key {p['key_id']} for {p['client']} ({p['role']}); shown once:")
        console.print(p["api_key"], markup=False)

    emit(
        {"key_id": made.key_id, "client": made.client, "role": made.role, "api_key": secret},
        as_json,
        human,
    )


@keys_app.command("list")
def list_(as_json: bool = JsonOption) -> None:
    """Every key: client, role, created, revoked."""
    from portrait.api import keys

    settings = get_settings()
    warehouse.ensure_started(settings)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        rows = keys.listing(conn)

    def human(p: dict) -> None:
        for k in p["keys"]:
            revoked = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"
            console.print(
                f"{k['key_id']}  {k['client']:<24} {k['role']:<8} {revoked}", markup=False
            )

    emit({"keys": rows}, as_json, human)


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (see `portrait api-keys list`)."),
    as_json: bool = JsonOption,
) -> None:
    """Refuse the key from the next request on."""
    from portrait.api import keys

    settings = get_settings()
    warehouse.ensure_started(settings)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        when = keys.revoke(conn, key_id)
    emit(
        {"key_id": key_id, "revoked_at": when},
        as_json,
        lambda p: console.print(f"key {key_id} revoked"),
    )
