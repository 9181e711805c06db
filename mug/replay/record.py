"""Reading what a replay needs from an experiment's data folder: a game, its episodes and steps,
and the config it was played under.

The database is opened read-only (safe while a server records): the SQLite file of a data folder,
or a PostgreSQL database given by its URL (`mug.data.results.open_results_database`). A game recorded since schema
version 4 names its config (``games.metadata_id``); for an older one the config saved last before
the game started is used, which is the one in force unless two servers with different configs
wrote to the same folder at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mug.data._json import loads
from mug.data.backends import Database
from mug.data.results import open_results_database

__all__ = ["GameRecord", "RecordedEpisode", "RecordedStep", "ReplayError", "list_games", "read_game"]


class ReplayError(Exception):
    """An episode that cannot be replayed, or a game that cannot be found; the message says why."""


@dataclass(frozen=True)
class RecordedStep:
    """One step as the store holds it (JSON values, as recorded)."""

    step: int
    actions: dict[str, Any]
    rewards: dict[str, Any]
    terminated: bool
    truncated: bool
    infos: dict[str, Any]
    observations: Any


@dataclass
class RecordedEpisode:
    """An episode's record: its seed, how it ended, and its steps in order."""

    episode: int
    seed: int | None
    num_steps: int | None
    outcome: str | None
    terminated: bool | None
    truncated: bool | None
    steps: list[RecordedStep] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every step the episode's record counts is stored, numbered 1..n."""
        return self.num_steps is not None and [s.step for s in self.steps] == list(range(1, self.num_steps + 1))


@dataclass
class GameRecord:
    """A recorded game: how it ran, its episodes, and the config and versions it was played under."""

    path: Path | str
    game_id: str
    scene_id: str
    mode: str
    seed: int | None
    players: dict[str, str]
    outcome: str | None
    started_at: float
    episodes: dict[int, RecordedEpisode]
    #: The scene's entry of the saved config (``GymScene.config()``), or None when none was saved.
    scene_config: dict[str, Any] | None
    #: Package versions saved with that config (``experiment.json``'s ``versions``).
    versions: dict[str, Any]
    #: Which saved config was used, in words (for notes and errors).
    config_source: str
    #: Events about this game that explain a short record (env errors, interruptions).
    events: list[dict[str, Any]] = field(default_factory=list)

    def episode_seed(self, episode: int) -> int | None:
        """The reset seed of ``episode``: its record's, else what the game's loop would have used."""
        found = self.episodes.get(episode)
        if found is not None and found.seed is not None:
            return found.seed
        if self.mode not in ("client_pyodide", "client_p2p"):  # the server's loop: the scene's seed + k
            scene_seed = (self.scene_config or {}).get("seed")
            return None if scene_seed is None else int(scene_seed) + episode - 1
        return None if self.seed is None else self.seed + episode - 1  # the browsers': the game's seed + k


def _connect(path: str | os.PathLike[str]) -> tuple[Database, str, Path | str, int]:
    """A read-only connection, the database's name (for messages), the data's place, the schema version."""
    conn, folder = open_results_database(path)
    try:
        version = conn.schema_version()
    except BaseException:
        conn.close()
        raise
    if not version:
        conn.close()
        raise ValueError(f"{conn.name} is not a MUG database (no MUG schema in it)")
    return conn, conn.name, (folder if folder is not None else conn.name), version


