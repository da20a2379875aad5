"""docker-compose.yml is validated here (no Docker engine on these machines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from portrait.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (REPO / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
)
EXPECTED = {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker", "mlflow", "portrait-api"}  # fmt: skip


def test_every_production_component_is_a_service():
    assert EXPECTED <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_service_has_image_command_and_healthcheck(name: str):
    service = SERVICES[name]
    assert "image" in service or "build" in service
    assert service.get("command"), f"{name} has no command"
    assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_variable_the_file_uses_is_in_env_example():
    text = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?-[^}]*)?\}", text))
    missing = used - set(ENV_EXAMPLE)
    assert not missing, f"set in docker-compose.yml but not documented in .env.example: {missing}"


def test_portrait_variables_match_the_settings():
    fields = {f"PORTRAIT_{name.upper()}" for name in Settings.model_fields}
    for name, service in SERVICES.items():
        for key in service.get("environment") or {}:
            if key.startswith("PORTRAIT_") and name != "postgres":
                assert key in fields, f"{name}: {key} is not a Portrait setting"


def test_depends_on_names_existing_services_and_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for dep in service.get("depends_on") or {}:
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
            else:
                assert (REPO / source).exists() or source == "./landing", (
                    f"{name}: {source} missing"
                )


def test_published_ports_do_not_collide():
    ports = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports") or []]
    assert len(ports) == len(set(ports))


def test_workers_use_celery_on_redis_and_the_dockerfile_installs_the_celery_extra():
    env = SERVICES["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "--extra deploy" in dockerfile and "--frozen" in dockerfile
