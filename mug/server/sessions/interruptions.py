"""Games a stopped server cut off: closed as ``interrupted``, their players told and moved on.

A server that crashed (or, with several servers, stopped announcing itself:
`mug.server.cluster.members`) cannot end its games. The next server to start closes what it left
open, or a live server closes a silent one's (`Interruptions.recover`); the participant's session
data keeps the interrupted game, so they are told at their next join, on any server, or at once
when connected (`Interruptions.resume`), and the scene's ``on_interrupt`` applies (`tell`).
Frames leave before their steps are committed, so what the page saw past the last commit is
recorded as ``steps_lost``. A server that stops cleanly notes its games the same way
(`note_stopped`): nothing of them is lost, but their players go on as after a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mug.data.results import POLICY_PREFIX
from mug.scenes import GymScene
from mug.server.cluster.linked import LinkedGame
from mug.server.games.handle import GameHandle
from mug.server.web.protocol import Seen

if TYPE_CHECKING:
    from mug.server.sessions.sessions import Sessions

__all__ = ["INTERRUPTED", "INTERRUPTED_NEXT", "Interruptions"]

log = logging.getLogger("mug.server.sessions.interruptions")

INTERRUPTED = "The study's server restarted and your game was interrupted. Your data up to that point is saved."
#: What a participant reads after an interruption, by the scene's ``on_interrupt``.
INTERRUPTED_NEXT = {
    "restart": INTERRUPTED + " The game starts again.",
    "next_scene": INTERRUPTED + " The study goes on from here.",
    "end": INTERRUPTED + " This part of the study cannot go on. Thank you for taking part.",
}


class Interruptions:
    """The server's handling of interrupted games: closing them, and telling their players."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def recover(self, host: str | None = None) -> None:
        """Games a crash left open end as ``interrupted``; their players are told when they come back.

        ``host``: only the games of that server (one of several sharing the store, now gone); None:
        every open game. The participant's session data keeps the interrupted game, so a second
        restart before they return does not lose the notice, and the scene's ``on_interrupt``
        applies when they do.
        """
        sessions = self.sessions
        writer, store = sessions.writer, sessions.store
        now = time.time()
        for game in await writer.call(store.close_open_games, now, host):
            log.warning("game %s (scene %s) was left open by a stopped server", game["game_id"], game["scene_id"])
            where = {"game_id": game["game_id"], "episode": game["episode"], "step": game["step"]}
            writer.event(None, game["scene_id"], "game_interrupted", where)
            for pid in game["players"].values():
                if pid.startswith(POLICY_PREFIX):
                    continue
                try:
                    await writer.call(
                        store.update_participant_data,
                        pid,
                        {"interrupted_game": {**where, "scene_id": game["scene_id"]}},
                        now,
                    )
                except KeyError:
                    log.warning("game %s names an unknown participant %r", game["game_id"], pid)
        if host is not None and sessions.relay is not None:
            for linked in sessions.relay.linked_to(host):  # its players here are told now
                await linked.finished("interrupted", [], None)

    async def note_stopped(self, games: Iterable[GameHandle]) -> None:
        """This server stops cleanly: the players of its games are told, and the scene's
        ``on_interrupt`` applies, when they come back to the next server (as after a crash)."""
        sessions = self.sessions
        now = time.time()
        for game in games:
            if isinstance(game, LinkedGame):
                continue  # (it runs on another server, where its players come back to)
            where = {"game_id": game.game_id, "scene_id": game.scene.scene_id, "episode": game.episode}
            for pid in game.players:
                note = {**where, "step": game.step, "crashed": False}
                await sessions.writer.call(sessions.store.update_participant_data, pid, {"interrupted_game": note}, now)
            if sessions.relay is not None:  # players connected to other servers are told there now
                sessions.relay.game_finished(game, outcome="interrupted")

    async def resume(self, pid: str) -> None:
        """A connected participant's game was cut off on another server: tell them and go on as the
        scene's ``on_interrupt`` says, as a join after a restart does (their page could not say which
        frame it showed last, so the steps past the last commit are recorded as possibly lost)."""
        sessions = self.sessions
        if pid not in sessions.sid_of:
            return  # (told when they join)
        record = await sessions.record(pid)
        interrupted = record.data.get("interrupted_game")
        if not interrupted or "terminal" in record.data:
            return
        sessions.orders.remember(pid, record.data)
        index = min(record.scene_index, sessions.orders.count(pid) - 1)
        spec = await self.tell(pid, index, interrupted, None)
        await sessions.send_to(pid, "scene", spec if spec is not None else await sessions.scene_spec(pid, index))

    async def tell(
        self, pid: str, index: int, interrupted: dict[str, Any], seen: Seen | None
    ) -> dict[str, Any] | None:
        """Tell a participant whose server-run game a crash cut off, and apply the scene's ``on_interrupt``.

        Frames leave before their steps are committed (steps are committed in batches every 0.2 s),
        so the participant may have seen steps that are not in the data. The page says which frame
        it showed last (`seen`): the range past the last committed step is recorded as lost.
        Returns the scene spec to show, or None when the participant is no longer in that scene.
        """
        sessions = self.sessions
        writer = sessions.writer
        await writer.call(sessions.store.update_participant_data, pid, {"interrupted_game": None}, time.time())
        game_id = interrupted.get("game_id")
        committed = (interrupted.get("episode", 0), interrupted.get("step", 0))
        lost: dict[str, Any] = {"game_id": game_id, "committed": list(committed)}
        if seen is not None and seen.game_id == game_id:
            lost["seen"] = [seen.episode, seen.step]
            if (seen.episode, seen.step) > committed:
                writer.event(pid, interrupted.get("scene_id"), "steps_lost", lost)
        elif interrupted.get("crashed", True):
            # The page cannot say what it showed (it was closed or reloaded meanwhile): at most the
            # steps of one commit interval past the last committed one can have been lost.
            lost["seen"] = None
            lost["at_most_s"] = sessions.recorder.interval_s
            writer.event(pid, interrupted.get("scene_id"), "steps_lost", lost)
        scene = sessions.orders.scene_at(pid, index)
        if not isinstance(scene, GymScene) or scene.scene_id != interrupted.get("scene_id"):
            return None
        policy = scene.on_interrupt
        writer.event(pid, scene.scene_id, "game_interrupted_notice", {**lost, "on_interrupt": policy})
        if policy == "end":
            return await sessions.end_with_code(
                pid, scene, "interrupted", "The study was interrupted", INTERRUPTED_NEXT["end"], send=False
            )
        sessions.notices[pid] = INTERRUPTED_NEXT[policy]
        if policy == "next_scene":
            return await sessions.go_to(pid, index + 1)
        return await sessions.scene_spec(pid, index)
