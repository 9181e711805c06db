"""The Python side of MUG's Pyodide worker: one env game, one JSON call per tick.

The worker (``mug/client/src/runtime/worker.ts``) writes this file into Pyodide's
site-packages as ``_mug_bridge.py`` and drives a :class:`Game` through four
methods that take and return JSON strings, so every tick crosses between
JavaScript and Python exactly once. Nothing here raises into JavaScript: every
failure comes back as ``{"ok": false, "stage", "error", "traceback"}``.

A peer-to-peer game (spec ``"p2p": true``) is driven instead by :meth:`Game.p2p_reset` and
:meth:`Game.execute`: the rollback netcode's host requests (save, load, advance, discard,
exportState, importState) for a whole tick — a re-simulation of many frames included — run in
one call that returns the checksums, exported states, every simulated frame's step result and
one render diff of the frame the batch ends on (docs/p2p.md, "The worker"). ONNX bots run in
JavaScript (onnxruntime-web's run() is asynchronous), so a batch in which a bot must act pauses
there: :meth:`Game.execute` returns the bots' queries (observation, recurrent state, seeded draw),
the worker runs the model and calls :meth:`Game.resume` with the actions, and the batch goes on.
Everything a bot's action depends on is part of the game's state, in every snapshot (docs/p2p.md,
"Bots").

It mirrors the server's game loop (``mug/server/games/game.py``): the env is stepped
through :class:`mug.env.EnvAdapter`, frames are diffed with one
:class:`mug.env.RenderDiffer` for the whole game (the first frame is full), and
recorded values go through :func:`mug.env.to_jsonable`.

Pure Python (stdlib + ``mug.env``); ``tests/runtime`` also runs it in CPython.
"""

from __future__ import annotations

import array
import base64
import binascii
import copy
import hashlib
import json
import linecache
import math
import re
import sys
import traceback
import zlib
from typing import Any

from mug.env import EnvAdapter, RenderDiffer, to_jsonable

#: The file name env code is compiled under (its lines show in tracebacks).
ENV_FILENAME = "<env_code>"

