"""Records from a participant's browser outbox: their checks, and the ledger that makes resends idempotent.

A page numbers its records from 0 in its own browser storage, so the number alone does not name a
record: a participant who continues in a second browser (another device, a private window,
cleared site data) numbers from 0 again. Before the ledger knew the storage a record came from,
the second browser's records were acknowledged as "already committed" and dropped (a game of 300
steps kept 203). The ledger is now keyed on ``(participant, source, seq)``, where ``source`` is a
random id the page's outbox makes once per browser storage, and it keeps a digest of each record:
a resend with the same digest is acknowledged again, a different record under a known number is
refused with an error, never acknowledged.

A peer-to-peer game's steps and episodes come from every peer: they are written by
`mug.data.parity`, which keeps each peer's rows and compares them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import parity
from . import records as rec
from ._json import RecordError, dumps

if TYPE_CHECKING:
    from .backends import Database

__all__ = ["commit", "commit_each", "prepare"]

# (Portable SQL: SQLite and PostgreSQL both take INSERT ... ON CONFLICT.)
STEP_INSERT = (
    "INSERT INTO steps (game_id, episode, step, participant_id, scene_id, t, actions, "
    "rewards, terminated, truncated, infos, observations, focus) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT DO NOTHING"
)
_EPISODE_COLUMNS = (
    "game_id", "episode", "scene_id", "participant_ids", "seed", "started_at", "ended_at", "num_steps", "returns",
    "terminated", "truncated", "outcome",
)  # fmt: skip
_EPISODE_VALUES = f"INSERT INTO episodes ({', '.join(_EPISODE_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
# Replaces a stored episode record whole (its parity too, as a new row would have none).
EPISODE_INSERT = (
    f"{_EPISODE_VALUES} ON CONFLICT (game_id, episode) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _EPISODE_COLUMNS[2:])
    + ", parity = NULL"
)
EVENT_INSERT = "INSERT INTO events (participant_id, scene_id, kind, data, t) VALUES (?,?,?,?,?)"
# Keeps the answers with the latest submission time; counts every submission stored.
FORM_UPSERT = (
    "INSERT INTO forms (participant_id, scene_id, submitted_at, answers, first_submitted_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (participant_id, scene_id) DO UPDATE SET "
    "answers = CASE WHEN excluded.submitted_at >= forms.submitted_at "
    "THEN excluded.answers ELSE forms.answers END, "
    "submitted_at = CASE WHEN excluded.submitted_at > forms.submitted_at "
    "THEN excluded.submitted_at ELSE forms.submitted_at END, "
    "first_submitted_at = CASE WHEN excluded.submitted_at < forms.first_submitted_at "
    "THEN excluded.submitted_at ELSE forms.first_submitted_at END, "
    "submissions = forms.submissions + 1"
)
# A page's episode record is written once: a later one for the same episode is refused, not a replacement.
_CLIENT_EPISODE_INSERT = f"{_EPISODE_VALUES} ON CONFLICT DO NOTHING"
_INSERTS = {"step": STEP_INSERT, "episode": _CLIENT_EPISODE_INSERT, "event": EVENT_INSERT, "form": FORM_UPSERT}

#: One prepared record: (kind, SQL parameters, digest of the record as sent).
Prepared = tuple[str, tuple[Any, ...], str]


def prepare(participant_id: str, record: Any, index: int, server_time: float | None = None) -> tuple[int, Prepared]:
    """Check one outbox record ``{seq, kind, payload}``; return its seq and what to insert.

    With `server_time`, an event is stored at that time and its page's time is kept in
    ``data.page_t``; the digest is always of the record as sent, so a resend matches it.
    Raises :class:`RecordError` naming the record (``client record seq=N``) when it is invalid.
    """
    seq = record.get("seq") if isinstance(record, Mapping) else None
    where = f"client record seq={seq}" if seq is not None else f"client record #{index}"
    rec.check_fields(record, {"seq": True, "kind": True, "payload": True}, where)
    rec.integer(seq, f"{where}: seq", minimum=0)
    kind = record["kind"]
    if kind not in rec.CLIENT_RECORD_KINDS:
        raise RecordError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(rec.CLIENT_RECORD_KINDS)}")
    payload = record["payload"]
    if not isinstance(payload, Mapping):
        raise RecordError(f"{where}: payload must be a dict, got {type(payload).__name__}")
    digest = hashlib.sha256(dumps({"kind": kind, "payload": dict(payload)}, where).encode()).hexdigest()[:32]
    payload = dict(payload)
    if kind != "episode":
        given = payload.get("participant_id")
        if given is not None and given != participant_id:
            raise RecordError(f"{where}: payload participant_id {given!r} is not the sender {participant_id!r}")
        payload["participant_id"] = participant_id
    if kind == "step":
        params = rec.step_params(payload, where)
    elif kind == "episode":
        params = rec.episode_params(payload, where)
    elif kind == "event":
        rec.check_fields(payload, rec.EVENT_FIELDS, where)
        data, t = payload.get("data", {}), payload["t"]
        if server_time is not None:
            data, t = {**rec.mapping(data, f"{where}.data"), "page_t": t}, server_time
        params = rec.event_params(participant_id, payload.get("scene_id"), payload["kind"], data, t, where)
    else:
        rec.check_fields(payload, rec.FORM_FIELDS, where)
        params = rec.form_params(participant_id, payload["scene_id"], payload["answers"], payload["t"], where)
    return seq, (kind, params, digest)


def commit(conn: Database, participant_id: str, source: str, prepared: dict[int, Prepared], now: float) -> list[int]:
    """Write the new records of a batch (inside the caller's transaction); returns every acknowledged seq.

    A seq already in the ledger with the same digest is a resend: acknowledged, not written again.
    A seq already there with another digest, or a step or episode already stored, raises
    :class:`RecordError`: the caller's transaction rolls back and nothing of the batch is
    acknowledged.
    """
    conn.lock(f"client_records:{participant_id}:{source}")  # (the same page's batch via two processes)
    for seq, item in prepared.items():
        _write(conn, participant_id, source, seq, item, now)
    return list(prepared)


def commit_each(
    conn: Database,
    participant_id: str,
    source: str,
    records: list[Any],
    now: float,
    server_time: float | None = None,
) -> tuple[list[int], list[tuple[int | None, str]]]:
    """Write a batch record by record (inside the caller's transaction): (acknowledged seqs, refusals).

    Each record has a savepoint of its own, so a refused one (invalid, a different record under a
    known number, a second record under one seq in the batch, a step or episode already stored)
    leaves the others in; a refusal is ``(seq or None, why)``.
    """
    committed: list[int] = []
    refused: list[tuple[int | None, str]] = []
    digests: dict[int, str] = {}
    conn.lock(f"client_records:{participant_id}:{source}")
    for index, record in enumerate(records):
        seq = record.get("seq") if isinstance(record, Mapping) else None
        try:
            seq, item = prepare(participant_id, record, index, server_time)
            if seq in digests:
                if digests[seq] != item[2]:
                    raise RecordError(f"client record seq={seq}: the batch holds two different records under it")
                continue
            digests[seq] = item[2]
            conn.execute("SAVEPOINT client_record")
            try:
                _write(conn, participant_id, source, seq, item, now)
            except BaseException:
                conn.execute("ROLLBACK TO client_record")
                raise
            finally:
                conn.execute("RELEASE client_record")
            committed.append(seq)
        except RecordError as exc:
            refused.append((seq if isinstance(seq, int) and not isinstance(seq, bool) else None, str(exc)[:300]))
    return committed, refused


def _write(conn: Database, participant_id: str, source: str, seq: int, item: Prepared, now: float) -> None:
    kind, params, digest = item
    where = f"client record seq={seq}"
    seen = conn.execute(
        "SELECT digest FROM client_records WHERE participant_id = ? AND source = ? AND seq = ?",
        (participant_id, source, seq),
    ).fetchone()
    if seen is not None:
        if seen[0] is not None and seen[0] != digest:
            raise RecordError(f"{where}: a different record was already stored under this number from this browser")
        return
    if kind in ("step", "episode") and parity.is_p2p(conn, params[0]):
        # Every peer of a peer-to-peer game sends every step and episode: each peer's rows are kept.
        if kind == "step":
            parity.write_step(conn, params, where)
        else:
            parity.write_episode(conn, participant_id, params, now, where)
    else:
        cursor = conn.execute(_INSERTS[kind], params)
        if kind == "step" and cursor.rowcount == 0:
            raise RecordError(
                f"{where}: step {params[2]} of episode {params[1]} of game {params[0]!r} is already stored"
            )
        if kind == "episode" and cursor.rowcount == 0:
            raise RecordError(f"{where}: episode {params[1]} of game {params[0]!r} is already recorded")
    conn.execute(
        "INSERT INTO client_records (participant_id, source, seq, kind, digest, received_at) VALUES (?,?,?,?,?,?)",
        (participant_id, source, seq, kind, digest, now),
    )
