"""Matching: the waitrooms of a server, the groups their matchmakers propose, and the match log.

A participant who starts a multiplayer scene enters its waitroom (mug.server.sessions.waitroom)
with what a matchmaker may look at: their group history (kept in the participant's stored session
data, so a reload or a server restart keeps it), the query of their link and their form answers.
A matching pass asks the matchmaker for groups until it proposes none; it runs when someone
arrives and every `PASS_INTERVAL_S` while enough participants wait (round trips get measured,
people wait longer: a later pass may group whom an earlier one did not). Every proposal goes into
the match log (events ``match_proposal``: members, round trips used, who decided, why, what
happened) before its game starts; a matchmaker's error goes in as ``matchmaker_error``.
Simulated participants (``Experiment.simulate``) wait in a pool of their own (`SIMULATED_POOL`):
a dry run on a live study never puts a real participant in a game with a simulated one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from mug.matchmaking import PastGroup, estimated_rtt_ms
from mug.policies import policy_label
from mug.scenes import GymScene
from mug.server.sessions import binding
from mug.server.sessions.p2p_probe import P2PProbes
from mug.server.sessions.waitroom import Proposal, Waitroom

if TYPE_CHECKING:
    from mug.server.cluster.waitrooms import SharedWaitrooms
    from mug.server.sessions.sessions import Sessions

#: Seconds between matching passes while a waitroom holds enough participants for a group.
PASS_INTERVAL_S = 0.5
#: Round trips kept per participant (the candidates' `rtt_samples`).
RTT_SAMPLES = 5
#: Former groups kept per participant in their session data.
GROUPS_KEPT = 50
#: The waitroom pool of simulated participants (`Experiment.simulate`): they are grouped only with each other.
SIMULATED_POOL = "simulated"


class Matching:
    """The waitrooms of one server: who waits where, and the groups that leave them to play."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.writer = sessions.writer
        self.store = sessions.store
        self.waitrooms: dict[str, Waitroom] = {}
        self.rtt_samples: dict[str, deque[float]] = {}
        self._passes: dict[str, asyncio.Task[None]] = {}
        self.probes = P2PProbes(self)
        #: The waitrooms shared by several servers of the experiment (`mug.server.cluster.waitrooms`).
        self.shared: SharedWaitrooms | None = None

    # -- round trips ------------------------------------------------------------------------------

    def note_rtt(self, participant_id: str, rtt_ms: float) -> None:
        """A round trip the participant's page measured to the server (its `ping`)."""
        self.rtt_samples.setdefault(participant_id, deque(maxlen=RTT_SAMPLES)).append(round(float(rtt_ms), 1))

    # -- entering and leaving -----------------------------------------------------------------------

    def room(self, scene: GymScene) -> Waitroom:
        """The scene's waitroom (made on first use)."""
        sid = scene.scene_id or ""
        room = self.waitrooms.get(sid)
        if room is None:
            opts = scene.effective_waitroom()
            mp = scene.multiplayer_options
            room = Waitroom(
                sid,
                len(scene.human_agents),
                opts.timeout,
                lambda pid: self.sessions.spawn(self._timeout(scene, pid)),
                matchmaker=mp.matchmaker if mp else None,
            )
            room.on_error = lambda message: self.writer.event(
                None, sid, "matchmaker_error", {"error": message, "matchmaker": type(room.matchmaker).__name__}
            )
            self.waitrooms[sid] = room
        return room

    async def enter(self, pid: str, scene: GymScene, *, here: bool = False) -> dict[str, Any]:
        """The participant starts a multiplayer scene: queued, matched if a group forms; the reply.

        With several servers (``shared``), the scene's waitroom may run on another server: the
        participant waits there (``here``: queue them in this server's waitroom regardless).
        """
        room = self.room(scene)
        record = None
        if scene.is_p2p and pid not in room:
            record = await self.writer.call(self.store.get_participant, pid)
            earlier = ((record.data if record else {}).get("browser_games") or {}).get(scene.scene_id or "")
            if isinstance(earlier, dict) and earlier.get("fill_in"):
                # (A page that reloaded during its AI fill-in game: a new one at once, as client-side
                # games start over after a reload; the waitroom was already waited out. On its own
                # server: the page is connected here.)
                game = await self._fill_in_p2p(scene, pid)
                self.writer.event(pid, scene.scene_id, "waitroom_fill_in", {"game_id": game["game_id"], "again": True})
                return {"game": game}
        if not here and self.shared is not None:
            home = await self.shared.home(scene)
            if home != self.shared.server_id:
                return await self.shared.wait_at(home, pid, scene)
        if pid not in room:
            if record is None:
                record = await self.writer.call(self.store.get_participant, pid)
            forms = await self.writer.call(self.store.forms_of, pid)
            history = _history((record.data if record else {}).get("groups"))
            data = {"query": dict(record.query) if record else {}, "forms": forms}
            # Simulated participants (a dry run) wait in a pool of their own: never grouped with real ones.
            pool = SIMULATED_POOL if record and binding.simulated(record.data, record.secret_hash) else ""
            if pid not in room and self._playing(pid, scene) is None:
                room.add(pid, history, data, pool=pool)
                self.writer.event(pid, scene.scene_id, "waitroom_entered", {"waiting": len(room.waiting_with(pid))})
        await self.run_pass(room, scene)
        game = self._playing(pid, scene)
        if game is not None:
            return {"game": game}
        self.keep_matching(room, scene)
        await self.broadcast(room)
        return {"waitroom": self.status(room, pid)}

    async def leave(self, pid: str) -> None:
        """The participant's page went away: out of every queue (their deadline is kept for a return)."""
        self.rtt_samples.pop(pid, None)
        await self.probes.left(pid)
        if self.shared is not None:
            await self.shared.left(pid)
        for room in self.waitrooms.values():
            if room.remove(pid):
                self.writer.event(pid, room.scene_id, "waitroom_left", {})
                await self.broadcast(room)

    def _playing(self, pid: str, scene: GymScene) -> dict[str, Any] | None:
        """The game payload of the participant's game in `scene`, once a group with them started."""
        if scene.is_p2p:
            found = self.sessions.p2p.live(pid)
            if found is not None and found[0].scene is scene:
                return self.sessions.p2p.payload(*found)
            return None
        game = self.sessions.game_of_participant(pid)
        # (A filled-in game's scene is a copy of the scene: GymScene.filled_in.)
        return game.snapshot(pid) if game is not None and game.scene.scene_id == scene.scene_id else None

    # -- matching passes ----------------------------------------------------------------------------

    async def run_pass(self, room: Waitroom, scene: GymScene) -> None:
        """Ask the matchmaker for groups until it proposes none; each proposed group plays."""
        played = False
        async with room.lock:
            while not self.sessions.closing:
                proposal = await room.propose(self.rtt_samples)
                if proposal is None:
                    break
                await self._play(room, scene, proposal)
                played = True
        if played:  # (those still waiting see the new count)
            await self.broadcast(room)

    def keep_matching(self, room: Waitroom, scene: GymScene) -> None:
        """Matching passes every `PASS_INTERVAL_S` while enough participants wait (one task per room)."""
        task = self._passes.get(room.scene_id)
        if (task is None or task.done()) and len(room.waiting) >= room.needed:
            self._passes[room.scene_id] = asyncio.get_running_loop().create_task(
                self._passes_while_waiting(room, scene)
            )

    async def _passes_while_waiting(self, room: Waitroom, scene: GymScene) -> None:
        while not self.sessions.closing and len(room.waiting) >= room.needed:
            await asyncio.sleep(PASS_INTERVAL_S)
            await self.run_pass(room, scene)

    async def _play(self, room: Waitroom, scene: GymScene, proposal: Proposal) -> None:
        members = proposal.members
        waited = {p: round(room.waited_s(p), 3) for p in members}
        waiters = room.take(members)
        mm = scene.multiplayer_options.matchmaker if scene.multiplayer_options else None
        if scene.is_p2p and mm is not None and mm.max_p2p_rtt_ms is not None:
            # The pages measure their round trips first (mug.server.sessions.p2p_probe).
            self.writer.event(None, scene.scene_id, "match_proposal", _log_entry(proposal, "probe"))
            await self.probes.start(room, scene, proposal, waiters, waited)
            return
        room.started(members)
        self.writer.event(None, scene.scene_id, "match_proposal", _log_entry(proposal, "play"))
        if self.shared is not None:  # (it may run on another server)
            game_id = await self.shared.play(scene, members, waited)
        elif scene.is_p2p:
            game_id = await self.sessions.p2p.start_group(scene, members, waited)
        else:
            game_id = await self.sessions.server_games.start_group(scene, members, waited)
        await self._remember(scene.scene_id or "", game_id, members)

    async def start_p2p(self, scene: GymScene, members: list[str], waited: dict[str, float]) -> None:
        """A P2P group plays (after its pages measured their round trips): its game is recorded and sent
        to its pages; their group history gains it."""
        if self.shared is not None:  # (members may wait through other servers)
            game_id = await self.shared.play(scene, members, waited)
        else:
            game_id = await self.sessions.p2p.start_group(scene, members, waited)
        await self._remember(scene.scene_id or "", game_id, members)

    async def _remember(self, scene_id: str, game_id: str, members: list[str]) -> None:
        """Each member's group history gains this game (in their stored session data)."""
        now = time.time()
        for pid in members:
            record = await self.writer.call(self.store.get_participant, pid)
            groups = list((record.data if record else {}).get("groups") or [])
            groups.append({"scene_id": scene_id, "game_id": game_id, "partners": [m for m in members if m != pid]})
            await self.writer.call(self.store.update_participant_data, pid, {"groups": groups[-GROUPS_KEPT:]}, now)

    # -- what the pages see ---------------------------------------------------------------------------

    def status(self, room: Waitroom, pid: str) -> dict[str, Any]:
        return {
            "scene_id": room.scene_id,
            "waiting": len(room.waiting_with(pid)),  # (of their pool: a real page does not count simulated ones)
            "needed": room.needed,
            "seconds_left": round(room.seconds_left(pid), 1),
        }

    async def broadcast(self, room: Waitroom) -> None:
        for pid in room.waiting:
            await self.sessions.send_to(pid, "waitroom", self.status(room, pid))

    async def _timeout(self, scene: GymScene, pid: str) -> None:
        if self.shared is None or not self.shared.timed_out_elsewhere(pid, scene):
            await self.timed_out(scene, pid)
        await self.broadcast(self.room(scene))

    async def timed_out(self, scene: GymScene, pid: str) -> None:
        """Nobody was matched with the participant in time: the waitroom's timeout applies."""
        opts = scene.effective_waitroom()
        self.writer.event(pid, scene.scene_id, "waitroom_timeout", {"timeout_s": opts.timeout})
        if opts.timeout_policy is not None and not self.sessions.closing:
            await self._fill_in(scene, pid, opts.timeout)
        else:
            await self.sessions.waitroom_timed_out(pid, scene)

    async def _fill_in(self, scene: GymScene, pid: str, waited_s: float) -> None:
        """AI fill-in: the participant's game starts now, the waitroom's timeout_policy playing the
        other humans' agents (``waitroom_fill_in`` event; the game's players say ``policy:<name>``)."""
        opts = scene.effective_waitroom()
        if scene.is_p2p:
            game = await self._fill_in_p2p(scene, pid)
            await self.sessions.send_to(pid, "matched", game)
            game_id = game["game_id"]
        else:
            game_id = await self.sessions.server_games.start_group(scene, [pid], {pid: round(waited_s, 3)})
        filled = {a: policy_label(opts.timeout_policy) for a in scene.human_agents[1:]}
        where = {"game_id": game_id, "players": {scene.human_agents[0]: pid}, "filled_in": filled}
        self.writer.event(pid, scene.scene_id, "waitroom_fill_in", where)

    async def _fill_in_p2p(self, scene: GymScene, pid: str) -> dict[str, Any]:
        """A P2P scene's AI fill-in: the participant plays alone in their browser, the timeout policy
        playing the other humans' agents there ('random' or an ONNX model), recorded as a client-side
        game (mode ``client_pyodide``); the payload tells the page its policies."""
        filled = scene.filled_in({scene.human_agents[0]: pid})
        game = await self.sessions.browser_games.start(pid, filled, fill_in=True)
        runtime = filled.runtime_spec()
        assert runtime is not None
        return {"scene_id": scene.scene_id, **game, "mode": "client", "policies": runtime["policies"]}

    def shutdown(self) -> None:
        self.probes.shutdown()
        for task in self._passes.values():
            task.cancel()
        self._passes.clear()
        for room in self.waitrooms.values():
            room.close()


def _history(groups: Any) -> list[PastGroup]:
    """The group history in a participant's session data (entries that do not parse are skipped)."""
    out = []
    for g in groups if isinstance(groups, list) else []:
        if isinstance(g, dict) and isinstance(g.get("scene_id"), str) and isinstance(g.get("game_id"), str):
            partners = g.get("partners")
            if isinstance(partners, list) and all(isinstance(p, str) for p in partners):
                out.append(PastGroup(g["scene_id"], g["game_id"], tuple(partners)))
    return out


def _log_entry(proposal: Proposal, decision: str) -> dict[str, Any]:
    """A proposal as the match log records it."""
    members = proposal.members
    candidates = proposal.candidates
    pairs = {}
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            pairs[f"{a}|{b}"] = estimated_rtt_ms(candidates[a], candidates[b])
    return {
        "members": members,
        "rtt_ms": {m: candidates[m].rtt_ms for m in members},
        "pair_rtt_ms": pairs,
        "waited_s": {m: candidates[m].waited_s for m in members},
        "matchmaker": proposal.matchmaker,
        "reason": proposal.reason,
        "fallback": proposal.fallback,
        "decision": decision,
    }
