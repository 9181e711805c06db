"""The server's part of entry screening (`mug.screening`): the decision for a participant's first join.

The device, browser and OS come from the connection's User-Agent header and the query from the
link, never from what the page says of itself. The researcher's ``entry_callback`` runs in a
thread (it may be slow or call out); one that raises, returns something that is not
``{"exclude": bool, "message"?: str}``, or takes longer than ``callback_timeout_s`` is recorded as
a ``screening_error`` event (and in the server log) and lets the participant in.
"""

from __future__ import annotations

import asyncio
import logging
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
    return None
