"""Play a scene in the notebook's output cell, exactly as participants will.

A preview serves a small experiment (the scene, then an end page) from a MUG server on its own
thread in the kernel, and shows the real participant page in an ``<iframe>`` at the URL that works
from the notebook's browser (proxied through jupyter-server-proxy, or direct). So:

* the renderer and the keyboard handling are the participants' own; keys reach the game only while
  its frame has focus;
* a server-authoritative scene steps its env in this kernel: ``preview.env`` is the live env object;
* the kernel's view of the game (status, episode, step, the action held) is mirrored below the frame,
  and an exception in the env shows there with its traceback (``preview.error``).

Preview data goes to a temporary folder (``preview.results()``), removed by :meth:`PreviewWidget.stop`.
Showing a new preview of the same scene stops the previous one.

A preview never presents itself as the study: it shows no banner or participant link of the kind
``serve()`` shows, and the widget says it is a preview whose data is discarded (a pilot sent its
link would play on this private server and lose their data).
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import itertools
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mug.widgets._esm import require_widgets, widget_module

require_widgets()

import anywidget  # noqa: E402
import traitlets  # noqa: E402

from mug.data.live import database_of, env_errors, latest_step, open_database  # noqa: E402
from mug.experiment import Experiment  # noqa: E402
from mug.scenes import EndScene, GymScene, Scene, SceneConfigError  # noqa: E402
from mug.server import start_server  # noqa: E402

if TYPE_CHECKING:
    from mug.data import Results
    from mug.server import ServerHandle
    from mug.server.monitoring import MonitorFeed

__all__ = ["PreviewWidget", "preview", "stop_all"]

log = logging.getLogger("mug.widgets.preview")

END_SCENE_ID = "mug_preview_end"
#: What the widget says it is, in so many words (shown above the game, and in its plain-text form).
NOTICE = (
    "Preview only, not the study: this is a private test server in this kernel, and what is played here "
    "is discarded when the preview stops. Participants join at the link exp.serve() shows."
)
_GAME_STATES = ("starting", "running", "resetting", "paused", "done", "error", "waitroom")
_counter = itertools.count(1)
_live: dict[str, PreviewWidget] = {}
_live_lock = threading.Lock()


class PreviewWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """A scene (or a whole experiment) playing in the output cell; make one with :func:`preview`."""

    _esm = widget_module("preview")

    title = traitlets.Unicode("").tag(sync=True)
    #: That this is a preview whose data is discarded (shown above the game).
    notice = traitlets.Unicode(NOTICE).tag(sync=True)
    direct_url = traitlets.Unicode("").tag(sync=True)
    proxy_path = traitlets.Unicode("").tag(sync=True)
    players = traitlets.List(traitlets.Dict()).tag(sync=True)
    game_width = traitlets.Int(600).tag(sync=True)
    game_height = traitlets.Int(400).tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    #: The kernel's view of the game being previewed (mirrored from the server, ~4 times a second).
    status = traitlets.Unicode("").tag(sync=True)
    episode = traitlets.Int(0).tag(sync=True)
    num_episodes = traitlets.Int(0).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    action = traitlets.Unicode("").tag(sync=True)
    #: The traceback of the last env error ("" when none).
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, experiment: Experiment, key: str, game: GymScene | None, envs: list[Any], data_dir: str):
        humans = len(game.human_agents) if game is not None and game.multiplayer_options is not None else 1
        width, height = (game.game_width, game.game_height) if game is not None else (600, 200)
        super().__init__(
            title=f"Preview: {key}",
            game_width=width,
            game_height=height,
            num_episodes=game.num_episodes if game is not None else 0,
        )
        self.experiment = experiment
        self.key = key
        self._humans = max(1, humans)
        self._envs = envs
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._errors_seen = 0
        self._db: Any = None
        self._browser_scenes = {
            s.scene_id for s in experiment.scenes if isinstance(s, GymScene) and getattr(s, "runs_in_browser", False)
        }
        self._feed: MonitorFeed | None = None
        # Not experiment.serve(): that announces the server as the study, with its participant link.
        self.server: ServerHandle = start_server(experiment, host="127.0.0.1", port=0, reconnect_grace_s=10.0)
        urls = self.server.urls
        self._new_players()
        self.direct_url = urls.direct
        self.proxy_path = urls.proxy_path or ""
        self.running = True
        self.on_msg(self._on_message)
        self._feed = self.server.feed(self._on_snapshot, interval=0.25)

    # -- public API ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The page URL of the preview's private server (proxied when the notebook is behind a proxy).

        Not a link for participants: what is played there is discarded when the preview stops.
        """
        return self.server.url

    @property
    def env(self) -> Any:
        """The env object of the latest game of this preview, live in this kernel (None before a game)."""
        return self._envs[-1] if self._envs else None

    @property
    def envs(self) -> list[Any]:
        """Every env this preview has made, oldest first."""
        return list(self._envs)

    @property
    def participant_ids(self) -> list[str]:
        """The participant id of each frame of the preview."""
        return [p["participant_id"] for p in self.players]

    def results(self) -> Results:
        """The preview's own data (steps, episodes, events, ...), as for a real experiment."""
        return self.experiment.results()

    def restart(self) -> None:
        """Start over with fresh participants (the frames reload at the first scene)."""
        if self.running:
            self._new_players()

    def stop(self) -> None:
        """Stop the preview's server and delete its data (idempotent)."""
        with _live_lock:
            if _live.get(self.key) is self:
                del _live[self.key]
        if not self.running and not self.server.running:
            return
        if self._feed is not None:
            self._feed.stop()
        self.server.stop()
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self._data_dir, ignore_errors=True)
        with self._lock:
            self.running = False

    def close(self) -> None:
        """Stop the preview and close the widget."""
        self.stop()
        super().close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<MUG preview {self.key!r} {state} at {self.server.url}: a private test server, not the study; "
            "its data is discarded when the preview stops>"
        )

    # -- kernel side of the widget ---------------------------------------------------------

    def _new_players(self) -> None:
        run = next(_counter)
        labels = [f"player {i + 1}" for i in range(self._humans)]
        players = [{"participant_id": f"preview-{run}-{i + 1}", "label": label} for i, label in enumerate(labels)]
        with self._lock:
            self.players = players
            self.status, self.episode, self.step, self.action, self.error = "", 0, 0, "", ""

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "restart":
            self.restart()

    def _on_snapshot(self, snap: dict[str, Any]) -> None:
        """Runs on the preview server's loop: mirror the game of this preview's players."""
        ours = set(self.participant_ids)
        game = next((g for g in snap.get("games", []) if ours & set(g.get("players", {}))), None)
        rows = [p for p in snap.get("participants", []) if p["participant_id"] in ours]
        error = self._new_error()
        with self._lock, self.hold_sync():
            self.running = bool(snap.get("running", False))
            if game is not None:
                self.status = str(game.get("status") or "")
                self.episode = int(game.get("episode") or 0)
                self.step = int(game.get("step") or 0)
                actions = [info.get("action") for pid, info in game["players"].items() if pid in ours]
                self.action = ", ".join(json.dumps(a) for a in actions if a is not None)
            elif rows:
                scene = rows[0].get("scene_id")
                played = self._browser_progress(ours, scene) if scene in self._browser_scenes else None
                if rows[0].get("status") == "completed" or scene == END_SCENE_ID:
                    self.status = "finished"
                elif played is not None:
                    # A client-side game: the env runs in the page; its steps arrive in batches.
                    self.status = "running in the browser"
                    self.episode, self.step = played
                elif self.status in _GAME_STATES:
                    self.status = "game ended"
                elif self.status != "game ended":
                    self.status = f"on scene {scene}"
            if error:
                self.error = error

    def _database(self) -> Any:
        if self._db is None:
            self._db = open_database(database_of(self.experiment.data_location))
        return self._db

    def _browser_progress(self, ours: set[str], scene_id: str) -> tuple[int, int] | None:
        """Episode and step of the latest step recorded for this preview's players in a client-side scene."""
        try:
            db = self._database()
            return None if db is None else latest_step(db, scene_id, ours)
        except Exception:
            return None

    def _new_error(self) -> str:
        """The traceback of an ``env_error`` recorded since the last look (the server records them)."""
        try:
            db = self._database()
            if db is None:
                return ""
            errors = env_errors(db)
        except Exception:
            return ""
        if len(errors) <= self._errors_seen:
            return ""
        self._errors_seen = len(errors)
        data = errors[-1]
        where = f"episode {data.get('episode')}, step {data.get('step')}"
        return f"The env raised an error ({where}); the game stopped.\n\n{data.get('traceback') or data.get('error')}"


