"""Closing what a crash left open: games the server was running when its process died.

A server that is killed (SIGKILL, power loss, OOM) cannot end its games. Left alone, such a game
never got an outcome or a record of the episode it cut off, and nothing told the researcher that
it had stopped; the server that starts next on the same store closes them here, from the steps
that were committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._json import dumps, loads
from .client_records import EPISODE_INSERT

if TYPE_CHECKING:
    from .backends import Database

__all__ = ["close_open_games"]

_POLICY_PREFIX = "policy:"  # how a game's roster names a policy-played agent (mug.data.results)


_SERVER_RUN_OPEN = "ended_at IS NULL AND mode NOT IN ('client_pyodide', 'client_p2p')"


def open_game_hosts(conn: Database) -> set[str]:
    """The hosts of the open server-run games recorded with one (see `close_open_games`)."""
    rows = conn.execute(f"SELECT DISTINCT host FROM games WHERE {_SERVER_RUN_OPEN} AND host IS NOT NULL", ())
    return {row[0] for row in rows.fetchall()}


def close_open_games(conn: Database, t: float, host: str | None = None) -> list[dict[str, Any]]:
    """End every open server-run game (of ``host`` if given) as ``interrupted`` (inside the caller's transaction).

    See :meth:`mug.data.Store.close_open_games`.
    """
    closed: list[dict[str, Any]] = []
    of_host = "" if host is None else " AND host = ?"
    games = conn.execute(
        f"SELECT game_id, scene_id, players, seed FROM games WHERE {_SERVER_RUN_OPEN}"
        f"{of_host} ORDER BY started_at, game_id{conn.for_update}",
        () if host is None else (host,),
    ).fetchall()
    for game_id, scene_id, players, seed in games:
        last = conn.execute(
            "SELECT MAX(episode), MAX(step) FROM steps WHERE game_id = ? "  # (one episode: portable SQL)
            "AND episode = (SELECT MAX(episode) FROM steps WHERE game_id = ?)",
            (game_id, game_id),
        ).fetchone()
        episode, step = (last[0], last[1]) if last and last[0] is not None else (0, 0)
        recorded = conn.execute("SELECT 1 FROM episodes WHERE game_id = ? AND episode = ?", (game_id, episode))
        if episode and recorded.fetchone() is None:
            conn.execute(EPISODE_INSERT, _partial_episode(conn, game_id, episode, scene_id, players, seed))
        conn.execute("UPDATE games SET ended_at = ?, outcome = 'interrupted' WHERE game_id = ?", (t, game_id))
        roster = loads(players)
        closed.append({"game_id": game_id, "scene_id": scene_id, "players": roster, "episode": episode, "step": step})
    return closed


def _partial_episode(
    conn: Database, game_id: str, episode: int, scene_id: str, players: str, seed: int | None
) -> tuple[Any, ...]:
    """The record of an episode cut off by a crash, from its committed steps."""
    rows = conn.execute(
        "SELECT t, rewards FROM steps WHERE game_id = ? AND episode = ? ORDER BY step", (game_id, episode)
    ).fetchall()
    returns: dict[str, float] = {}
    for _, rewards in rows:
        for agent, value in loads(rewards).items():
            returns[agent] = returns.get(agent, 0.0) + float(value or 0.0)
    humans = sorted({p for p in loads(players).values() if not p.startswith(_POLICY_PREFIX)})
    episode_seed = None if seed is None else seed + episode - 1  # games seed episode k with seed + k - 1
    return (
        game_id, episode, scene_id, dumps(humans), episode_seed, rows[0][0], rows[-1][0], len(rows),
        dumps(returns), 0, 0, "interrupted",
    )  # fmt: skip
