"""How Portrait runs dbt in-process: the behaviour flags' source without inspect.stack()."""

from __future__ import annotations

import inspect

import pytest
from dbt_common.behavior_flags import BehaviorFlagRendered

from portrait.dbt_runner import behaviour_flag_source_by_frames


def _flag() -> BehaviorFlagRendered:
    return BehaviorFlagRendered(
        {"name": "portrait_test_flag", "default": False, "description": "a flag for the test"}, {}
    )


def test_a_behaviour_flag_names_the_module_that_made_it_without_reading_the_stack(monkeypatch):
    behaviour_flag_source_by_frames()

    def no_stack(*_args, **_kwargs):
        raise AssertionError("inspect.stack() reads the source of every frame")

    monkeypatch.setattr(inspect, "stack", no_stack)
    # the first module up the stack other than dbt's behaviour flags, as dbt's default finds it
    assert _flag()._behavior_change_event.flag_source == __name__


def test_a_source_given_by_the_adapter_is_kept():
    behaviour_flag_source_by_frames()
    flag = BehaviorFlagRendered(
        {"name": "f", "default": True, "description": "d", "source": "dbt.adapters.postgres"}, {}
    )
    assert flag._behavior_change_event.flag_source == "dbt.adapters.postgres"
    assert flag.setting is True


@pytest.mark.parametrize("depth", [1, 30])
def test_the_source_is_found_at_any_depth(depth):
    behaviour_flag_source_by_frames()

    def nested(n: int) -> BehaviorFlagRendered:
        return _flag() if n == 0 else nested(n - 1)

    assert nested(depth)._behavior_change_event.flag_source == __name__
