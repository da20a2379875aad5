"""Fixtures shared by integration modules."""

from __future__ import annotations

import pytest
from portrait.ml import models
from portrait.ml.train import train

from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.ingest.api import ingest
from portrait.synth.generator import generate


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A small synthetic bank (1,500 customers x 8 months) built and its scheduled models trained:
    the ML tests and the online API's share it (the API's run after, and only add scores)."""
    home = tmp_path_factory.mktemp("ml_home")
    settings = Settings(home=home, database_url=None)
    warehouse.ensure_started(settings)
    landing = tmp_path_factory.mktemp("ml_landing")
    generate(landing, customers=1500, months=8, seed=21)
    ingest(landing, settings=settings)
    build(settings=settings)
    results = {name: train(name, settings=settings, log=lambda _: None) for name in models.names()}
    yield settings, results
    warehouse.EmbeddedServer(settings).stop()
