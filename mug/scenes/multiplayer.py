"""Options of multiplayer game scenes: how players share a game, and the waitroom that matches them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

from mug.scenes._options import check_choice, check_identifier, check_int, check_number, check_str, fail

MODES = ("server_authoritative",)
ON_PLAYER_DROP = ("continue", "end_game")


@dataclass
class MultiplayerOptions:
    """How a game with several humans runs (see ``GymScene.multiplayer``)."""

    mode: str = "server_authoritative"
    input_delay: int = 0
    reconnect_grace_s: float = 20.0
    on_player_drop: str = "end_game"
    per_player_views: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WaitroomOptions:
    """How participants wait to be matched (see ``GymScene.waitroom``)."""

    timeout: float = 120.0
    timeout_message: str = "Sorry, we could not find a partner for you in time. Thank you for your patience."
    timeout_redirect_url: str | None = None
    timeout_scene_id: str | None = None
    hide_lobby_count: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_bool(scene: Any, method: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(scene, method, option, f"must be True or False, got {value!r}")
    return value


def multiplayer_options(scene: Any, current: MultiplayerOptions | None, given: dict[str, Any]) -> MultiplayerOptions:
    """Validate ``GymScene.multiplayer(**given)`` on top of the current options."""
    opts = current or MultiplayerOptions()
    if "mode" in given:
        opts.mode = check_choice(scene, "multiplayer", "mode", given["mode"], MODES)
    if "input_delay" in given:
        opts.input_delay = check_int(scene, "multiplayer", "input_delay", given["input_delay"], minimum=0, maximum=30)
    if "reconnect_grace_s" in given:
        opts.reconnect_grace_s = check_number(
            scene, "multiplayer", "reconnect_grace_s", given["reconnect_grace_s"], minimum=0, maximum=3600
        )
    if "on_player_drop" in given:
        opts.on_player_drop = check_choice(
            scene, "multiplayer", "on_player_drop", given["on_player_drop"], ON_PLAYER_DROP
        )
    if "per_player_views" in given:
        opts.per_player_views = _check_bool(scene, "multiplayer", "per_player_views", given["per_player_views"])
    return opts


def waitroom_options(scene: Any, current: WaitroomOptions | None, given: dict[str, Any]) -> WaitroomOptions:
    """Validate ``GymScene.waitroom(**given)`` on top of the current options."""
    opts = current or WaitroomOptions()
    if "timeout" in given:
        opts.timeout = check_number(scene, "waitroom", "timeout", given["timeout"], minimum=0.5, maximum=86_400)
    if "timeout_message" in given:
        message = check_str(scene, "waitroom", "timeout_message", given["timeout_message"])
        if not message:
            raise fail(scene, "waitroom", "timeout_message", "must not be empty")
        opts.timeout_message = message
    if "timeout_redirect_url" in given:
        url = given["timeout_redirect_url"]
        if url is not None:
            parsed = urlparse(url) if isinstance(url, str) else None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise fail(scene, "waitroom", "timeout_redirect_url", f"must be an absolute http(s) URL, got {url!r}")
        opts.timeout_redirect_url = url
    if "timeout_scene_id" in given:
        sid = given["timeout_scene_id"]
        opts.timeout_scene_id = None if sid is None else check_identifier(scene, "waitroom", "timeout_scene_id", sid)
    if "hide_lobby_count" in given:
        opts.hide_lobby_count = _check_bool(scene, "waitroom", "hide_lobby_count", given["hide_lobby_count"])
    if opts.timeout_redirect_url and opts.timeout_scene_id:
        raise fail(scene, "waitroom", "timeout_scene_id", "cannot be combined with timeout_redirect_url; pass one")
    return opts
