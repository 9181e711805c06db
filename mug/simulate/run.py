"""Dry-run a study with simulated participants through the real server (``Experiment.simulate``).

Each simulated participant is enrolled by the researcher's own process, never through the page
protocol: before it first joins, its participant row is made in the experiment's store with its
session already bound to a secret only the simulator holds, and marked ``data.simulated``
(the run, the policy, the pace, and the first 16 hex digits of that binding). A page cannot write
a participant's session data, so no URL can mark a real participant as simulated; and results
count a participant as simulated only while its session is still bound to the simulator's secret,
so a real person who somehow took over a simulated id (``allow_device_switch``) is not hidden.
Results leave simulated participants out unless asked (``results(simulated=True)``).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mug.data.live import database_of, game_players, open_database
from mug.experiment import Experiment
from mug.scenes import GymScene, StaticScene
from mug.simulate.actions import check_policy, describe
from mug.simulate.participant import ParticipantOutcome, SimulatedParticipant

if TYPE_CHECKING:
    from mug.server import ServerHandle

__all__ = ["SimulationError", "SimulationReport", "simulate"]

Pace = Literal["fast", "realtime"]


class SimulationError(ValueError):
    """The simulation cannot run as asked (the message says why); nothing was simulated."""


@dataclass
class SimulationReport:
    """What a simulation found: each participant's outcome, and a summary (its ``repr``).

    ``ok`` is true when every simulated participant completed the study.
    """

    run_id: str
    experiment_id: str
    pace: str
    participants: list[ParticipantOutcome] = field(default_factory=list)
    duration_s: float = 0.0
    #: The server the participants went through (the one serving the experiment, or a private one).
    server_url: str = ""

    def _with(self, status: str) -> list[ParticipantOutcome]:
        return [p for p in self.participants if p.status == status]

    @property
    def completed(self) -> list[ParticipantOutcome]:
        """Participants who reached the end of the study."""
        return self._with("completed")

    @property
    def ended_early(self) -> list[ParticipantOutcome]:
        """Participants whose study ended early with a completion code (``reason`` says why)."""
        return self._with("ended_early")

    @property
    def errors(self) -> list[ParticipantOutcome]:
        """Participants stopped by an error (``reason`` says what)."""
        return self._with("error")

    @property
    def unfinished(self) -> list[ParticipantOutcome]:
        """Participants still going when the simulation's time ran out."""
        return self._with("unfinished")

    @property
    def problems(self) -> list[ParticipantOutcome]:
        """Participants who met a problem on the way, whatever their end: a game that stopped with an
        error, a refused message, a record the server refused (their ``errors`` say what)."""
        return [p for p in self.participants if p.errors]

    @property
    def participant_ids(self) -> list[str]:
        return [p.participant_id for p in self.participants]

    @property
    def ok(self) -> bool:
        """Every participant completed the study and none met a problem."""
        return bool(self.participants) and len(self.completed) == len(self.participants) and not self.problems

    def __repr__(self) -> str:
        lines = [
            f"Simulation {self.run_id} of {self.experiment_id!r} ({self.pace}, {self.duration_s:.1f} s): "
            f"{len(self.participants)} participants, {len(self.completed)} completed, "
            f"{len(self.ended_early)} ended early, {len(self.errors)} errors, {len(self.unfinished)} unfinished"
            + (f"; {len(self.problems)} met problems" if self.problems else "")
        ]
        for p in self.participants:
            if p.status != "completed":
                lines.append(f"  {p.participant_id}: {p.status} in scene {p.scene_id!r}: {p.reason}")
            for error in p.errors:
                lines.append(f"  {p.participant_id}: {error}")
        return "\n".join(lines)

    __str__ = __repr__


