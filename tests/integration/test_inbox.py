"""The landing inbox: each delivery loaded once under its own date; stale batch dates refused."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from portrait.expectations.gates import GateFailed

from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest import inbox
from portrait.synth.generator import generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("inbox_home")
    settings = Settings(home=root, database_url=None)
    warehouse.ensure_started(settings)
    delivery = tmp_path_factory.mktemp("deliveries") / "bank"
    generate(delivery, customers=150, months=3, seed=21)
    yield settings, delivery
    warehouse.EmbeddedServer(settings).stop()


def _drop(settings: Settings, delivery: Path, name: str) -> Path:
    target = settings.inbox_dir / name
    shutil.copytree(delivery, target)
    return target


def test_a_delivery_is_dated_by_its_manifest_then_by_its_name(home, tmp_path):
    _settings, delivery = home
    end = json.loads((delivery / "_manifest.json").read_text())["end_date"]
    assert inbox.describe(delivery).batch_date == date.fromisoformat(end)
    named = tmp_path / "delivery-2026-03-31"
    named.mkdir()
    assert inbox.describe(named).batch_date == date(2026, 3, 31)
    (named / "delivery.json").write_text('{"batch_date": "2026-04-30", "source": "synthetic"}')
    assert inbox.describe(named).batch_date == date(2026, 4, 30)
    undated = tmp_path / "undated"
    undated.mkdir()
    with pytest.raises(InputError, match="carries no batch date"):
        inbox.describe(undated)


def test_the_same_delivery_dropped_twice_is_loaded_once(home):
    settings, delivery = home
    _drop(settings, delivery, "first")
    first = inbox.take(settings)
    assert [b["delivery"] for b in first.loaded] == ["first"]
    assert first.loaded[0]["batch_date"] == inbox.describe(delivery).batch_date.isoformat()
    assert (settings.inbox_dir / "_loaded" / "first").is_dir()
    _drop(settings, delivery, "again-2030-01-31")  # a date in the name does not make it new
    second = inbox.take(settings)
    assert second.loaded == [] and second.refused == []
    assert second.already_loaded == [
        f"again-2030-01-31: already loaded as {first.loaded[0]['batch_id']}"
    ]
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        loaded = conn.execute(
            "select count(distinct batch_id) from dq.ingest_batches where status = 'loaded'"
        ).fetchone()[0]
    assert loaded == 1
    assert inbox.take(settings).as_dict() == {"loaded": [], "already_loaded": [], "refused": []}


def test_a_refused_delivery_moves_aside_with_its_reason(home):
    settings, delivery = home
    broken = _drop(settings, delivery, "broken")
    (broken / "customers.csv").unlink()  # a required table
    (broken / "_manifest.json").unlink()
    report = inbox.take(settings)
    assert report.loaded == [] and len(report.refused) == 1
    assert "carries no batch date" in report.refused[0]
    reason = (settings.inbox_dir / "_refused" / "broken" / "REFUSED.txt").read_text()
    assert "batch date" in reason and not broken.exists()


def test_a_batch_dated_long_after_its_newest_event_fails_the_landing_gate(home, tmp_path):
    settings, delivery = home
    report = build(settings=settings)  # the first delivery, published
    assert report.published
    end = inbox.describe(delivery).batch_date
    late = end + timedelta(days=settings.stale_batch_days + 30)
    stale = tmp_path / "stale"
    generate(stale, customers=150, months=3, seed=22)  # other files, the same last day
    (stale / "delivery.json").write_text(json.dumps({"batch_date": late.isoformat()}))
    shutil.move(stale, settings.inbox_dir / "stale")
    taken = inbox.take(settings)
    assert [b["batch_date"] for b in taken.loaded] == [late.isoformat()]
    with pytest.raises(GateFailed) as failure:
        build(settings=settings)
    line = failure.value.line()
    assert "landing.freshness" in line
    assert (
        f"batch_date {late.isoformat()}" in line and f"newest_event_date {end.isoformat()}" in line
    )
