"""API keys: one per client, with a role; only a hash of the secret is stored.

A key reads ``ptk_<key_id>_<secret>``: the id finds the row, the secret (32 random bytes) is
compared by its sha256 in constant time. A revoked key is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

from portrait.api import schema
from portrait.errors import InputError

ROLES = {
    "admin": "everything, PII unmasked",
    "rm": "portraits, offers and events; PII masked (relationship managers)",
    "channel": "offers and events only (apps, web, contact centre)",
}
PREFIX = "ptk"


@dataclass(frozen=True)
class Client:
    key_id: str
    client: str
    role: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(conn: psycopg.Connection, client: str, role: str) -> tuple[Client, str]:
    """A new key for ``client``; the full key is returned once and never stored."""
    if role not in ROLES:
        raise InputError(
            f"unknown role {role!r}", where="--role", rule=f"one of {', '.join(ROLES)}"
        )
    if not client.strip():
        raise InputError("empty client name", where="--client", rule="name the calling application")
    schema.ensure(conn)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    conn.execute(
        "insert into api.keys (key_id, client, role, secret_sha256) values (%s, %s, %s, %s)",
        (key_id, client, role, _digest(secret)),
    )
    return Client(key_id, client, role), f"{PREFIX}_{key_id}_{secret}"


def listing(conn: psycopg.Connection) -> list[dict[str, object]]:
    schema.ensure(conn)
    rows = conn.execute(
        "select key_id, client, role, created_at, revoked_at from api.keys order by created_at"
    ).fetchall()
    return [
        dict(zip(("key_id", "client", "role", "created_at", "revoked_at"), r, strict=True))
        for r in rows
    ]


def revoke(conn: psycopg.Connection, key_id: str) -> datetime:
    schema.ensure(conn)
    row = conn.execute(
        "update api.keys set revoked_at = coalesce(revoked_at, now()) where key_id = %s "
        "returning revoked_at",
        (key_id,),
    ).fetchone()
    if row is None:
        raise InputError(
            f"no API key {key_id!r}", where="KEY_ID", rule="see `portrait api-keys list`"
        )
    return row[0]


def verify(conn: psycopg.Connection, presented: str | None) -> Client | None:
    """The client a presented key belongs to, or None (missing, malformed, unknown or revoked)."""
    parts = (presented or "").split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    row = conn.execute(
        "select client, role, secret_sha256 from api.keys where key_id = %s and revoked_at is null",
        (parts[1],),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[2], _digest(parts[2])):
        return None
    return Client(parts[1], row[0], row[1])
