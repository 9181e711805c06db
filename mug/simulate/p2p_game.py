"""A P2P game played by simulated participants: lockstep through the server's relay.

In a P2P scene (``runtime()`` + ``multiplayer(mode="p2p")``) every participant's browser runs the
env, and the players' inputs travel between the browsers: over WebRTC DataChannels, or through the
server (``p2p_relay``) when no DataChannel opens. Python has no WebRTC stack here, so simulated
peers take the path a browser takes when WebRTC cannot connect: **every input goes through the
server relay**, as a page's does with DataChannels blocked.

Instead of the rollback netcode (which a browser needs to hide network delay from a human), the
simulated peers of one game play in **lockstep**: each chooses its input for frame ``f + D``
(``D``: the scene's ``input_delay``) at frame ``f`` and relays it to every partner, waits until it
has every peer's input for frame ``f``, then steps the env through the worker's own Python side
(``bridge.py``'s P2P batch: ``p2p_reset`` and ``execute`` with one ``advance``), exactly as the
worker does for a confirmed frame. No frame is ever predicted, so there is nothing to roll back,
and every peer records the same confirmed frames a browser would: the step records (with each
player's ``focus``), the episode records, the ``p2p_transport`` event (``server``) and, at the
end, ``p2p_stats``; it reports ``p2p_status`` every 2 s, and says it is done with ``advance``.

The relay carries opaque bytes (the server checks only that they are base64 of 1-2,048 bytes and
go to a peer of the game), so simulated peers use a small framing of their own rather than the
netcode's binary wire: ``b"MSIM"``, the game's ``session_tag`` (u32), the first frame (u32), the
count ``n`` (u16), then ``n`` inputs of (action - start: u16, focus: u8), little-endian.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mug.env import to_jsonable
from mug.policies import ModelConfig
from mug.scenes import GymScene
from mug.simulate.actions import SimulatedPlayer
from mug.simulate.browser_game import BATCH_RECORDS, BrowserGameError, Outbox, load_bridge

__all__ = ["RELAY_FPS", "P2PLink", "decode_inputs", "encode_inputs", "play_p2p_game"]

#: Frames a second at most in ``fast`` pace: each frame is one ``p2p_relay`` event per peer, and the
#: server allows a connection 200 a second (`mug.server.sessions.p2p.RELAY_EVENTS_PER_S`).
RELAY_FPS = 150.0
#: How often a peer tells the server how its game goes (``p2p_status``), as the page does.
STATUS_INTERVAL_S = 2.0
#: Records kept before the outbox is flushed mid-game (and at least every FLUSH_INTERVAL_S).
FLUSH_RECORDS = 120
FLUSH_INTERVAL_S = 0.25

_MAGIC = b"MSIM"
_HEADER = struct.Struct("<4sIIH")
_INPUT = struct.Struct("<HB")


def encode_inputs(session_tag: int, first_frame: int, inputs: list[tuple[int, int]]) -> str:
    """One relayed packet (base64): ``inputs`` [(action - start, focus)] for frames from ``first_frame``."""
    body = b"".join(_INPUT.pack(offset, focus) for offset, focus in inputs)
    return base64.b64encode(_HEADER.pack(_MAGIC, session_tag, first_frame, len(inputs)) + body).decode()


def decode_inputs(session_tag: int, data: str) -> tuple[int, list[tuple[int, int]]]:
    """A packet `encode_inputs` made: (first frame, inputs). Raises ``ValueError`` naming what is wrong."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise ValueError("a relayed packet is not base64") from None
    if len(raw) < _HEADER.size:
        raise ValueError(f"a relayed packet of {len(raw)} bytes is shorter than its header")
    magic, tag, first, n = _HEADER.unpack_from(raw)
    if magic != _MAGIC:
        raise ValueError("a relayed packet is not a simulated peer's (a browser's netcode packet?)")
    if tag != session_tag:
        raise ValueError(f"a relayed packet names session {tag}, not this game's {session_tag}")
    if len(raw) != _HEADER.size + n * _INPUT.size:
        raise ValueError(f"a relayed packet of {len(raw)} bytes does not hold its {n} inputs")
    inputs = [_INPUT.unpack_from(raw, _HEADER.size + i * _INPUT.size) for i in range(n)]
    return first, [(int(a), int(b)) for a, b in inputs]