def simulate(
    experiment: Experiment,
    n: int,
    *,
    policy: Any = "random",
    pace: Pace = "fast",
    seed: int | None = None,
    timeout_s: float | None = None,
    query: dict[str, str] | None = None,
    server: ServerHandle | None = None,
) -> SimulationReport:
    """Run ``n`` simulated participants through ``experiment`` at once; see `Experiment.simulate`."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        raise SimulationError(f"simulate: n must be a whole number of participants from 1 to 1000, got {n!r}")
    if pace not in ("fast", "realtime"):
        raise SimulationError(f"simulate: pace must be 'fast' or 'realtime', got {pace!r}")
    bad_timeout = isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0
    if timeout_s is not None and bad_timeout:
        raise SimulationError(f"simulate: timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if query is not None and not (isinstance(query, dict) and all(isinstance(v, str) for v in query.values())):
        raise SimulationError(f"simulate: query must be a dict of strings (the URL's query), got {query!r}")
    games = {s.scene_id or "" for s in experiment.scenes if isinstance(s, GymScene)}
    try:
        check_policy(policy, games)
    except ValueError as exc:
        raise SimulationError(str(exc)) from None
    handle, private = _server_for(experiment, server)
    run_id = f"sim-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
    report = SimulationReport(run_id, experiment.experiment_id, pace)
    try:
        host = "127.0.0.1" if handle.host in ("0.0.0.0", "", "::") else handle.host
        url = report.server_url = f"http://{host}:{handle.port}/"
        master = random.Random(seed)
        info = {"run": run_id, "policy": describe(policy), "pace": pace}
        people = []
        for index in range(n):
            pid, secret = _enroll(handle, f"{run_id}-{index + 1}", info, dict(query or {}))
            people.append(
                SimulatedParticipant(
                    experiment,
                    url,
                    pid,
                    secret,
                    policy=policy,
                    realtime=pace == "realtime",
                    rng=random.Random(master.getrandbits(64)),
                    query=query,
                    observe=_observer(handle),
                )
            )
        limit = timeout_s if timeout_s is not None else time_bound(experiment, pace)
        started = time.monotonic()
        report.participants = _in_thread(_run_all(people, started + limit))
        report.duration_s = time.monotonic() - started
        _add_game_errors(handle, report)
    finally:
        if private:
            handle.stop()
    return report


async def _run_all(people: list[SimulatedParticipant], deadline: float) -> list[ParticipantOutcome]:
    return list(await asyncio.gather(*(p.run(deadline) for p in people)))


def _in_thread(coro: Any) -> Any:
    """Run a coroutine to its end on a thread and loop of its own (a notebook's loop is busy).

    An interrupt (Ctrl-C, a notebook's stop button) cancels it: every simulated participant
    disconnects before the interrupt goes on.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = loop.run_until_complete(task)
        except BaseException as exc:  # reported to the caller
            box["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="mug-simulate", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def _server_for(experiment: Experiment, server: ServerHandle | None) -> tuple[ServerHandle, bool]:
    """The server to simulate on: the one given, else one serving this experiment's data in this
    process, else a private one on 127.0.0.1 (stopped afterwards); (handle, private)."""
    from mug.server import ServerHandle, start_server
    from mug.server.runner import running_servers

    if server is not None:
        if not isinstance(server, ServerHandle) or not server.running:
            raise SimulationError(f"simulate: server must be a running server handle (exp.serve()), got {server!r}")
        if server.experiment is not experiment:
            raise SimulationError("simulate: that server serves another experiment")
        return server, False
    here = experiment.data_path.resolve()
    for obj in running_servers():
        if obj.experiment.data_path.resolve() == here:
            if obj.experiment is not experiment:
                raise SimulationError(
                    f"simulate: a server in this process already serves the data folder {str(here)!r} for another "
                    "Experiment object; stop it first, or simulate on it with server=<its handle>"
                )
            return obj, False
    return start_server(experiment, host="127.0.0.1", port=0), True


def _enroll(handle: ServerHandle, base: str, info: dict[str, Any], query: dict[str, str]) -> tuple[str, str]:
    """Make a simulated participant in the store, its session bound to a new secret; (id, secret).

    Done here, in the researcher's process, before the participant first joins: a page cannot
    write session data, so no page can make itself (or anyone) simulated.
    """
    from mug.server.sessions import binding

    store = handle.store
    pid = base
    while store.get_participant(pid) is not None:
        pid = f"{base}-{secrets.token_hex(2)}"
    secret = binding.new_secret()
    digest = binding.digest(secret)
    now = time.time()
    store.get_or_create_participant(pid, query, now)
    store.bind_secret(pid, digest, now)
    store.update_participant_data(pid, {"simulated": {**info, "binding": digest[:16]}}, now)
    return pid, secret


def _add_game_errors(handle: ServerHandle, report: SimulationReport) -> None:
    """Name what stopped a server-run game (the page only hears that it stopped): the recorded
    ``env_error`` of each game a simulated participant met an error in."""
    troubled = {p.participant_id: p for p in report.participants if p.errors}
    if not troubled:
        return
    conn = open_database(database_of(handle.experiment.data_location))
    if conn is None:
        return
    try:
        errors = conn.execute("SELECT scene_id, data FROM events WHERE kind = 'env_error'").fetchall()
        players = game_players(conn)
    finally:
        conn.close()
    for scene_id, data in errors:
        error = json.loads(data)
        for pid in players.get(error.get("game_id", ""), {}).values():
            if pid in troubled:
                troubled[pid].errors.append(f"the env of scene {scene_id!r} failed on the server: {error.get('error')}")


def _observer(handle: ServerHandle) -> Any:
    """What a policy of a server-run game sees: the agent's latest observation from the game
    (when the game runs in this process; None with ``game_processes``); (game running, observation)."""

    def observe(game_id: str, agent_id: str) -> tuple[bool, Any]:
        sessions = handle.sessions
        game = sessions.games.get(game_id) if sessions is not None else None
        if game is None:
            return False, None  # (the game has just ended: its last frames need no action)
        read = getattr(game, "observation", None)
        return True, (read(agent_id) if callable(read) else None)

    return observe


def time_bound(experiment: Experiment, pace: str) -> float:
    """A generous limit for one run (s): every game played to ``max_steps`` at its fps with its
    freezes, every waitroom waited to its timeout, reading time for each page, plus a minute."""
    total = 60.0
    for scene in experiment.scenes:
        if isinstance(scene, GymScene):
            total += scene.num_episodes * (scene.max_steps / scene.fps + scene.reset_freeze_s) * 1.5
            if scene.multiplayer_options is not None:
                total += scene.effective_waitroom().timeout
        elif isinstance(scene, StaticScene) and pace == "realtime":
            total += 5.0
    return total
