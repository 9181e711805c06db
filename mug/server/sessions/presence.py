"""Where each participant's page is connected and where their game runs, when several servers serve one experiment.

**Pages.** A participant who opens the study again (another tab, another device) replaces the page they had:
the newest page wins, and the older one is told and disconnected. One server knows its own
connections; with several servers behind a load balancer the older page may be connected to
another one. Each server writes ``page/<participant>`` = its id and the connection's sid into the
shared state (`mug.server.cluster.state`) when a page joins and removes it when that page leaves;
a join that finds another server's page there replaces it through python-socketio's Redis manager
(an emit to a sid and a disconnect reach the server holding it).

**Games.** A server-run game runs on the server that started it: ``playing/<participant>`` names
that server and the game while it runs, so a participant who comes back to another server plays
on through it (`mug.server.cluster.relay`). A P2P game's entry names the server keeping it
(`mug.server.cluster.p2p_links`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from mug.server.cluster.state import SharedState, StateError

__all__ = ["Presence"]

log = logging.getLogger("mug.server.sessions.presence")

#: How long a page's entry outlives a server that died without removing it.
ENTRY_TTL_S = 24 * 3600.0


class Presence:
    """This server's view of where the experiment's participants are connected."""

    def __init__(self, state: SharedState, server_id: str) -> None:
        self.state = state
        self.server_id = server_id

    async def arrive(self, participant_id: str, sid: str) -> dict[str, Any] | None:
        """Record that ``participant_id``'s page is ``sid`` on this server; their page on another server, if any.

        Returns ``{"server": id, "sid": sid}`` of a page that another server holds (to be replaced),
        else None. A shared state that cannot be reached is logged, not raised: the page works on
        this server, only a page elsewhere is not replaced.
        """
        key = f"page/{participant_id}"
        entry = {"server": self.server_id, "sid": sid}
        try:
            before = await self.state.get(key)
            await self.state.put(key, entry, ttl_s=ENTRY_TTL_S)
        except StateError as exc:
            log.warning("could not record where %s is connected: %s", participant_id, exc)
            return None
        if isinstance(before, dict) and before.get("server") != self.server_id and before.get("sid") != sid:
            return before
        return None

    async def leave(self, participant_id: str, sid: str) -> None:
        """The page ``sid`` left this server (only its own entry is removed: a newer page's stays)."""
        with contextlib.suppress(StateError):
            await self.state.delete(f"page/{participant_id}", only_if={"server": self.server_id, "sid": sid})

    async def game_started(self, game_id: str, participant_ids: list[str], *, p2p: bool = False) -> None:
        """This server runs ``game_id`` for these participants (``p2p``: keeps their P2P game)."""
        entry = _entry(game_id, self.server_id, p2p)
        for pid in participant_ids:
            try:
                await self.state.put(f"playing/{pid}", entry, ttl_s=ENTRY_TTL_S)
            except StateError as exc:
                log.warning("could not record where %s plays: %s", pid, exc)

    async def game_ended(self, game_id: str, participant_ids: list[str], *, p2p: bool = False) -> None:
        """``game_id`` ended on this server (or these participants are done with it)."""
        entry = _entry(game_id, self.server_id, p2p)
        for pid in participant_ids:
            with contextlib.suppress(StateError):
                await self.state.delete(f"playing/{pid}", only_if=entry)


def _entry(game_id: str, server_id: str, p2p: bool) -> dict[str, Any]:
    """A ``playing/<participant>`` value. A P2P game's says so: when its server is gone, another server
    takes the game over (`mug.server.cluster.p2p_links`), so a join waits for the new entry."""
    return {"game": game_id, "server": server_id, **({"p2p": True} if p2p else {})}
