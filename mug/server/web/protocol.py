"""Validation of client → server Socket.IO payloads (the wire protocol is in docs/protocol.md).

Each event's fields and size limit come from `mug.server.web.messages`, the definition the page's
TypeScript types are generated from.

Every handler parses its payload here first; anything malformed raises ProtocolError with a message
the client gets back, so a bad event never reaches game or session code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from mug.server.web.messages import CLIENT_MESSAGES

PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")
SCENE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SECRET = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")
SOURCE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")

# Limits on the JSON size of each event's payload, in bytes (from the one definition of messages).
MAX_SIZE = {event: message.limit for event, message in CLIENT_MESSAGES.items()}
GAME_OUTCOMES = ("done", "error")
CLIENT_EVENT_KINDS = ("focus", "blur", "visibility", "log", "resize")


class ProtocolError(ValueError):
    """A client event is malformed; the message says what was wrong."""


def _size(payload: Any) -> int:
    try:
        return len(json.dumps(payload, separators=(",", ":"), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"payload is not plain JSON: {exc}") from None


def payload_of(event: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """Check the event carries exactly one JSON object within its size limit, and return it."""
    return sized_payload(event, args)[0]


def sized_payload(event: str, args: tuple[Any, ...]) -> tuple[dict[str, Any], int]:
    """`payload_of`, and the payload's size as JSON in bytes."""
    if len(args) != 1:
        raise ProtocolError(f"'{event}' takes exactly one payload object, got {len(args)} arguments")
    payload = args[0]
    if not isinstance(payload, dict):
        raise ProtocolError(f"'{event}' payload must be an object, got {type(payload).__name__}")
    limit = MAX_SIZE[event]
    size = _size(payload)
    if size > limit:
        raise ProtocolError(f"'{event}' payload is {size} bytes; the limit is {limit}")
    return payload, size


def _field(payload: dict[str, Any], event: str, name: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
    if name not in payload:
        if required:
            raise ProtocolError(f"'{event}' needs the field '{name}'")
        return None
    value = payload[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProtocolError(f"'{event}' field '{name}' has the wrong type bool")
    if not isinstance(value, kind):
        raise ProtocolError(f"'{event}' field '{name}' has the wrong type {type(value).__name__}")
    return value


def _no_extra(payload: dict[str, Any], event: str) -> None:
    allowed = CLIENT_MESSAGES[event].names
    extra = sorted(set(payload) - set(allowed))
    if extra:
        raise ProtocolError(f"'{event}' has unknown field(s) {', '.join(extra)}; allowed: {', '.join(allowed)}")


def _scene_id(payload: dict[str, Any], event: str) -> str:
    value = _field(payload, event, "scene_id", str)
    if not SCENE_ID.match(value):
        raise ProtocolError(f"'{event}' field 'scene_id' is not a valid scene id")
    return value


@dataclass(frozen=True)
class Seen:
    """The last game frame a page showed: where its game was, as far as its participant saw."""

    game_id: str
    episode: int
    step: int


@dataclass(frozen=True)
class Join:
    participant_id: str | None
    query: dict[str, str]
    secret: str | None = None  # the session secret this browser was given (mug.server.sessions.binding)
    seen: Seen | None = None  # the last frame of a server-run game the page showed, after a reconnect


def parse_join(args: tuple[Any, ...]) -> Join:
    p = payload_of("join", args)
    _no_extra(p, "join")
    pid = _field(p, "join", "participant_id", (str, type(None)), required=False)
    if pid is not None and not PARTICIPANT_ID.match(pid):
        raise ProtocolError("'join' field 'participant_id' must be 1-128 letters, digits or _ . : @ -")
    secret = _field(p, "join", "secret", (str, type(None)), required=False)
    if secret is not None and not SECRET.match(secret):
        raise ProtocolError("'join' field 'secret' must be the 16-128 character secret the server gave this browser")
    seen = _seen(_field(p, "join", "seen", (dict, type(None)), required=False))
    query = _field(p, "join", "query", dict, required=False) or {}
    if len(query) > 50 or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 512 for k, v in query.items()
    ):
        raise ProtocolError("'join' field 'query' must map at most 50 names to strings of at most 512 characters")
    return Join(pid, query, secret, seen)


def _seen(value: dict[str, Any] | None) -> Seen | None:
    if value is None:
        return None
    if set(value) != {"game_id", "episode", "step"}:
        raise ProtocolError("'join' field 'seen' must be {game_id: str, episode: int >= 0, step: int >= 0}")
    game_id, episode, step = value["game_id"], value["episode"], value["step"]
    counters = all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in (episode, step))
    if not isinstance(game_id, str) or not 1 <= len(game_id) <= 64 or not counters:
        raise ProtocolError("'join' field 'seen' must be {game_id: str, episode: int >= 0, step: int >= 0}")
    return Seen(game_id, episode, step)


