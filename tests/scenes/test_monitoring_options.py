"""GymScene.monitoring's options are checked at definition, naming the one that is wrong."""

from __future__ import annotations

import pytest
from envs import race_scene

from mug import SceneConfigError


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"max_ping_ms": 0}, "max_ping_ms"),
        ({"ping_window": 3, "ping_violations": 4}, "ping_violations' is 4, more than the ping_window of 3"),
        ({"tab_warning_s": 10, "tab_exclude_s": 5}, "must come before tab_exclude_s"),
        ({"messages": {"tab_gone": "x"}}, "has 'tab_gone'"),
        ({"messages": {"tab_exclude": ""}}, "must be a non-empty string"),
        ({"callback": "exclude"}, "callback' must be a function"),
        ({"callback_interval_s": 0}, "callback_interval_s"),
    ],
)
def test_monitoring_options_are_checked(options: dict, says: str) -> None:
    with pytest.raises(SceneConfigError) as refused:
        race_scene().monitoring(**options)
    assert says in str(refused.value), str(refused.value)


def test_monitoring_options_are_kept_and_saved_with_the_config() -> None:
    scene = race_scene().monitoring(max_ping_ms=200, tab_exclude_s=30, messages={"tab_exclude": "Gone too long."})
    saved = scene.config()["monitoring"]
    assert saved["max_ping_ms"] == 200 and saved["tab_exclude_s"] == 30
    assert saved["messages"]["tab_exclude"] == "Gone too long." and saved["messages"]["ping_warning"]
