"""Simulated participants for the capacity benchmark: Socket.IO clients in a process of their own.

Run as `python -m benchmarks._sim_participants URL COUNT SCENE ID_PREFIX`; prints one JSON line when every
client is in a running game ("ready"), then, after reading a line on stdin, a JSON report (frames
and bytes received, own CPU) and exits.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import socketio


class Participant:
    def __init__(self, url: str, pid: str, scene_id: str) -> None:
        self.url, self.pid, self.scene_id = url, pid, scene_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.frames = 0
        self.bytes = 0
        self.running = asyncio.Event()
        self.sio.on("frame", self._frame)
        self.sio.on("game_status", self._status)

    async def _frame(self, frame: dict) -> None:
        self.frames += 1
        self.bytes += len(json.dumps(frame, separators=(",", ":")))
        if self.frames % 10 == 0:  # a key change every third of a second
            await self.sio.emit("action", {"scene_id": self.scene_id, "action": (self.frames // 10) % 3})

    async def _status(self, status: dict) -> None:
        if status.get("status") == "running":
            self.running.set()

    async def start(self) -> None:
        await self.sio.connect(self.url, transports=["websocket"], socketio_path="socket.io")
        reply = await self.sio.call("join", {"query": {"participant": self.pid}})
        scene = reply["scene"]
        while scene["scene_id"] != self.scene_id:
            scene = (await self.sio.call("advance", {"scene_id": scene["scene_id"]}))["scene"]
        await self.sio.call("start_game", {"scene_id": self.scene_id})


async def main(url: str, count: int, scene_id: str, prefix: str) -> None:
    people = [Participant(url, f"{prefix}-{i}", scene_id) for i in range(count)]
    for i in range(0, count, 20):  # connect in small batches, as participants would arrive
        await asyncio.gather(*(p.start() for p in people[i : i + 20]))
    await asyncio.wait_for(asyncio.gather(*(p.running.wait() for p in people)), timeout=120)
    print(json.dumps({"ready": True}), flush=True)
    frames_before = [p.frames for p in people]
    bytes_before = [p.bytes for p in people]
    cpu_before, wall_before = _cpu(), time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    frames = sum(p.frames for p in people) - sum(frames_before)
    sent = sum(p.bytes for p in people) - sum(bytes_before)
    wall = time.monotonic() - wall_before
    report = {
        "frames_received": frames,
        "bytes_per_frame": round(sent / frames, 1) if frames else None,
        "frames_per_s": round(frames / wall, 1),
        "client_cpu_fraction": round((_cpu() - cpu_before) / wall, 3),
    }
    print(json.dumps(report), flush=True)
    await asyncio.gather(*(p.sio.disconnect() for p in people), return_exceptions=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
