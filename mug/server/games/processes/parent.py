"""Game processes: server-authoritative games run in forked processes, the sockets stay here.

One Python process runs out of one core long before a study runs out of participants: at 30 fps a
game's env, render, diff, JSON and recording cost more than sending its frames. With
``serve(game_processes=N)`` the games run in N child processes (`mug.server.games.processes.child`), each
with its own event loop; this process keeps the participants' connections, the sessions and the
matchmaking, forwards each player's actions and connection changes to the game's process, and
writes the frames that come back (already encoded as JSON) to the players' sockets.

The children are forked when `serve()` is called, before the server starts, so envs, policies
and callables defined in a notebook are there too; this needs a platform that can fork (Linux).

`RemoteGame` stands in for a `ServerGame` in the sessions layer: the same attributes and calls.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from mug.scenes.gym import GymScene
from mug.server.games.players import check_action, game_snapshot
from mug.server.games.processes.child import worker_main
from mug.server.games.processes.pipe import MessagePipe
from mug.server.web.protocol import action_key
from mug.server.web.transport import encode_event
from mug.server.writer import StoreWriter

if TYPE_CHECKING:
    from mug.experiment import Experiment

log = logging.getLogger("mug.server.games.processes.parent")


@dataclass
class RemotePlayer:
    """A player of a game that runs elsewhere (in a game process, or on another server:
    `mug.server.cluster.linked`), as this process knows it (for the monitor too)."""

    agent_id: str
    participant_id: str
    dropped: bool = False
    connected: bool = True
    held: Any = None  # the last action the player sent


class RemoteGame:
    """This process's view of a game running in a game process (the `ServerGame` surface sessions use)."""

    def __init__(
        self,
        processes: GameProcesses,
        scene: GymScene,
        scene_index: int,
        players: dict[str, str],
        *,
        game_id: str,
        reconnect_grace_s: float,
        deliver: Callable[[str | None, str], None],
        on_finished: Callable[[RemoteGame], Awaitable[None]],
        on_dropped: Callable[[RemoteGame, str], Awaitable[None]],
    ) -> None:
        self.scene = scene
        self.game_id = game_id
        self.players = {pid: RemotePlayer(agent, pid) for agent, pid in players.items()}
        self.status = "starting"
        self.episode = 0
        self.step = 0
        self.outcome: str | None = None
        self.error: str | None = None
        self.dropped: list[str] = []
        self.lateness_ms: deque[float] = deque(maxlen=10_000)
        self._processes = processes
        self._scene_index = scene_index
        self._grace = reconnect_grace_s
        self._allowed = {action_key(a): a for a in scene.allowed_actions()}
        self._deliver = deliver
        self._on_finished = on_finished
        self._on_dropped = on_dropped
        self._worker: _Worker | None = None

    @property
    def participant_ids(self) -> list[str]:
        return list(self.players)

    def start(self) -> None:
        players = {p.agent_id: pid for pid, p in self.players.items()}
        self._worker = self._processes.place(self)
        self._worker.send(("start", self.game_id, self._scene_index, players, self._grace))

    async def cancel(self) -> None:
        if self._worker is not None and self.outcome is None:
            self._worker.send(("cancel", self.game_id))

    def submit_action(self, participant_id: str, action: Any) -> str | None:
        problem, _ = check_action(self.scene, self._allowed, self.players.get(participant_id), action)
        if problem is not None:
            return problem
        assert self._worker is not None
        self._worker.send(("action", self.game_id, participant_id, action))
        self.players[participant_id].held = action
        return None

    def connection_lost(self, participant_id: str) -> None:
        if self._worker is not None and participant_id in self.players:
            self.players[participant_id].connected = False
            self._worker.send(("lost", self.game_id, participant_id))

    def connection_restored(self, participant_id: str) -> None:
        if self._worker is not None and participant_id in self.players:
            self.players[participant_id].connected = True
            self._worker.send(("restored", self.game_id, participant_id))

    def snapshot(self, participant_id: str | None = None) -> dict[str, Any]:
        return game_snapshot(self, participant_id)

    # -- from the game process ---------------------------------------------------------------

    def _out(self, target: str | None, text: str, mirror: dict[str, Any]) -> None:
        for name, value in mirror.items():
            setattr(self, name, value)
        self._deliver(target, text)

    async def _dropped(self, participant_id: str) -> None:
        player = self.players.get(participant_id)
        if player is not None and not player.dropped:
            player.dropped = True
            self.dropped.append(participant_id)
            await self._on_dropped(self, participant_id)

    async def _end_for_players(self, outcome: str, message: str) -> None:
        """The game's process is gone: tell the players, then end the game as it would have."""
        self.status = outcome
        payload = {
            "scene_id": self.scene.scene_id,
            "game_id": self.game_id,
            "status": outcome,
            "episode": self.episode,
            "message": "The game stopped because of an error. Your data so far is saved.",
        }
        self._deliver(None, encode_event("game_status", payload))
        await self._finished(outcome, [], message)

    async def _finished(self, outcome: str | None, dropped: list[str], error: str | None) -> None:
        self.outcome, self.error = outcome, error
        for pid in dropped:
            if pid in self.players and pid not in self.dropped:
                self.players[pid].dropped = True
                self.dropped.append(pid)
        await self._on_finished(self)