# -- making previews ---------------------------------------------------------------------------


def preview(target: Experiment | Scene, scene: Scene | str | None = None) -> PreviewWidget:
    """A widget that plays ``scene`` of ``target`` (or all of its scenes) in the output cell.

    ``target`` is an :class:`~mug.Experiment` (``scene`` then picks one of its scenes by object or
    id; None previews the whole experiment) or a scene on its own.
    """
    if isinstance(target, Scene):
        scenes, base_id, title = [target], "preview", "MUG preview"
    elif isinstance(target, Experiment):
        base_id, title = target.experiment_id, target.title
        if scene is None:
            scenes = list(target.scenes)
        elif isinstance(scene, str):
            scenes = [target.scenes[target.scene_index(scene)]]
        elif isinstance(scene, Scene):
            scenes = [scene]
        else:
            raise TypeError(f"preview: scene must be a Scene, a scene id or None, got {type(scene).__name__}")
    else:
        raise TypeError(f"preview: expected an Experiment or a Scene, got {type(target).__name__}")

    envs: list[Any] = []
    copies = [_copy_scene(s, envs) for s in scenes]
    ids = {s.scene_id for s in copies}
    for clone in copies:
        room = getattr(clone, "waitroom_options", None)
        if room is not None and room.timeout_scene_id is not None and room.timeout_scene_id not in ids:
            # The scene timed-out players go to is not part of this preview: they get the message instead.
            clone.waitroom_options = dataclasses.replace(room, timeout_scene_id=None)  # type: ignore[attr-defined]
    if not isinstance(copies[-1], EndScene):
        copies.append(
            EndScene()
            .scene(END_SCENE_ID)
            .display(scene_header="End of the preview", scene_body="<p>Press <b>Restart</b> above to play again.</p>")
        )
    data_dir = tempfile.mkdtemp(prefix="mug-preview-")
    try:
        exp = Experiment(base_id, copies, data_dir=data_dir, title=title)
    except SceneConfigError:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    whole = isinstance(target, Experiment) and scene is None
    key = base_id if whole else str(copies[0].scene_id)
    game = next((s for s in copies if isinstance(s, GymScene)), None)
    with _live_lock:
        previous = _live.pop(key, None)
    if previous is not None:
        previous.stop()
    try:
        widget = PreviewWidget(exp, key, game, envs, data_dir)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    with _live_lock:
        _live[key] = widget
    return widget


def _copy_scene(scene: Scene, envs: list[Any]) -> Scene:
    """A copy of ``scene`` for the preview experiment; a game's env creator also records its envs."""
    clone = copy.copy(scene)
    if isinstance(clone, GymScene) and clone.env_creator is not None:
        clone.env_creator = _recording(clone.env_creator, envs)
    return clone


def _recording(creator: Callable[..., Any], envs: list[Any]) -> Callable[..., Any]:
    def make(*args: Any, **kwargs: Any) -> Any:
        env = creator(*args, **kwargs)
        envs.append(env)
        return env

    # Name it after the creator: the preview's saved config then names the researcher's env.
    return functools.update_wrapper(make, creator, assigned=("__module__", "__name__", "__qualname__"), updated=())


def stop_all() -> None:
    """Stop every preview of this kernel (also done when the kernel exits)."""
    with _live_lock:
        widgets = list(_live.values())
    for widget in widgets:
        try:
            widget.stop()
        except Exception:
            log.exception("stopping preview %r failed", widget.key)


atexit.register(stop_all)
