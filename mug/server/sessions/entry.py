"""The server's part of entry screening (`mug.screening`): the decision for a participant's first join.

The device, browser and OS come from the connection's User-Agent header and the query from the
link, never from what the page says of itself. The researcher's ``entry_callback`` runs in a
thread (it may be slow or call out); one that raises, returns something that is not
``{"exclude": bool, "message"?: str}``, or takes longer than ``callback_timeout_s`` is recorded as
a ``screening_error`` event (and in the server log) and lets the participant in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mug.screening import EntryScreening, ScreeningContext, describe_agent

if TYPE_CHECKING:
    from mug.server.sessions.sessions import Sessions

log = logging.getLogger("mug.server.sessions.entry")


async def screen(
    sessions: Sessions, screening: EntryScreening, sid: str, pid: str, query: Mapping[str, str]
) -> tuple[str, str] | None:
    """(reason, message) when `pid` is screened out, None when they may enter."""
    try:
        environ = sessions.sio.get_environ(sid) or {}
    except Exception:  # (the connection went away meanwhile: nothing to screen)
        environ = {}
    agent = str(environ.get("HTTP_USER_AGENT") or "")[:512]
    device, browser, version, os_name = describe_agent(agent)
    context = ScreeningContext(pid, dict(query), agent, device, browser, version, os_name)
    decided = screening.decide(context)
    if decided is not None or screening.entry_callback is None:
        return decided
    name = getattr(screening.entry_callback, "__qualname__", "entry_callback")
    loop = asyncio.get_running_loop()
    try:
        result = await asyncio.wait_for(
            loop.run_in_executor(None, screening.entry_callback, context), screening.callback_timeout_s
        )
    except TimeoutError:
        return _failed_open(sessions, pid, f"{name} took longer than {screening.callback_timeout_s:g} s")
    except Exception as exc:
        log.exception("entry_callback %s raised for participant %r", name, pid)
        return _failed_open(sessions, pid, f"{name} raised {type(exc).__name__}: {exc}")
    problem = _check(result)
    if problem:
        return _failed_open(sessions, pid, f"{name} returned {problem}")
    if result["exclude"]:
        return "callback", str(result.get("message") or screening.exclusion_messages["callback"])
    return None


def _check(result: Any) -> str | None:
    if not isinstance(result, Mapping) or not isinstance(result.get("exclude"), bool):
        return f"{type(result).__name__} {str(result)[:80]!r}; expected {{'exclude': bool, 'message': str}}"
    message = result.get("message")
    if message is not None and not isinstance(message, str):
        return f"a message of type {type(message).__name__}; expected a string"
    return None


def _failed_open(sessions: Sessions, pid: str, error: str) -> None:
    """Screening fails open: the participant enters; the error is recorded."""
    log.warning("entry screening failed open for %r: %s", pid, error)
    sessions.writer.event(pid, None, "screening_error", {"error": error, "let_in": True})


class PingScreening:
    """Screening by round trip at entry (``max_ping_ms``): the page measures a burst of round trips
    right after its join, and the median of the first ``min_ping_measurements`` decides.

    The outcome is kept with the participant (``data.ping_screen``), so a reload neither screens
    them twice nor slips past; a page that went away before the burst ended is asked again.
    """

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.pending: dict[str, list[float]] = {}

    def pings_to_ask(self, pid: str, data: Mapping[str, Any]) -> int:
        """How many pings the joining page should send now (0: none)."""
        screening = self.sessions.experiment.screening
        if screening is None or screening.max_ping_ms is None or "ping_screen" in data:
            return 0
        self.pending[pid] = []
        return screening.min_ping_measurements + 1  # (each ping reports the one before)

    def rtt(self, pid: str, rtt_ms: float) -> None:
        samples = self.pending.get(pid)
        screening = self.sessions.experiment.screening
        if samples is None or screening is None or screening.max_ping_ms is None:
            return
        samples.append(rtt_ms)
        if len(samples) < screening.min_ping_measurements:
            return
        del self.pending[pid]
        median = statistics.median(samples)
        passed = median <= screening.max_ping_ms
        outcome = {"median_ms": round(median, 1), "samples": samples, "max_ping_ms": screening.max_ping_ms,
                   "passed": passed}  # fmt: skip
        self.sessions.spawn(self._decide(pid, outcome, screening))

    async def _decide(self, pid: str, outcome: dict[str, Any], screening: EntryScreening) -> None:
        from mug.server.sessions.exclusion import ExclusionError, exclude

        await self.sessions.writer.call(
            self.sessions.store.update_participant_data, pid, {"ping_screen": outcome}, time.time()
        )
        self.sessions.writer.event(pid, None, "screening_ping", outcome)
        if outcome["passed"]:
            return
        reason = f"screening: ping median {outcome['median_ms']:g} ms over {screening.max_ping_ms:g} ms"
        with contextlib.suppress(ExclusionError):  # (excluded meanwhile by something else)
            await exclude(self.sessions, pid, screening.exclusion_messages["ping"], reason)
