"""``exp.replay(game_id, episode)``: a recorded episode rebuilt, verified and played in the output cell.

The episode is rebuilt in this kernel by `mug.replay.replay_game` (the env reset with the recorded
seed and stepped with the recorded actions), and each step is compared with the record. The widget
holds every frame, so play, pause, step and scrub work in the browser alone, drawn by the
participants' own renderer (the client's Phaser renderer, bundled into the widget). What the
verification found is in the widget's state: ``widget.ok``, ``widget.first_divergence`` and
``widget.divergences``, and shown above the game, as text.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mug.widgets._esm import require_widgets, widget_module

require_widgets()

import anywidget  # noqa: E402
import traitlets  # noqa: E402

from mug.env import RenderDiffer  # noqa: E402
from mug.replay import Divergence, EpisodeReplay, GameReplay, ReplayError, replay_game  # noqa: E402
from mug.scenes.assets import image_file  # noqa: E402

__all__ = ["ReplayWidget", "replay"]

_EMPTY_FRAME: dict[str, Any] = {"objects": [], "removed": []}


def _sprite_assets(saved: Any, notes: list[str]) -> dict[str, Any]:
    """The saved config's sprite textures with each image inlined as a data URL (a replay has no
    server to fetch them from); a file gone since the game is left out, with a note."""
    if not isinstance(saved, dict) or not isinstance(saved.get("textures"), list):
        return {}
    textures = []
    for entry in saved["textures"]:
        try:
            image = image_file(Path(entry["path"]))
            data = image.path.read_bytes()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"sprite image {entry.get('key')!r} is not drawn: {entry.get('path')!r} {exc}")
            continue
        url = f"data:{image.content_type};base64,{base64.b64encode(data).decode()}"
        textures.append({k: v for k, v in entry.items() if k != "path"} | {"url": url})
    return {"textures": textures, "animations": saved.get("animations") or {}}


def _divergence_json(found: Divergence) -> dict[str, Any]:
    return {
        "episode": found.episode,
        "step": found.step,
        "field": found.field,
        "recorded": repr(found.recorded),
        "replayed": repr(found.replayed),
        "message": str(found),
    }


class ReplayWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """One recorded episode, replayed and verified: play, pause, step and scrub it in the cell.

    Make one with ``exp.replay(game_id, episode)`` or :func:`replay`. ``position`` is the frame shown
    (0: after the reset, n: after step n); ``step()``, ``seek()``, ``play()`` and ``pause()`` move
    it from Python as the buttons do in the page.
    """

    _esm = widget_module("replay")

    title = traitlets.Unicode("").tag(sync=True)
    game_width = traitlets.Int(600).tag(sync=True)
    game_height = traitlets.Int(400).tag(sync=True)
    background = traitlets.Unicode("#ffffff").tag(sync=True)
    fps = traitlets.Int(30).tag(sync=True)
    #: The scene's sprite textures (docs/assets.md), their images as data URLs read from the saved paths.
    assets = traitlets.Dict().tag(sync=True)
    #: Render diffs, one per position (the first is a full frame), as the participants' page got them.
    frames = traitlets.List().tag(sync=True)
    #: HUD text per position ("" when the HUD cannot be rebuilt).
    huds = traitlets.List().tag(sync=True)
    #: Per position: ``{"step", "rewards", "actions", "divergences": [message, ...]}``.
    steps = traitlets.List().tag(sync=True)
    #: The frame shown: 0 (after the reset) .. number of replayed steps.
    position = traitlets.Int(0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    #: One line: matched, or where the replay first diverged.
    verdict = traitlets.Unicode("").tag(sync=True)
    ok = traitlets.Bool(True).tag(sync=True)
    #: The first divergence as ``{episode, step, field, recorded, replayed, message}``, or ``{}``.
    divergence = traitlets.Dict().tag(sync=True)
    #: What the replay could not rebuild exactly, or where it stopped.
    notes = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, result: GameReplay, episode: int) -> None:
        ep = result.episodes[episode]
        record = result.record
        config = record.scene_config or {}
        differ = RenderDiffer()
        frames = [differ.diff(ep.reset_frame or _EMPTY_FRAME)]
        frames += [differ.diff(s.frame or _EMPTY_FRAME) for s in ep.steps]
        steps = [{"step": 0, "rewards": {}, "actions": {}, "divergences": []}]
        steps += [
            {"step": s.step, "rewards": s.rewards, "actions": s.actions, "divergences": [str(d) for d in s.divergences]}
            for s in ep.steps
        ]
        notes = list(result.notes)
        if ep.stopped:
            notes.insert(0, ep.stopped)
        first = ep.first_divergence
        super().__init__(
            title=f"Replay · game {record.game_id[:8]} · scene {record.scene_id} · episode {episode} · {record.mode}",
            game_width=int(config.get("game_width") or 600),
            game_height=int(config.get("game_height") or 400),
            background=str(config.get("background") or "#ffffff"),
            fps=int(config.get("fps") or 30),
            assets=_sprite_assets(config.get("assets"), notes),
            frames=frames,
            huds=[ep.reset_hud or ""] + [s.hud or "" for s in ep.steps],
            steps=steps,
            verdict=ep.verdict(),
            ok=ep.ok,
            divergence=_divergence_json(first) if first else {},
            notes=notes,
        )
        #: The whole replayed game (`mug.replay.GameReplay`).
        self.result = result
        #: This episode's replay (`mug.replay.EpisodeReplay`).
        self.episode: EpisodeReplay = ep

    @property
    def first_divergence(self) -> Divergence | None:
        """The first step and field where the replay differs from the record, or None."""
        return self.episode.first_divergence

    @property
    def divergences(self) -> list[Divergence]:
        """Every difference from the record, in step order."""
        return list(self.episode.divergences)

    @property
    def last_position(self) -> int:
        """The position of the last replayed step."""
        return len(self.frames) - 1

    def seek(self, position: int) -> None:
        """Show the frame after step ``position`` (0: the reset frame)."""
        if not isinstance(position, int) or not 0 <= position <= self.last_position:
            raise ValueError(f"position must be an int from 0 to {self.last_position}, got {position!r}")
        self.position = position

    def step(self, n: int = 1) -> None:
        """Move ``n`` steps on (back when negative), stopping at either end."""
        self.playing = False
        self.position = max(0, min(self.last_position, self.position + n))

    def play(self) -> None:
        """Play from the current frame at the scene's fps (in the page showing the widget)."""
        if self.position >= self.last_position:
            self.position = 0
        self.playing = True

    def pause(self) -> None:
        """Stop playing."""
        self.playing = False

    def __repr__(self) -> str:
        return f"<MUG replay: {self.verdict}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def replay(
    source: str | os.PathLike[str],
    game_id: str,
    episode: int | None = None,
    *,
    experiment: Any = None,
    env_creator: Callable[..., Any] | None = None,
    view: str | None = None,
    peer: str | None = None,
    tolerance: float = 0.0,
) -> ReplayWidget:
    """Replay episode ``episode`` (default: the game's first) of game ``game_id`` from the data at ``source``.

    ``experiment`` (the `mug.Experiment` that ran it) rebuilds a server-run env defined in a
    notebook; ``view`` draws one agent's view of a scene with per-player views; ``tolerance``:
    numbers within it count as equal (default exact, see `mug.replay.replay_game`). Raises
    `mug.replay.ReplayError` saying why when the episode cannot be rebuilt.
    """
    from mug.replay import read_game

    record = read_game(source, game_id, peer=peer)
    if episode is None:
        if not record.episodes:
            raise ReplayError(f"game {record.game_id} has no recorded episodes: there is nothing to replay")
        episode = next(iter(record.episodes))
    if view is None:
        config = record.scene_config or {}
        multiplayer = config.get("multiplayer") or {}
        if isinstance(multiplayer, dict) and multiplayer.get("per_player_views"):
            humans = [a for a, p in (config.get("policy_mapping") or {}).items() if p == "human"]
            view = humans[0] if humans else None
    result = replay_game(
        record, episodes=[episode], experiment=experiment, env_creator=env_creator, frames=True, view=view,
        tolerance=tolerance,
    )
    return ReplayWidget(result, episode)
