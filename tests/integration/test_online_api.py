"""Portrait online: the HTTP API and its event worker, served by `portrait serve` in a child
process over the shared trained warehouse, called over real HTTP.

The module runs after the ML tests (they share the warehouse); it adds scores and published
scored marts. Its last test kills the server mid-batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from portrait.ml import models
from portrait.ml.score import score

from portrait import warehouse
from portrait.api import keys
from portrait.errors import InputError
from portrait.scored_marts import publish_scored_marts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PORTRAIT = os.path.join(os.path.dirname(sys.executable), "portrait")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(settings, port: int, *args: str) -> subprocess.Popen:
    env = os.environ | {"PORTRAIT_HOME": str(settings.home)}
    process = subprocess.Popen([PORTRAIT, "serve", "--port", str(port), *args], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("portrait serve did not answer /v1/health within 60 s")


def _rows(settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def api(trained):
    settings, _ = trained
    for name in models.names():
        with contextlib.suppress(InputError):  # a model without a champion is not served
            score(name, settings=settings, log=lambda _: None)
    publish_scored_marts(settings)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        made = {role: keys.create(conn, f"test-{role}", role)[1] for role in keys.ROLES}
        revoked, made["revoked"] = keys.create(conn, "test-revoked", "admin")
        keys.revoke(conn, revoked.key_id)
    port = _free_port()
    process = _serve(settings, port)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    yield settings, client, made, process
    client.close()
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)


def _as(role_key: str) -> dict[str, str]:
    return {"X-API-Key": role_key}


def _treated_and_control(settings) -> tuple[str, str | None]:
    rows = dict(
        _rows(
            settings,
            "select contact_group, min(customer_id) from marts.campaign_target_list group by 1",
        )
    )
    assert rows.get("treated"), "the scored marts hold a target list"
    return rows["treated"], rows.get("control")


def test_a_portrait_answers_by_role_with_masked_pii_and_its_as_of_times(api):
    settings, client, made, _ = api
    customer, _ = _treated_and_control(settings)
    rm = client.get(f"/v1/customers/{customer}", headers=_as(made["rm"]))
    assert rm.status_code == 200, rm.text
    body = rm.json()
    assert body["as_of_date"] and body["published"]["published_at"]
    basic = {i["name"]: i for i in body["dimensions"]["basic"]}
    assert basic["age_years"]["masked"] and basic["age_years"]["value"] is None  # quasi PII
    assert not basic["customer_type"]["masked"] and basic["customer_type"]["value"] in (
        "retail",
        "corporate",
    )
    admin = client.get(f"/v1/customers/{customer}", headers=_as(made["admin"])).json()
    assert not {i["name"]: i for i in admin["dimensions"]["basic"]}["age_years"]["masked"]
    published = {
        r[0]: r[1]
        for r in _rows(
            settings,
            "select model_name, count(*) from marts.customer_scores "
            "where customer_id = %s group by 1",
            customer,
        )
    }
    assert {s["model_name"] for s in body["scores"]} == set(published) and all(
        s["model_version"] for s in body["scores"]
    )
    # who may not read it, and what is not there
    for headers, status in (
        ({}, 401),
        (_as(made["revoked"]), 401),
        (_as("ptk_nope_nope"), 401),
        (_as(made["channel"]), 403),
    ):
        refused = client.get(f"/v1/customers/{customer}", headers=headers)
        assert refused.status_code == status and refused.json()["field"] == "X-API-Key", (
            refused.text
        )
    missing = client.get("/v1/customers/no-such-customer", headers=_as(made["rm"]))
    assert missing.status_code == 404 and missing.json()["field"] == "customer_id"


def test_offers_are_the_target_list_and_the_control_group_gets_none(api):
    settings, client, made, _ = api
    treated, control = _treated_and_control(settings)
    answer = client.get(f"/v1/customers/{treated}/offers", headers=_as(made["channel"])).json()
    expected = _rows(
        settings,
        "select product_id, priority_rank from marts.campaign_target_list "
        "where customer_id = %s order by priority_rank",
        treated,
    )
    assert [(o["product_id"], o["priority_rank"]) for o in answer["offers"]] == [
        tuple(r) for r in expected
    ]
    assert not answer["held_out"] and all(o["reason_codes"] is not None for o in answer["offers"])
    if control:
        held = client.get(f"/v1/customers/{control}/offers", headers=_as(made["channel"])).json()
        assert held["held_out"] and held["offers"] == []


def _inflow(event_id: str, customer: str, amount: float, at: datetime | None = None) -> dict:
    return {
        "event_id": event_id,
        "kind": "transaction",
        "customer_id": customer,
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "amount": amount,
        "direction": "credit",
        "channel": "transfer",
        "category": "transfer_in",
    }


def _wait_for(predicate, seconds: float = 10.0):
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        value = predicate()
        if value:
            return value, time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_an_event_raises_a_trigger_within_seconds_and_a_resent_one_is_not_applied_again(api):
    settings, client, made, _ = api
    customer = _rows(
        settings, "select customer_id from marts.customer_portrait order by customer_id limit 1"
    )[0][0]
    event = _inflow("evt-inflow-1", customer, 50_000_000)
    posted = client.post("/v1/events", json={"events": [event]}, headers=_as(made["channel"]))
    assert posted.status_code == 202 and posted.json() == {
        "accepted": ["evt-inflow-1"],
        "duplicates": [],
    }

    def raised():
        body = client.get(f"/v1/customers/{customer}", headers=_as(made["rm"])).json()
        online = [
            t
            for t in body["triggers"]
            if t["source"] == "online" and t["trigger_type"] == "large_inflow"
        ]
        return online and body

    body, seconds = _wait_for(raised)
    assert seconds < 5, f"trigger after {seconds:.2f} s"
    assert (
        body["online"]["transaction_count"] == 1
        and float(body["online"]["inflow_amount"]) == 50_000_000
    )
    again = client.post("/v1/events", json={"events": [event]}, headers=_as(made["rm"]))
    assert again.status_code == 202 and again.json() == {
        "accepted": [],
        "duplicates": ["evt-inflow-1"],
    }
    time.sleep(0.5)
    assert _rows(
        settings,
        "select transaction_count from api.customer_state where customer_id = %s",
        customer,
    ) == [(1,)]
    health = client.get("/v1/health").json()
    assert health["database"] == "ok" and health["backlog"]["events"] == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 422, "body"),
        ({"events": [_inflow("e1", "c", 1) | {"colour": "red"}]}, 422, "colour"),
        ({"events": [_inflow("e1", "c", 1) | {"amount": "lots"}]}, 422, "amount"),
        ({"events": [_inflow("e1", "c", -5)]}, 422, "amount"),
        ({"events": [_inflow("e1", "c", 1) | {"channel": "pigeon"}]}, 422, "channel"),
        ({"events": [_inflow("e1", "c", 1) | {"kind": "rumour"}]}, 422, "events.0"),
        (
            {"events": [_inflow("e1", "c", 1, datetime.now(UTC) + timedelta(days=2))]},
            422,
            "occurred_at",
        ),
        (
            {"events": [_inflow("e1", "c", 1) | {"occurred_at": "2026-01-01T10:00:00"}]},
            422,
            "occurred_at",
        ),
        ({"events": []}, 422, "events"),
        ({"events": [_inflow(f"e{i}", "c", 1) for i in range(1001)]}, 422, "events"),
        ({"events": [_inflow("e1", "no-such-customer", 1)]}, 422, "events.customer_id"),
    ],
    ids=[
        "malformed",
        "unknown-field",
        "wrong-type",
        "range",
        "allowed-values",
        "unknown-kind",
        "future",
        "no-offset",
        "empty",
        "oversized",
        "unknown-customer",
    ],
)
def test_bad_events_get_a_4xx_naming_the_field_and_the_rule(api, body, status, field):
    _, client, made, _ = api
    content = body if isinstance(body, str) else json.dumps(body)
    answer = client.post(
        "/v1/events",
        content=content,
        headers=_as(made["admin"]) | {"content-type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert field in error["error"] or field in json.dumps(
        error.get("problems", error.get("field"))
    ), error


def test_a_body_over_the_limit_and_a_repeated_id_are_refused(api):
    settings, client, made, _ = api
    customer = _rows(settings, "select customer_id from marts.customer_portrait limit 1")[0][0]
    big = client.post("/v1/events", content=b"x" * 1_000_001, headers=_as(made["admin"]))
    assert big.status_code == 413 and "bytes" in big.json()["error"]
    twice = client.post(
        "/v1/events", json={"events": [_inflow("dup", customer, 1)] * 2}, headers=_as(made["admin"])
    )
    assert twice.status_code == 422 and "twice" in twice.json()["error"]


def test_fuzzed_requests_never_get_a_server_error(api):
    """Property-based: schemathesis generates requests from the OpenAPI document, valid and not."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    _, client, made, _ = api
    base = str(client.base_url)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /v1/customers/{customer_id}", "POST /v1/events"}

    def fuzz(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(base_url=base, headers=_as(made["admin"]))
            assert response.status_code < 500, (
                f"{operation.label}: {response.status_code} {response.text[:300]}"
            )

        return check

    for operation in operations:
        fuzz(operation)()


def test_a_server_killed_mid_batch_loses_no_event_and_applies_none_twice(api):
    """The worker takes a batch, waits on a customer's state (locked here), and its process is
    killed; a new worker then applies every event exactly once."""
    settings, client, made, process = api
    customer = _rows(
        settings,
        "select customer_id from marts.customer_portrait order by customer_id desc limit 1",
    )[0][0]
    ids = [f"evt-kill-{i}" for i in range(5)]
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as holder:
        holder.execute(
            "insert into api.customer_state (customer_id, since_build) values (%s, 'none') "
            "on conflict do nothing",
            (customer,),
        )
        with holder.transaction():
            holder.execute(
                "select 1 from api.customer_state where customer_id = %s for update", (customer,)
            )
            posted = client.post(
                "/v1/events",
                json={"events": [_inflow(i, customer, 50_000_000) for i in ids]},
                headers=_as(made["admin"]),
            )
            assert posted.status_code == 202 and posted.json()["accepted"] == ids

            def taken():  # the server's worker holds the batch: the outbox rows are locked
                return _rows(
                    settings,
                    "select count(*) from api.event_outbox where event_id = any(%s) "
                    "and event_id not in (select event_id from api.event_outbox "
                    "for update skip locked)",
                    ids,
                )[0][0] == len(ids)

            _wait_for(taken)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        # lock released: the killed worker's transaction can only roll back
    env = os.environ | {"PORTRAIT_HOME": str(settings.home)}
    worker = subprocess.Popen([PORTRAIT, "worker"], env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_for(
            lambda: (
                _rows(
                    settings,
                    "select count(*) from api.event_outbox where event_id = any(%s) "
                    "and applied_at is not null",
                    ids,
                )[0][0]
                == len(ids)
            ),
            seconds=30,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    count = _rows(
        settings,
        "select transaction_count from api.customer_state where customer_id = %s",
        customer,
    )
    triggers = _rows(
        settings,
        "select count(*), count(distinct event_id) from api.online_triggers "
        "where event_id = any(%s)",
        ids,
    )
    assert count[0][0] >= len(ids) and triggers == [(len(ids), len(ids))]
    assert count == _rows(
        settings,
        "select count(*) from api.event_outbox where customer_id = %s and kind = 'transaction'",
        customer,
    )