class _Worker:
    """One game process: its pid, its end of the socket pair, and its games."""

    def __init__(self, index: int, pid: int, conn: MessagePipe) -> None:
        self.index = index
        self.pid = pid
        self.conn = conn
        self.games: dict[str, RemoteGame] = {}
        self.alive = True
        self.exitcode: int | None = None
        self._batch: list[tuple[Any, ...]] = []
        self._waiting: asyncio.AbstractEventLoop | None = None  # while commands wait for the socket

    def reap(self) -> bool:
        """Whether the process has exited (collecting its exit status if so)."""
        if self.exitcode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # already collected elsewhere
                self.exitcode = -1
                return True
            if pid == 0:
                return False
            self.exitcode = os.waitstatus_to_exitcode(status)
        return True

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue a command; a loop turn's commands leave together (one write, one wake-up)."""
        self._batch.append(message)
        if len(self._batch) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # not on the server's loop (stopping after a failed start)
                self.flush()

    def flush(self) -> None:
        """Write the queued commands without ever blocking the server's loop (see `MessagePipe.send_nowait`)."""
        batch, self._batch = self._batch, []
        if batch and self.alive:
            try:
                left = self.conn.send_nowait(batch)
            except (BrokenPipeError, OSError):
                self.alive = False
                return
            if left and not self._waiting:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # not on the server's loop (stopping after a failed start)
                    self._finish_blocking()
                    return
                self._waiting = loop
                loop.add_writer(self.conn.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            left = self.conn.flush()
        except OSError:
            left, self.alive = False, False
        if not left and self._waiting is not None:
            self._waiting.remove_writer(self.conn.fileno())
            self._waiting = None

    def _finish_blocking(self) -> None:
        """Write every queued command, waiting for the socket (when stopping: the process must get "stop")."""
        if self._waiting is not None:
            self._waiting.remove_writer(self.conn.fileno())
            self._waiting = None
        if self.alive and self.conn.unsent:
            try:
                self.conn.send([])  # (writes what is unsent first, then an empty batch)
            except OSError:
                self.alive = False


class GameProcesses:
    """Forks the game processes and connects them to the server's event loop."""

    def __init__(self, experiment: Experiment, count: int, *, host: str | None = None) -> None:
        if count < 1:
            raise ValueError(f"game_processes must be 0 (games in the server process) or more, not {count}")
        if not hasattr(os, "fork") or sys.platform != "linux":
            raise RuntimeError("game_processes needs Linux (the games' processes are forked); use 0 here")
        self.workers: list[_Worker] = []
        for index in range(count):
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the game process
                ours.close()
                _run_child(experiment, theirs, phase_shift=index / count, host=host)
            theirs.close()
            self.workers.append(_Worker(index, pid, MessagePipe(ours)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: StoreWriter
        self._background: set[asyncio.Task[None]] = set()

    def attach(self, loop: asyncio.AbstractEventLoop, writer: StoreWriter) -> None:
        """Start reading the game processes' messages on the server's loop."""
        self._loop = loop
        self._writer = writer
        for worker in self.workers:
            loop.add_reader(worker.conn.fileno(), self._receive, worker)

    def place(self, game: RemoteGame) -> _Worker:
        """The game process with the fewest games takes `game`."""
        live = [w for w in self.workers if w.alive] or self.workers
        worker = min(live, key=lambda w: len(w.games))
        worker.games[game.game_id] = game
        return worker

    def _receive(self, worker: _Worker) -> None:
        try:
            batches = worker.conn.receive()
        except (EOFError, OSError):
            self._lost(worker)
            return
        for batch in batches:
            self._dispatch(worker, batch)

    def _dispatch(self, worker: _Worker, batch: list[tuple[Any, ...]]) -> None:
        """Handle a game process's messages in order: frames are written at once, ends run as tasks."""
        for message in batch:
            kind = message[0]
            if kind == "lateness":
                for game_id, samples in message[1].items():
                    game = worker.games.get(game_id)
                    if game is not None:
                        game.lateness_ms.extend(samples)
                continue
            game = worker.games.get(message[1])
            if game is None:
                continue
            if kind == "out":
                game._out(message[2], message[3], message[4])
            elif kind == "dropped":
                self._spawn(game._dropped(message[2]))
            elif kind == "finished":
                del worker.games[game.game_id]
                self._spawn(game._finished(message[2], message[3], message[4]))

    def _lost(self, worker: _Worker) -> None:
        """A game process ended unexpectedly: its games end with an error, and their players move on."""
        assert self._loop is not None
        if not worker.alive and not worker.games:
            return
        worker.alive = False
        self._loop.remove_reader(worker.conn.fileno())
        if worker._waiting is not None:
            worker._waiting.remove_writer(worker.conn.fileno())
            worker._waiting = None
        worker.reap()
        log.error("game process %d ended unexpectedly (exit code %s)", worker.index, worker.exitcode)
        games, worker.games = list(worker.games.values()), {}
        error = f"the game's process ended unexpectedly (exit code {worker.exitcode})"
        for game in games:
            # Its steps up to the last committed batch are in the store; its end is recorded here.
            self._writer.event(None, game.scene.scene_id, "env_error", {"game_id": game.game_id, "error": error})
            self._writer.submit(self._writer.store.end_game, game.game_id, "error", time.time())
            self._spawn(game._end_for_players("error", error))

    def _spawn(self, coro: Awaitable[None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask every game process to stop (its games end as aborted) and wait for them."""
        for worker in self.workers:
            if self._loop is not None and worker.alive:
                self._loop.remove_reader(worker.conn.fileno())
            worker.send(("stop",))
            worker.flush()
            worker._finish_blocking()
        deadline = time.monotonic() + timeout
        while not all(w.reap() for w in self.workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # (polling a child's exit; there is no awaitable for it here)
        for worker in self.workers:
            if not worker.reap():
                log.warning("game process %d did not stop within %.0f s; killing it", worker.index, timeout)
                os.kill(worker.pid, signal.SIGKILL)
                os.waitpid(worker.pid, 0)
            worker.alive = False
            worker.conn.close()


def _run_child(experiment: Experiment, conn: socket.socket, *, phase_shift: float, host: str | None) -> NoReturn:
    """In the forked child: keep only its socket and the standard streams, run the games, exit.

    `phase_shift` (a fraction of a tick slot) offsets this process's slots from the other game
    processes', so their bursts of ticks take turns instead of competing for the cores.
    """
    # Objects inherited from the parent are never collected here, so no finalizer of theirs can
    # close a descriptor number this process has since reused.
    gc.freeze()
    keep = conn.fileno()
    # Copies of the parent's descriptors (a notebook's sockets, a test's browser pipes) would keep
    # those connections open after the parent closes them, so the child drops them all.
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    # Print and log to this process's own standard streams (a notebook's stream objects talk to
    # the kernel through sockets that are now closed).
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - open for the child's life
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    code = 0
    try:
        worker_main(experiment, MessagePipe(conn), phase_shift=phase_shift, host=host)
    except BaseException:
        log.exception("game process failed")
        code = 1
    finally:
        os._exit(code)


def _max_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")