def list_games(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every recorded game, oldest first: ``{game_id, scene_id, mode, outcome, episodes, steps}``."""
    conn, _, _, _ = _connect(path)
    try:
        rows = conn.execute(
            "SELECT g.game_id, g.scene_id, g.mode, g.outcome, g.started_at, "
            "(SELECT COUNT(*) FROM episodes e WHERE e.game_id = g.game_id), "
            "(SELECT COUNT(*) FROM steps s WHERE s.game_id = g.game_id) FROM games g ORDER BY g.started_at"
        ).fetchall()
    finally:
        conn.close()
    keys = ("game_id", "scene_id", "mode", "outcome", "started_at", "episodes", "steps")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _find_game(conn: Database, game_id: str, db: str, place: Path | str) -> str:
    """The full id of the game ``game_id`` names (the id itself or a unique beginning of it)."""
    if not isinstance(game_id, str) or not game_id:
        raise ReplayError(f"game_id must be a game's id (a non-empty string), got {game_id!r}")
    if conn.execute("SELECT 1 FROM games WHERE game_id = ?", (game_id,)).fetchone():
        return game_id
    like = game_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = [r[0] for r in conn.execute("SELECT game_id FROM games WHERE game_id LIKE ? ESCAPE '\\'", (like,))]
    if len(found) == 1:
        return str(found[0])
    if found:
        raise ReplayError(
            f"{game_id!r} is the beginning of {len(found)} games' ids ({', '.join(found[:5])}"
            f"{', ...' if len(found) > 5 else ''}); give more of the id"
        )
    if conn.execute("SELECT 1 FROM steps WHERE game_id = ? LIMIT 1", (game_id,)).fetchone():
        raise ReplayError(f"game {game_id!r} has steps in {db} but no game record, so its scene and mode are unknown")
    total = conn.execute("SELECT COUNT(*) FROM games").fetchone()[0]
    raise ReplayError(
        f"no game {game_id!r} in {db} ({total} games recorded; `mug replay {place}` lists them, "
        "as does the results' games table)"
    )


def _config_row(conn: Database, metadata_id: Any, started_at: float) -> tuple[Any, str]:
    if metadata_id is not None:
        row = conn.execute("SELECT config, versions FROM metadata WHERE metadata_id = ?", (metadata_id,)).fetchone()
        if row is not None:
            return row, f"the config saved when the server that ran the game started (metadata row {metadata_id})"
    row = conn.execute(
        "SELECT config, versions, metadata_id FROM metadata WHERE written_at <= ? ORDER BY metadata_id DESC LIMIT 1",
        (started_at,),
    ).fetchone()
    if row is not None:
        return row[:2], f"the config saved last before the game started (metadata row {row[2]})"
    return None, "no saved config"


def read_game(path: str | os.PathLike[str], game_id: str, *, peer: str | None = None) -> GameRecord:
    """Read game ``game_id`` (or a unique beginning of its id) with every episode and step.

    ``peer``: in a peer-to-peer game, read that participant's own rows (``peer_steps``) instead
    of the canonical ones.
    """
    conn, db, place, version = _connect(path)
    try:
        conn.begin(write=False)
        full_id = _find_game(conn, game_id, db, place)
        has_link = version >= 4  # (games name their config since schema version 4)
        game = conn.execute(
            "SELECT scene_id, mode, seed, players, outcome, started_at, "
            f"{'metadata_id' if has_link else 'NULL'} FROM games WHERE game_id = ?",
            (full_id,),
        ).fetchone()
        scene_id, mode, seed, players, outcome, started_at, metadata_id = game
        config_row, config_source = _config_row(conn, metadata_id, started_at)
        if peer is None:
            episode_rows = conn.execute(
                "SELECT episode, seed, num_steps, outcome, terminated, truncated FROM episodes WHERE game_id = ?",
                (full_id,),
            ).fetchall()
            step_rows = conn.execute(
                "SELECT episode, step, actions, rewards, terminated, truncated, infos, observations FROM steps "
                "WHERE game_id = ? ORDER BY episode, step",
                (full_id,),
            ).fetchall()
        else:
            episode_rows = conn.execute(
                "SELECT episode, seed, num_steps, outcome, terminated, truncated FROM peer_episodes "
                "WHERE game_id = ? AND participant_id = ?",
                (full_id, peer),
            ).fetchall()
            step_rows = conn.execute(
                "SELECT episode, step, actions, rewards, terminated, truncated, infos, observations FROM peer_steps "
                "WHERE game_id = ? AND participant_id = ? ORDER BY episode, step",
                (full_id, peer),
            ).fetchall()
            if not step_rows:
                raise ReplayError(f"game {full_id!r} has no steps recorded by peer {peer!r}")
        event_rows = conn.execute(
            "SELECT kind, data, t FROM events WHERE kind IN ('env_error', 'game_interrupted', 'policy_error', "
            "'runtime_error') AND data LIKE ? ORDER BY t",
            (f"%{full_id}%",),
        ).fetchall()
    finally:
        conn.rollback()  # (a read-only snapshot: nothing to commit)
        conn.close()
    episodes: dict[int, RecordedEpisode] = {}
    for episode, ep_seed, num_steps, ep_outcome, terminated, truncated in episode_rows:
        episodes[int(episode)] = RecordedEpisode(
            int(episode), ep_seed, num_steps, ep_outcome, bool(terminated), bool(truncated)
        )
    for episode, step, actions, rewards, terminated, truncated, infos, observations in step_rows:
        target = episodes.setdefault(int(episode), RecordedEpisode(int(episode), None, None, None, None, None))
        target.steps.append(
            RecordedStep(
                int(step), loads(actions), loads(rewards), bool(terminated), bool(truncated), loads(infos),
                loads(observations),
            )
        )  # fmt: skip
    scene_config: dict[str, Any] | None = None
    versions: dict[str, Any] = {}
    if config_row is not None:
        config, versions = loads(config_row[0]) or {}, loads(config_row[1]) or {}
        for scene in config.get("scenes", []):
            if isinstance(scene, dict) and scene.get("scene_id") == scene_id:
                scene_config = scene
    events = [{"kind": k, "data": loads(d), "t": t} for k, d, t in event_rows]
    return GameRecord(
        path=place,
        game_id=full_id,
        scene_id=scene_id,
        mode=mode,
        seed=seed,
        players=loads(players) or {},
        outcome=outcome,
        started_at=started_at,
        episodes=dict(sorted(episodes.items())),
        scene_config=scene_config,
        versions=versions,
        config_source=config_source,
        events=[e for e in events if isinstance(e["data"], dict) and e["data"].get("game_id") == full_id],
    )
