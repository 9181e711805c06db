"""Peer-to-peer games: every peer's record kept, and whether the peers' records agree.

In a P2P game (``games.mode = 'client_p2p'``) every participant's browser runs the env and records
every confirmed frame, so the server receives each step and episode once per peer. Steps used to
be unique on ``(game_id, episode, step)``: the second peer's identical rows would have been refused
and counted as refusals, and a peer whose simulation had drifted would have gone unnoticed. Here
each peer's rows go to ``peer_steps``/``peer_episodes``; the first peer's row of a step or episode
also fills the canonical ``steps``/``episodes`` row that results read (later peers' rows never
conflict with it), and a peer's episode gets a digest of its steps, so that the server can say per
episode whether the peers recorded the same game:

* ``match``: at least two peers' complete records of the episode are stored and their digests are equal;
* ``mismatch``: two of them differ;
* ``one-sided``: fewer than two peers' complete records are stored (one peer's only, or another
  peer's steps are still arriving).

A peer's digest is computed once its episode record is stored *and* all the ``num_steps`` steps
that record counts are: the page's outbox may deliver an episode record before some of its steps
(a reconnect, a retry), and a digest of part of an episode would report a mismatch that is not
one. The step that completes the episode computes it then. A digest never changes afterwards: a
peer cannot replace a row it sent (a different row under a step it already sent is refused).

Everything here runs inside the caller's transaction (`mug.data.client_records`).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from ._json import RecordError, dumps, loads

if TYPE_CHECKING:
    from .backends import Database

__all__ = [
    "P2P_MODE",
    "PARITY_VALUES",
    "episode_digest",
    "game_parity",
    "is_p2p",
    "parity_of",
    "peer_progress",
    "write_episode",
    "write_step",
]

#: ``games.mode`` of a peer-to-peer game (started by the server with `Store.start_game`).
P2P_MODE = "client_p2p"

Parity = Literal["match", "mismatch", "one-sided"]
PARITY_VALUES: tuple[str, ...] = ("match", "mismatch", "one-sided")

#: The step fields a digest covers, in the order of the ``peer_steps`` query below: what the game
#: did, not when each peer's clock saw it (``t``) nor who sent it.
DIGEST_FIELDS: tuple[str, ...] = (
    "actions", "rewards", "terminated", "truncated", "infos", "observations", "focus",
)  # fmt: skip

_STEP_COLUMNS = (
    "game_id, episode, step, participant_id, scene_id, t, actions, rewards, terminated, truncated, infos, "
    "observations, focus"
)
_VALUES13 = "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
_PEER_STEP_INSERT = f"INSERT INTO peer_steps ({_STEP_COLUMNS}) {_VALUES13}"
_CANONICAL_STEP_INSERT = f"INSERT INTO steps ({_STEP_COLUMNS}) {_VALUES13}"
_PEER_EPISODE_INSERT = (
    "INSERT INTO peer_episodes (game_id, episode, participant_id, scene_id, seed, started_at, ended_at, "
    f"num_steps, returns, terminated, truncated, outcome, received_at) {_VALUES13}"
)
_CANONICAL_EPISODE_INSERT = (
    "INSERT INTO episodes (game_id, episode, scene_id, participant_ids, seed, started_at, ended_at, "
    "num_steps, returns, terminated, truncated, outcome) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
)
_POLICY_PREFIX = "policy:"  # how a game's roster names a policy-played agent (mug.data.results)


def is_p2p(conn: Database, game_id: Any) -> bool:
    """Whether ``game_id`` names a peer-to-peer game (an unknown game is not one)."""
    row = conn.execute("SELECT mode FROM games WHERE game_id = ?", (game_id,)).fetchone()
    return row is not None and row[0] == P2P_MODE


def write_step(conn: Database, params: tuple[Any, ...], where: str) -> None:
    """Store one peer's step (``steps`` column order, its sender in ``participant_id``).

    The first peer's row of a step also becomes the canonical one. The same peer's second row
    for a step raises :class:`RecordError` (a resend of the same record never gets here: the
    ledger acknowledges it first).
    """
    game_id, episode, step, participant_id = params[:4]
    if participant_id is None:
        raise RecordError(f"{where}: a step of peer-to-peer game {game_id!r} must name the peer that recorded it")
    conn.lock(f"game:{game_id}")  # (the peers' rows of a game may come through several processes at once)
    if conn.execute(_PEER_STEP_INSERT, params).rowcount == 0:
        raise RecordError(
            f"{where}: step {step} of episode {episode} of game {game_id!r} is already stored from {participant_id!r}"
        )
    conn.execute(_CANONICAL_STEP_INSERT, params)
    _settle(conn, game_id, episode, participant_id)


def write_episode(conn: Database, participant_id: str, params: tuple[Any, ...], now: float, where: str) -> None:
    """Store one peer's episode record (``episodes`` column order), its digest and the episode's parity.

    The first peer's record also becomes the canonical episode, listing every human of the game.
    The same peer's second record for an episode raises :class:`RecordError`.
    """
    game_id, episode, scene_id = params[:3]
    conn.lock(f"game:{game_id}")
    peer_row = (game_id, episode, participant_id, scene_id, *params[4:], now)  # (without participant_ids)
    if conn.execute(_PEER_EPISODE_INSERT, peer_row).rowcount == 0:
        raise RecordError(f"{where}: episode {episode} of game {game_id!r} is already recorded from {participant_id!r}")
    humans = dumps(_humans(conn, game_id) or [participant_id])
    conn.execute(_CANONICAL_EPISODE_INSERT, (game_id, episode, scene_id, humans, *params[4:]))
    if not _settle(conn, game_id, episode, participant_id):
        _update_parity(conn, game_id, episode)


def episode_digest(rows: list[tuple[Any, ...]]) -> str:
    """SHA-256 (hex) of one peer's steps of an episode, ordered by step.

    ``rows`` hold the stored JSON text of :data:`DIGEST_FIELDS` (flags as 0/1). The digest is of
    canonical JSON (sorted keys, no spaces) of the decoded values, so it depends on what was
    recorded, not on how a page happened to order an object's keys.
    """
    steps = []
    for actions, rewards, terminated, truncated, infos, observations, focus in rows:
        steps.append(
            {
                "actions": loads(actions),
                "rewards": loads(rewards),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "infos": loads(infos),
                "observations": loads(observations),
                "focus": loads(focus),
            }
        )
    text = json.dumps(steps, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def parity_of(digests: list[str]) -> Parity:
    """An episode's parity from the digests of the peers whose complete record is stored."""
    if len(digests) < 2:
        return "one-sided"
    return "match" if len(set(digests)) == 1 else "mismatch"


