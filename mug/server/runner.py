"""Runs the MUG server on its own thread and event loop, and the handle that controls it."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
import weakref
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import tornado.httpserver
import tornado.netutil

from mug._bundle import client_dist
from mug.data import open_store
from mug.server import heap
from mug.server.cluster.bus import open_bus
from mug.server.cluster.members import Members
from mug.server.cluster.p2p_links import P2PLinks
from mug.server.cluster.relay import Relay, RelaySocketServer
from mug.server.cluster.state import SharedState, check_redis_url, open_state
from mug.server.cluster.waitrooms import SharedWaitrooms
from mug.server.dashboard import Dashboard
from mug.server.games.processes.parent import GameProcesses
from mug.server.sessions.exclusion import exclude
from mug.server.sessions.intake import ClientLimits
from mug.server.sessions.presence import Presence
from mug.server.sessions.sessions import Sessions
from mug.server.urls import participant_urls
from mug.server.web.admin import admin_routes, redacting_log_function, resolve_token
from mug.server.web.app import make_app
from mug.server.web.assets import RuntimeFiles
from mug.server.web.events import register
from mug.server.web.files import file_routes
from mug.server.web.transport import DirectSocketServer

if TYPE_CHECKING:
    from collections.abc import Callable

    from mug.data import Results
    from mug.experiment import Experiment
    from mug.server.monitoring import MonitorFeed
    from mug.server.urls import ParticipantURLs

log = logging.getLogger("mug.server")

# A message past this closes the sender's connection at the transport; each event has its own limit
# (mug.server.web.messages), answered with an error, and the largest of them fits under this one.
MAX_MESSAGE_BYTES = 1_100_000  # client_records (1,000,000 B of JSON, the largest event) + framing, 10% spare


class ServerHandle:
    """A running MUG server: its URL, its stats, and ``stop()``. Use it as a context manager."""

    def __init__(
        self,
        experiment: Experiment,
        host: str,
        port: int,
        reconnect_grace_s: float,
        game_processes: int = 0,
        client_limits: ClientLimits | None = None,
        admin_token: str | None = None,
        redis: str | None = None,
    ) -> None:
        if redis is not None:
            check_redis_url(redis)
        if not isinstance(game_processes, int) or isinstance(game_processes, bool) or game_processes < 0:
            raise ValueError(f"game_processes must be a whole number >= 0, not {game_processes!r}")
        if client_limits is not None and not isinstance(client_limits, ClientLimits):
            raise ValueError(f"client_limits must be a mug.ClientLimits, not {client_limits!r}")
        self._limits = client_limits
        self.experiment = experiment
        #: The admin dashboard's token (docs/admin.md): given, from $MUG_ADMIN_TOKEN, or made now.
        self.admin_token: str = resolve_token(admin_token)
        self.game_processes = game_processes
        self._processes: GameProcesses | None = None
        self.host = host
        self._requested_port = port
        self._grace = reconnect_grace_s
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped = False
        self._holds_heap = False
        self.port = 0
        self.sessions: Sessions | None = None
        #: Redis shared by the experiment's servers (docs/deploy.md), or None: a server of its own.
        self.redis = redis
        #: This server among the experiment's servers: its games are recorded as run by it.
        self.server_id: str | None = uuid.uuid4().hex[:12] if redis else None
        self.members: Members | None = None
        self._relay: Relay | None = None
        self._waitrooms: SharedWaitrooms | None = None
        self._p2p_links: P2PLinks | None = None
        self._state: SharedState | None = None
        self._thread = threading.Thread(target=self._main, name=f"mug-server-{experiment.experiment_id}", daemon=True)

    @property
    def url(self) -> str:
        """The participant URL that works from where the notebook runs (see ``mug.server.urls``).

        Proxied (``{jupyter}/proxy/{port}/``) when this kernel runs under a Jupyter server with
        jupyter-server-proxy, else direct (``http://host:port/``). All of them:
        ``mug.server.urls.participant_urls(handle.host, handle.port)``.
        """
        return participant_urls(self.host, self.port).url

    @property
    def urls(self) -> ParticipantURLs:
        """Every form of the participant URL: ``direct``, ``proxy_path`` (under Jupyter), ``url``."""
        return participant_urls(self.host, self.port)

    @property
    def admin_url(self) -> str:
        """The admin dashboard, token included (docs/admin.md): ``{url}admin/?token=...``. Keep it private."""
        return f"{self.url}admin/?token={self.admin_token}"

    def _start(self) -> None:
        if self.game_processes:
            # Forked here, from the caller's thread and before the server exists, so the children
            # hold the experiment (its envs and callables) and nothing of the server.
            self._processes = GameProcesses(self.experiment, self.game_processes, host=self.server_id)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            if self._processes is not None:
                asyncio.run(self._processes.stop())
            raise self._startup_error
        heap.hold()  # full collections walk only what is made from now on (see mug.server.heap)
        self._holds_heap = True
        _STARTED.add(self)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported to the caller of serve()
            self._startup_error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _setup(self) -> None:
        exp = self.experiment
        client_dist()  # fail early and clearly when the client is not built
        # Bind first: a port in use must fail before anything is opened.
        self._sockets = tornado.netutil.bind_sockets(self._requested_port, self.host, family=socket.AF_INET)
        self.port = self._sockets[0].getsockname()[1]
        try:
            self.store = open_store(exp)
            self.store.write_metadata(exp.config(), _versions())
            if self.redis is not None:  # (an unreachable Redis fails here, naming it)
                self._state = await open_state(self.redis, exp.experiment_id)
        except BaseException:
            for sock in self._sockets:
                sock.close()
            if hasattr(self, "store"):
                self.store.close()
            raise
        manager: dict[str, Any] = {}
        if self.redis is not None:
            import socketio  # (python-socketio's Redis manager: an emit reaches a page on any server)

            channel = f"mug:{exp.experiment_id}:socketio"
            manager["client_manager"] = socketio.AsyncRedisManager(self.redis, channel=channel)
        self.sio = (DirectSocketServer if self.redis is None else RelaySocketServer)(
            **manager,
            async_mode="tornado",
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            ping_interval=5,
            ping_timeout=10,
            cors_allowed_origins=[],
            logger=False,
            engineio_logger=False,
            # A connection's events are handled in order, inline, instead of one task per event;
            # every handler is quick (none waits on the client).
            async_handlers=False,
        )
        self.sessions = Sessions(
            exp,
            self.store,
            self.sio,
            reconnect_grace_s=self._grace,
            processes=self._processes,
            limits=self._limits,
            host=self.server_id,
            presence=None if self._state is None or self.server_id is None else Presence(self._state, self.server_id),
        )
        register(self.sio, self.sessions)
        await self.sessions.start()
        if self._state is not None and self.server_id is not None:
            sessions, store = self.sessions, self.store
            self.members = Members(
                self._state,
                self.server_id,
                open_hosts=lambda: sessions.writer.call(store.open_game_hosts),
                recover=sessions.interruptions.recover,
                games=sessions.server_games.count,
            )
            await self.members.start()
            self._relay = Relay(self.sessions, open_bus(self.redis, exp.experiment_id), self.server_id)
            self._relay.members = self.members
            self.sessions.relay = self._relay
            self._p2p_links = P2PLinks(self.sessions.p2p, self._relay)  # (P2P peers on several servers)
            assert isinstance(self.sio, RelaySocketServer)
            self.sio.relay = self._relay
            await self._relay.start()
            self._waitrooms = SharedWaitrooms(self.sessions.matching, self._relay, self._state)
            self.sessions.matching.shared = self._waitrooms
            self._waitrooms.start()
            self._p2p_links.start()
        app = make_app(self.sio, exp.title, RuntimeFiles(exp))
        self.dashboard = Dashboard(self)
        app.add_handlers(r".*", [*admin_routes(self, self.admin_token, self.dashboard), *file_routes(exp.file_dirs)])
        app.settings["log_function"] = redacting_log_function  # (no admin token in the access log)
        self._http = tornado.httpserver.HTTPServer(app, max_buffer_size=MAX_MESSAGE_BYTES + 65_536)
        self._http.add_sockets(self._sockets)
        log.info("MUG experiment %r serving at %s", exp.experiment_id, self.url)

    async def _shutdown(self) -> None:
        self._http.stop()
        self.dashboard.stop()  # (admin dashboards' live channels)
        if self.sessions is not None:
            await self.sessions.shutdown()
        for sid in list(self.sessions.by_sid if self.sessions else []):
            try:
                await self.sio.disconnect(sid)
            except Exception:
                log.debug("disconnecting %s at shutdown failed", sid, exc_info=True)
        try:
            await asyncio.wait_for(self._http.close_all_connections(), timeout=5)
        except asyncio.TimeoutError:
            log.warning("some connections did not close within 5 s")
        # With other servers: their messages stop coming in, and this server stops announcing itself
        # once its games' ends are committed (else a live server could close them as interrupted),
        # all before the database thread stops (no work they start may find it gone).
        if self.sessions is not None:
            await self.sessions.writer.drain()
        if self._waitrooms is not None:
            await self._waitrooms.close()
        if self._p2p_links is not None:
            await self._p2p_links.close()
        if self._relay is not None:
            await self._relay.close()
        if self.members is not None:
            await self.members.stop()
        if self.sessions is not None:
            await self.sessions.close()
        if self._state is not None:
            await self._state.close()
        self.store.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server: games end as aborted, connections close, the store closes, the thread ends."""
        if self._stopped:
            return
        self._stopped = True
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if self._holds_heap:
                self._holds_heap = False
                heap.release()

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it); what ``mug serve`` does."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def call(self, fn: Any, *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result (thread-safe access)."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stats(self) -> dict[str, Any]:
        """Live figures: connected participants, running games (``p2p_games``: those of them played
        peer to peer, which have no server tick), and tick lateness samples (ms)."""

        def collect() -> dict[str, Any]:
            assert self.sessions is not None
            lateness = [x for g in self.sessions.games.values() for x in g.lateness_ms]
            p2p = self.sessions.p2p.count()
            return {
                "connected": len(self.sessions.by_sid),
                "games": len(self.sessions.games) + p2p,
                "p2p_games": p2p,
                "tick_lateness_ms": lateness,
            }

        return self.call(collect)

    def snapshot(self) -> dict[str, Any]:
        """Everything the monitor shows, as a JSON-able dict (participants, games, waitrooms, exclusions).

        Participants come from the database with their live connection, ping and game; see
        ``mug.server.monitoring``. Safe to call from any thread; a stopped server's says so
        (``running`` False, nobody connected).
        """
        from mug.server.monitoring import snapshot, stopped

        if not self.running:
            return stopped(None, [str(s.scene_id) for s in self.experiment.scenes])
        return snapshot(self)

    def feed(self, callback: Callable[[dict[str, Any]], None], interval: float = 0.5) -> MonitorFeed:
        """Call ``callback`` with a new `snapshot` every ``interval`` seconds (on the server's loop,
        until the server stops or the returned feed's ``stop()``): what live views subscribe to."""
        from mug.server.monitoring import MonitorFeed

        return MonitorFeed(self, callback, interval=interval).start()

    def monitor(self, interval: float = 0.5) -> Any:
        """A live notebook widget of this server: participants, scenes, pings, games, waitroom, exclusions.

        It is refreshed every ``interval`` seconds by a task on the server's own loop, so it keeps
        updating while cells run. Needs ``pip install "mug-py[jupyter]"``. The widget is made by the
        experiment's façade (``Experiment.monitor``): the server never imports ``mug.widgets``.
        """
        return self.experiment.monitor(self, interval=interval)

    def exclude(self, participant_id: str, message: str, reason: str = "") -> dict[str, Any]:
        """Exclude a participant now, as the admin dashboard does (`mug.server.sessions.exclusion`):
        their page shows ``message`` and a completion code, and a reload keeps them excluded.
        ``reason`` is recorded (the message when empty). Returns ``{participant_id,
        completion_code, finished}``; raises ValueError naming the problem (unknown participant,
        excluded already, empty message)."""
        assert self.sessions is not None
        sessions = self.sessions
        future = asyncio.run_coroutine_threadsafe(exclude(sessions, participant_id, message, reason), self._loop)
        return future.result(10)

    def unbind(self, participant_id: str) -> bool:
        """Release a participant's session from the browser it is bound to, so the next browser that
        opens the study with that id takes it (a participant who must change device, or an id that
        somebody else opened first). Recorded as a ``session_unbound`` event; returns whether the
        participant was bound."""
        assert self.sessions is not None
        sessions = self.sessions

        async def unbind() -> bool:
            released = await sessions.writer.call(sessions.store.unbind_session, participant_id, time.time())
            if released:
                sessions.writer.event(participant_id, None, "session_unbound", {})
            return released

        return asyncio.run_coroutine_threadsafe(unbind(), self._loop).result(10)

    def results(
        self, *, include_idle: bool = False, peer_rows: bool = False, simulated: bool | Literal["only"] = False
    ) -> Results:
        """The experiment's data so far (see `Experiment.results`; `peer_rows` and `simulated`: see
        `mug.load_results`)."""
        from mug.data import load_results

        path = self.experiment.data_location
        return load_results(path, include_idle=include_idle, peer_rows=peer_rows, simulated=simulated)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MUG server {self.experiment.experiment_id!r} {state} at {self.url}>"


