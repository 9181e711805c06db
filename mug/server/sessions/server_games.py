"""Server-run games: started for one participant or a matched group, here or in a game process;
and what their end means for their players.

A game runs in this process (`mug.server.games.game.ServerGame`) or, with ``--game-processes``,
in a game process (`mug.server.games.processes`); either way it is a `GameHandle` the sessions
know by id, its players' pages join its Socket.IO room (`mug.server.web.rooms`), and with several
servers its players connected elsewhere are linked to it (`mug.server.cluster.relay`). When a
game ends, its players here move on as its outcome says; a player away past the grace period is
dropped with a completion code.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from mug.data.results import POLICY_PREFIX
from mug.scenes import GymScene
from mug.server.cluster.linked import LinkedGame
from mug.server.games.game import ServerGame
from mug.server.games.handle import GameHandle
from mug.server.games.processes.parent import RemoteGame
from mug.server.sessions.texts import AWAY_TOO_LONG, GAME_ERROR, PARTNER_LEFT
from mug.server.web.rooms import game_room, participant_room

if TYPE_CHECKING:
    from mug.server.sessions.sessions import Sessions

__all__ = ["ServerGames"]


class ServerGames:
    """The server-run games of one server's sessions: started, and their ends applied to their players."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def start_group(
        self,
        scene: GymScene,
        group: list[str],
        waited: dict[str, float],
        *,
        game_id: str | None = None,
        elsewhere: dict[str, str] | None = None,
    ) -> str:
        """A matched group's server-run game: started, recorded (``matched``), announced; its id.

        A group short of humans (a waitroom timeout with ``timeout_policy``) takes the first human
        agents; the policy plays the others (`GymScene.filled_in`). With several servers, members
        connected to another server (``elsewhere``: participant -> server; by default those who
        waited here through theirs) play through it; ``game_id`` is the id the waitroom's home
        gave a game it placed here (`mug.server.cluster.waitrooms`).
        """
        sessions = self.sessions
        shared = sessions.matching.shared
        if elsewhere is None:
            elsewhere = {p: s for p in group if shared is not None and (s := shared.remote_waiters.get(p))}
        players = dict(zip(scene.human_agents[: len(group)], group, strict=True))
        game = await self.new_game(scene, players, game_id=game_id)
        players = {p.agent_id: p.participant_id for p in game.players.values()}
        sessions.writer.event(
            None, scene.scene_id, "matched", {"game_id": game.game_id, "players": players, "waited_s": waited}
        )
        pages = sessions.game_pages
        matched = {p: {"scene_id": scene.scene_id, **pages.add(scene, p, game.snapshot(p))} for p in group}
        if elsewhere and sessions.relay is not None:
            # Members connected to other servers play through them (before the game's first tick).
            for player, server in elsewhere.items():
                sessions.relay.link(game, player, server, matched.pop(player))
                if shared is not None:
                    shared.forget(player)
        for player, payload in matched.items():
            await sessions.sio.emit("matched", payload, room=participant_room(player))
        return game.game_id

    def count(self) -> int:
        """How many server-run games this server runs (not counting those it relays for others)."""
        return sum(not isinstance(game, LinkedGame) for game in self.sessions.games.values())

    async def new_game(self, scene: GymScene, players: dict[str, str], *, game_id: str | None = None) -> GameHandle:
        """Start a server-run game of ``players`` (agent -> participant); its pages join its room."""
        sessions = self.sessions
        scene = scene.filled_in(players)  # (the scene itself unless humans are missing)
        grace = scene.multiplayer_options.reconnect_grace_s if scene.multiplayer_options else sessions.reconnect_grace_s
        game_id = game_id or uuid.uuid4().hex
        game: GameHandle
        if sessions.processes is not None:
            game = RemoteGame(
                sessions.processes,
                scene,
                sessions.experiment.scene_index(scene.scene_id or ""),
                players,
                game_id=game_id,
                reconnect_grace_s=grace,
                deliver=lambda target, text: sessions.sio.send_encoded(
                    text, game_room(game_id) if target is None else participant_room(target)
                ),
                on_finished=self.finished,
                on_dropped=self.dropped,
            )
        else:
            game = ServerGame(
                scene,
                players,
                sessions.writer,
                sessions.recorder,
                _GameChannel(sessions, game_id),
                sessions.executor,
                reconnect_grace_s=grace,
                on_finished=self.finished,
                on_dropped=self.dropped,
                game_id=game_id,
                phases=sessions.phases,
            )
        sessions.games[game_id] = game
        for pid in players.values():
            sessions.game_of[pid] = game_id
            sid = sessions.sid_of.get(pid)
            if sid:
                await sessions.sio.enter_room(sid, game_room(game_id))
        if sessions.presence is not None:
            humans = [p for p in players.values() if not p.startswith(POLICY_PREFIX)]
            await sessions.presence.game_started(game_id, humans)
        game.start()
        return game

    async def dropped(self, game: GameHandle, pid: str) -> None:
        """A player was away longer than the grace period: their session ends (on their own server)."""
        sessions = self.sessions
        sessions.game_of.pop(pid, None)
        if sessions.relay is not None and sessions.relay.player_dropped(game, pid):
            return  # (connected to another server, which ends it)
        await sessions.end_with_code(pid, game.scene, "dropped", "Session ended", AWAY_TOO_LONG)

    async def finished(self, game: GameHandle) -> None:
        """A game ended: its players here move on as its outcome says (a game's own end, or its server's)."""
        sessions = self.sessions
        sessions.games.pop(game.game_id, None)
        if sessions.presence is not None:
            await sessions.presence.game_ended(game.game_id, game.participant_ids)
        for pid in game.participant_ids:
            if sessions.game_of.get(pid) == game.game_id:
                del sessions.game_of[pid]
        elsewhere = []
        if sessions.relay is not None and not isinstance(game, LinkedGame):
            elsewhere = sessions.relay.game_finished(game)  # (their servers move them on)
        for pid in game.participant_ids:
            if pid in elsewhere:
                continue
            if game.outcome == "interrupted":  # (its server stopped: mug.server.cluster)
                await sessions.interruptions.resume(pid)
                continue
            if pid in game.dropped and len(game.players) > 1:
                continue  # already ended with a code when dropped (see dropped)
            if game.outcome == "player_dropped":
                await sessions.end_with_code(pid, game.scene, "partner_left", "The game has ended", PARTNER_LEFT)
            elif game.outcome == "abandoned":
                await sessions.end_with_code(pid, game.scene, "abandoned", "Session ended", AWAY_TOO_LONG)
            else:
                if game.outcome == "error":
                    sessions.notices[pid] = GAME_ERROR
                await sessions.move_on(pid, game.scene)


class _GameChannel:
    """Delivers a game's messages through Socket.IO rooms (encoded once per message)."""

    def __init__(self, sessions: Sessions, game_id: str) -> None:
        self._sessions = sessions
        self._room = game_room(game_id)

    async def to_game(self, event: str, payload: dict[str, Any]) -> None:
        await self._sessions.sio.broadcast(event, payload, room=self._room)

    async def to_player(self, participant_id: str, event: str, payload: dict[str, Any]) -> None:
        await self._sessions.sio.broadcast(event, payload, room=participant_room(participant_id))