def _settle(conn: Database, game_id: str, episode: int, participant_id: str) -> bool:
    """Compute the peer's episode digest once its record and all its steps are stored; True if it did."""
    row = conn.execute(
        "SELECT num_steps, digest FROM peer_episodes WHERE game_id = ? AND episode = ? AND participant_id = ?",
        (game_id, episode, participant_id),
    ).fetchone()
    if row is None or row[1] is not None:
        return False
    steps = conn.execute(
        f"SELECT {', '.join(DIGEST_FIELDS)} FROM peer_steps WHERE game_id = ? AND episode = ? AND participant_id = ? "
        "ORDER BY step",
        (game_id, episode, participant_id),
    ).fetchall()
    if len(steps) != row[0]:
        return False
    conn.execute(
        "UPDATE peer_episodes SET digest = ? WHERE game_id = ? AND episode = ? AND participant_id = ?",
        (episode_digest(steps), game_id, episode, participant_id),
    )
    _update_parity(conn, game_id, episode)
    return True


def _update_parity(conn: Database, game_id: str, episode: int) -> None:
    digests = [
        d
        for (d,) in conn.execute(
            "SELECT digest FROM peer_episodes WHERE game_id = ? AND episode = ? AND digest IS NOT NULL",
            (game_id, episode),
        )
    ]
    conn.execute(
        "UPDATE episodes SET parity = ? WHERE game_id = ? AND episode = ?", (parity_of(digests), game_id, episode)
    )


def _humans(conn: Database, game_id: str) -> list[str]:
    """The participants of a game, in its roster's agent order."""
    row = conn.execute("SELECT players FROM games WHERE game_id = ?", (game_id,)).fetchone()
    roster = loads(row[0]) if row else {}
    humans: dict[str, None] = {}
    for player in roster.values():
        if isinstance(player, str) and not player.startswith(_POLICY_PREFIX):
            humans.setdefault(player, None)
    return list(humans)


def peer_progress(conn: Database, game_id: str, participant_id: str) -> dict[str, Any]:
    """One peer's records of a game, shaped like `mug.data.Store.game_progress`."""
    episodes = conn.execute(
        "SELECT episode, outcome, num_steps, digest, (SELECT COUNT(*) FROM peer_steps s WHERE s.game_id = e.game_id "
        "AND s.episode = e.episode AND s.participant_id = e.participant_id) FROM peer_episodes e "
        "WHERE game_id = ? AND participant_id = ? ORDER BY episode",
        (game_id, participant_id),
    ).fetchall()
    steps = conn.execute(
        "SELECT COUNT(*) FROM peer_steps WHERE game_id = ? AND participant_id = ?", (game_id, participant_id)
    ).fetchone()[0]
    return {
        "episodes": [
            {"episode": e, "outcome": o, "num_steps": n, "stored_steps": k, "digest": d} for e, o, n, d, k in episodes
        ],
        "steps": steps,
    }


def game_parity(conn: Database, game_id: str) -> list[dict[str, Any]]:
    """Per episode of a P2P game: its parity and each peer's digest (None while its steps are arriving)."""
    out: dict[int, dict[str, Any]] = {}
    for episode, parity in conn.execute(
        "SELECT episode, parity FROM episodes WHERE game_id = ? ORDER BY episode", (game_id,)
    ):
        out[episode] = {"episode": episode, "parity": parity, "digests": {}}
    for episode, pid, digest in conn.execute(
        "SELECT episode, participant_id, digest FROM peer_episodes WHERE game_id = ? ORDER BY episode, participant_id",
        (game_id,),
    ):
        out.setdefault(episode, {"episode": episode, "parity": None, "digests": {}})["digests"][pid] = digest
    return [out[e] for e in sorted(out)]