#: Every server started in this process (held weakly), for `running_servers`.
_STARTED: weakref.WeakSet[ServerHandle] = weakref.WeakSet()


def running_servers() -> list[ServerHandle]:
    """The servers this process runs now (e.g. what ``Experiment.simulate`` looks for the experiment's own)."""
    return [handle for handle in list(_STARTED) if handle.running]


def start_server(
    experiment: Experiment,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    reconnect_grace_s: float = 120.0,
    game_processes: int = 0,
    client_limits: ClientLimits | None = None,
    admin_token: str | None = None,
    redis: str | None = None,
) -> ServerHandle:
    """Start serving ``experiment`` on a background thread; returns once it accepts connections.

    ``admin_token``: the admin dashboard's token (else ``$MUG_ADMIN_TOKEN``, else a random one).
    ``redis``: a Redis URL shared with the experiment's other servers (docs/deploy.md)."""
    handle = ServerHandle(
        experiment, host, port, reconnect_grace_s, game_processes, client_limits, admin_token, redis=redis
    )
    handle._start()
    return handle


def _versions() -> dict[str, Any]:
    versions: dict[str, Any] = {"recorded_at": time.time()}
    for dist in ("mug-py", "tornado", "python-socketio", "gymnasium", "numpy", "pandas"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    import platform

    versions["python"] = platform.python_version()
    return versions
