"""Redirect URL templates: placeholders checked when a scene is defined, filled in per participant."""

from __future__ import annotations

import pytest
from envs import race_scene

from mug import CompletionCodeScene, EndScene, SceneConfigError
from mug.scenes.redirects import fill


def test_placeholders_are_filled_in_url_encoded() -> None:
    url = "https://x.example/done?cc={code}&id={participant_id}&s={query.SESSION_ID}&none={query.NOPE}"
    filled = fill(url, participant_id="a b&c", code="K7", query={"SESSION_ID": "s/1?"})
    assert filled == "https://x.example/done?cc=K7&id=a%20b%26c&s=s%2F1%3F&none="


def test_unknown_or_misplaced_placeholders_are_refused_at_definition() -> None:
    with pytest.raises(SceneConfigError, match=r"unknown placeholder \{pid\}"):
        CompletionCodeScene().redirect("https://x.example/?id={pid}")
    with pytest.raises(SceneConfigError, match=r"uses \{code\}, but there is no completion code here"):
        EndScene().redirect("https://x.example/?cc={code}")
    CompletionCodeScene().redirect("https://x.example/?cc={code}&s={query.SESSION_ID}")
    with pytest.raises(SceneConfigError, match=r"timeout_redirect_url.*unknown placeholder \{who\}"):
        race_scene().waitroom(timeout_redirect_url="https://x.example/?w={who}")
    race_scene().waitroom(timeout_redirect_url="https://x.example/?cc={code}")
