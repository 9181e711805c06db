"""A game process: runs server-authoritative games for the main server process, over a pipe.

The main process keeps the sockets and the sessions; here each game is an ordinary `ServerGame`
on this process's own event loop, with its own store connection, step recorder and worker
threads. What a game sends its players comes back to the main process as JSON text, encoded
here, to be written to the players' connections (see `mug.server.games.processes.parent`).

Messages (tuples; the first item names them), sent in lists, one list per event-loop turn:
  from the main process  ("start", game_id, scene_index, players, grace_s) · ("action", game_id,
                         participant_id, action) · ("lost" | "restored", game_id, participant_id)
                         · ("cancel", game_id) · ("stop",)
  to the main process    ("out", game_id, participant_id | None, text, mirror) · ("dropped",
                         game_id, participant_id) · ("finished", game_id, outcome, dropped,
                         error) · ("lateness", {game_id: [ms, ...]})

`mirror` carries the game's status, episode and step, so the main process can answer a
rejoining participant without asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mug.data import open_store
from mug.server.games.game import ServerGame
from mug.server.games.processes.pipe import MessagePipe
from mug.server.games.recorder import StepRecorder
from mug.server.games.ticks import TickPhases
from mug.server.web.transport import encode_event
from mug.server.writer import StoreWriter

if TYPE_CHECKING:
    from mug.experiment import Experiment

log = logging.getLogger("mug.server.games.processes.child")

LATENESS_REPORT_S = 0.25


class _PipeChannel:
    """A game's `Channel` to the main process: messages leave once per event-loop turn, together."""

    def __init__(self, outbox: _Outbox, game_id: str) -> None:
        self._outbox = outbox
        self._game_id = game_id

    async def to_game(self, event: str, payload: dict[str, Any]) -> None:
        self._outbox.put(self._game_id, None, event, payload)

    async def to_player(self, participant_id: str, event: str, payload: dict[str, Any]) -> None:
        self._outbox.put(self._game_id, participant_id, event, payload)


class _Outbox:
    """Messages to the main process, sent as one pipe write per event-loop turn."""

    def __init__(self, conn: MessagePipe) -> None:
        self._conn = conn
        self._batch: list[tuple[Any, ...]] = []

    def send(self, message: tuple[Any, ...]) -> None:
        self._batch.append(message)
        if len(self._batch) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def put(self, game_id: str, target: str | None, event: str, payload: dict[str, Any]) -> None:
        mirror = {k: payload[k] for k in ("status", "episode", "step") if k in payload}
        text = encode_event(event, payload)
        self.send(("out", game_id, target, text, mirror))

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            self._conn.send(batch)


class GameWorker:
    """The games of one game process and the loop that serves the main process's commands."""

    def __init__(
        self, experiment: Experiment, conn: MessagePipe, *, phase_shift: float = 0.0, host: str | None = None
    ) -> None:
        self.experiment = experiment
        self.conn = conn
        self.host = host
        self.phase_shift = phase_shift  # of this process's tick slots (see `mug.server.games.ticks`)
        self.games: dict[str, ServerGame] = {}
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.store = open_store(self.experiment)
        self.writer = StoreWriter(self.store, host=self.host)  # (its server's games, when several share the store)
        self.recorder = StepRecorder(self.writer)
        self.recorder.start()
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mug-env")
        self.phases = TickPhases(shift=self.phase_shift)
        self.outbox = _Outbox(self.conn)
        loop.add_reader(self.conn.fileno(), self._receive)
        reporter = loop.create_task(self._report_lateness())
        try:
            await self._stopped.wait()
        finally:
            loop.remove_reader(self.conn.fileno())
            reporter.cancel()
            for game in list(self.games.values()):
                await game.cancel()
            await self.recorder.close()
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.writer.close()
            self.store.close()
            self.outbox.flush()

    def _receive(self) -> None:
        try:
            batches = self.conn.receive()
        except (EOFError, OSError):  # the main process is gone
            self._stopped.set()
            return
        for batch in batches:
            for message in batch:
                try:
                    self._handle(message)
                except Exception:
                    log.exception("game process: command %r failed", message[:2])

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "stop":
            self._stopped.set()
            return
        game = self.games.get(message[1])
        if kind == "start":
            _, game_id, scene_index, players, grace = message
            self._start(game_id, scene_index, players, grace)
        elif game is None:
            return  # a game that just ended; its last commands have nothing to do
        elif kind == "action":
            game.submit_action(message[2], message[3])
        elif kind == "lost":
            game.connection_lost(message[2])
        elif kind == "restored":
            game.connection_restored(message[2])
        elif kind == "cancel":
            asyncio.get_running_loop().create_task(game.cancel())

    def _start(self, game_id: str, scene_index: int, players: dict[str, str], grace: float) -> None:
        # (As the parent made it: missing humans played by the waitroom's timeout_policy.)
        scene = self.experiment.scenes[scene_index].filled_in(players)  # type: ignore[union-attr]
        game = ServerGame(
            scene,  # type: ignore[arg-type]
            players,
            self.writer,
            self.recorder,
            _PipeChannel(self.outbox, game_id),
            self.executor,
            reconnect_grace_s=grace,
            on_finished=self._finished,
            on_dropped=self._dropped,
            game_id=game_id,
            phases=self.phases,
        )
        self.games[game_id] = game
        game.start()

    async def _finished(self, game: ServerGame) -> None:
        self.games.pop(game.game_id, None)
        self.outbox.send(("finished", game.game_id, game.outcome, list(game.dropped), game.error))

    async def _dropped(self, game: ServerGame, participant_id: str) -> None:
        self.outbox.send(("dropped", game.game_id, participant_id))

    async def _report_lateness(self) -> None:
        while True:
            await asyncio.sleep(LATENESS_REPORT_S)
            report = {}
            for game_id, game in self.games.items():
                if game.lateness_ms:
                    report[game_id] = list(game.lateness_ms)
                    game.lateness_ms.clear()
            if report:
                self.outbox.send(("lateness", report))


def worker_main(
    experiment: Experiment, conn: MessagePipe, *, phase_shift: float = 0.0, host: str | None = None
) -> None:
    """The game process's entry point (a forked child of the process that called `serve()`)."""
    # Ctrl-C in a terminal reaches the whole process group; the server process stops its game
    # processes itself (their games end as aborted, recorded), so they leave the signal to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(GameWorker(experiment, conn, phase_shift=phase_shift, host=host).run())
    finally:
        with contextlib.suppress(Exception):
            loop.close()
        conn.close()