#: A saved state: the env's, the game's, the adapter's bookkeeping, the ONNX bots'.
Snapshot = tuple[Any, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _failure(stage: str, exc: BaseException) -> str:
    return _dumps(
        {
            "ok": False,
            "stage": stage,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        }
    )


def _problem(stage: str, message: str) -> str:
    return _dumps({"ok": False, "stage": stage, "error": message, "traceback": None})


def run_env_code(code: str) -> dict[str, Any]:
    """Execute env code in a fresh namespace; its lines appear in tracebacks as ``<env_code>``."""
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[ENV_FILENAME] = (len(code), None, lines, ENV_FILENAME)
    namespace: dict[str, Any] = {"__name__": "__mug_env__", "__file__": ENV_FILENAME}
    exec(compile(code, ENV_FILENAME, "exec"), namespace)
    return namespace


def _env_problem(namespace: dict[str, Any]) -> str | None:
    """Why ``namespace['env']`` is not an env object, or None if it is one."""
    if "env" not in namespace:
        return (
            "the env code ran but did not define `env`; it must end with something like "
            "`env = MyEnv(render_mode='mug')` (an env instance)"
        )
    env = namespace["env"]
    if isinstance(env, type):
        return f"`env` is the class {env.__name__}, not an env; create an instance: `env = {env.__name__}(...)`"
    missing = [m for m in ("reset", "step", "render") if not callable(getattr(env, m, None))]
    if missing:
        return (
            f"`env` is {type(env).__name__} object without {', '.join(m + '()' for m in missing)}; "
            "it must be an env instance (Gymnasium or PettingZoo-parallel API)"
        )
    return None


def _discrete(space: Any) -> tuple[int, int] | None:
    """``(n, start)`` of a Discrete-like action space, or None."""
    n = getattr(space, "n", None)
    try:
        n_int, start = int(n), int(getattr(space, "start", 0))
    except (TypeError, ValueError):
        return None
    if n_int < 1 or n_int != n or getattr(space, "shape", ()) not in ((), None):
        return None
    return n_int, start


class Game:
    """One game: the env made by the env code, its adapter and the game's render differ.

    Args (as one JSON object, ``spec_json``):
        env_code: Python source that defines ``env``.
        agents: agent ids, in order (the scene's policy_mapping keys).
        observe: agents whose observations JavaScript needs (ONNX policies).
        record_observations: whether step results carry every agent's observation for the record.
        random_agents: agents with a random policy; :meth:`load` reports their action space size.
        onnx_agents (p2p): ``{agent: {"n_actions": int | None, "frame_skip": int, "state_sizes":
            [int, ...]}}``, the ONNX bots (state_sizes: the element count of each recurrent state
            tensor, in the model config's order).
        p2p: a peer-to-peer (rollback) game, driven by :meth:`p2p_reset` and :meth:`execute`.
        humans (p2p): the human agents in peer order (netcode player ``i`` plays ``humans[i]``).
        seed (p2p): the game's seed; random bots draw from (seed, episode, step, agent).
        max_steps (p2p): steps after which an episode is over.
        freeze_frames (p2p): frames at the start of every episode but the first in which the env
            is not stepped (the scene's reset freeze, counted in frames so every peer agrees).
    """

    def __init__(self, spec_json: str) -> None:
        spec = json.loads(spec_json)
        self.env_code: str = spec["env_code"]
        self.agents: list[str] = list(spec["agents"])
        self.observe: list[str] = list(spec.get("observe", []))
        self.record_observations = bool(spec.get("record_observations", False))
        self.random_agents: list[str] = list(spec.get("random_agents", []))
        self.p2p = bool(spec.get("p2p", False))
        self.humans: list[str] = list(spec.get("humans", []))
        self.seed = int(spec.get("seed", 0))
        self.max_steps = int(spec.get("max_steps", 0)) or None
        self.freeze_frames = int(spec.get("freeze_frames", 0))
        self.onnx: dict[str, dict[str, Any]] = {str(a): dict(o) for a, o in spec.get("onnx_agents", {}).items()}
        self.adapter: EnvAdapter | None = None
        self.differ = RenderDiffer()
        #: P2P: the discrete spaces ``(n, start)`` of every agent with one.
        self.spaces: dict[str, tuple[int, int]] = {}
        #: P2P: the live game's own part of the state (the env's is in the env).
        self.live: dict[str, Any] = {"episode": 0, "step": 0, "over": False, "freeze": 0}
        #: P2P: each ONNX bot's part of the state: ``{"obs", "action", "memory"}`` (the observation
        #: it acts on next, its last action, its recurrent state: one base64 text of little-endian
        #: float32 per state tensor, or None for zeros).
        #: The inner values are replaced, never changed in place, so snapshots copy them shallowly.
        self.bots: dict[str, dict[str, Any]] = {}
        #: P2P: saved snapshots by frame: (env state, game state, adapter state, bots' state).
        self.snapshots: dict[int, Snapshot] = {}
        #: P2P: a batch waiting for its bots' actions (see :meth:`resume`).
        self._paused: dict[str, Any] | None = None

    def load(self) -> str:
        """Run the env code and wrap ``env``: ``{"ok": true, "actions": {agent: {"n", "start"}}}``."""
        try:
            namespace = run_env_code(self.env_code)
        except BaseException as exc:  # SyntaxError, ImportError, anything the env code raises
            return _failure("env_code", exc)
        problem = _env_problem(namespace)
        if problem:
            return _problem("no_env", problem)
        try:
            self.adapter = EnvAdapter(namespace["env"], self.agents)
        except Exception as exc:
            return _failure("adapter", exc)
        actions: dict[str, dict[str, int]] = {}
        for agent in self.random_agents:
            try:
                space = self.adapter.action_space(agent)
            except Exception as exc:
                return _failure("action_space", exc)
            discrete = _discrete(space)
            if discrete is None:
                return _problem(
                    "action_space",
                    f"agent {agent!r} has a random policy, which in the browser needs a Discrete action space "
                    f"(an `n` attribute); the env's action space is {space!r}",
                )
            actions[agent] = {"n": discrete[0], "start": discrete[1]}
            self.spaces[agent] = discrete
        if self.p2p:
            for agent, options in self.onnx.items():
                problem = self._onnx_space_problem(agent, options)
                if problem:
                    return problem
            if not self.adapter.has_snapshot:
                return _problem(
                    "no_snapshot",
                    f"rollback needs snapshots: the env ({type(namespace['env']).__name__}) must define "
                    "get_state() and set_state(state) to be played peer-to-peer (docs/env.md, Snapshots)",
                )
            for agent in self.humans:
                try:
                    space = self.adapter.action_space(agent)
                except Exception as exc:
                    return _failure("action_space", exc)
                discrete = _discrete(space)
                if discrete is None:
                    return _problem(
                        "action_space",
                        f"human agent {agent!r} of a peer-to-peer game needs a Discrete action space "
                        f"(the netcode sends its action as an int); the env's action space is {space!r}",
                    )
                actions[agent] = {"n": discrete[0], "start": discrete[1]}
                self.spaces[agent] = discrete
        return _dumps({"ok": True, "actions": actions, "multi_agent": self.adapter.is_multi_agent})

    def reset(self, seed: int) -> str:
        """Reset with ``seed``: ``{"ok", "observations", "frame"}`` (frame: the diff to show)."""
        assert self.adapter is not None, "load() first"
        try:
            observations = self.adapter.reset(seed=int(seed))
            frame = self.differ.diff(self.adapter.render())
            observed = {a: to_jsonable(observations.get(a)) for a in self.observe}
            return _dumps({"ok": True, "observations": observed, "frame": frame})
        except Exception as exc:
            return _failure("reset", exc)

    def step(self, actions_json: str) -> str:
        """One tick: step with ``{agent: action}`` and render.

        Returns ``{"ok", "rewards", "terminated", "truncated", "episode_over", "infos",
        "observations" (the observed agents'), "recorded" (every agent's, or null), "frame"}``.
        """
        assert self.adapter is not None, "load() first"
        try:
            result = self.adapter.step(json.loads(actions_json))
            frame = self.differ.diff(self.adapter.render())
            out = {
                "ok": True,
                "rewards": to_jsonable(result.rewards),
                "terminated": any(bool(v) for v in result.terminated.values()),
                "truncated": any(bool(v) for v in result.truncated.values()),
                "episode_over": bool(result.episode_over),
                "infos": to_jsonable(result.infos),
                "observations": {a: to_jsonable(result.observations.get(a)) for a in self.observe},
                "recorded": to_jsonable(result.observations) if self.record_observations else None,
                "frame": frame,
            }
            return _dumps(out)
        except Exception as exc:
            return _failure("step", exc)

    # -- peer-to-peer (rollback) games -------------------------------------------------

    def p2p_reset(self, episode: int) -> str:
        """Start episode ``episode`` (1-based) with seed ``seed + episode - 1``: ``{"ok", "frame", "live"}``.

        Called before the first frame and after each agreed episode end; the netcode then saves
        the reset state under the episode's first frame.
        """
        assert self.adapter is not None, "load() first"
        try:
            self._paused = None
            observations = self.adapter.reset(seed=self.seed + int(episode) - 1)
            freeze = self.freeze_frames if int(episode) > 1 else 0
            self.live = {"episode": int(episode), "step": 0, "over": False, "freeze": freeze}
            self.bots = {
                a: {"obs": to_jsonable(observations.get(a)), "action": None, "memory": None} for a in self.onnx
            }
            frame = self.differ.diff(self.adapter.render())
            return _dumps({"ok": True, "frame": frame, "live": self.live})
        except Exception as exc:
            return _failure("reset", exc)

    def execute(self, batch_json: str) -> str:
        """Run one tick's netcode host requests, in order, in this one call.

        ``batch_json``: ``{"requests": [...]}`` with requests as the netcode makes them, except
        that an advance's ``inputs`` are ``[[action - start, focused], ...]`` in player (peer)
        order and an importState's ``state`` is the exporting peer's state as text.

        Returns ``{"ok": true, "checksums": [[frame, u32], ...], "exports": [[frame, text], ...],
        "steps": [...], "frame": <render diff or null>, "live": {...}}``: one step result per
        advance (``{"frame", "skip": true}`` for frames in which the env is not stepped: after the
        episode is over, or during the reset freeze), and the render diff of the state the batch
        ends on, if any request changed it. A failure stops the batch: ``{"ok": false, "stage",
        "error", "traceback", "frame"}`` (``stage``: ``step``, ``snapshot``, ``import_state``...).

        With ONNX bots, an advance in which a bot must act pauses the batch before stepping:
        ``{"ok": true, "pending": {"frame": f, "queries": [{"agent", "observation", "memory", "u"},
        ...]}}``; answer with :meth:`resume`, which goes on from there (and may pause again).
        """
        assert self.adapter is not None, "load() first"
        if self._paused is not None:
            return _problem("execute", "a batch is waiting for its bots' actions: resume() it before the next batch")
        try:
            requests = json.loads(batch_json)["requests"]
        except Exception as exc:
            return _failure("execute", exc)
        self._paused = {"requests": requests, "at": 0, "checksums": [], "exports": [], "steps": [], "changed": False}
        return self._run(None)

    def resume(self, answers_json: str) -> str:
        """Go on with the paused batch: ``answers_json`` is ``{agent: {"action": int, "memory":
        [text, ...]}}`` for every agent the pause queried (``memory``: the model's recurrent state
        outputs in the model config's order, each the base64 text of its little-endian float32
        values: compact, exact, and cheap to carry as JSON). Returns what :meth:`execute` does."""
        assert self.adapter is not None, "load() first"
        if self._paused is None:
            return _problem("bot", "resume() without a batch waiting for bot actions")
        try:
            answers = json.loads(answers_json)
            if not isinstance(answers, dict):
                raise ValueError(f"bot answers must be an object keyed by agent id, got {answers!r}")
        except Exception as exc:
            self._paused = None
            return _failure("bot", exc)
        return self._run(answers)

    def _run(self, answers: dict[str, Any] | None) -> str:
        """Run the paused batch's requests from where it stopped (``answers``: the bots' actions
        for the advance it stopped at)."""
        assert self.adapter is not None and self._paused is not None
        batch = self._paused
        requests = batch["requests"]
        at: int | None = None
        stage = "execute"
        try:
            while batch["at"] < len(requests):
                request = requests[batch["at"]]
                kind = request["kind"]
                at = request.get("frame")
                if kind == "advance":
                    stage = "step"
                    queries = self._queries() if answers is None else None
                    if queries:
                        frame = int(request["frame"])
                        batch["asked"] = [q["agent"] for q in queries]
                        return _dumps({"ok": True, "pending": {"frame": frame, "queries": queries}})
                    if answers is not None:
                        stage = "bot"
                        self._take_answers(answers, batch["asked"])
                        answers = None
                        stage = "step"
                    batch["steps"].append(self._advance(int(request["frame"]), request["inputs"]))
                    batch["changed"] = True
                elif kind == "save":
                    stage = "snapshot"
                    snapshot = self._snapshot()
                    self.snapshots[int(request["frame"])] = snapshot
                    if request.get("checksum"):
                        crc = zlib.crc32(_canonical(snapshot).encode())
                        batch["checksums"].append([int(request["frame"]), crc])
                elif kind == "load":
                    stage = "snapshot"
                    self._restore(self._saved(int(request["frame"]), "load"))
                    batch["changed"] = True
                elif kind == "discard":
                    before = int(request["before"])
                    for frame in [f for f in self.snapshots if f < before]:
                        del self.snapshots[frame]
                elif kind == "exportState":
                    stage = "snapshot"
                    saved = self._saved(int(request["frame"]), "export")
                    batch["exports"].append([int(request["frame"]), _canonical(saved)])
                elif kind == "importState":
                    stage = "import_state"
                    self.snapshots[int(request["frame"])] = self._imported(request["state"])
                else:
                    raise ValueError(f"unknown host request kind {kind!r}")
                batch["at"] += 1
            frame = self.differ.diff(self.adapter.render()) if batch["changed"] else None
        except Exception as exc:
            self._paused = None
            failure = json.loads(_failure(stage, exc))
            failure["frame"] = at
            failure["live"] = self.live
            return _dumps(failure)
        self._paused = None
        return _dumps(
            {
                "ok": True,
                "checksums": batch["checksums"],
                "exports": batch["exports"],
                "steps": batch["steps"],
                "frame": frame,
                "live": self.live,
            }
        )

    def _onnx_space_problem(self, agent: str, options: dict[str, Any]) -> str | None:
        """Check an ONNX bot's action space (Discrete(n), start 0, n = the model's logits) and keep
        it; the load failure to return, or None."""
        assert self.adapter is not None
        try:
            space = self.adapter.action_space(agent)
        except Exception as exc:
            return _failure("action_space", exc)
        discrete = _discrete(space)
        n_actions = options.get("n_actions")
        if discrete is None or discrete[1] != 0:
            return _problem(
                "action_space",
                f"agent {agent!r} has an ONNX policy, which samples an action index 0..n-1: its action space "
                f"must be Discrete(n) starting at 0; the env's action space is {space!r}",
            )
        if n_actions is not None and discrete[0] != int(n_actions):
            return _problem(
                "action_space",
                f"agent {agent!r}: its ONNX model outputs {n_actions} logits, but its action space {space!r} "
                f"has {discrete[0]} actions",
            )
        self.spaces[agent] = discrete
        return None

    def _queries(self) -> list[dict[str, Any]]:
        """The ONNX bots that must run their model before the live state's next step: each one's
        observation, recurrent state and seeded draw. None act in skipped frames (episode over,
        reset freeze); a bot whose agent is done, or (with frame_skip) between its query steps,
        repeats its last action without a query."""
        live = self.live
        if not self.onnx or live["over"] or live["freeze"] > 0:
            return []
        assert self.adapter is not None
        queries = []
        for agent, options in self.onnx.items():
            bot = self.bots[agent]
            if self.adapter._done.get(agent):
                continue
            if bot["action"] is not None and live["step"] % int(options.get("frame_skip", 1)) != 0:
                continue
            queries.append(
                {
                    "agent": agent,
                    "observation": bot["obs"],
                    "memory": bot["memory"],
                    "u": sample_draw(self.seed, live["episode"], live["step"], agent),
                }
            )
        return queries

    def _take_answers(self, answers: dict[str, Any], asked: list[str]) -> None:
        """Check the bots' answers to the pending queries and keep their actions and states."""
        given = sorted(answers)
        if sorted(asked) != given:
            raise ValueError(f"bot answers for {given}, but the bots asked were {sorted(asked)}")
        for agent in asked:
            answer = answers[agent]
            n = self.spaces[agent][0]
            action = answer.get("action") if isinstance(answer, dict) else None
            if isinstance(action, bool) or not isinstance(action, int) or not 0 <= action < n:
                raise ValueError(f"bot {agent!r} answered action {action!r}; expected an int in 0..{n - 1}")
            memory = answer.get("memory")
            problem = _memory_problem(memory, self.onnx[agent])
            if problem:
                raise ValueError(f"bot {agent!r} answered a recurrent state that {problem}")
            self.bots[agent] = {"obs": self.bots[agent]["obs"], "action": action, "memory": memory or None}

    def perturb(self) -> str:
        """Test hook: change the live state and every saved snapshot so this peer's checksums
        differ from its peers' (a provoked desync). Adds 1 to a salt in the game's own state,
        which no step and no rollback undoes (only a resync or the next episode clears it), so
        the next checksum differs; and changes the first int or float in the env's state (a dict,
        keys sorted) by 1 so the game itself diverges where it can (a game may overwrite that
        number before the next checksum: a ball's speed at a serve). ``{"ok", "changed": key}``."""
        assert self.adapter is not None, "load() first"
        try:
            self.live["salt"] = self.live.get("salt", 0) + 1
            for snapshot in self.snapshots.values():
                snapshot[1]["salt"] = snapshot[1].get("salt", 0) + 1
            state = self.adapter.get_state()
            key = _first_number(state)
            if key is None:
                return _dumps({"ok": True, "changed": "salt"})
            state = copy.deepcopy(state)
            state[key] += 1
            self.adapter.set_state(state)
            for env_state, *_ in self.snapshots.values():
                if isinstance(env_state, dict) and _first_number(env_state) == key:
                    env_state[key] += 1
            return _dumps({"ok": True, "changed": f"{key}, salt"})
        except Exception as exc:
            return _failure("perturb", exc)

    def _advance(self, frame: int, inputs: list[list[int]]) -> dict[str, Any]:
        live = self.live
        if live["over"] or live["freeze"] > 0:
            if live["freeze"] > 0:
                live["freeze"] -= 1
            return {"frame": frame, "skip": True}
        assert self.adapter is not None
        if len(inputs) != len(self.humans):
            raise ValueError(f"frame {frame}: {len(inputs)} players' inputs for {len(self.humans)} human agents")
        chosen: dict[str, Any] = {}
        for agent, player_input in zip(self.humans, inputs, strict=True):
            chosen[agent] = int(player_input[0]) + self.spaces[agent][1]
        for agent in self.random_agents:
            chosen[agent] = random_action(self.seed, live["episode"], live["step"], agent, *self.spaces[agent])
        for agent in self.onnx:  # (their answers for this step are in: see _run)
            action = self.bots[agent]["action"]
            chosen[agent] = 0 if action is None else action
        actions = {a: chosen[a] for a in self.agents}
        result = self.adapter.step(actions)
        for agent in self.onnx:
            bot = self.bots[agent]
            self.bots[agent] = {**bot, "obs": to_jsonable(result.observations.get(agent, bot["obs"]))}
        live["step"] += 1
        over = bool(result.episode_over) or (self.max_steps is not None and live["step"] >= self.max_steps)
        live["over"] = over
        return {
            "frame": frame,
            "episode": live["episode"],
            "step": live["step"],
            "actions": actions,
            "rewards": to_jsonable(result.rewards),
            "terminated": any(bool(v) for v in result.terminated.values()),
            "truncated": any(bool(v) for v in result.truncated.values()),
            "episode_over": bool(result.episode_over),
            "over": over,
            "infos": to_jsonable(result.infos),
            "observations": to_jsonable(result.observations) if self.record_observations else None,
        }

    def _snapshot(self) -> Snapshot:
        """The live state, copied: the env's (get_state), the game's, the adapter's bookkeeping and
        the ONNX bots' (their values are never changed in place, so a shallow copy suffices)."""
        assert self.adapter is not None
        adapter = self.adapter
        done = dict(adapter._done)
        bookkeeping = {
            "done": done,
            "flags": {a: list(f) for a, f in adapter._last_flags.items()},
            "last_obs": {a: copy.deepcopy(o) for a, o in adapter._last_obs.items() if done.get(a)},
        }
        bots = {a: dict(b) for a, b in self.bots.items()}
        return copy.deepcopy(adapter.get_state()), dict(self.live), bookkeeping, bots

    def _restore(self, snapshot: Snapshot) -> None:
        assert self.adapter is not None
        env_state, live, bookkeeping, bots = snapshot
        self.adapter.set_state(copy.deepcopy(env_state))  # the saved snapshot stays reusable
        self.live = dict(live)
        self.adapter._done = dict(bookkeeping["done"])
        self.adapter._last_flags = {a: (bool(f[0]), bool(f[1])) for a, f in bookkeeping["flags"].items()}
        self.adapter._last_obs.update(copy.deepcopy(bookkeeping["last_obs"]))
        self.bots = {a: dict(b) for a, b in bots.items()}

    def _saved(self, frame: int, why: str) -> Snapshot:
        found = self.snapshots.get(frame)
        if found is None:
            have = f"{min(self.snapshots)}..{max(self.snapshots)}" if self.snapshots else "none"
            raise KeyError(f"no saved state for frame {frame} to {why} (saved frames: {have})")
        return found

    def _imported(self, text: Any) -> Snapshot:
        """A peer's exported state, checked before it is used: its shape, and that the env takes it."""
        assert self.adapter is not None
        if not isinstance(text, str):
            raise ValueError("the state received from a peer is not UTF-8 text")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the state received from a peer is not JSON: {exc}") from None
        problem = _state_problem(data, self.agents, self.onnx)
        if problem:
            raise ValueError(f"the state received from a peer is unusable: {problem}")
        snapshot = (data["env"], data["game"], data["adapter"], data.get("bots", {}))
        live = self._snapshot()
        try:
            self._restore(snapshot)  # the env's own set_state() checks what it can
        except Exception as exc:
            raise ValueError(
                f"the state received from a peer is unusable: the env refused it: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            self._restore(live)
        return snapshot

    def close(self) -> str:
        """Close the env (errors are reported, not raised)."""
        if self.adapter is None:
            return _dumps({"ok": True})
        try:
            self.adapter.close()
            return _dumps({"ok": True})
        except Exception as exc:
            return _failure("close", exc)
        finally:
            self.adapter = None


def random_action(seed: int, episode: int, step: int, agent: str, n: int, start: int) -> int:
    """A random bot's action in a peer-to-peer game: a pure function of (seed, episode, step,
    agent), so every peer draws the same one and a re-simulated step draws it again:
    ``start + (first 8 bytes of blake2b(b"mug-p2p-random/<seed>/<episode>/<step>/<agent>"),
    little-endian) % n`` (``step``: steps already done in the 1-based ``episode``)."""
    key = f"mug-p2p-random/{seed}/{episode}/{step}/{agent}".encode()
    return start + int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") % n


def sample_draw(seed: int, episode: int, step: int, agent: str) -> float:
    """The uniform draw in [0, 1) an ONNX bot samples its action with in a peer-to-peer game: a
    pure function of (seed, episode, step, agent), like :func:`random_action`, so every peer and
    every re-simulation draws the same: ``(first 4 bytes of blake2b(b"mug-p2p-sample/<seed>/<episode>/
    <step>/<agent>"), little-endian) / 2**32`` (exact in float64 and in JSON)."""
    key = f"mug-p2p-sample/{seed}/{episode}/{step}/{agent}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little") / 4294967296


def _canonical(snapshot: Snapshot) -> str:
    """The snapshot as canonical JSON text: what is checksummed (crc32) and sent to a peer (the
    bots' part only in games with ONNX bots)."""
    env_state, live, bookkeeping, bots = snapshot
    value = {"env": env_state, "game": live, "adapter": bookkeeping}
    if bots:
        value["bots"] = bots
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"))


def _memory_problem(memory: Any, options: dict[str, Any]) -> str | None:
    """What is wrong with an ONNX bot's recurrent state (one base64 text of little-endian float32
    values per state tensor, of the tensor's size, all finite; None or [] for zeros), or None."""
    sizes = [int(n) for n in options.get("state_sizes", [])]
    if memory is None or memory == []:
        return None
    if not isinstance(memory, list) or len(memory) != len(sizes):
        return f"must be a list of {len(sizes)} base64 texts (one per state tensor), got {_short(memory)}"
    for i, (text, size) in enumerate(zip(memory, sizes, strict=True)):
        try:
            raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None or len(raw) != 4 * size:
            return f"must hold {size} float32 values (base64) in state tensor {i}, got {_short(text)}"
        values = array.array("f", raw)
        if sys.byteorder == "big":
            values.byteswap()
        if not math.isfinite(sum(values)):
            return f"holds NaN or infinity in state tensor {i}; expected finite numbers"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bots_problem(bots: Any, onnx: dict[str, dict[str, Any]]) -> str | None:
    """What is wrong with the ONNX bots' part of an exported state, or None."""
    if not isinstance(bots, dict) or set(bots) != set(onnx):
        return f"bots must map the ONNX agents ({sorted(onnx)}) to their state"
    for agent, bot in bots.items():
        if not isinstance(bot, dict) or set(bot) != {"obs", "action", "memory"}:
            return f"bots.{agent} must be an object with the keys obs, action and memory"
        action = bot["action"]
        if action is not None and (isinstance(action, bool) or not isinstance(action, int) or action < 0):
            return f"bots.{agent}.action must be null or an int >= 0, got {action!r}"
        problem = _memory_problem(bot["memory"], onnx[agent])
        if problem:
            return f"bots.{agent}.memory {problem}"
    return None


def _state_problem(data: Any, agents: list[str], onnx: dict[str, dict[str, Any]] | None = None) -> str | None:
    """What is wrong with an exported state's shape (its env part is the env's business)."""
    keys = {"env", "game", "adapter"} | ({"bots"} if onnx else set())
    if not isinstance(data, dict) or set(data) != keys:
        names = "env, game, adapter and bots" if onnx else "env, game and adapter"
        return f"expected an object with exactly the keys {names}"
    if onnx:
        problem = _bots_problem(data["bots"], onnx)
        if problem:
            return problem
    game, bookkeeping = data["game"], data["adapter"]
    if not isinstance(game, dict):
        return "game must be an object"
    for key in ("episode", "step", "freeze"):
        if isinstance(game.get(key), bool) or not isinstance(game.get(key), int) or game[key] < 0:
            return f"game.{key} must be an int >= 0, got {game.get(key)!r}"
    if not isinstance(game.get("over"), bool):
        return f"game.over must be true or false, got {game.get('over')!r}"
    if not isinstance(bookkeeping, dict) or set(bookkeeping) != {"done", "flags", "last_obs"}:
        return "adapter must be an object with the keys done, flags and last_obs"
    done, flags = bookkeeping["done"], bookkeeping["flags"]
    if (
        not isinstance(done, dict)
        or not set(done) <= set(agents)
        or not all(isinstance(v, bool) for v in done.values())
    ):
        return f"adapter.done must map agent ids ({agents}) to true/false"
    if (
        not isinstance(flags, dict)
        or not set(flags) <= set(agents)
        or not all(isinstance(f, list) and len(f) == 2 and all(isinstance(b, bool) for b in f) for f in flags.values())
    ):
        return "adapter.flags must map agent ids to [terminated, truncated]"
    if not isinstance(bookkeeping["last_obs"], dict) or not set(bookkeeping["last_obs"]) <= set(agents):
        return "adapter.last_obs must map agent ids to observations"
    return None


def _first_number(state: Any) -> str | None:
    """The first key (sorted) of a dict state whose value is an int or float (not a bool)."""
    if not isinstance(state, dict):
        return None
    for key in sorted(state, key=str):
        value = state[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return key
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


async def install(target: str) -> str:
    """``micropip.install`` one wheel URL or Pyodide-lock name, never consulting PyPI.

    ``index_urls=[]``: a name is looked up in the Pyodide lock only, and a wheel's
    dependencies must already be installed (list them earlier in ``packages``) or be in the lock.
    A lock package is loaded by Pyodide's ``loadPackage``, which reports a failed download on
    stderr instead of raising, so a name is checked to be installed afterwards.
    """
    import micropip  # provided by the worker's preload

    try:
        await micropip.install(target, index_urls=[])
    except BaseException as exc:
        return _failure("install", exc)
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", target)
    if not target.endswith(".whl") and name:
        installed = {_normalize(n) for n in micropip.list()}
        if _normalize(name.group(0)) not in installed:
            return _problem(
                "install", f"{name.group(0)} was not installed (its download from the package index failed)"
            )
    return _dumps({"ok": True})
