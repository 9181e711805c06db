"""The game-process pipe (`mug.server.games.processes.pipe.MessagePipe`) against the standard library's.

Game processes send the server process every frame they make (`("out", game_id, target, text,
mirror)`, the text a ~465-byte JSON frame, in one list per event-loop turn) and receive the
players' actions (`("action", game_id, participant_id, action)`). The server process reads on
its event loop, beside every participant's socket, so what reading costs it is what matters.
Three ways to carry the same pickled batches over a socket pair, each read from an asyncio loop:

- `message_pipe`: MUG's `MessagePipe` (length-prefixed pickles; one non-blocking `recv` per
  wake-up that returns every whole message that arrived);
- `multiprocessing_connection`: `multiprocessing.connection.Connection` `send_bytes` /
  `recv_bytes`, read with `poll()` until empty on each wake-up (the documented way to drain it
  without blocking);
- `asyncio_streams`: `asyncio.open_connection(sock=...)` with a 4-byte length and
  `readexactly` per message.

Two measurements per way, in one run: `throughput` (a child process sends 10,000 batches of 20
frames as fast as it can; frames per second received and the reader's CPU per frame) and `paced`
(batches of 20 frames every 3.3 ms, which is 200 games at 30 fps; the delay from send to
unpickled in the reader, p50/p99, and the reader's CPU per frame).
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import os
import pickle
import socket
import struct
import time
from typing import Any

from benchmarks._stats import summary
from mug.server.games.processes.pipe import MessagePipe

BATCH = 20  # frames per loop turn of a game process (games of one tick slot)
THROUGHPUT_BATCHES = 10_000
PACED_S = 2.0
PACED_GAP_S = BATCH / (200 * 30)  # 200 games at 30 fps
_LENGTH = struct.Struct("!I")


def _frame_text(step: int) -> str:
    """A frame as the server writes it: about the size of the capacity benchmark's frames (465 bytes)."""
    body = (
        '2["frame",{"scene_id":"duel","game_id":"0123456789abcdef0123456789abcdef","episode":1,'
        f'"step":{step},"status":"running","render":{{"objects":[{{"id":"left","type":"circle",'
        f'"x":{0.3 + step % 7 / 100},"y":0.4,"radius":0.03,"fill":"#d03030"}},{{"id":"right",'
        f'"type":"circle","x":{0.7 - step % 5 / 100},"y":0.6,"radius":0.03,"fill":"#3050d0"}},'
        f'{{"id":"clock","type":"text","x":0.02,"y":0.02,"text":"t={step}","size":14}}],"removed":[]}},'
        '"rewards":{"left":0.0,"right":0.0},"hud":null}]'
    )
    return body + " " * max(0, 465 - len(body))


def _batch(step: int, sent_at: float) -> list[tuple[Any, ...]]:
    mirror = {"status": "running", "episode": 1, "step": step}
    return [("out", f"{i:032x}", None, _frame_text(step), mirror) for i in range(BATCH)] + [("sent", sent_at)]


def _send_all(kind: str, sock: socket.socket, paced: bool) -> None:
    """In the child: send the batches, the way `kind` sends, then close."""
    pipe = MessagePipe(sock) if kind == "message_pipe" else None
    conn = multiprocessing.connection.Connection(sock.detach()) if kind == "multiprocessing_connection" else None
    deadline = time.perf_counter() + PACED_S
    next_at = time.perf_counter()
    step = 0
    while (time.perf_counter() < deadline) if paced else (step < THROUGHPUT_BATCHES):
        if paced:
            while time.perf_counter() < next_at:
                time.sleep(max(0.0, next_at - time.perf_counter() - 0.0005))
            next_at += PACED_GAP_S
        batch = _batch(step, time.perf_counter())
        if pipe is not None:
            pipe.send(batch)
        elif conn is not None:
            conn.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        else:
            body = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(_LENGTH.pack(len(body)) + body)
        step += 1
    if pipe is not None:
        pipe.close()
    elif conn is not None:
        conn.close()
    else:
        sock.close()


async def _receive_all(kind: str, sock: socket.socket) -> tuple[int, list[float]]:
    """In the reader: take batches until the sender closes; (frames, delays in ms)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    frames = 0
    delays: list[float] = []

    def take(batch: list[tuple[Any, ...]]) -> None:
        nonlocal frames
        frames += len(batch) - 1
        delays.append((time.perf_counter() - batch[-1][1]) * 1000)

    if kind == "asyncio_streams":
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            while True:
                head = await reader.readexactly(_LENGTH.size)
                take(pickle.loads(await reader.readexactly(_LENGTH.unpack(head)[0])))
        except asyncio.IncompleteReadError:
            pass
        writer.close()
        return frames, delays
    if kind == "message_pipe":
        pipe = MessagePipe(sock)

        def readable() -> None:
            try:
                for batch in pipe.receive():
                    take(batch)
            except EOFError:
                loop.remove_reader(pipe.fileno())
                done.set_result(None)

        loop.add_reader(pipe.fileno(), readable)
        await done
        pipe.close()
        return frames, delays
    conn = multiprocessing.connection.Connection(sock.detach())

    def drain() -> None:
        try:
            while conn.poll():
                take(pickle.loads(conn.recv_bytes()))
        except EOFError:
            loop.remove_reader(conn.fileno())
            done.set_result(None)

    loop.add_reader(conn.fileno(), drain)
    await done
    conn.close()
    return frames, delays


def _one(kind: str, paced: bool) -> dict[str, Any]:
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the sending "game process"
        code = 0
        try:
            ours.close()
            _send_all(kind, theirs, paced)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    cpu, wall = time.process_time(), time.perf_counter()
    frames, delays = asyncio.run(_receive_all(kind, ours))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the {kind} sender failed")
    result: dict[str, Any] = {"frames": frames, "reader_cpu_us_per_frame": round(cpu / frames * 1e6, 2)}
    if paced:
        result["delay_ms"] = summary(delays)
    else:
        result["frames_per_s"] = round(frames / wall)
    return result


def run() -> dict[str, Any]:
    kinds = ("message_pipe", "multiprocessing_connection", "asyncio_streams")
    report: dict[str, Any] = {"frames_per_batch": BATCH, "frame_bytes": len(_frame_text(0))}
    for kind in kinds:
        report[kind] = {"throughput": _one(kind, paced=False), "paced_200_games": _one(kind, paced=True)}
    return report
