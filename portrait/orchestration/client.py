"""A small client of the Airflow API server that `portrait scheduler` runs (REST, JSON, a JWT
from the admin password); what `portrait scheduler status` and `portrait run` ask it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from portrait.config import Settings
from portrait.errors import PortraitError
from portrait.orchestration.env import ADMIN_USER, admin_password, api_url


class SchedulerUnavailable(PortraitError):
    exit_code = 8


class AirflowClient:
    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.base = api_url(settings)
        self.settings = settings
        self.timeout = timeout
        self._token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        url = self.base + path  # http://127.0.0.1 only
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:300]
            raise SchedulerUnavailable(
                f"Airflow answered {err.code} to {method} {path}: {detail}",
                where=self.base,
                rule="Airflow REST API v2",
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise SchedulerUnavailable(
                f"the Airflow API server does not answer: {reason}",
                where=self.base,
                rule="start it with `portrait scheduler start`",
            ) from None

    def token(self) -> str:
        if self._token is None:
            answer = self._request(
                "POST",
                "/auth/token",
                {"username": ADMIN_USER, "password": admin_password(self.settings)},
                auth=False,
            )
            self._token = answer["access_token"]
        return self._token

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def dags(self) -> dict[str, dict]:
        answer = self._request("GET", "/api/v2/dags?limit=100")
        return {d["dag_id"]: d for d in answer["dags"]}

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        """A manual run with no logical date (Airflow 3's default trigger)."""
        return self._request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )

    def runs(self, dag_id: str, limit: int = 20) -> list[dict]:
        answer = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit={limit}"
        )
        return answer["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict:
        from urllib.parse import quote

        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        from urllib.parse import quote

        answer = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
        )
        return answer["task_instances"]