class P2PLink:
    """What the server sends a simulated peer about its P2P game: partners' inputs and departures.

    The participant's Socket.IO handlers feed it (`relayed`, `peer_left`); the game waits on it.
    """

    def __init__(self, game_id: str) -> None:
        self.game_id = game_id
        #: The netcode's ``session_tag`` of the game: the first 32 bits of its id (docs/protocol.md).
        self.session_tag = int(game_id[:8], 16)
        #: Inputs received, by peer then frame: (action - start, focus).
        self.inputs: dict[int, dict[int, tuple[int, int]]] = {}
        #: Peers dropped for good (their inputs are the default action from then on).
        self.dropped: set[int] = set()
        #: The server ended this peer's game (a partner left with ``on_player_drop="end_game"``).
        self.game_over = False
        self.problems: list[str] = []
        self._changed = asyncio.Event()

    def relayed(self, payload: Any) -> None:
        """A ``p2p_relay`` from the server: a partner's inputs (a packet this cannot read is noted)."""
        if not isinstance(payload, dict) or payload.get("game_id") != self.game_id:
            return
        sender = payload.get("from")
        for data in payload.get("data") or []:
            try:
                first, inputs = decode_inputs(self.session_tag, data)
            except ValueError as exc:
                self.problems.append(f"peer {sender}: {exc}")
                continue
            mine = self.inputs.setdefault(int(sender), {})
            for i, value in enumerate(inputs):
                mine[first + i] = value
        self._changed.set()

    def peer_left(self, payload: Any) -> None:
        """A ``p2p_peer_left``: once final, the game is over for this peer or the partner is dropped."""
        if not isinstance(payload, dict) or payload.get("game_id") != self.game_id or not payload.get("final"):
            return
        if payload.get("game_over"):
            self.game_over = True
        else:
            self.dropped.add(int(payload.get("peer", -1)))
        self._changed.set()

    async def changed(self) -> None:
        """Wait until something arrives (inputs, a departure)."""
        await self._changed.wait()
        self._changed.clear()


class _OnnxBot:
    """Answers the bridge's queries for one ONNX bot as the worker's ``P2POnnxBot`` does: the model
    run on the query's observation and recurrent state, float64 softmax, sampled with the query's draw."""

    def __init__(self, config: ModelConfig, agent_id: str) -> None:
        from mug.policies.onnx_policy import OnnxPolicy

        self.agent_id = agent_id
        self.policy = OnnxPolicy(config, agent_id=agent_id)
        self.shapes = self.policy.info.state_shapes

    def options(self, config: ModelConfig) -> dict[str, Any]:
        """The bot's ``onnx_agents`` entry for the bridge."""
        sizes = [math.prod(shape) for shape in self.shapes]
        return {"n_actions": self.policy.info.n_actions, "frame_skip": config.frame_skip, "state_sizes": sizes}

    def answer(self, query: dict[str, Any]) -> dict[str, Any]:
        """The bridge's query answered: ``{"action", "memory"}`` (state tensors as base64 float32)."""
        import numpy as np

        from mug.policies.sampling import agent_rng, sample_index, softmax

        memory = query.get("memory")
        recurrent = [
            np.frombuffer(base64.b64decode(memory[i]), dtype="<f4").reshape(shape).astype(np.float32)
            if memory else np.zeros(shape, np.float32)
            for i, shape in enumerate(self.shapes)
        ]  # fmt: skip
        self.policy.set_state({"seed": 0, "rng": list(agent_rng(0, self.agent_id).get_state()), "recurrent": recurrent})
        logits = self.policy.logits(query.get("observation"))
        action = sample_index(softmax(logits.tolist()), float(query["u"]))
        state = self.policy.get_state()["recurrent"]
        encoded = [base64.b64encode(np.asarray(s, dtype="<f4").tobytes()).decode() for s in state]
        return {"action": int(action), "memory": encoded}


