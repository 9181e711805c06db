"""A scripted participant: walk an experiment over its Socket.IO protocol, for pilots and tutorials.

``await autopilot(server)`` joins like a page does (``docs/protocol.md``), continues every static
scene, starts every game and holds actions chosen by a policy until the game moves it on, and stops
at the end scene. The server records it like anyone else, so a notebook can check its data pipeline
(and its plots) before a human plays. It does not draw anything: to check what participants *see*,
use ``exp.preview(scene)`` or open ``server.url``.

Needs python-socketio's asyncio client (``pip install "mug-py[jupyter]"``).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mug.server import ServerHandle

__all__ = ["autopilot"]

#: A policy gets the scene's spec (``action_mapping``, ``default_action``, ...) and the current
#: step, and returns the action to hold.
Policy = Callable[[Mapping[str, Any], int], Any]


def random_keys(seed: int | None = None, hold_steps: int = 8) -> Policy:
    """A policy that holds a random mapped action (or none) for ``hold_steps`` steps at a time."""
    rng = random.Random(seed)
    state: dict[str, Any] = {"until": -1, "action": None}

    def policy(spec: Mapping[str, Any], step: int) -> Any:
        if step >= state["until"] or step < state["until"] - hold_steps:
            choices = [b["action"] for b in spec.get("action_mapping") or []] + [spec.get("default_action")]
            state["action"] = rng.choice(choices)
            state["until"] = step + hold_steps
        return state["action"]

    return policy


async def autopilot(
    server: ServerHandle | str,
    participant_id: str | None = None,
    *,
    policy: Policy | None = None,
    answers: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int | None = None,
    timeout: float = 120.0,
) -> str:
    """Take one participant through the whole experiment; returns its participant id.

    Args:
        server: a running server handle (connected to directly, from this process) or a direct URL.
        participant_id: the id to join as (default: ``autopilot-<random>``).
        policy: chooses the action to hold at each step (default: random mapped keys).
        answers: form answers to submit per scene id, e.g. ``{"feedback": {"fun": 5}}``.
        seed: seeds the default policy.
        timeout: give up (``TimeoutError``) after this many seconds.
    """
    import socketio

    url = server if isinstance(server, str) else f"http://127.0.0.1:{server.port}/"
    pid = participant_id or f"autopilot-{uuid.uuid4().hex[:8]}"
    policy = policy or random_keys(seed)
    pilot = _Pilot(socketio.AsyncClient(reconnection=False), policy, dict(answers or {}))
    try:
        await asyncio.wait_for(pilot.run(url, pid), timeout)
    finally:
        await pilot.sio.disconnect()
    return pid


class _Pilot:
    def __init__(self, sio: Any, policy: Policy, answers: dict[str, Mapping[str, Any]]) -> None:
        self.sio = sio
        self.policy = policy
        self.answers = answers
        self.scenes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.step = 0
        self.playing = asyncio.Event()
        sio.on("scene", self.scenes.put_nowait)
        sio.on("frame", self._frame)
        sio.on("game_status", self._status)
        sio.on("matched", lambda _info: self.playing.set())

    def _frame(self, frame: dict[str, Any]) -> None:
        self.step = int(frame.get("step", self.step))

    def _status(self, status: dict[str, Any]) -> None:
        if status.get("status") == "running":
            self.playing.set()
        elif status.get("status") in ("done", "error"):
            self.playing.clear()  # the game is over: no more actions until the next scene

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.sio.call(event, payload, timeout=30)
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise RuntimeError(f"autopilot: the server refused {event!r}: {reply!r}")
        return reply

    async def run(self, url: str, pid: str) -> None:
        await self.sio.connect(url, transports=["websocket"], socketio_path="socket.io")
        spec = (await self.call("join", {"participant_id": pid, "query": {"participant": pid}}))["scene"]
        while True:
            kind = spec.get("scene_type")
            if kind in ("end", "completion_code"):
                return
            if kind == "gym":
                spec = await self.play(spec)
            else:
                payload: dict[str, Any] = {"scene_id": spec["scene_id"]}
                if spec["scene_id"] in self.answers:
                    payload["answers"] = dict(self.answers[spec["scene_id"]])
                spec = (await self.call("advance", payload))["scene"]

    async def play(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Start the scene's game and hold the policy's actions until the server sends the next scene."""
        self.playing.clear()
        self.step = 0
        await self.call("start_game", {"scene_id": spec["scene_id"]})
        period = 1.0 / float(spec.get("fps") or 30)
        human = bool(spec.get("human", True))
        held: Any = spec.get("default_action")
        next_scene = asyncio.ensure_future(self.scenes.get())
        try:
            while not next_scene.done():
                if human and self.playing.is_set():
                    action = self.policy(spec, self.step)
                    if action != held or spec.get("input_mode") == "single_keystroke":
                        held = action
                        await self.sio.emit("action", {"scene_id": spec["scene_id"], "action": action})
                await asyncio.wait([next_scene], timeout=period)
            return next_scene.result()
        finally:
            next_scene.cancel()
