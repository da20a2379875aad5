"""The indicator catalogue is generated from the portrait's dbt YAML and kept up to date."""

from __future__ import annotations

from portrait.catalogue import DIMENSIONS, indicators, render
from portrait.config import Settings
from tests.conftest import REPO


def test_the_indicator_catalogue_is_up_to_date(tmp_path):
    settings = Settings(home=tmp_path, database_url=None)
    assert (REPO / "docs" / "indicator-catalogue.md").read_text() == render(settings), (
        "run: portrait catalogue --out docs/indicator-catalogue.md"
    )


def test_every_indicator_has_a_known_dimension_and_unit(tmp_path):
    items = indicators(Settings(home=tmp_path, database_url=None))
    assert len(items) > 80
    assert [
        i["name"]
        for i in items
        if i["meta"]["dimension"] not in DIMENSIONS or not i["meta"].get("unit")
    ] == []
