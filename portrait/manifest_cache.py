"""dbt's parsed project, cached between processes: keyed by everything it is parsed from."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from portrait import warehouse
from portrait.config import Settings
from portrait.dbt_runner import dbt_env, invoke


def parse_project(
    settings: Settings, variables: dict[str, object] | None = None, fingerprint: str | None = None
):
    """``dbt parse`` with these variables: the manifest later invocations with the same variables
    can reuse (run_dbt(manifest=...)); None if the project does not parse, so that the invocation
    that needs it parses again and reports why.

    The manifest is kept in dbt's target folder (MANIFEST_CACHE) with a key of everything it is
    parsed from (manifest_key); a later build with the same key loads it instead of invoking dbt
    (~40 ms against 1.2-1.6 s for dbt's partial parse in a new process). The manifest's metadata
    (invocation id, generated at) stays the parse's, as it did when a build reused its own parse.
    ``fingerprint``: the project's, when the caller has it already."""
    key = manifest_key(settings, variables, fingerprint or project_fingerprint(settings))
    cached = _cached_manifest(settings, key)
    if cached is not None:
        return cached
    try:
        result = invoke(["parse"], settings, variables)
    except Exception:  # reported by the next invocation, which parses again
        return None
    if not result.success:
        return None
    _cache_manifest(settings, key, result.result)
    return result.result


# dbt's parsed project, pickled beside dbt's own partial-parsing state in the target folder
MANIFEST_CACHE = "portrait-manifest.pickle"


# dbt-adapters holds the global macros the manifest carries, dbt-postgres the adapter's own
DBT_PACKAGES = ("dbt-core", "dbt-adapters", "dbt-postgres", "dbt-common")


@functools.cache
def _versions(packages: tuple[str, ...]) -> list[str]:
    """The installed versions of these packages (read once per process: ~20 ms)."""
    from importlib.metadata import version

    return [version(package) for package in packages]


def manifest_key(settings: Settings, variables: dict[str, object] | None, fingerprint: str) -> str:
    """sha256 of what dbt's manifest is parsed from: the project's files and dbt's version
    (``fingerprint``, from project_fingerprint), the variables, the profile's environment (database, user, threads)
    and dbt's own switches (DBT_*), the versions of the packages whose macros and parsers it
    holds (DBT_PACKAGES) and of Python."""
    environment = {
        k: v
        for k, v in (os.environ | dbt_env(settings)).items()
        if k.startswith(("PORTRAIT_", "DBT_")) and k != "PGAPPNAME"
    }
    material = json.dumps(
        [
            fingerprint,
            variables or {},
            sorted(environment.items()),
            _versions(DBT_PACKAGES),
            sys.version,
        ],
        default=str,
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _manifest_cache_path(settings: Settings) -> Path:
    return Path(dbt_env(settings)["DBT_TARGET_PATH"]) / MANIFEST_CACHE


def _signature(settings: Settings, payload: bytes) -> bytes:
    """HMAC of the cached manifest with a key in PORTRAIT_HOME/secrets: only a file this home's
    builds wrote is ever unpickled."""
    import hmac

    secret = warehouse.secret_file(settings, "manifest-cache.key").encode()
    return hmac.new(secret, payload, "sha256").hexdigest().encode()


def _cached_manifest(settings: Settings, key: str):
    """The manifest cached under this key, or None (none, another key, altered, or unreadable)."""
    import hmac
    import pickle

    try:
        header, signature, payload = _manifest_cache_path(settings).read_bytes().split(b"\n", 2)
        expected = _signature(settings, header + payload)
        if header != key.encode() or not hmac.compare_digest(signature, expected):
            return None
        from dbt.contracts.graph.manifest import Manifest

        # signed above: written by a build of this home
        return Manifest(**pickle.loads(payload))  # noqa: S301
    except Exception:  # a missing, truncated or outdated file: dbt parses as before
        return None


def _cache_manifest(settings: Settings, key: str, manifest) -> None:
    """The manifest as parsed, before any invocation compiles into it; written whole or not at all.

    Its public fields are what is kept, as in dbt's own partial-parsing file: the lookups and the
    lock are made again (Manifest.__reduce_ex__ of dbt 1.11 passes its fields to the constructor
    one place off after ``functions``, which broke ref() in the loaded copy)."""
    import dataclasses
    import pickle

    fields = {
        f.name: getattr(manifest, f.name)
        for f in dataclasses.fields(manifest)
        if f.init and not f.name.startswith("_")
    }
    path = _manifest_cache_path(settings)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
        header = key.encode()
        partial.write_bytes(b"\n".join([header, _signature(settings, header + payload), payload]))
        os.replace(partial, path)
    except Exception:  # the cache only saves time: a build never fails for it
        partial.unlink(missing_ok=True)


def project_fingerprint(settings: Settings) -> str:
    """sha256 of the dbt project's files (models, macros, seeds, snapshots, tests, configuration)
    and of dbt's version: what the staging views and seeds are built from."""
    from dbt.version import __version__ as dbt_version

    root = settings.dbt_project_dir
    digest = hashlib.sha256(dbt_version.encode())
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (
            path.is_file()
            and relative.parts[0] not in {"target", "logs", "dbt_packages"}
            and "__pycache__" not in relative.parts
        ):
            digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
