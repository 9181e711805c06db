"""Server-authoritative game: one env stepped at the scene's fps with every player's latest action.

This module is the game's life: the env made, reset and stepped on schedule, every step and episode
recorded, the end handed back to the session layer. Its two other sides live beside it:
`mug.server.games.players` (who plays, their actions, drops and returns) and
`mug.server.games.frames` (render states, HUD and status sent to the pages); `ServerGame` joins
the three. `check_action`, `game_snapshot`, `Channel`, `GameEnded` and `Player` are importable from
here too, as before the split.

Concurrency model: each game is an asyncio task on the server loop that keeps the tick schedule
(its phase comes from `mug.server.games.ticks`). Creating, resetting and closing the env run on a worker
thread; steps run on the loop while they are quick and on the worker thread otherwise
(`mug.server.games.placement`), so a slow env delays only its own game's ticks. With
`serve(game_processes=N)` the same games run in forked processes (`mug.server.games.processes.parent`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

from mug.data.results import POLICY_PREFIX
from mug.env import EnvAdapter, to_jsonable
from mug.policies import Policy, make_policy, policy_label
from mug.scenes.gym import GymScene
from mug.server.games.frames import Channel, GameFrames
from mug.server.games.hooks import GameHooks
from mug.server.games.placement import StepPlacement
from mug.server.games.players import MISSING, GameEnded, Player, PlayerBookkeeping, check_action, game_snapshot
from mug.server.games.recorder import StepRecorder
from mug.server.games.ticks import FrameClock, TickPhases, sleep_until
from mug.server.web.protocol import action_key
from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.games.game")


__all__ = ["Channel", "GameEnded", "Player", "ServerGame", "check_action", "game_snapshot"]


class ServerGame(PlayerBookkeeping, GameFrames):
    """Runs one GymScene for its players on the server, recording every step."""

    def __init__(
        self,
        scene: GymScene,
        players: dict[str, str],
        writer: StoreWriter,
        recorder: StepRecorder,
        channel: Channel,
        executor: Executor,
        *,
        reconnect_grace_s: float,
        on_finished: Callable[[ServerGame], Awaitable[None]],
        on_dropped: Callable[[ServerGame, str], Awaitable[None]] | None = None,
        game_id: str | None = None,
        phases: TickPhases | None = None,
    ) -> None:
        self.scene = scene
        self.writer = writer
        self.store = writer.store  # (its calls run on the writer's thread, never on the loop)
        self.recorder = recorder
        self.game_id = game_id or uuid.uuid4().hex
        self.status = "starting"
        self.outcome: str | None = None
        self.error: str | None = None
        self.dropped: list[str] = []
        self.episode = 0
        self.step = 0
        self.lateness_ms: deque[float] = deque(maxlen=10_000)
        self._channel = channel
        self._executor = executor
        self._on_finished = on_finished
        self._on_dropped = on_dropped
        self._grace = reconnect_grace_s
        self._multi = scene.multiplayer_options
        self._per_player_views = bool(self._multi and self._multi.per_player_views)
        self.players = {pid: Player(agent, pid, scene.default_action) for agent, pid in players.items()}
        self._shared_view = Player("*", "*", None)  # differ/HUD state of the shared view
        self._anyone_here = asyncio.Event()
        self._anyone_here.set()
        self._end: str | None = None
        self._allowed = {action_key(a): a for a in scene.allowed_actions()}
        self._returns: dict[str, float] = {}
        self._carried: dict[str, float] = {}  # earlier episodes' returns (rendering(hud_score_carry_over=True))
        self._task: asyncio.Task[None] | None = None
        self._inflight: concurrent.futures.Future[Any] | None = None
        self._episode: dict[str, Any] | None = None  # the open episode's record, written when it ends
        self._policies: dict[str, Policy] = {}
        self._observations: dict[str, Any] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._adapter: EnvAdapter | None = None
        self._phases = phases
        self._slot: int | None = None
        self._placement = StepPlacement(f"game {self.game_id} (scene {scene.scene_id})")
        self._hooks = GameHooks(scene, self.game_id, players, self.participant_ids[0] if len(players) == 1 else None)

    # -- control from the session layer ----------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mug-game-{self.game_id}")

    async def cancel(self) -> None:
        """Stop the game (server shutdown); the game is recorded as aborted."""
        if self._task and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def snapshot(self, participant_id: str | None = None) -> dict[str, Any]:
        """Where the game is, for the scene spec a (re)joining client receives."""
        return game_snapshot(self, participant_id)

    def observation(self, agent_id: str) -> Any:
        """The agent's latest observation (None before the first reset): what a simulated
        participant's policy decides from (`mug.simulate`); read-only."""
        return self._observations.get(agent_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a side task (a notice to players) without losing track of it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        scene = self.scene
        loop = asyncio.get_running_loop()
        try:
            self._adapter = adapter = await self._in_worker(
                lambda: EnvAdapter(scene.env_creator(**scene.env_config), list(scene.policy_mapping))  # type: ignore[misc]
            )
            self._policies = await self._in_worker(lambda: self._make_policies(adapter))
            self._hooks.ctx.env = adapter.env
            by_agent = {p.agent_id: p.participant_id for p in self.players.values()}
            roster = {
                a: by_agent.get(a) or f"{POLICY_PREFIX}{policy_label(spec)}" for a, spec in scene.policy_mapping.items()
            }
            mode = self._multi.mode if self._multi else "server_authoritative"
            self.writer.submit(
                self.store.start_game,
                self.game_id,
                scene.scene_id or "",
                mode,
                roster,
                scene.seed,
                time.time(),
                host=self.writer.host,
            )
            clock = FrameClock(scene.fps, self._first_tick)
            for index in range(scene.num_episodes):
                self.episode, self.step = index + 1, 0
                seed = scene.seed + index if scene.seed is not None else secrets.randbits(31)
                await self._in_worker(lambda seed=seed: self._reset(seed))
                self._hooks.flush(self.writer)
                for agent, total in self._returns.items():
                    self._carried[agent] = self._carried.get(agent, 0.0) + total
                self._returns = {a: 0.0 for a in scene.policy_mapping}
                for player in self.players.values():
                    player.pending = MISSING
                self._episode = {
                    "game_id": self.game_id,
                    "episode": self.episode,
                    "scene_id": scene.scene_id,
                    "participant_ids": self.participant_ids,
                    "seed": seed,
                    "started_at": time.time(),
                    "terminated": False,
                    "truncated": False,
                }
                if index > 0 and scene.reset_freeze_s > 0:
                    await self._set_status("resetting", freeze_s=scene.reset_freeze_s)
                    await self._send_frames(await self._in_worker(self._render_all))
                    await asyncio.sleep(scene.reset_freeze_s)
                await self._set_status("running")
                await self._send_frames(await self._in_worker(self._render_all))
                clock.start(loop.time())
                while True:
                    await self._wait_for_tick(clock)
                    started = loop.time()
                    humans = self._human_actions()
                    actions, result, frames = await self._step_env(humans)
                    self.recorder.add(self._step_row(actions, result))
                    self._hooks.flush(self.writer)
                    await self._send_frames(frames)
                    clock.stepped(started, loop.time())
                    if result.episode_over or self.step >= scene.max_steps:
                        self._episode["terminated"] = any(result.terminated.values())
                        self._episode["truncated"] = not result.episode_over or any(result.truncated.values())
                        break
                await self._end_episode("completed")
            self.outcome = "completed"
            await self._set_status("done")
        except asyncio.CancelledError:
            self.outcome = "aborted"
            await self._end_episode("aborted")
            raise
        except GameEnded as ended:
            self.outcome = ended.outcome
            await self._end_episode(ended.outcome)
            self.writer.event(
                None, scene.scene_id, "game_ended_early",
                {"game_id": self.game_id, "outcome": ended.outcome, "dropped": self.dropped},
            )  # fmt: skip
        except Exception as exc:
            self.outcome = "error"
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("game %s (scene %s) failed", self.game_id, scene.scene_id)
            self.writer.event(
                None if len(self.players) != 1 else self.participant_ids[0],
                scene.scene_id,
                "env_error",
                {
                    "game_id": self.game_id,
                    "episode": self.episode,
                    "step": self.step,
                    "error": self.error,
                    "traceback": traceback.format_exc(),
                },
            )
            await self._end_episode("error")
            await self._set_status("error", message="The game stopped because of an error. Your data so far is saved.")
        finally:
            for player in self.players.values():
                if player.drop_timer is not None:
                    player.drop_timer.cancel()
            if self._phases is not None and self._slot is not None:
                self._phases.release(scene.fps, self._slot)
            await self._run_hook(lambda: self._hooks.game_ended(self.outcome or "aborted"))
            self._hooks.summarise(self.writer)
            await self._close_env()
            try:
                if self.outcome != "aborted":
                    await self.recorder.flush()
            except Exception:
                log.exception("committing the last steps of game %s failed (the recorder keeps them)", self.game_id)
            # (Not awaited: a database down for a while holds it until it is back: mug.server.writer.)
            self.writer.submit(self.store.end_game, self.game_id, self.outcome or "aborted", time.time())
            if self.outcome != "aborted":
                await self._on_finished(self)

    def _first_tick(self, now: float) -> float:
        """The first tick time: one interval from now, or the next instant of this game's phase slot."""
        fps = self.scene.fps
        if self._phases is None:
            return now + 1.0 / fps
        if self._slot is None:
            self._slot = self._phases.take(fps)
        return self._phases.first_tick(fps, self._slot, now + 1.0 / fps)

    async def _step_env(self, humans: dict[str, Any]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """One env step, on the loop or the worker thread (see `mug.server.games.placement`)."""
        return await self._placement.run(lambda: self._advance(humans), self._in_worker)

    @property
    def env_placement(self) -> str:
        """Where this game's env steps: "probing" (timed on its worker thread), "loop" or "thread"."""
        return self._placement.where

    async def _in_worker(self, fn: Callable[[], Any]) -> Any:
        self._inflight = self._executor.submit(fn)
        return await asyncio.wrap_future(self._inflight)

    async def _settle(self) -> None:
        """Wait for the env call still running on the worker thread, if any (e.g. at shutdown)."""
        if self._inflight is not None and not self._inflight.done():
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(self._inflight)

    async def _run_hook(self, call: Callable[[], None]) -> None:
        """An end-of-episode/game hook, on the worker thread once the env is idle (`mug.server.games.hooks`)."""
        if not self._hooks.active:
            return
        await self._settle()
        try:
            await self._in_worker(call)
        except Exception:
            log.exception("running the hooks of game %s failed", self.game_id)
        self._hooks.flush(self.writer)

    async def _close_env(self) -> None:
        """Close the env on a worker thread, after any call still running there (e.g. at shutdown)."""
        await self._settle()
        if self._adapter is not None:
            try:
                await self._in_worker(self._adapter.close)
            except Exception:
                log.exception("closing the env of game %s failed", self.game_id)

    def _make_policies(self, adapter: EnvAdapter) -> dict[str, Policy]:
        policies: dict[str, Policy] = {}
        for agent, spec in self.scene.policy_mapping.items():
            if spec == "human":
                continue
            space = adapter.action_space(agent)
            policies[agent] = make_policy(
                spec, agent_id=agent, action_space=space, actions=self.scene.allowed_actions()
            )
        return policies

    async def _end_episode(self, outcome: str) -> None:
        """Write the open episode's record (a partial one when the game ends early), after its steps."""
        episode, self._episode = self._episode, None
        if episode is None:
            return
        await self._run_hook(lambda: self._hooks.episode_ended(outcome, self._returns))
        try:
            await self.recorder.flush()  # the episode's steps are committed before its record
        except Exception:
            log.exception("committing episode %s of game %s failed (the recorder keeps its steps)",
                          episode["episode"], self.game_id)  # fmt: skip
        # (Not awaited: a database down for a while holds it until it is back: mug.server.writer.)
        record = {**episode, "ended_at": time.time(), "num_steps": self.step, "returns": dict(self._returns)}
        self.writer.submit(self.store.add_episode, {**record, "outcome": outcome})

    async def _wait_for_tick(self, clock: FrameClock) -> None:
        """Sleep until the clock's next tick is due; while no player is here, wait (their drop timers run).

        After a slow step or a busy loop the clock realigns rather than running missed ticks back to
        back (see `FrameClock`); how far the schedule slipped is then this tick's recorded lateness.
        """
        loop = asyncio.get_running_loop()
        due, slipped = clock.due_at(loop.time())
        await sleep_until(due)  # (a timer shared with the games due at the same instant)
        if self._end:
            raise GameEnded(self._end)
        if self._anyone_here.is_set():
            self.lateness_ms.append((slipped or loop.time() - due) * 1000.0)
            return
        await self._set_status("paused")
        await self._anyone_here.wait()
        if self._end:
            raise GameEnded(self._end)
        await self._set_status("running")
        clock.resume(loop.time())

    # -- worker-thread work (touches the env) ------------------------------------------------

    def _reset(self, seed: int) -> None:
        assert self._adapter is not None
        self._observations = self._adapter.reset(seed)
        for policy in self._policies.values():
            policy.reset(seed)
        if self._hooks.active:
            self._hooks.episode_started(self.episode, self._observations)

    def _advance(
        self, humans: dict[str, Any]
    ) -> tuple[dict[str, Any], Any, dict[str, tuple[dict[str, Any], str | None]]]:
        """One tick of env work: the bots act (inference stays off the event loop), the env steps."""
        assert self._adapter is not None
        actions = {
            agent: humans[agent] if agent in humans else self._policies[agent].act(self._observations.get(agent))
            for agent in self.scene.policy_mapping
        }
        result = self._adapter.step(actions)
        self._observations = result.observations
        # The loop awaits this call, so updating the counters here races with nothing.
        self.step += 1
        for agent, reward in result.rewards.items():
            self._returns[agent] = self._returns.get(agent, 0.0) + float(reward)
        if self._hooks.active:
            self._hooks.stepped(self.step, actions, result, self._returns)
        return actions, result, self._render_all()

    # -- recording ---------------------------------------------------------------------------

    def _step_row(self, actions: dict[str, Any], result: Any) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "episode": self.episode,
            "step": self.step,
            "participant_id": self.participant_ids[0] if len(self.players) == 1 else None,
            "scene_id": self.scene.scene_id,
            "t": time.time(),
            "actions": to_jsonable(actions),
            "rewards": to_jsonable(result.rewards),
            "terminated": any(bool(v) for v in result.terminated.values()),
            "truncated": any(bool(v) for v in result.truncated.values()),
            "infos": to_jsonable(result.infos),
            "observations": to_jsonable(result.observations) if self.scene.record_observations else None,
        }
