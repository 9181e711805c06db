"""A client-side game played by a simulated participant: the page's worker, in this Python.

In a client-side scene (``GymScene.runtime``) the participant's browser runs the env in Pyodide
and sends what it records through its outbox (``client_records``). A simulated participant does
the same here: it runs the scene's env code through the worker's own Python side
(``mug/client/src/runtime/bridge.py``, the file the worker writes into Pyodide), steps it the way
the worker's game loop does (``mug/client/src/runtime/loop.ts``: reset with ``seed + k``, one step
per tick, the same step and episode records) and sends the records in outbox batches, numbered
under an outbox source of its own. The server takes them as it takes a page's, and decides from
them whether the game was played (docs/protocol.md, ``client_records`` and ``advance``).

The env code runs in this Python, so whatever it imports must be installed here (a browser
installs the scene's ``packages_to_install`` from the server; this does not).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import mug
from mug.policies import agent_rng, make_policy
from mug.scenes import GymScene
from mug.simulate.actions import SimulatedPlayer

__all__ = ["BRIDGE_PATH", "BrowserGameError", "Outbox", "load_bridge", "play_browser_game"]

#: The Python side of the browser's worker (written into Pyodide as ``_mug_bridge.py``).
BRIDGE_PATH = Path(mug.__file__).resolve().parent / "client" / "src" / "runtime" / "bridge.py"

#: Records per outbox batch (the server takes up to 1,000 and 1 MB a batch).
BATCH_RECORDS = 400
BATCH_BYTES = 800_000

_bridge: ModuleType | None = None


class BrowserGameError(RuntimeError):
    """The simulated page's game failed (its env code, a step, a policy), as a browser's would."""


def load_bridge() -> ModuleType:
    """The worker's bridge module, loaded once from the package (the same file the browser runs)."""
    global _bridge
    if _bridge is None:
        if not BRIDGE_PATH.is_file():
            raise BrowserGameError(
                f"the browser runtime's Python side is missing from this installation ({BRIDGE_PATH.name} "
                "under mug/client/src/runtime); reinstall mug-py"
            )
        spec = importlib.util.spec_from_file_location("_mug_simulate_bridge", BRIDGE_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _bridge = module
    return _bridge


class Outbox:
    """A page's outbox: numbered records sent in batches with ``client_records`` until acknowledged."""

    def __init__(self, call: Any, on_refused: Any) -> None:
        self._call = call  # async (event, payload) -> reply
        self._on_refused = on_refused  # (message) -> None
        self.source = "sim" + secrets.token_hex(8)
        self._seq = 0
        self._pending: list[dict[str, Any]] = []
        self.committed = 0

    def add(self, kind: str, payload: dict[str, Any]) -> None:
        self._pending.append({"seq": self._seq, "kind": kind, "payload": payload})
        self._seq += 1

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Send every pending record; returns once the server acknowledged or refused each."""
        while self._pending:
            batch, size = [], 0
            for record in self._pending[:BATCH_RECORDS]:
                length = len(json.dumps(record, separators=(",", ":")))
                if batch and size + length > BATCH_BYTES:
                    break
                batch.append(record)
                size += length
            reply = await self._call("client_records", {"source": self.source, "records": batch})
            if not isinstance(reply, dict):
                raise BrowserGameError(f"the server answered client_records with {reply!r}")
            if reply.get("ok") is False:
                retry = reply.get("retry_after_s")
                if isinstance(retry, (int, float)) and retry > 0:
                    await asyncio.sleep(float(retry))
                    continue
                raise BrowserGameError(f"the server refused a batch of records: {reply.get('error')}")
            committed = set(reply.get("committed") or [])
            refused = set(reply.get("refused") or [])
            for seq in sorted(refused):
                self._on_refused(f"the server refused record seq {seq} of the client-side game")
            self.committed += len(committed)
            sent = {r["seq"] for r in batch}
            self._pending = [r for r in self._pending if r["seq"] not in sent]


class _RandomBot:
    """The browser's random bot (mug/client/src/runtime/random_bot.ts): ``start + floor(u * n)``,
    ``u`` from the agent's PCG32 stream seeded by (episode seed, agent id)."""

    def __init__(self, agent_id: str, n: int, start: int) -> None:
        self.agent_id, self.n, self.start = agent_id, n, start
        self._rng: Any = None

    def reset(self, seed: int) -> None:
        self._rng = agent_rng(seed, self.agent_id)

    def act(self, observation: Any) -> int:
        return self.start + int(self._rng.uniform() * self.n)


async def play_browser_game(
    *,
    scene: GymScene,
    spec: dict[str, Any],
    game: dict[str, Any],
    participant_id: str,
    player: SimulatedPlayer | None,
    outbox: Outbox,
    realtime: bool,
) -> int:
    """Play one client-side game to its end, recording as the page does; returns the steps played.

    ``spec`` is the scene spec the server sent (its ``runtime`` part is what the worker gets);
    ``game`` the ``start_game`` reply's game (``game_id``, ``seed``). Raises `BrowserGameError`
    (after recording the failure as the page would) when the env or a policy fails.
    """
    runtime = spec.get("runtime") or {}
    agents: list[str] = list(runtime.get("agents") or [])
    kinds = {a: (runtime.get("policies") or {}).get(a, {}).get("kind") for a in agents}
    human = next((a for a in agents if kinds[a] == "human"), None)
    random_agents = [a for a in agents if kinds[a] == "random"]
    onnx_agents = [a for a in agents if kinds[a] == "onnx"]
    observe = list(onnx_agents)
    if human is not None and player is not None and player.needs_observation:
        observe.append(human)
    bridge = load_bridge()
    env = bridge.Game(
        json.dumps(
            {
                "env_code": runtime.get("env_code", ""),
                "agents": agents,
                "observe": observe,
                "record_observations": bool(runtime.get("record_observations")),
                "random_agents": random_agents,
            }
        )
    )
    game_id, scene_id = game["game_id"], spec["scene_id"]
    seed0 = int(game.get("seed") or 0)
    fps = float(spec.get("fps") or 30)
    num_episodes = int(spec.get("num_episodes") or 1)
    max_steps = int(spec.get("max_steps") or 1000)
    freeze_s = float(runtime.get("reset_freeze_s") or 0)
    episode = step = 0
    played = 0

    def fail(kind: str, message: str, **extra: Any) -> BrowserGameError:
        where = {"game_id": game_id, "episode": episode, "step": step}
        outbox.add("event", {"scene_id": scene_id, "kind": kind, "data": {**where, **extra}, "t": time.time()})
        return BrowserGameError(message)

    loaded = json.loads(env.load())
    if not loaded.get("ok"):
        raise fail("env_error", f"the env code of scene {scene_id!r} failed: {loaded.get('error')}",
                   error=loaded.get("error"), traceback=loaded.get("traceback"))  # fmt: skip
    bots: dict[str, Any] = {}
    for agent in random_agents:
        space = loaded["actions"][agent]
        bots[agent] = _RandomBot(agent, int(space["n"]), int(space["start"]))
    for agent in onnx_agents:
        bots[agent] = make_policy(scene.policy_mapping[agent], agent_id=agent)
    try:
        for index in range(num_episodes):
            episode, step = index + 1, 0
            seed = seed0 + index
            reset = json.loads(env.reset(seed))
            if not reset.get("ok"):
                raise fail("env_error", f"the env failed in reset(): {reset.get('error')}",
                           error=reset.get("error"), traceback=reset.get("traceback"))  # fmt: skip
            for bot in bots.values():
                bot.reset(seed)
            if player is not None:
                player.reset(seed)
            observations = reset.get("observations") or {}
            returns = {a: 0.0 for a in agents}
            started_at = time.time()
            if index > 0 and freeze_s > 0 and realtime:
                await asyncio.sleep(freeze_s)
            next_tick = time.monotonic()
            while True:
                if realtime:
                    next_tick += 1.0 / fps
                    delay = next_tick - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -0.25:  # behind: restart the schedule, as the worker does
                        next_tick = time.monotonic()
                else:
                    await asyncio.sleep(0)  # let the other simulated participants run
                t = time.time()
                actions: dict[str, Any] = {}
                for agent in agents:
                    try:
                        if agent == human:
                            held = spec.get("default_action")
                            actions[agent] = player.act(observations.get(agent)) if player is not None else held
                        else:
                            actions[agent] = bots[agent].act(observations.get(agent))
                    except Exception as exc:
                        raise fail("policy_error", f"the policy of agent {agent!r} failed at episode {episode}, "
                                   f"step {step}: {exc}", agent_id=agent, error=str(exc)) from exc  # fmt: skip
                result = json.loads(env.step(json.dumps(actions)))
                if not result.get("ok"):
                    raise fail("env_error", f"the env failed in step() at episode {episode}, step {step}: "
                               f"{result.get('error')}", error=result.get("error"),
                               traceback=result.get("traceback"))  # fmt: skip
                step += 1
                played += 1
                for agent, reward in (result.get("rewards") or {}).items():
                    returns[agent] = returns.get(agent, 0.0) + float(reward or 0.0)
                outbox.add(
                    "step",
                    {
                        "game_id": game_id,
                        "episode": episode,
                        "step": step,
                        "scene_id": scene_id,
                        "t": t,
                        "actions": actions,
                        "rewards": result.get("rewards"),
                        "terminated": result.get("terminated"),
                        "truncated": result.get("truncated"),
                        "infos": result.get("infos"),
                        "observations": result.get("recorded"),
                    },
                )
                if len(outbox) >= BATCH_RECORDS:
                    await outbox.flush()
                observations = result.get("observations") or {}
                if result.get("episode_over") or step >= max_steps:
                    break
            outbox.add(
                "episode",
                {
                    "game_id": game_id,
                    "episode": episode,
                    "scene_id": scene_id,
                    "participant_ids": [participant_id],
                    "seed": seed,
                    "started_at": started_at,
                    "ended_at": time.time(),
                    "num_steps": step,
                    "returns": returns,
                    "terminated": bool(result.get("terminated")),
                    "truncated": (not result.get("episode_over")) or bool(result.get("truncated")),
                    "outcome": "completed",
                },
            )
    finally:
        env.close()
    return played
