"""Server-authoritative game: one env stepped at the scene's fps with the players' latest actions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from mug.data import Store
from mug.env import EnvAdapter, RenderDiffer, to_jsonable
from mug.policies import Policy, make_policy
from mug.scenes.gym import GymScene, HudInfo
from mug.server.protocol import action_key

log = logging.getLogger("mug.server.game")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class GameAbandoned(Exception):
    """The player did not come back within the reconnect grace period."""


class ServerGame:
    """Runs one GymScene for one participant on the server's event loop, recording every step."""

    def __init__(
        self,
        scene: GymScene,
        participant_id: str,
        store: Store,
        emit: Emit,
        *,
        reconnect_grace_s: float,
        on_finished: Callable[[ServerGame], Awaitable[None]],
    ) -> None:
        self.scene = scene
        self.participant_id = participant_id
        self.store = store
        self.game_id = uuid.uuid4().hex
        self.status = "starting"
        self.outcome: str | None = None
        self.error: str | None = None
        self.episode = 0
        self.step = 0
        self.lateness_ms: deque[float] = deque(maxlen=10_000)
        self._emit = emit
        self._on_finished = on_finished
        self._grace = reconnect_grace_s
        self._connected = asyncio.Event()
        self._connected.set()
        self._differ = RenderDiffer()
        self._human = scene.human_agents[0] if scene.human_agents else None
        self._allowed = {action_key(a): a for a in scene.allowed_actions()}
        self._held_action: Any = scene.default_action
        self._pending_keystroke: Any = None
        self._last_hud: str | None = None
        self._full_next = True  # the next frame carries every object (new page or reconnect)
        self._returns: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._adapter: EnvAdapter | None = None

    # -- control from the session layer ----------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mug-game-{self.game_id}")

    async def cancel(self) -> None:
        """Stop the game (server shutdown); the game is recorded as aborted."""
        if self._task and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit_action(self, action: Any) -> str | None:
        """Take a human's action for the next tick; returns an error message if it is not allowed."""
        if self._human is None:
            return "this scene has no human player"
        original = self._allowed.get(action_key(action), _MISSING)
        if original is _MISSING:
            return f"action {action!r} is not one of this scene's actions"
        if self.scene.input_mode == "single_keystroke":
            self._pending_keystroke = original
        else:
            self._held_action = original
        return None

    def connection_lost(self) -> None:
        self._connected.clear()
        self._held_action = self.scene.default_action

    def connection_restored(self) -> None:
        self._differ.reset()  # the new page has nothing drawn: next frame is a full frame
        self._full_next = True
        self._last_hud = None
        self._connected.set()

    def snapshot(self) -> dict[str, Any]:
        """Where the game is, for the scene spec a (re)joining client receives."""
        return {"game_id": self.game_id, "status": self.status, "episode": self.episode, "step": self.step}

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        scene = self.scene
        loop = asyncio.get_running_loop()
        try:
            env = scene.env_creator(**scene.env_config)  # type: ignore[misc]
            self._adapter = adapter = EnvAdapter(env, list(scene.policy_mapping))
            policies = self._make_policies(env)
            players = {
                a: (self.participant_id if p == "human" else _policy_name(p)) for a, p in scene.policy_mapping.items()
            }
            self.store.start_game(
                self.game_id, scene.scene_id or "", "server_authoritative", players, scene.seed, time.time()
            )
            interval = 1.0 / scene.fps
            for index in range(scene.num_episodes):
                self.episode, self.step = index + 1, 0
                seed = scene.seed + index if scene.seed is not None else secrets.randbits(31)
                observations = adapter.reset(seed)
                for policy in policies.values():
                    policy.reset(seed)
                self._returns = {a: 0.0 for a in scene.policy_mapping}
                self._pending_keystroke = None
                started = time.time()
                if index > 0 and scene.reset_freeze_s > 0:
                    await self._set_status("resetting", freeze_s=scene.reset_freeze_s)
                    await self._send_frame()
                    await asyncio.sleep(scene.reset_freeze_s)
                await self._set_status("running")
                await self._send_frame()
                next_tick = loop.time()
                while True:
                    next_tick = await self._wait_for_tick(next_tick + interval)
                    actions = self._gather_actions(policies, observations)
                    result = adapter.step(actions)
                    observations = result.observations
                    self.step += 1
                    for agent, reward in result.rewards.items():
                        self._returns[agent] = self._returns.get(agent, 0.0) + float(reward)
                    self.store.add_steps([self._step_row(actions, result)])
                    await self._send_frame()
                    if result.episode_over or self.step >= scene.max_steps:
                        break
                self.store.add_episode(
                    {
                        "game_id": self.game_id,
                        "episode": self.episode,
                        "scene_id": scene.scene_id,
                        "participant_ids": [self.participant_id],
                        "seed": seed,
                        "started_at": started,
                        "ended_at": time.time(),
                        "num_steps": self.step,
                        "returns": dict(self._returns),
                        "terminated": any(result.terminated.values()),
                        "truncated": not result.episode_over or any(result.truncated.values()),
                        "outcome": "completed",
                    }
                )
            self.outcome = "completed"
            await self._set_status("done")
        except asyncio.CancelledError:
            self.outcome = "aborted"
            raise
        except GameAbandoned:
            self.outcome = "abandoned"
            self.store.add_event(
                self.participant_id,
                scene.scene_id,
                "game_abandoned",
                {"game_id": self.game_id, "grace_s": self._grace},
                time.time(),
            )
        except Exception as exc:
            self.outcome = "error"
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("game %s (scene %s) failed", self.game_id, scene.scene_id)
            self.store.add_event(
                self.participant_id,
                scene.scene_id,
                "env_error",
                {
                    "game_id": self.game_id,
                    "episode": self.episode,
                    "step": self.step,
                    "error": self.error,
                    "traceback": traceback.format_exc(),
                },
                time.time(),
            )
            await self._set_status("error", message="The game stopped because of an error. Your data so far is saved.")
        finally:
            if self._adapter is not None:
                try:
                    self._adapter.close()
                except Exception:
                    log.exception("closing the env of game %s failed", self.game_id)
            try:
                self.store.end_game(self.game_id, self.outcome or "aborted", time.time())
            except Exception:
                log.exception("recording the end of game %s failed", self.game_id)
            if self.outcome != "aborted":
                await self._on_finished(self)

    def _make_policies(self, env: Any) -> dict[str, Policy]:
        policies: dict[str, Policy] = {}
        for agent, spec in self.scene.policy_mapping.items():
            if spec == "human":
                continue
            space = getattr(env, "action_space", None)
            if callable(space) and not hasattr(space, "sample"):
                space = space(agent)  # PettingZoo: action_space(agent)
            policies[agent] = make_policy(
                spec, agent_id=agent, action_space=space, actions=self.scene.allowed_actions()
            )
        return policies

    def _gather_actions(self, policies: dict[str, Policy], observations: dict[str, Any]) -> dict[str, Any]:
        actions: dict[str, Any] = {}
        for agent in self.scene.policy_mapping:
            if agent == self._human:
                if self._pending_keystroke is not None:
                    actions[agent], self._pending_keystroke = self._pending_keystroke, None
                else:
                    actions[agent] = self._held_action
            else:
                actions[agent] = policies[agent].act(observations.get(agent))
        return actions

    async def _wait_for_tick(self, due: float) -> float:
        """Sleep until the tick is due; while the player is away, wait (up to the grace period)."""
        loop = asyncio.get_running_loop()
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if not self._connected.is_set():
            away_since = loop.time()
            await self._set_status("paused")
            try:
                await asyncio.wait_for(self._connected.wait(), timeout=self._grace)
            except asyncio.TimeoutError:
                raise GameAbandoned() from None
            due += loop.time() - away_since
            await self._set_status("running")
            return max(due, loop.time())
        self.lateness_ms.append((loop.time() - due) * 1000.0)
        return due

    def _step_row(self, actions: dict[str, Any], result: Any) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "episode": self.episode,
            "step": self.step,
            "participant_id": self.participant_id,
            "scene_id": self.scene.scene_id,
            "t": time.time(),
            "actions": to_jsonable(actions),
            "rewards": to_jsonable(result.rewards),
            "terminated": any(bool(v) for v in result.terminated.values()),
            "truncated": any(bool(v) for v in result.truncated.values()),
            "infos": to_jsonable(result.infos),
            "observations": None,
        }

    def _hud_text(self) -> str | None:
        hud = self.scene.hud
        if hud is None or isinstance(hud, str):
            return hud
        info = HudInfo(
            episode=self.episode,
            num_episodes=self.scene.num_episodes,
            step=self.step,
            max_steps=self.scene.max_steps,
            returns=dict(self._returns),
            env=self._adapter.env if self._adapter else None,
        )
        return str(hud(info))

    async def _send_frame(self) -> None:
        if not self._connected.is_set() or self._adapter is None:
            return
        frame: dict[str, Any] = {
            "scene_id": self.scene.scene_id,
            "game_id": self.game_id,
            "episode": self.episode,
            "step": self.step,
            "state": self._differ.diff(self._adapter.render()),
        }
        if self._full_next:
            frame["full"] = True
            self._full_next = False
        hud = self._hud_text()
        if hud != self._last_hud:
            frame["hud"] = hud
            self._last_hud = hud
        await self._emit("frame", frame)

    async def _set_status(self, status: str, **extra: Any) -> None:
        self.status = status
        await self._emit(
            "game_status",
            {
                "scene_id": self.scene.scene_id,
                "game_id": self.game_id,
                "status": status,
                "episode": self.episode,
                "num_episodes": self.scene.num_episodes,
                **extra,
            },
        )


_MISSING = object()


def _policy_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else getattr(spec, "__qualname__", repr(spec))
