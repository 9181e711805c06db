"""Options of multiplayer game scenes: how players share a game, and the waitroom that matches them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from mug.scenes._options import check_choice, check_identifier, check_int, check_number, check_str, fail

MODES = ("server_authoritative", "p2p")
ON_PLAYER_DROP = ("continue", "end_game")
#: Input delay (frames) of a P2P game when the scene does not set one: rollback hides the rest.
P2P_INPUT_DELAY = 2
#: Most input delay a P2P game may have: past it the delay is felt more than any rollback.
P2P_MAX_INPUT_DELAY = 8
#: Options that apply to mode="p2p" only.
P2P_ONLY = ("max_prediction", "p2p_connect_timeout_s")


@dataclass
class MultiplayerOptions:
    """How a game with several humans runs (see ``GymScene.multiplayer``)."""

    mode: str = "server_authoritative"
    input_delay: int = 0
    reconnect_grace_s: float = 20.0
    on_player_drop: str = "end_game"
    per_player_views: bool = False
    max_prediction: int = 8  # p2p: frames a peer may run ahead of the inputs it has
    p2p_connect_timeout_s: float = 5.0  # p2p: no DataChannel open by then -> the server relays
    matchmaker: Any = None  # a mug.matchmaking.Matchmaker; None: FIFO
    # Which options the researcher passed (a default may depend on the mode, e.g. input_delay).
    given: set[str] = field(default_factory=set, repr=False)

    @property
    def is_p2p(self) -> bool:
        return self.mode == "p2p"

    def to_json(self) -> dict[str, Any]:
        # (Not asdict: it would deep-copy the researcher's matchmaker object.)
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("given", "matchmaker")}
        data["matchmaker"] = self.matchmaker.describe() if self.matchmaker is not None else None
        if not self.is_p2p:
            for name in P2P_ONLY:
                del data[name]
        return data


@dataclass
class WaitroomOptions:
    """How participants wait to be matched (see ``GymScene.waitroom``)."""

    timeout: float = 120.0
    timeout_message: str = "Sorry, we could not find a partner for you in time. Thank you for your patience."
    timeout_redirect_url: str | None = None
    timeout_scene_id: str | None = None
    hide_lobby_count: bool = False
    timeout_policy: Any = None  # plays the missing humans when the wait times out (AI fill-in)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "timeout_policy"}
        if self.timeout_policy is not None:
            from mug.policies import policy_label

            data["timeout_policy"] = policy_label(self.timeout_policy)
        else:
            data["timeout_policy"] = None
        return data


def _check_bool(scene: Any, method: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(scene, method, option, f"must be True or False, got {value!r}")
    return value


def _check_matchmaker(scene: Any, value: Any) -> Any:
    from mug.matchmaking import Matchmaker

    if value is None:
        return None
    if isinstance(value, type) and issubclass(value, Matchmaker):
        raise fail(
            scene, "multiplayer", "matchmaker", f"must be a matchmaker object: {value.__name__}(...), not the class"
        )
    if not isinstance(value, Matchmaker):
        raise fail(
            scene, "multiplayer", "matchmaker",
            f"must be a mug.Matchmaker (e.g. mug.FIFOMatchmaker()), got {type(value).__name__}",
        )  # fmt: skip
    return value


def multiplayer_options(scene: Any, current: MultiplayerOptions | None, given: dict[str, Any]) -> MultiplayerOptions:
    """Validate ``GymScene.multiplayer(**given)`` on top of the current options."""
    opts = current or MultiplayerOptions()
    if "mode" in given:
        opts.mode = check_choice(scene, "multiplayer", "mode", given["mode"], MODES)
    if "input_delay" in given:
        opts.input_delay = check_int(scene, "multiplayer", "input_delay", given["input_delay"], minimum=0, maximum=30)
    if "max_prediction" in given:
        opts.max_prediction = check_int(
            scene, "multiplayer", "max_prediction", given["max_prediction"], minimum=1, maximum=30
        )
    if "p2p_connect_timeout_s" in given:
        opts.p2p_connect_timeout_s = check_number(
            scene, "multiplayer", "p2p_connect_timeout_s", given["p2p_connect_timeout_s"], minimum=0.5, maximum=120
        )
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
    if "matchmaker" in given:
        opts.matchmaker = _check_matchmaker(scene, given["matchmaker"])
    opts.given |= set(given)
    if opts.matchmaker is not None and opts.matchmaker.max_p2p_rtt_ms is not None and not opts.is_p2p:
        raise fail(
            scene, "multiplayer", "matchmaker",
            f"has max_p2p_rtt_ms={opts.matchmaker.max_p2p_rtt_ms:g}, which applies to mode='p2p' only (the "
            "pages of a server-run game do not talk to each other); use LatencyFIFOMatchmaker(max_server_rtt_ms=...)",
        )  # fmt: skip
    if opts.is_p2p:
        if "input_delay" not in opts.given:
            opts.input_delay = P2P_INPUT_DELAY
        if opts.input_delay > P2P_MAX_INPUT_DELAY:
            raise fail(
                scene, "multiplayer", "input_delay",
                f"must be between 0 and {P2P_MAX_INPUT_DELAY} with mode='p2p' (rollback hides the rest), "
                f"got {opts.input_delay}",
            )  # fmt: skip
        if opts.per_player_views:
            raise fail(
                scene, "multiplayer", "per_player_views",
                "cannot be combined with mode='p2p': every peer runs the whole env, so every player could see "
                "every view",
            )  # fmt: skip
    elif "input_delay" not in opts.given:
        opts.input_delay = 0
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
            from mug.scenes.redirects import redirect_problem

            problem = redirect_problem(url, code=True)  # (a timed-out participant gets a completion code)
            if problem:
                raise fail(scene, "waitroom", "timeout_redirect_url", problem)
        opts.timeout_redirect_url = url
    if "timeout_scene_id" in given:
        sid = given["timeout_scene_id"]
        opts.timeout_scene_id = None if sid is None else check_identifier(scene, "waitroom", "timeout_scene_id", sid)
    if "hide_lobby_count" in given:
        opts.hide_lobby_count = _check_bool(scene, "waitroom", "hide_lobby_count", given["hide_lobby_count"])
    if "timeout_policy" in given:
        policy = given["timeout_policy"]
        if policy is not None:
            from mug.policies import PolicyError, validate_policy_spec

            if policy == "human":
                raise fail(scene, "waitroom", "timeout_policy", "must be a policy for the missing humans, not 'human'")
            try:
                validate_policy_spec(policy, server=True)
            except (PolicyError, ValueError) as exc:
                raise fail(scene, "waitroom", "timeout_policy", str(exc)) from None
        opts.timeout_policy = policy
    if opts.timeout_redirect_url and opts.timeout_scene_id:
        raise fail(scene, "waitroom", "timeout_scene_id", "cannot be combined with timeout_redirect_url; pass one")
    if opts.timeout_policy is not None and (opts.timeout_redirect_url or opts.timeout_scene_id):
        other = "timeout_redirect_url" if opts.timeout_redirect_url else "timeout_scene_id"
        raise fail(
            scene, "waitroom", "timeout_policy",
            f"cannot be combined with {other}: on timeout the game starts with the policy, nobody is sent away",
        )  # fmt: skip
    return opts


SNAPSHOT_METHODS = ("get_state", "set_state")


def missing_snapshot_methods(env_code: str) -> list[str]:
    """Which of ``get_state``/``set_state`` the env code neither defines nor imports from ``mug``.

    Read from the code's syntax tree: a function or method of either name anywhere in it counts.
    A class imported from a ``mug`` module (e.g. ``from mug.env.examples.catch import CatchEnv``)
    counts when it has both (it is imported here to look). Anything else imported (a package the
    browser installs) cannot be seen from the server and does not count.
    """
    import ast
    import importlib

    tree = ast.parse(env_code)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in SNAPSHOT_METHODS:
            found.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mug":
            try:
                module = importlib.import_module(node.module)
            except Exception:  # (not importable here: it does not count)
                continue
            for alias in node.names:
                obj = getattr(module, alias.name, None)
                found.update(m for m in SNAPSHOT_METHODS if callable(getattr(obj, m, None)))
    return [m for m in SNAPSHOT_METHODS if m not in found]
