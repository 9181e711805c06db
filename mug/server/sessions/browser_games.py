"""Client-side games: the server starts them, takes their records, and decides whether they were played.

The env runs in the participant's browser and the page sends what it records through its outbox
(`mug.client` outbox.ts). The server cannot see the game being played, so it decides from the
records it holds: a page that says its game is done is taken at its word only when every episode
record is there and the steps add up. Before this, ``advance`` with ``outcome="done"`` right after
``start_game`` marked a game (and a participant) completed with 0 steps. Otherwise the game is
recorded ``unverified``; records that arrive later (a page that was offline) complete it then.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mug.data import ParticipantRecord
from mug.data.results import POLICY_PREFIX
from mug.policies import policy_label
from mug.scenes import GymScene
from mug.server.sessions import intake
from mug.server.sessions.game_pages import GamePages
from mug.server.sessions.intake import ClientLimits, Quota, TokenBucket
from mug.server.sessions.refusals import Refusals
from mug.server.web.protocol import Advance, ClientRecords, ProtocolError
from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.sessions.browser_games")


class BrowserGames:
    """The client-side games of every participant, kept in each participant's session data."""

    def __init__(self, writer: StoreWriter, refusals: Refusals, limits: ClientLimits) -> None:
        self.writer = writer
        self.store = writer.store
        self.refusals = refusals
        self.limits = limits
        self._quotas: dict[str, Quota] = {}
        # What every page together may send: what the one database thread can take.
        self._everyone = TokenBucket(limits.server_records_per_s, limits.server_records_burst)
        # P2P games (mug.server.sessions.p2p) are client-side games of several pages: each peer's page
        # ends the game for itself, and this is told how, (participant, game, outcome), so the game's
        # record ends once every peer is done with it.
        self.on_p2p_outcome: Callable[[str, str, str], Awaitable[None]] | None = None
        # Each player's in-game text, sent with a new game (mug.server.sessions.game_pages).
        self.pages: GamePages | None = None

    async def _record(self, pid: str) -> ParticipantRecord | None:
        return await self.writer.call(self.store.get_participant, pid)

    async def current(self, pid: str, scene: GymScene) -> dict[str, Any] | None:
        """The participant's game in `scene` (the last one started), or None."""
        record = await self._record(pid)
        games = (record.data.get("browser_games") or {}) if record else {}
        return games.get(scene.scene_id or "")

    async def start(self, pid: str, scene: GymScene, *, fill_in: bool = False) -> dict[str, Any]:
        """A new game for this page; a game the participant started before (then reloaded) is interrupted.

        The env's state lived in the page that is gone, so the game starts over under a new id:
        the steps the old page recorded stay with the old game, none are lost or mixed up.
        """
        now = time.time()
        record = await self._record(pid)
        data = record.data if record else {}
        games = dict(data.get("browser_games") or {})
        previous = games.get(scene.scene_id or "")
        if previous is not None:
            self.writer.submit(self.store.end_game, previous["game_id"], "interrupted", now)
        seed = scene.seed if scene.seed is not None else secrets.randbits(31)
        game = {"game_id": uuid.uuid4().hex, "seed": seed, "status": "starting", "episode": 0, "step": 0}
        if fill_in:  # (a P2P scene's AI fill-in: the participant plays alone, mug.server.sessions.matching)
            game["fill_in"] = True
        humans = scene.human_agents
        roster = {
            a: pid if a in humans else f"{POLICY_PREFIX}{policy_label(p)}" for a, p in scene.policy_mapping.items()
        }
        scene_id = scene.scene_id or ""
        await self.writer.call(self.store.start_game, game["game_id"], scene_id, "client_pyodide", roster, seed, now)
        games[scene.scene_id or ""] = game
        ids = [*(data.get("browser_game_ids") or []), game["game_id"]]
        await self.writer.call(
            self.store.update_participant_data, pid, {"browser_games": games, "browser_game_ids": ids}, now
        )
        if self.pages is not None and humans:  # (its page text goes to the page, not into the session data)
            return self.pages.add(scene, pid, game, humans[0])
        return game

    async def end(self, pid: str, scene: GymScene, advance: Advance) -> str:
        """Record how the page says its game ended; returns the outcome recorded.

        ``done`` becomes ``completed`` only when the store holds the whole game (see `verify`),
        else ``unverified``; ``error`` stays ``error``.
        """
        game = await self.current(pid, scene)
        if game is None or advance.game_id != game["game_id"]:
            raise ProtocolError(f"'advance' from {scene.scene_id!r} must name the participant's current game")
        game_id = game["game_id"]
        p2p = game.get("mode") == "p2p"
        if advance.outcome != "done":
            await self._ended(pid, game_id, "error", p2p)
            return "error"
        # A P2P game's records come from every peer: this peer's page vouches for its own.
        problem = await self.verify(game_id, scene.num_episodes, participant_id=pid if p2p else None)
        if problem is None:
            await self._completed(pid, game_id, p2p)
            return "completed"
        await self._ended(pid, game_id, "unverified", p2p)
        self.writer.event(pid, scene.scene_id, "game_unverified", {"game_id": game_id, "reason": problem})
        record = await self._record(pid)
        pending = dict((record.data.get("unverified_games") or {}) if record else {})
        pending[game_id] = [scene.num_episodes, p2p] if p2p else scene.num_episodes
        await self.writer.call(self.store.update_participant_data, pid, {"unverified_games": pending}, time.time())
        return "unverified"

    async def _ended(self, pid: str, game_id: str, outcome: str, p2p: bool) -> None:
        """Record how a game ended: a P2P game's record ends once all its peers are done (see `on_p2p_outcome`)."""
        if p2p:
            if self.on_p2p_outcome is not None:
                await self.on_p2p_outcome(pid, game_id, outcome)
        else:
            await self.writer.call(self.store.end_game, game_id, outcome, time.time())

    async def verify(self, game_id: str, num_episodes: int, participant_id: str | None = None) -> str | None:
        """Why the stored records do not make a whole game (None when they do).

        Every episode must be recorded as completed, with at least one step, and with as many step
        rows stored as its record counts. With `participant_id` (a P2P game), that peer's records.
        """
        progress = await self.writer.call(self.store.game_progress, game_id, participant_id=participant_id)
        episodes = progress["episodes"]
        numbers = [e["episode"] for e in episodes if e["outcome"] == "completed"]
        if numbers != list(range(1, num_episodes + 1)):
            return f"episodes {numbers} are recorded as completed; the scene plays 1 to {num_episodes}"
        for e in episodes:
            if e["num_steps"] < 1:
                return f"episode {e['episode']} is recorded with no steps"
            if e["stored_steps"] != e["num_steps"]:
                stored, counted = e["stored_steps"], e["num_steps"]
                return f"episode {e['episode']} has {stored} steps stored; its record counts {counted}"
        return None

    async def records(self, pid: str, batch: ClientRecords) -> dict[str, Any]:
        """Commit a batch from the page's outbox; the reply acknowledges what is committed.

        Records a page may not send (see `mug.server.sessions.intake`) are named in the reply, so the page
        drops them instead of resending them forever, and counted as refusals. A batch over the
        participant's rate comes back with ``retry_after_s`` and nothing committed: the page keeps it.
        """
        quota = self._quotas.get(pid)
        if quota is None:
            quota = self._quotas[pid] = Quota(self.limits)
        problem, retry = quota.admit(len(batch.records), batch.size, self._everyone)
        if problem is not None and retry > 0:
            self.refusals.note(pid, None, "client_records", problem)
            return {"ok": False, "error": problem, "retry_after_s": retry}
        record = await self._record(pid)
        data = record.data if record else {}
        if problem is not None:  # over the total: refused for good
            self.refusals.note(pid, None, "client_records", problem)
            seqs = [r.get("seq") for r in batch.records if isinstance(r, dict)]
            return {"committed": [], "refused": [s for s in seqs if isinstance(s, int)]}
        # Records for a game already completed are refused: its record may not change afterwards.
        # Their events are still taken (a P2P page records its final p2p_stats as its game ends).
        completed = set(data.get("completed_games") or [])
        open_games = set(data.get("browser_game_ids") or []) - completed
        accepted, refused = intake.screen(batch.records, open_games, finished_games=completed)
        for item in accepted:
            if item["kind"] == "episode":
                item["payload"] = {**item["payload"], "participant_ids": [pid]}
        committed: list[int] = []
        if accepted:
            committed, failed = await self.writer.call(
                self.store.commit_client_records, pid, accepted, source=batch.source, server_time=time.time()
            )
            refused += [{"seq": seq, "error": error} for seq, error in failed]
        if committed:  # (roughly: the batch's size in proportion to the records committed)
            quota.stored_bytes(batch.size * len(committed) // max(1, len(batch.records)))
        for item in refused:
            self.refusals.note(pid, None, "client_records", f"seq {item['seq']}: {item['error']}")
        pending = data.get("unverified_games") or {}
        finished = {i["payload"].get("game_id") for i in accepted if i["kind"] == "episode"} & set(pending)
        for game_id in finished:
            num_episodes, p2p = pending[game_id] if isinstance(pending[game_id], list) else (pending[game_id], False)
            await self._recheck(pid, game_id, num_episodes, p2p)
        return {"committed": committed, "refused": [r["seq"] for r in refused if isinstance(r["seq"], int)]}

    async def _recheck(self, pid: str, game_id: str, num_episodes: int, p2p: bool = False) -> None:
        """An unverified game's records kept arriving: once whole, it is completed after all."""
        if await self.verify(game_id, num_episodes, participant_id=pid if p2p else None) is not None:
            return
        await self._completed(pid, game_id, p2p)
        self.writer.event(pid, None, "game_verified", {"game_id": game_id})

    async def _completed(self, pid: str, game_id: str, p2p: bool = False) -> None:
        """Record the game completed (for this peer, in a P2P game); from now on its records are closed to the page."""
        now = time.time()
        await self._ended(pid, game_id, "completed", p2p)
        record = await self._record(pid)
        data = record.data if record else {}
        pending = dict(data.get("unverified_games") or {})
        pending.pop(game_id, None)
        done = [*(data.get("completed_games") or []), game_id]
        update = {"unverified_games": pending, "completed_games": done}
        await self.writer.call(self.store.update_participant_data, pid, update, now)

