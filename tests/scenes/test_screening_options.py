"""Entry screening's options, checked at definition, and what it reads from a User-Agent header."""

from __future__ import annotations

import pytest

from mug import Experiment, SceneConfigError, StartScene
from mug.screening import describe_agent

AGENTS = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36": ("desktop", "chrome", 120, "windows"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 Edg/120.0.2210.91": ("desktop", "edge", 120, "windows"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0": (
        "desktop", "firefox", 121, "macos"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15": ("desktop", "safari", 17, "macos"),
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
    "Safari/537.36": ("mobile", "chrome", 120, "android"),
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1": ("mobile", "safari", 17, "ios"),
    "curl/8.5.0": ("desktop", "other", None, "other"),
}  # fmt: skip


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_device_browser_and_os_are_read_from_the_user_agent(agent: str) -> None:
    assert describe_agent(agent) == AGENTS[agent]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"device_exclusion": "tablet"}, "device_exclusion must be 'mobile', 'desktop' or None"),
        ({"browser_requirements": "chrome"}, "browser_requirements must be a non-empty list"),
        ({"browser_blocklist": ["netscape"]}, "browser_blocklist has 'netscape'"),
        ({"exclusion_messages": {"slow": "x"}}, "exclusion_messages has 'slow'"),
        ({"exclusion_messages": {"mobile": " "}}, "exclusion_messages['mobile'] must be a non-empty string"),
        ({"entry_callback": "no"}, "entry_callback must be a function"),
        ({"callback_timeout_s": 0}, "callback_timeout_s must be seconds from 0.1 to 60"),
        ({"screen_out_redirect_url": "prolific"}, "screen_out_redirect_url must be an absolute http(s) URL"),
        ({"screen_out_redirect_url": "https://x.example/?c={pid}"}, "unknown placeholder {pid}"),
        ({"max_ping_ms": -5}, "max_ping_ms must be from 1 to 60000 ms"),
        ({"min_ping_measurements": 0}, "min_ping_measurements must be an int from 1 to 20"),
    ],
)
def test_entry_screening_options_are_checked_naming_the_one_that_is_wrong(options: dict, says: str) -> None:
    with pytest.raises(SceneConfigError, match=r"Experiment\.entry_screening") as refused:
        Experiment("x", [StartScene().scene("a")]).entry_screening(**options)
    assert says in str(refused.value)
