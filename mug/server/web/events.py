"""Socket.IO event handlers: parse each payload, call the session layer, reply or report an error.

A refused event gets an error reply and is counted (`mug.server.sessions.refusals`), never written as a row
of its own; each connection may send `ClientLimits.events_per_s` events (a burst of
`events_burst`), more are refused unhandled. ``p2p_relay`` (a P2P game's inputs through the server,
one event per frame) has a budget of its own (`mug.server.sessions.p2p.RELAY_EVENTS_PER_S`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from mug.server.sessions.intake import TokenBucket
from mug.server.sessions.p2p import RELAY_EVENTS_BURST, RELAY_EVENTS_PER_S
from mug.server.sessions.sessions import Sessions
from mug.server.web import protocol
from mug.server.web.protocol import ProtocolError

log = logging.getLogger("mug.server.web.events")

Handler = Callable[[str, tuple[Any, ...]], Awaitable[Any]]


def register(sio: socketio.AsyncServer, sessions: Sessions) -> None:
    """Attach MUG's handlers to the Socket.IO server (protocol: docs/protocol.md)."""
    limits = sessions.limits
    budgets: dict[str, TokenBucket] = {}  # per connection: every event
    page_budgets: dict[str, TokenBucket] = {}  # per connection: client_event (each is a row)
    relay_budgets: dict[str, TokenBucket] = {}  # per connection: p2p_relay (instead of the above)

    def note(sid: str | None, what: str, message: str) -> None:
        conn = sessions.by_sid.get(sid) if sid is not None else None
        sessions.refusals.note(conn.participant_id if conn else None, sid, what, message)

    if hasattr(sio, "on_refused"):
        sio.on_refused = note  # packets refused before they became events (mug.server.web.inbound)

    async def reject(sid: str, event: str, message: str, args: tuple[Any, ...] = ()) -> dict[str, Any]:
        note(sid, event, message)
        await sio.emit("error", {"event": event[:64], "message": message}, to=sid)
        return {"ok": False, "error": message}

    def guarded(event: str, handler: Handler, *, relay: bool = False) -> None:
        rate, burst = (RELAY_EVENTS_PER_S, RELAY_EVENTS_BURST) if relay else (limits.events_per_s, limits.events_burst)
        buckets = relay_budgets if relay else budgets

        async def on_event(sid: str, *args: Any) -> Any:
            budget = buckets.get(sid)
            if budget is None:
                budget = buckets[sid] = TokenBucket(rate, burst)
            if budget.take() > 0:
                return await reject(sid, event, f"too many '{event}' events: more than {rate:g} a second"
                                    if relay else f"too many events: more than {rate:g} a second")  # fmt: skip
            try:
                result = await handler(sid, args)
            except ProtocolError as exc:
                return await reject(sid, event, str(exc), args)
            except Exception as exc:  # a bug must not take the server or other games down
                log.exception("handler for %r failed", event)
                return await reject(sid, event, f"server error while handling '{event}': {type(exc).__name__}")
            return {"ok": True, **result} if isinstance(result, dict) else result

        sio.on(event, on_event)

    async def on_join(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        return await sessions.join(sid, protocol.parse_join(args))

    async def on_advance(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        return await sessions.advance(sid, protocol.parse_advance(args))

    async def on_start_game(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        return await sessions.start_game(sid, protocol.parse_start_game(args))

    async def on_action(sid: str, args: tuple[Any, ...]) -> None:
        action = protocol.parse_action(args)
        sessions.action(sid, action.scene_id, action.action)

    async def on_ping(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        ping = protocol.parse_ping(args)
        conn = sessions.by_sid.get(sid)
        if conn is not None and ping.rtt_ms is not None:
            sessions.rtt_ms[conn.participant_id] = ping.rtt_ms
            sessions.matching.note_rtt(conn.participant_id, ping.rtt_ms)
            sessions.watch.rtt(conn.participant_id, ping.rtt_ms)
            sessions.entry_pings.rtt(conn.participant_id, ping.rtt_ms)
        return {"t": ping.t, "server_t": time.time() * 1000.0}

    async def on_client_records(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        return await sessions.client_records(sid, protocol.parse_client_records(args))

    async def on_client_event(sid: str, args: tuple[Any, ...]) -> None:
        event = protocol.parse_client_event(args)
        pid = sessions.participant_of(sid)
        budget = page_budgets.get(sid)
        if budget is None:
            budget = page_budgets[sid] = TokenBucket(limits.page_events_per_s, limits.page_events_burst)
        if budget.take() > 0:  # each is a row in the data
            raise ProtocolError(f"too many page events: more than {limits.page_events_per_s:g} a second")
        # (None once the participant has finished, e.g. ended early: focus changes are still worth keeping)
        sessions.writer.event(pid, sessions.scene_of.get(pid), f"client_{event.kind}", event.data)
        sessions.watch.client_event(pid, event.kind, event.data)

    async def on_p2p_signal(sid: str, args: tuple[Any, ...]) -> None:
        signal = protocol.parse_p2p_signal(args)
        await sessions.p2p.signal(sessions.participant_of(sid), signal)

    async def on_p2p_relay(sid: str, args: tuple[Any, ...]) -> None:
        relay = protocol.parse_p2p_relay(args)
        await sessions.p2p.relay(sessions.participant_of(sid), relay)

    async def on_leave(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        # Recorded before the browser leaves: the page waits for this answer, then goes.
        leave = protocol.parse_leave(args)
        sessions.writer.event(sessions.participant_of(sid), leave.scene_id, "redirected", {"url": leave.url})
        return {}

    async def on_p2p_probe_result(sid: str, args: tuple[Any, ...]) -> dict[str, Any]:
        result = protocol.parse_p2p_probe_result(args)
        await sessions.matching.probes.result(sessions.participant_of(sid), result)
        return {}

    async def on_p2p_status(sid: str, args: tuple[Any, ...]) -> None:
        sessions.p2p.status(sessions.participant_of(sid), protocol.parse_p2p_status(args))

    guarded("p2p_relay", on_p2p_relay, relay=True)
    for name, handler in (
        ("p2p_signal", on_p2p_signal),
        ("p2p_status", on_p2p_status),
        ("p2p_probe_result", on_p2p_probe_result),
        ("leave", on_leave),
        ("join", on_join),
        ("advance", on_advance),
        ("start_game", on_start_game),
        ("action", on_action),
        ("ping", on_ping),
        ("client_event", on_client_event),
        ("client_records", on_client_records),
    ):
        guarded(name, handler)

    async def on_unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return await reject(sid, str(event), f"unknown event {str(event)[:64]!r}")

    sio.on("*", on_unknown)

    async def on_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        return True

    async def on_disconnect(sid: str, reason: Any = None) -> None:
        budgets.pop(sid, None)
        page_budgets.pop(sid, None)
        relay_budgets.pop(sid, None)
        try:
            await sessions.disconnect(sid)
        except Exception:
            log.exception("disconnect handling failed for %s", sid)

    sio.on("connect", on_connect)
    sio.on("disconnect", on_disconnect)