async def play_p2p_game(
    *,
    scene: GymScene,
    spec: dict[str, Any],
    game: dict[str, Any],
    participant_id: str,
    player: SimulatedPlayer | None,
    outbox: Outbox,
    link: P2PLink,
    emit: Callable[[str, dict[str, Any]], Awaitable[Any]],
    realtime: bool,
) -> tuple[str, int]:
    """Play this peer's part of a P2P game in lockstep with its partners; (outcome, steps played).

    ``game`` is the P2P game payload the server sent (``peer``, ``peers``, ``seed``,
    ``session_tag``, ``input_delay``); ``emit(event, payload)`` sends a Socket.IO event. The outcome
    is ``done`` (every episode played), or ``stopped`` when the server ended the game (a partner
    left). Raises `BrowserGameError` after recording the failure as the page would (its env, a
    policy, a bot).
    """
    runtime = spec.get("runtime") or {}
    agents: list[str] = list(runtime.get("agents") or [])
    kinds = {a: (runtime.get("policies") or {}).get(a, {}).get("kind") for a in agents}
    peers = sorted(game["peers"], key=lambda p: p["peer"])
    humans = [p["agent"] for p in peers]
    me = int(game["peer"])
    partners = [p["peer"] for p in peers if p["peer"] != me]
    game_id, scene_id = game["game_id"], spec["scene_id"]
    seed0 = int(game.get("seed") or 0)
    tag = link.session_tag
    if game.get("session_tag") != tag:
        given = game.get("session_tag")
        raise BrowserGameError(f"the server's session_tag {given!r} is not the first 32 bits of the game's id")
    delay = int(game.get("input_delay") or 0)
    fps = float(spec.get("fps") or 30)
    num_episodes = int(spec.get("num_episodes") or 1)
    max_steps = int(spec.get("max_steps") or 1000)
    freeze_s = float(runtime.get("reset_freeze_s") or 0)
    record_observations = bool(runtime.get("record_observations"))
    episode = step = 0

    def fail(kind: str, message: str, **extra: Any) -> BrowserGameError:
        where = {"game_id": game_id, "episode": episode, "step": step}
        outbox.add("event", {"scene_id": scene_id, "kind": kind, "data": {**where, **extra}, "t": time.time()})
        return BrowserGameError(message)

    bots: dict[str, _OnnxBot] = {}
    onnx_options: dict[str, dict[str, Any]] = {}
    for agent in agents:
        if kinds[agent] == "onnx":
            config = scene.policy_mapping[agent]
            try:
                bots[agent] = _OnnxBot(config, agent)
            except Exception as exc:
                raise fail("load_error", f"the ONNX policy of agent {agent!r} could not be loaded: {exc}",
                           error=str(exc)) from exc  # fmt: skip
            onnx_options[agent] = bots[agent].options(config)
    bridge = load_bridge()
    env = bridge.Game(
        json.dumps(
            {
                "env_code": runtime.get("env_code", ""),
                "agents": agents,
                "record_observations": record_observations,
                "random_agents": [a for a in agents if kinds[a] == "random"],
                "onnx_agents": onnx_options,
                "p2p": True,
                "humans": humans,
                "seed": seed0,
                "max_steps": max_steps,
                # (the reset freeze, in frames as the worker counts it; none in fast pace)
                "freeze_frames": round(freeze_s * fps) if realtime else 0,
            }
        )
    )
    loaded = json.loads(env.load())
    if not loaded.get("ok"):
        raise fail("env_error", f"the env code of scene {scene_id!r} failed: {loaded.get('error')}",
                   error=loaded.get("error"), traceback=loaded.get("traceback"))  # fmt: skip
    spaces = {a: (int(loaded["actions"][a]["n"]), int(loaded["actions"][a]["start"])) for a in humans}
    n_mine, start_mine = spaces[humans[me]]
    default = scene.default_action

    def offset(agent: str, action: Any) -> int:
        n, start = spaces[agent]
        return min(max(int(action) - start, 0), n - 1)

    defaults = {p["peer"]: offset(p["agent"], default) for p in peers}
    mine: dict[int, tuple[int, int]] = {f: (defaults[me], 1) for f in range(delay)}
    for partner in partners:  # (before the input delay every player's input is the default, as in the netcode)
        received = link.inputs.setdefault(partner, {})
        for f in range(delay):
            received.setdefault(f, (defaults[partner], 1))

    stats = {"frames": 0}
    last_status = time.monotonic()
    last_flush = time.monotonic()
    for partner in partners:  # (the page records each pair's transport; a simulated peer has only the relay)
        outbox.add("event", {"scene_id": scene_id, "kind": "p2p_transport", "t": time.time(), "data": {
            "game_id": game_id, "peers": [me, partner], "transport": "server", "candidate_type": None}})  # fmt: skip

    async def status() -> None:
        await emit("p2p_status", {
            "game_id": game_id, "frame": stats["frames"],
            "peers": [{"peer": p, "transport": "server", "rtt_ms": None} for p in partners],
            "rollbacks": 0, "max_rollback": 0, "predicted_frames": 0, "frames": stats["frames"], "desyncs": 0,
        })  # fmt: skip

    def observation() -> Any:
        adapter = env.adapter  # (the worker's game keeps the agents' latest observations in its adapter)
        return to_jsonable(adapter._last_obs.get(humans[me])) if adapter is not None else None

    outcome = "done"
    played = 0
    interval = 1.0 / fps if realtime else 1.0 / RELAY_FPS
    try:
        frame = 0
        for index in range(num_episodes):
            episode, step = index + 1, 0
            reset = json.loads(env.p2p_reset(episode))
            if not reset.get("ok"):
                raise fail("env_error", f"the env failed in reset(): {reset.get('error')}",
                           error=reset.get("error"), traceback=reset.get("traceback"))  # fmt: skip
            if player is not None:
                player.reset(seed0 + index)
            returns = {a: 0.0 for a in agents}
            started_at = time.time()
            last: dict[str, Any] | None = None
            next_tick = time.monotonic()
            while True:
                next_tick += interval
                wait = next_tick - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.25:  # behind: restart the schedule, as the worker does
                    next_tick = time.monotonic()
                # This peer's input for frame + D, chosen now (the key held), relayed to every partner.
                try:
                    if player is None:
                        action = default
                    else:
                        action = player.act(observation() if player.needs_observation else None)
                except Exception as exc:
                    raise fail("policy_error", f"the policy of agent {humans[me]!r} failed at episode {episode}, "
                               f"step {step}: {exc}", agent_id=humans[me], error=str(exc)) from exc  # fmt: skip
                mine[frame + delay] = (int(action) - start_mine, 1)
                if not 0 <= mine[frame + delay][0] < n_mine:
                    raise fail("policy_error", f"action {action!r} is outside agent {humans[me]!r}'s action space",
                               agent_id=humans[me], error=f"action {action!r}")  # fmt: skip
                data = encode_inputs(tag, frame + delay, [mine[frame + delay]])
                live = [p for p in partners if p not in link.dropped]
                if live:
                    await emit("p2p_relay", {"game_id": game_id, "packets": [{"to": p, "data": data} for p in live]})
                # Wait for every partner's input for this frame (a dropped partner's is the default).
                while not link.game_over and any(
                    frame not in link.inputs.get(p, {}) for p in partners if p not in link.dropped
                ):
                    await link.changed()
                if link.game_over:
                    outcome = "stopped"
                    break
                inputs = []
                for p in range(len(peers)):
                    if p == me:
                        inputs.append(list(mine.pop(frame)))
                    else:
                        inputs.append(list(link.inputs.get(p, {}).pop(frame, (defaults[p], 1))))
                result = json.loads(env.execute(json.dumps(
                    {"requests": [{"kind": "advance", "frame": frame, "inputs": inputs}]})))  # fmt: skip
                while result.get("ok") and result.get("pending"):  # ONNX bots act in this frame
                    queries = result["pending"]["queries"]
                    answers = {}
                    for query in queries:
                        try:
                            answers[query["agent"]] = bots[query["agent"]].answer(query)
                        except Exception as exc:
                            raise fail("policy_error", f"the policy of agent {query['agent']!r} failed at episode "
                                       f"{episode}, step {step}: {exc}", agent_id=query["agent"],
                                       error=str(exc)) from exc  # fmt: skip
                    result = json.loads(env.resume(json.dumps(answers)))
                if not result.get("ok"):
                    raise fail("env_error", f"the env failed in {result.get('stage')}() at episode {episode}, step "
                               f"{step}: {result.get('error')}", error=result.get("error"),
                               traceback=result.get("traceback"))  # fmt: skip
                frame += 1
                stats["frames"] = frame
                [advanced] = result["steps"]
                if not advanced.get("skip"):
                    step = int(advanced["step"])
                    played += 1
                    last = advanced
                    for agent, reward in (advanced.get("rewards") or {}).items():
                        returns[agent] = returns.get(agent, 0.0) + float(reward or 0.0)
                    focus = {agent: bool(inputs[i][1]) for i, agent in enumerate(humans)}
                    outbox.add("step", {
                        "game_id": game_id, "episode": episode, "step": step, "scene_id": scene_id, "t": time.time(),
                        "actions": advanced["actions"], "rewards": advanced["rewards"],
                        "terminated": advanced["terminated"], "truncated": advanced["truncated"],
                        "infos": advanced["infos"], "observations": advanced.get("observations"), "focus": focus,
                    })  # fmt: skip
                now = time.monotonic()
                if len(outbox) >= min(FLUSH_RECORDS, BATCH_RECORDS) or now - last_flush >= FLUSH_INTERVAL_S:
                    last_flush = now
                    await outbox.flush()
                if now - last_status >= STATUS_INTERVAL_S:
                    last_status = now
                    await status()
                if last is not None and last.get("over") and last is advanced:
                    break
            if outcome != "done":
                break
            outbox.add("episode", {
                "game_id": game_id, "episode": episode, "scene_id": scene_id, "participant_ids": [participant_id],
                "seed": seed0 + index, "started_at": started_at, "ended_at": time.time(), "num_steps": step,
                "returns": returns, "terminated": bool(last and last["terminated"]),
                "truncated": last is None or not last["episode_over"] or bool(last["truncated"]),
                "outcome": "completed",
            })  # fmt: skip
    finally:
        env.close()
        outbox.add("event", {"scene_id": scene_id, "kind": "p2p_stats", "t": time.time(), "data": {
            "game_id": game_id, "peer": me, "transport": {str(p): "server" for p in partners},
            "rtt_ms": {str(p): None for p in partners}, "frames": stats["frames"], "rollbacks": 0,
            "max_rollback_depth": 0, "predicted_frames": 0, "replayed_frames": 0, "desyncs": 0, "resyncs": 0,
            "catch_ups": 0, "max_batch_frames": 1, "simulated": "lockstep"}})  # fmt: skip
        with contextlib.suppress(Exception):  # (the connection may be going: the page's last report is best effort too)
            await status()
    if link.problems:
        raise BrowserGameError(f"the relay brought a packet this peer could not read: {link.problems[0]}")
    return outcome, played
