"""Experiment: the ordered scenes of a study, where its data goes, and how to serve it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mug.scenes import EndScene, Scene, SceneConfigError
from mug.scenes.flow import FlowItem, RandomizeOrder, RepeatScene, SceneFlow
from mug.scenes.webrtc import WebRTCOptions, webrtc_options
from mug.screening import EntryScreening, ScreeningContext, entry_screening_options

if TYPE_CHECKING:
    from mug.data import Results
    from mug.server import ServerHandle
    from mug.server.sessions.intake import ClientLimits
    from mug.simulate import SimulationReport
    from mug.widgets.monitor import MonitorWidget
    from mug.widgets.preview import PreviewWidget
    from mug.widgets.replay import ReplayWidget


#: First path segments the server itself uses; `Experiment.static_files` cannot take them.
RESERVED_PATHS = frozenset(
    {"static", "socket.io", "admin", "runtime", "wheels", "models", "assets", "health", "favicon.ico"}
)


class Experiment:
    """A study: scenes every participant goes through in order, and one data folder.

    >>> exp = Experiment("pilot", scenes=[start, game, end])   # doctest: +SKIP
    >>> server = exp.serve()                                   # doctest: +SKIP
    >>> exp.results().steps                                    # doctest: +SKIP

    ``database``: where the data goes instead of a SQLite file under ``data_dir``: a
    ``postgresql://user@host:5432/dbname`` URL (one experiment served by several processes, see
    docs/data.md), checked here; ``results()`` then reads it from there.
    """

    def __init__(
        self,
        experiment_id: str,
        scenes: Sequence[FlowItem],
        data_dir: str | os.PathLike[str] = "data",
        *,
        title: str = "MUG experiment",
        allow_device_switch: bool = False,
        database: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(experiment_id, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", experiment_id):
            raise SceneConfigError(
                f"Experiment: experiment_id must be 1-64 letters, digits, '_', '-' or '.', got {experiment_id!r}"
            )
        if isinstance(scenes, Scene) or not isinstance(scenes, Sequence) or not scenes:
            raise SceneConfigError("Experiment: scenes must be a non-empty list of scenes")
        if not isinstance(title, str):
            raise SceneConfigError(f"Experiment: title must be a string, got {title!r}")
        if not isinstance(allow_device_switch, bool):
            raise SceneConfigError(
                f"Experiment: allow_device_switch must be True or False, got {allow_device_switch!r}"
            )
        store_location = _database_option(database)
        # The items may be scenes, RandomizeOrder and RepeatScene: the flow lists every scene the
        # experiment can show (repetitions as scenes of their own) and draws per-participant orders.
        items = list(scenes)
        for index, item in enumerate(items):
            if not isinstance(item, (Scene, RandomizeOrder, RepeatScene)):
                raise SceneConfigError(
                    f"Experiment: scenes[{index}] is {type(item).__name__}, not a scene (StartScene, GymScene, ...), "
                    "RandomizeOrder or RepeatScene"
                )
            if isinstance(item, EndScene) and index != len(items) - 1:
                raise SceneConfigError(
                    f"Experiment: {type(item).__name__} {item.scene_id!r} is scenes[{index}] but an end scene must "
                    "be the last scene (participants cannot continue past it)"
                )
        flow = SceneFlow(items)
        seen: set[str] = set()
        for scene in flow.scenes:
            assert scene.scene_id is not None
            if scene.scene_id in seen:
                raise SceneConfigError(
                    f"Experiment: two scenes share the scene_id {scene.scene_id!r}; ids must be unique"
                )
            seen.add(scene.scene_id)
            scene.validate()
        for scene in flow.scenes:
            target = getattr(getattr(scene, "waitroom_options", None), "timeout_scene_id", None)
            if target is not None and target not in seen:
                raise SceneConfigError(
                    f"Experiment: {type(scene).__name__} {scene.scene_id!r} sends timed-out participants to "
                    f"timeout_scene_id {target!r}, which is not a scene of this experiment"
                )
            if target is not None and flow.in_random_group(target):
                raise SceneConfigError(
                    f"Experiment: {type(scene).__name__} {scene.scene_id!r} sends timed-out participants to "
                    f"timeout_scene_id {target!r}, which is inside a RandomizeOrder (not every participant has it "
                    "at one place); send them to a scene outside it"
                )
        self.experiment_id = experiment_id
        #: Every scene the experiment can show, once each, in definition order (a participant's own
        #: order is drawn from these: `flow`).
        self.scenes: list[Scene] = list(flow.scenes)
        self.flow = flow
        self.data_dir = Path(data_dir)
        #: Where the data goes instead of ``data_path``'s SQLite file: a ``postgresql://`` URL, or
        #: a SQLite data folder; None (default): ``data_path`` (docs/data.md).
        self.database: str | Path | None = store_location
        self.title = title
        self.allow_device_switch = allow_device_switch
        self.webrtc_options: WebRTCOptions | None = None
        self.screening: EntryScreening | None = None
        #: The researcher's file folders, by the URL prefix they are served under (`static_files`).
        self.file_dirs: dict[str, Path] = {}

    def static_files(self, directory: str | os.PathLike[str], url: str = "files") -> Experiment:
        """Serve the files in ``directory`` (images, audio, video) under the relative URL ``url/``.

        Scene HTML refers to them relatively, e.g. ``<img src="files/cue.png">``, which works
        wherever the study is served (at ``/``, behind jupyter-server-proxy or another proxy).
        Only regular files inside ``directory`` are reachable: ``..``, encoded traversal, hidden
        names and symlinks leading out of it answer 404. Call it once per folder (each with its own
        ``url``); returns the experiment, for chaining.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise SceneConfigError(f"Experiment.static_files: {str(folder)!r} is not a directory")
        if not isinstance(url, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*", url.strip("/")):
            raise SceneConfigError(
                f"Experiment.static_files: url must be a relative path of letters, digits, '_' and '-' "
                f"(e.g. 'files' or 'media/images'), got {url!r}"
            )
        prefix = url.strip("/")
        if prefix.split("/")[0] in RESERVED_PATHS:
            raise SceneConfigError(
                f"Experiment.static_files: url {url!r} is taken by the server itself "
                f"({', '.join(sorted(RESERVED_PATHS))} are); choose another, e.g. 'files'"
            )
        if prefix in self.file_dirs and self.file_dirs[prefix] != folder.resolve():
            raise SceneConfigError(
                f"Experiment.static_files: url {url!r} already serves {str(self.file_dirs[prefix])!r}"
            )
        self.file_dirs[prefix] = folder.resolve()
        return self

    def webrtc(
        self,
        ice_servers: list[dict[str, Any]] | None = None,
        turn_url: str | None = None,
        turn_username: str | None = None,
        turn_credential: str | None = None,
        force_relay: bool = False,
    ) -> Experiment:
        """The ICE servers (STUN/TURN) of every P2P scene that sets none itself (see ``GymScene.webrtc``).

        One TURN server for the whole study is the usual case; a scene's own ``webrtc()`` replaces
        this one for that scene. Credentials are shown as ``"***"`` in the saved config.
        """
        self.webrtc_options = webrtc_options(self, {
            "ice_servers": ice_servers, "turn_url": turn_url, "turn_username": turn_username,
            "turn_credential": turn_credential, "force_relay": force_relay,
        })  # fmt: skip
        return self

    def entry_screening(
        self,
        device_exclusion: str | None = None,
        browser_requirements: list[str] | None = None,
        browser_blocklist: list[str] | None = None,
        exclusion_messages: dict[str, str] | None = None,
        entry_callback: Callable[[ScreeningContext], Any] | None = None,
        callback_timeout_s: float = 5.0,
        screen_out_redirect_url: str | None = None,
        max_ping_ms: float | None = None,
        min_ping_measurements: int = 5,
    ) -> Experiment:
        """Keep out, when they first arrive, participants whose device or browser cannot play the study.

        ``device_exclusion``: ``"mobile"`` (phones and tablets) or ``"desktop"`` is screened out.
        ``browser_requirements``: only these browsers (``"chrome"``, ``"edge"``, ``"firefox"``,
        ``"safari"``, ``"opera"``) may enter; ``browser_blocklist``: these may not.
        ``exclusion_messages``: what the participant reads, by key ``"mobile"``, ``"desktop"``,
        ``"browser"``, ``"callback"``. ``entry_callback(context)``: your own rule, given a
        `mug.screening.ScreeningContext` (device, browser, os, the link's query); it returns
        ``{"exclude": bool, "message": str}``; one that raises or takes longer than
        ``callback_timeout_s`` lets the participant in (recorded). ``max_ping_ms``: the page measures
        ``min_ping_measurements`` round trips right after it joins; a median over it screens out
        (message key ``"ping"``). A screened-out participant sees
        the message and a completion code (a Finish button to ``screen_out_redirect_url`` if given,
        with ``{code}``/``{participant_id}``/``{query.NAME}`` placeholders) and is recorded as
        excluded with the reason (docs/screening.md).
        """
        try:
            self.screening = entry_screening_options(
                device_exclusion=device_exclusion, browser_requirements=browser_requirements,
                browser_blocklist=browser_blocklist, exclusion_messages=exclusion_messages,
                entry_callback=entry_callback, callback_timeout_s=callback_timeout_s,
                screen_out_redirect_url=screen_out_redirect_url, max_ping_ms=max_ping_ms,
                min_ping_measurements=min_ping_measurements,
            )  # fmt: skip
        except ValueError as exc:
            raise SceneConfigError(f"Experiment.{exc}") from None
        return self

    @property
    def data_path(self) -> Path:
        """The folder holding this experiment's database and metadata: ``data_dir/experiment_id``."""
        return self.data_dir / self.experiment_id

    @property
    def data_location(self) -> str | Path:
        """Where the data is: the ``database`` URL (or folder) when one was given, else ``data_path``.

        What `mug.data.open_store` writes to and `mug.load_results` / ``mug export`` read.
        """
        return self.data_path if self.database is None else self.database

    def scene_index(self, scene_id: str) -> int:
        """Position of the scene with this id."""
        for index, scene in enumerate(self.scenes):
            if scene.scene_id == scene_id:
                return index
        raise KeyError(scene_id)

    def config(self) -> dict[str, Any]:
        """A JSON-able description of the experiment, saved beside its data."""
        return {
            "experiment_id": self.experiment_id,
            "title": self.title,
            "allow_device_switch": self.allow_device_switch,
            "webrtc": self.webrtc_options.redacted() if self.webrtc_options else None,
            "entry_screening": self.screening.to_json() if self.screening else None,
            "scenes": [scene.config() for scene in self.scenes],
            "flow": self.flow.describe(),
        }

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reconnect_grace_s: float = 120.0,
        game_processes: int = 0,
        client_limits: ClientLimits | None = None,
        admin_token: str | None = None,
        redis: str | None = None,
    ) -> ServerHandle:
        """Start the participant server on its own thread and return at once with a handle.

        ``port=0`` picks a free port. The handle has ``url``, ``port`` and ``stop()`` and works as a
        context manager. A participant who disconnects mid-game has ``reconnect_grace_s`` seconds to
        come back (the game waits paused); after that the game ends as abandoned.

        ``game_processes=N`` runs server-authoritative games in N processes forked now (Linux), for
        studies with many games at once; 0 runs them in the server's own process (docs/server.md).

        ``client_limits`` (a `mug.ClientLimits`) bounds what one participant's page may make the
        server store and handle; the defaults suit any real game (docs/server.md).

        The admin dashboard (``server.admin_url``, docs/admin.md) needs a token: ``admin_token``
        (16-256 URL-safe characters), else ``$MUG_ADMIN_TOKEN``, else a new random one.

        ``redis`` (``redis://host:port/db``): this server is one of several serving the experiment
        behind a load balancer, sharing this Redis (and one database): docs/deploy.md.
        """
        from mug.server import start_server

        server = start_server(
            self,
            host=host,
            port=port,
            reconnect_grace_s=reconnect_grace_s,
            game_processes=game_processes,
            client_limits=client_limits,
            admin_token=admin_token,
            redis=redis,
        )
        _announce(server)
        return server

    def preview(self, scene: Scene | str | None = None) -> PreviewWidget:
        """Play ``scene`` (a scene or its id; None: the whole experiment) in the notebook's output cell.

        Returns a widget showing the real participant page, served from this kernel on a server of its
        own with a temporary data folder: the renderer and keys are the participants', the env steps
        here (``widget.env``), and env errors show in the cell with their traceback. Needs
        ``pip install "mug-py[jupyter]"``; see docs/jupyter.md.
        """
        from mug.widgets.preview import preview

        return preview(self, scene)

    def monitor(self, server: ServerHandle, interval: float = 0.5) -> MonitorWidget:
        """A live notebook widget of ``server`` (a server of this experiment): participants, scenes,
        pings, games, waitrooms, exclusions; what ``server.monitor()`` returns.

        It lives here, on the façade, so that the server never imports the widgets (the widgets use
        the server's handle only): ``ServerHandle.monitor()`` asks its experiment for the widget.
        Refreshed every ``interval`` seconds (0.05-1) by a task on the server's own loop, so it keeps
        updating while cells run. Needs ``pip install "mug-py[jupyter]"``; see docs/jupyter.md.
        """
        from mug.widgets.monitor import MonitorWidget

        if server.experiment is not self:
            raise ValueError(f"monitor: {server!r} serves another experiment, not {self.experiment_id!r}")
        return MonitorWidget(server, interval=interval)

    def replay(
        self, game_id: str, episode: int | None = None, *, view: str | None = None, tolerance: float = 0.0
    ) -> ReplayWidget:
        """Rebuild a recorded episode from its seed, config and actions, verify it, and play it in the cell.

        ``game_id`` is a game of this experiment's data (``results().games``; a unique beginning of
        the id will do), ``episode`` one of its episodes (default: the first). Every step's rewards,
        terminations, infos and recorded observations are compared with the record; the widget
        reports the first divergence (``widget.first_divergence``: step and field) and plays the
        episode with the participants' renderer. ``view``: an agent whose own view to draw;
        ``tolerance``: numbers within it count as equal (default 0: exact). Raises
        `mug.replay.ReplayError` saying why when it cannot be replayed; see docs/replay.md.
        """
        from mug.widgets.replay import replay

        return replay(self.data_location, game_id, episode, experiment=self, view=view, tolerance=tolerance)

    def results(self, *, include_idle: bool = False, simulated: bool | Literal["only"] = False) -> Results:
        """The data collected so far, as pandas DataFrames (steps, episodes, forms, participants, events).

        Participants who opened the page and never did anything are left out unless
        ``include_idle=True`` (see `mug.load_results`). Simulated participants (`simulate`) and
        their data are left out unless ``simulated=True`` (with them) or ``simulated="only"``.
        """
        from mug.data import load_results

        return load_results(self.data_location, include_idle=include_idle, simulated=simulated)

    def simulate(
        self,
        n: int,
        *,
        policy: Any = "random",
        pace: Literal["fast", "realtime"] = "fast",
        seed: int | None = None,
        timeout_s: float | None = None,
        query: dict[str, str] | None = None,
        server: ServerHandle | None = None,
    ) -> SimulationReport:
        """Dry-run the study: ``n`` simulated participants go through it at once over the real server.

        Each is a headless participant page speaking the real protocol: it answers every form with
        valid answers, waits in waitrooms and is matched, plays server-run games with actions from
        ``policy`` (``"random"`` over the scene's keys, a callable ``policy(observation) -> action``,
        a `mug.policies.ModelConfig`, or a dict of those by game scene id) and runs client-side games' env
        code here, sending the records a page would; the peers of a P2P game play it in lockstep,
        their inputs relayed by the server. ``pace="fast"`` goes as fast as the protocol
        allows (server-run games still tick at their fps); ``"realtime"`` reads pages and plays at
        the game's speed. Runs on the server this kernel serves the experiment with, else on a
        private one on 127.0.0.1 (stopped afterwards). Blocks until every participant is done or
        ``timeout_s`` (default: a bound from the scenes) has passed.

        Returns a `mug.simulate.SimulationReport` (completed, ended early and why, errors). Their
        data is stored marked simulated and left out of `results` unless asked for (docs/simulate.md).
        Simulated participants are never grouped with real ones in a waitroom.
        """
        from mug.simulate import simulate

        return simulate(self, n, policy=policy, pace=pace, seed=seed, timeout_s=timeout_s, query=query, server=server)

    def __repr__(self) -> str:
        ids = ", ".join(str(s.scene_id) for s in self.scenes)
        return f"Experiment({self.experiment_id!r}, scenes=[{ids}], data_path={str(self.data_path)!r})"


def _database_option(database: Any) -> str | Path | None:
    """Check ``Experiment(database=...)`` at definition: None, a ``postgresql://`` URL or a SQLite folder."""
    if database is None:
        return None
    from mug.data.backends import parse_location

    try:
        return parse_location(database, "Experiment: database")
    except ValueError as exc:
        raise SceneConfigError(str(exc)) from None


def _announce(server: ServerHandle) -> None:
    """Show where participants go: in a notebook the handle displays (its URL as a link) even when
    ``server = exp.serve()`` assigns it; elsewhere the URL is logged."""
    import logging
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display(server)
    else:
        logging.getLogger("mug").info("participants join at %s", server.url)
        logging.getLogger("mug").info("admin dashboard (keep this link private): %s", server.admin_url)
