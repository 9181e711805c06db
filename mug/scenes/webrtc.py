"""WebRTC settings of P2P scenes: the ICE servers (STUN/TURN) the peers' browsers connect through.

The browsers of a P2P game connect to each other directly when they can; behind NATs and
firewalls they need STUN (to learn their public address) or TURN (a relay). These settings reach
the page in the game payload (`matched`), since the browser must use them; a TURN password
therefore travels to each matched participant, as every WebRTC application's must. It never
reaches the data, the logs or the monitor: `redacted()` replaces usernames and credentials with
``"***"`` in the experiment's saved config.

Default: no ICE servers at all. A page then offers only its host candidates (same network) and,
when no DataChannel opens, the game's inputs go through MUG's own server (the relay fallback):
nothing talks to a third-party STUN server unless the researcher names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mug.scenes._options import fail

ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
REDACTED = "***"
_SERVER_KEYS = ("urls", "username", "credential")


@dataclass
class WebRTCOptions:
    """ICE servers and whether to relay only (see ``GymScene.webrtc`` / ``Experiment.webrtc``)."""

    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    force_relay: bool = False

    def client_ice_servers(self) -> list[dict[str, Any]]:
        """The ``RTCIceServer`` list for the page (with credentials: the browser needs them)."""
        return [dict(server) for server in self.ice_servers]

    def redacted(self) -> dict[str, Any]:
        """For the saved config and anything shown: usernames and credentials as ``"***"``."""
        servers = []
        for server in self.ice_servers:
            servers.append({k: (REDACTED if k != "urls" else v) for k, v in server.items()})
        return {"ice_servers": servers, "force_relay": self.force_relay}


def _urls(owner: Any, method: str, option: str, value: Any, schemes: tuple[str, ...]) -> list[str]:
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, (list, tuple)) or not urls:
        raise fail(owner, method, option, f"must be a URL or a non-empty list of URLs, got {value!r}")
    for url in urls:
        if not isinstance(url, str) or not url.lower().startswith(schemes) or len(url) <= len("turn:"):
            allowed = ", ".join(s + "..." for s in schemes)
            raise fail(owner, method, option, f"must hold ICE server URLs ({allowed}), got {url!r}")
    return list(urls)


def _credential(owner: Any, method: str, option: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        # (the value itself is not shown: it may be a password)
        raise fail(owner, method, option, f"must be a non-empty string, got a {type(value).__name__}")
    return value


def webrtc_options(owner: Any, given: dict[str, Any]) -> WebRTCOptions:
    """Validate ``webrtc(**given)`` (a scene's or an experiment's): a complete new setting each call."""
    method = "webrtc"
    servers: list[dict[str, Any]] = []
    listed = given.get("ice_servers")
    if listed is not None:
        if not isinstance(listed, (list, tuple)):
            raise fail(owner, method, "ice_servers", f"must be a list of RTCIceServer dicts, got {listed!r}")
        for index, server in enumerate(listed):
            option = f"ice_servers[{index}]"
            if not isinstance(server, dict) or "urls" not in server:
                raise fail(owner, method, option, "must be a dict like {'urls': 'stun:host:3478'}")
            unknown = sorted(set(server) - set(_SERVER_KEYS))
            if unknown:
                raise fail(owner, method, option, f"has unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                           f"{', '.join(_SERVER_KEYS)}")  # fmt: skip
            entry: dict[str, Any] = {"urls": _urls(owner, method, option, server["urls"], ICE_SCHEMES)}
            for key in ("username", "credential"):
                if key in server:
                    entry[key] = _credential(owner, method, f"{option}.{key}", server[key])
            servers.append(entry)
    turn_url = given.get("turn_url")
    username, credential = given.get("turn_username"), given.get("turn_credential")
    if turn_url is None:
        if username is not None or credential is not None:
            raise fail(owner, method, "turn_username", "and turn_credential need turn_url")
    else:
        if not isinstance(turn_url, str):
            raise fail(owner, method, "turn_url", f"must be a turn:, turns: or stun: URL, got {turn_url!r}")
        entry = {"urls": _urls(owner, method, "turn_url", turn_url, ("turn:", "turns:", "stun:"))}
        if (username is None) != (credential is None):
            raise fail(owner, method, "turn_credential", "and turn_username go together: pass both or neither")
        if username is not None:
            entry["username"] = _credential(owner, method, "turn_username", username)
            entry["credential"] = _credential(owner, method, "turn_credential", credential)
        servers.append(entry)
    force_relay = given.get("force_relay", False)
    if not isinstance(force_relay, bool):
        raise fail(owner, method, "force_relay", f"must be True or False, got {force_relay!r}")
    if force_relay and not any(u.lower().startswith(("turn:", "turns:")) for s in servers for u in s["urls"]):
        raise fail(owner, method, "force_relay",
                   "needs a TURN server (turn_url='turn:...' or one in ice_servers): with relay-only ICE and "
                   "no TURN server no DataChannel can open")  # fmt: skip
    return WebRTCOptions(servers, force_relay)
