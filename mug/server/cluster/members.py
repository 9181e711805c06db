"""The servers of one experiment: each says it is alive; the games of one that went silent are closed.

A server killed outright (SIGKILL, its machine gone) cannot end its games. Every server renews
``alive/<server id>`` in the shared state every `HEARTBEAT_S` seconds with a lifetime of `SILENT_S`
seconds, and every `CHECK_S` seconds looks in the store for open games whose server is not alive.
One server at a time (a lease per silent server) closes them as ``interrupted``, as a restarted
single server closes what a crash left open; their players, who reconnect through the load
balancer to a live server, are told and go on as the scene's ``on_interrupt`` says.

Games recorded with no server (a single server's, before it joined a cluster) count as a silent
server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mug.server.cluster.state import SharedState, StateError

__all__ = ["CHECK_S", "HEARTBEAT_S", "SILENT_S", "Members"]

log = logging.getLogger("mug.server.cluster.members")

#: Seconds between a server's announcements that it is alive.
HEARTBEAT_S = 1.0
#: Seconds without an announcement after which a server counts as gone.
SILENT_S = 4.0
#: Seconds between two looks for open games of servers that are gone.
CHECK_S = 2.0
#: How long one server may take to close a silent server's games before another may try.
RECOVERY_LEASE_S = 30.0

NO_SERVER = ""  # games recorded without a server


class Members:
    """This server's membership: its heartbeat, and the recovery of silent servers' games.

    ``open_hosts()`` returns the servers (ids, ``""`` for none) that have open games in the store;
    ``recover(host)`` closes those of one host as interrupted; ``games()`` says how many games run
    here (announced with the heartbeat, so a waitroom's home can place a game where fewer run).
    """

    def __init__(
        self,
        state: SharedState,
        server_id: str,
        *,
        open_hosts: Callable[[], Awaitable[set[str]]],
        recover: Callable[[str], Awaitable[None]],
        games: Callable[[], int] = lambda: 0,
    ) -> None:
        self.state = state
        self._games = games
        self.server_id = server_id
        self._open_hosts = open_hosts
        self._recover = recover
        self._tasks: list[asyncio.Task[None]] = []
        self._checking = asyncio.Lock()
        self.recovered: list[str] = []  # servers whose games this one closed (for the monitor and tests)

    async def start(self) -> None:
        """Announce this server (before it starts any game), then keep announcing and watching."""
        await self.state.put(f"alive/{self.server_id}", self._announcement(time.time()), ttl_s=SILENT_S)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._announce()), loop.create_task(self._watch())]

    def _announcement(self, since: float) -> dict[str, Any]:
        """What ``alive/<id>`` holds: since when, and how many games run here (for game placement)."""
        return {"since": since, "games": self._games()}

    async def alive(self) -> set[str]:
        """The ids of the servers that announced themselves within `SILENT_S` seconds."""
        return {key.split("/", 1)[1] for key in await self.state.scan("alive/")}

    async def _announce(self) -> None:
        since = time.time()
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.state.put(f"alive/{self.server_id}", self._announcement(since), ttl_s=SILENT_S)
            except StateError as exc:
                log.warning("could not announce this server: %s", exc)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("looking for games of stopped servers failed")

    async def check(self) -> list[str]:
        """Close the open games of every server that is not alive; the servers whose games were closed."""
        async with self._checking:  # (the lease keeps other servers out, not this one's second call)
            return await self._check()

    async def _check(self) -> list[str]:
        hosts = await self._open_hosts()
        if not hosts:
            return []
        alive = await self.alive()
        done = []
        for host in sorted(hosts - alive - {self.server_id}):
            lease = f"recover/{host or NO_SERVER}"
            if not await self.state.claim(lease, self.server_id, RECOVERY_LEASE_S):
                continue  # another server is at it
            try:
                log.warning("server %s stopped announcing itself; closing its open games", host or "(none)")
                await self._recover(host)
                done.append(host)
                self.recovered.append(host)
            finally:
                with contextlib.suppress(StateError):
                    await self.state.release(lease, self.server_id)
        return done

    async def stop(self) -> None:
        """Stop announcing (after this server ended its own games) and say so at once."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(StateError):
            await self.state.delete(f"alive/{self.server_id}")