@dataclass(frozen=True)
class Advance:
    scene_id: str
    answers: dict[str, Any]
    game_id: str | None = None  # client-side game scenes: the game that ended
    outcome: str | None = None  # ... and how ("done" or "error")


def parse_advance(args: tuple[Any, ...]) -> Advance:
    p = payload_of("advance", args)
    _no_extra(p, "advance")
    game_id = _field(p, "advance", "game_id", str, required=False)
    outcome = _field(p, "advance", "outcome", str, required=False)
    if (game_id is None) != (outcome is None):
        raise ProtocolError("'advance' fields 'game_id' and 'outcome' go together")
    if outcome is not None and outcome not in GAME_OUTCOMES:
        raise ProtocolError(f"'advance' field 'outcome' must be one of {', '.join(GAME_OUTCOMES)}, got {outcome!r}")
    answers = _field(p, "advance", "answers", dict, required=False) or {}
    for key, value in answers.items():
        ok = value is None or isinstance(value, (str, bool, int, float))
        ok = ok or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ProtocolError(f"'advance' answer {key!r} must be a string, number, boolean, list of strings or null")
    return Advance(_scene_id(p, "advance"), answers, game_id, outcome)


def parse_start_game(args: tuple[Any, ...]) -> str:
    p = payload_of("start_game", args)
    _no_extra(p, "start_game")
    return _scene_id(p, "start_game")


@dataclass(frozen=True)
class Leave:
    scene_id: str
    url: str


def parse_leave(args: tuple[Any, ...]) -> Leave:
    """The page is about to send the participant to a redirect URL (a platform's completion link)."""
    p = payload_of("leave", args)
    _no_extra(p, "leave")
    scene_id = _scene_id(p, "leave")
    url = _field(p, "leave", "url", str)
    parsed = urlparse(url) if len(url) <= 2_048 else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProtocolError("'leave' field 'url' must be an absolute http(s) URL of at most 2048 characters")
    return Leave(scene_id, url)


@dataclass(frozen=True)
class Action:
    scene_id: str
    action: Any


def parse_action(args: tuple[Any, ...]) -> Action:
    p = payload_of("action", args)
    _no_extra(p, "action")
    if "action" not in p:
        raise ProtocolError("'action' needs the field 'action'")
    return Action(_scene_id(p, "action"), p["action"])


@dataclass(frozen=True)
class Ping:
    t: float
    rtt_ms: float | None  # the page's last measured round trip, for monitoring


def parse_ping(args: tuple[Any, ...]) -> Ping:
    p = payload_of("ping", args)
    _no_extra(p, "ping")
    t = _field(p, "ping", "t", (int, float))
    rtt = _field(p, "ping", "rtt", (int, float, type(None)), required=False)
    if not math.isfinite(t) or (rtt is not None and not (math.isfinite(rtt) and rtt >= 0)):
        raise ProtocolError("'ping' fields 't' and 'rtt' must be finite numbers (rtt >= 0)")
    return Ping(float(t), None if rtt is None else float(rtt))


@dataclass(frozen=True)
class ClientEvent:
    kind: str
    data: dict[str, Any]


def parse_client_event(args: tuple[Any, ...]) -> ClientEvent:
    p = payload_of("client_event", args)
    _no_extra(p, "client_event")
    kind = _field(p, "client_event", "kind", str)
    if kind not in CLIENT_EVENT_KINDS:
        raise ProtocolError(f"'client_event' kind must be one of {', '.join(CLIENT_EVENT_KINDS)}, got {kind!r}")
    data = _field(p, "client_event", "data", dict, required=False) or {}
    return ClientEvent(kind, data)


