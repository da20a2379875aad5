"""The HTTP API (FastAPI): portraits, offers and events for relationship managers and channels.

Every request but ``/v1/health`` presents an API key (``X-API-Key``); its role decides what it
may read (``ROUTE_ROLES``). Bad input is a 4xx naming the field and the rule, never a 5xx.
"""

from contextlib import asynccontextmanager
from typing import Annotated

import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from portrait import warehouse
from portrait.api import events, keys, schema, views
from portrait.config import Settings, get_settings

MAX_BODY_BYTES = 1_000_000
CustomerId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=events.ID,
        description="Pseudonymous customer id (as BI sees it).",
    ),
]
ROUTE_ROLES = {
    "portrait": {"admin", "rm"},
    "offers": {"admin", "rm", "channel"},
    "events": {"admin", "rm", "channel"},
}


def _problem(status: int, error: str, **extra) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, **extra})


def _rule(err: dict) -> dict[str, str]:
    """One validation problem: the field (dotted path in the body), the rule and the message."""
    path = [str(p) for p in err["loc"] if p != "body"]
    if err["type"] == "json_invalid":  # its location is a character position, not a field
        return {
            "field": "body",
            "rule": "json_invalid",
            "message": f"not valid JSON (at character {path[0] if path else 0})",
        }
    return {"field": ".".join(path) or "body", "rule": err["type"], "message": err["msg"]}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application: its lifespan (schema, connection pool), error handlers and routes. One
    function, longer than most: the routes are closures over the settings and the dependencies,
    which is how FastAPI declares them; each route is one call into ``views``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
            schema.ensure(conn)
        pool = ConnectionPool(
            warehouse.owner_url(settings),
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True},
            open=True,
        )
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="Portrait API",
        version="1",
        lifespan=lifespan,
        description="Customer portraits, next best offers and real-time events over the published warehouse.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_rule(e) for e in exc.errors()]
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        return _problem(422, f"{first['field']}: {first['message']}", problems=problems)

    @app.exception_handler(HTTPException)
    async def refused(_request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return JSONResponse(status_code=exc.status_code, content=detail, headers=exc.headers)

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and not length.isdigit():
            return _problem(400, "content-length is not a number", rule="a byte count")
        if length and int(length) > MAX_BODY_BYTES:
            return _problem(
                413,
                f"request body over {MAX_BODY_BYTES:,} bytes",
                rule="send fewer events per request",
            )
        return await call_next(request)

    def connection(request: Request):
        with request.app.state.pool.connection() as conn:
            yield conn

    def client_for(route: str):
        def check(
            conn: Annotated[psycopg.Connection, Depends(connection)],
            x_api_key: Annotated[str | None, Header(description="The client's API key.")] = None,
        ) -> keys.Client:
            client = keys.verify(conn, x_api_key)
            if client is None:
                raise HTTPException(
                    401,
                    {
                        "error": "missing, unknown or revoked API key",
                        "field": "X-API-Key",
                        "rule": "present a key from `portrait api-keys create`",
                    },
                )
            if client.role not in ROUTE_ROLES[route]:
                raise HTTPException(
                    403,
                    {
                        "error": f"role {client.role} may not read {route}",
                        "field": "X-API-Key",
                        "rule": f"roles allowed: {', '.join(sorted(ROUTE_ROLES[route]))}",
                    },
                )
            return client

        return check

    @app.get("/v1/health", summary="Database, published models and event backlog")
    def health(conn: Annotated[psycopg.Connection, Depends(connection)]) -> dict:
        return views.health(conn)

    @app.get(
        "/v1/customers/{customer_id}", summary="One customer's portrait, scores and open triggers"
    )
    def portrait(
        customer_id: CustomerId,
        conn: Annotated[psycopg.Connection, Depends(connection)],
        client: Annotated[keys.Client, Depends(client_for("portrait"))],
    ) -> Response:
        return _document(views.portrait(conn, customer_id, client.role), customer_id)

    @app.get(
        "/v1/customers/{customer_id}/offers",
        summary="The customer's next best offers, after consent and contact limits",
    )
    def offers(
        customer_id: CustomerId,
        conn: Annotated[psycopg.Connection, Depends(connection)],
        client: Annotated[keys.Client, Depends(client_for("offers"))],
    ) -> Response:
        return _document(views.offers(conn, customer_id), customer_id)

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=events.Accepted,
        summary="Customer events: committed to a durable outbox before the answer",
    )
    def post_events(
        batch: events.EventBatch,
        conn: Annotated[psycopg.Connection, Depends(connection)],
        client: Annotated[keys.Client, Depends(client_for("events"))],
    ) -> events.Accepted:
        return _accept(conn, batch, client)

    return app


def _document(text: str | None, customer_id: str) -> Response:
    """A JSON document the database built, as it is; an unknown customer is a 404."""
    if text is None:
        raise HTTPException(
            404,
            {
                "error": f"unknown customer {customer_id!r}",
                "field": "customer_id",
                "rule": "a customer_id of the published marts (marts.dim_customer)",
            },
        )
    return Response(content=text, media_type="application/json")


def _accept(
    conn: psycopg.Connection, batch: events.EventBatch, client: keys.Client
) -> events.Accepted:
    ids = [e.event_id for e in batch.events]
    if len(set(ids)) != len(ids):
        repeated = next(i for i in ids if ids.count(i) > 1)
        raise HTTPException(
            422,
            {
                "error": f"event_id {repeated!r} appears twice in the batch",
                "field": "events.event_id",
                "rule": "one event per id",
            },
        )
    customers = {e.customer_id for e in batch.events}
    missing = sorted(customers - views.known(conn, sorted(customers)))
    if missing:
        raise HTTPException(
            422,
            {
                "error": f"unknown customer {missing[0]!r}",
                "field": "events.customer_id",
                "rule": "a customer_id of the published marts",
                "unknown": missing[:20],
            },
        )
    rows = [
        (e.event_id, e.kind, e.customer_id, e.occurred_at, Jsonb(events.payload(e)), client.client)
        for e in batch.events
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into api.event_outbox (event_id, kind, customer_id, occurred_at, payload, client) "
            "values (%s, %s, %s, %s, %s, %s) on conflict (event_id) do nothing returning event_id",
            rows,
            returning=True,
        )
        accepted = []
        while True:
            row = cur.fetchone()
            if row:
                accepted.append(row[0])
            if not cur.nextset():
                break
        cur.execute("select pg_notify(%s, '')", (schema.CHANNEL,))
    fresh = set(accepted)
    return events.Accepted(
        accepted=[i for i in ids if i in fresh], duplicates=[i for i in ids if i not in fresh]
    )