def action_key(action: Any) -> str:
    """A canonical string for comparing actions after a JSON round trip (tuples become lists)."""
    return json.dumps(action, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class ClientRecords:
    """A batch from a page's outbox."""

    source: str  # the outbox's id: one per browser storage (mug.data.client_records)
    records: list[Any]  # [{seq, kind, payload}, ...], checked by mug.server.sessions.intake and the store
    size: int  # bytes of the payload as JSON, for the participant's quota


def parse_client_records(args: tuple[Any, ...]) -> ClientRecords:
    """A batch from the page's outbox: ``{source, records: [{seq, kind, payload}, ...]}``."""
    p, size = sized_payload("client_records", args)
    _no_extra(p, "client_records")
    source = _field(p, "client_records", "source", str)
    if not SOURCE.match(source):
        raise ProtocolError("'client_records' field 'source' must be the outbox's id: 8-64 letters, digits, _ or -")
    records = _field(p, "client_records", "records", list)
    if not records or len(records) > 1000:
        raise ProtocolError("'client_records' field 'records' must hold 1 to 1000 records")
    return ClientRecords(source, records, size)


# -- P2P games (mug.server.sessions.p2p) -------------------------------------------------------

GAME_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
SIGNAL_KINDS = ("offer", "answer", "candidate", "restart")
TRANSPORTS = ("connecting", "direct", "turn", "server")
#: Bytes of netcode data in one relayed packet, and packets in one `p2p_relay`.
MAX_RELAY_PACKET_BYTES = 2_048
MAX_RELAY_PACKETS = 16
_MAX_RELAY_TEXT = 4 * ((MAX_RELAY_PACKET_BYTES + 2) // 3)  # its base64 text
MAX_PEER = 3  # peer indexes are 0..3 (2-4 players)


def _game_id(payload: dict[str, Any], event: str) -> str:
    value = _field(payload, event, "game_id", str)
    if not GAME_ID.match(value):
        raise ProtocolError(f"'{event}' field 'game_id' is not a valid game id")
    return value


def _peer_index(value: Any, event: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PEER:
        raise ProtocolError(f"'{event}' field '{name}' must be a peer index 0-{MAX_PEER}, got {str(value)[:20]}")
    return value


def _count(payload: dict[str, Any], event: str, name: str) -> int:
    value = _field(payload, event, name, int)
    if not 0 <= value < 2**31:
        raise ProtocolError(f"'{event}' field '{name}' must be an int from 0 to 2**31-1")
    return int(value)


@dataclass(frozen=True)
class P2PSignal:
    game_id: str
    to: int
    signal: dict[str, Any]  # {kind, data}: forwarded as it is


def parse_p2p_signal(args: tuple[Any, ...]) -> P2PSignal:
    """A WebRTC signaling message for one peer of a P2P game (the size limit bounds its data)."""
    p = payload_of("p2p_signal", args)
    _no_extra(p, "p2p_signal")
    game_id = _game_id(p, "p2p_signal")
    to = _peer_index(_field(p, "p2p_signal", "to", int), "p2p_signal", "to")
    signal = _field(p, "p2p_signal", "signal", dict)
    if set(signal) != {"kind", "data"} or signal["kind"] not in SIGNAL_KINDS:
        raise ProtocolError(f"'p2p_signal' field 'signal' must be {{kind: {' | '.join(SIGNAL_KINDS)}, data}}")
    return P2PSignal(game_id, to, {"kind": signal["kind"], "data": signal["data"]})


@dataclass(frozen=True)
class P2PRelay:
    game_id: str
    packets: list[tuple[int, str]]  # (to, base64 data)


def parse_p2p_relay(args: tuple[Any, ...]) -> P2PRelay:
    """Netcode packets for the server to carry to peers whose DataChannel did not open."""
    p = payload_of("p2p_relay", args)
    _no_extra(p, "p2p_relay")
    game_id = _game_id(p, "p2p_relay")
    packets = _field(p, "p2p_relay", "packets", list)
    if not 1 <= len(packets) <= MAX_RELAY_PACKETS:
        raise ProtocolError(f"'p2p_relay' field 'packets' must hold 1 to {MAX_RELAY_PACKETS} packets")
    parsed: list[tuple[int, str]] = []
    for packet in packets:
        if not isinstance(packet, dict) or set(packet) != {"to", "data"}:
            raise ProtocolError("'p2p_relay' packets must be {to: peer index, data: base64 string}")
        to = _peer_index(packet["to"], "p2p_relay", "to")
        data = packet["data"]
        if not isinstance(data, str) or not data or len(data) > _MAX_RELAY_TEXT or not BASE64.match(data):
            raise ProtocolError(
                f"'p2p_relay' packet data must be base64 of 1 to {MAX_RELAY_PACKET_BYTES} bytes of netcode data"
            )
        parsed.append((to, data))
    return P2PRelay(game_id, parsed)


@dataclass(frozen=True)
class P2PProbeResult:
    game_id: str  # the probe's id
    rtt_ms: dict[int, float | None]  # partner peer -> round trip over the DataChannel (None: no channel)


def parse_p2p_probe_result(args: tuple[Any, ...]) -> P2PProbeResult:
    """The round trips a page measured over its DataChannels to the other members of a proposed P2P group."""
    p = payload_of("p2p_probe_result", args)
    _no_extra(p, "p2p_probe_result")
    game_id = _game_id(p, "p2p_probe_result")
    listed = _field(p, "p2p_probe_result", "peers", list)
    if len(listed) > MAX_PEER:
        raise ProtocolError(f"'p2p_probe_result' field 'peers' lists at most {MAX_PEER} partners")
    rtts: dict[int, float | None] = {}
    for entry in listed:
        if not isinstance(entry, dict) or set(entry) != {"peer", "rtt_ms"}:
            raise ProtocolError("'p2p_probe_result' peers must be {peer, rtt_ms}")
        peer = _peer_index(entry["peer"], "p2p_probe_result", "peer")
        rtt = entry["rtt_ms"]
        if rtt is not None and (
            isinstance(rtt, bool) or not isinstance(rtt, (int, float)) or not math.isfinite(rtt) or not 0 <= rtt < 1e6
        ):
            raise ProtocolError("'p2p_probe_result' rtt_ms must be a number of milliseconds (0 or more) or null")
        rtts[peer] = None if rtt is None else round(float(rtt), 2)
    return P2PProbeResult(game_id, rtts)


@dataclass(frozen=True)
class P2PStatus:
    game_id: str
    frame: int
    peers: dict[int, dict[str, Any]]  # peer -> {transport, rtt_ms}
    rollbacks: int
    max_rollback: int
    predicted_frames: int
    frames: int
    desyncs: int


def parse_p2p_status(args: tuple[Any, ...]) -> P2PStatus:
    """How a peer's P2P game goes (transport and RTT per partner), for the monitor."""
    p = payload_of("p2p_status", args)
    _no_extra(p, "p2p_status")
    game_id = _game_id(p, "p2p_status")
    counts = {n: _count(p, "p2p_status", n) for n in ("frame", "rollbacks", "max_rollback", "predicted_frames",
                                                        "frames", "desyncs")}  # fmt: skip
    peers: dict[int, dict[str, Any]] = {}
    listed = _field(p, "p2p_status", "peers", list)
    if len(listed) > MAX_PEER:
        raise ProtocolError(f"'p2p_status' field 'peers' lists at most {MAX_PEER} partners")
    for entry in listed:
        if not isinstance(entry, dict) or set(entry) != {"peer", "transport", "rtt_ms"}:
            raise ProtocolError("'p2p_status' peers must be {peer, transport, rtt_ms}")
        peer = _peer_index(entry["peer"], "p2p_status", "peer")
        transport, rtt = entry["transport"], entry["rtt_ms"]
        if transport not in TRANSPORTS:
            raise ProtocolError(f"'p2p_status' transport must be one of {', '.join(TRANSPORTS)}")
        if rtt is not None and (
            isinstance(rtt, bool) or not isinstance(rtt, (int, float)) or not math.isfinite(rtt) or not 0 <= rtt < 1e6
        ):
            raise ProtocolError("'p2p_status' rtt_ms must be a number of milliseconds (0 or more) or null")
        peers[peer] = {"transport": transport, "rtt_ms": None if rtt is None else round(float(rtt), 2)}
    return P2PStatus(game_id, counts["frame"], peers, counts["rollbacks"], counts["max_rollback"],
                     counts["predicted_frames"], counts["frames"], counts["desyncs"])  # fmt: skip
