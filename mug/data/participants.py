"""Participants' session state in the store: who they are, where they are in the study, how it ended.

Split from `mug.data.store` by concern: :class:`ParticipantWrites` holds the participant methods of
`mug.data.Store` (which inherits them), written once for both backends. Each reads and writes in one
transaction of the store's (``self._write()``); a method that reads a participant before changing it
locks the participant's row (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction already holds
every other writer off), so a participant reconnecting to two server processes at once is never
updated from a stale read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import records as rec
from ._json import RecordError, dumps, loads
from .client_records import EVENT_INSERT as _EVENT_INSERT

if TYPE_CHECKING:
    import contextlib

    from .backends import Database

__all__ = ["ParticipantRecord", "ParticipantStatus", "ParticipantWrites"]

ParticipantStatus = Literal["active", "completed", "excluded"]


@dataclass(frozen=True)
class ParticipantRecord:
    """One participant's session state as stored."""

    participant_id: str
    created_at: float
    updated_at: float
    query: dict[str, str] = field(default_factory=dict)
    scene_index: int = 0
    scene_id: str | None = None
    status: ParticipantStatus = "active"
    completion_code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    secret_hash: str | None = None  # of the session secret of the browser the session is bound to
    active_at: float | None = None  # first activity; None for a page opened and never used


def _participant_from_row(row: tuple[Any, ...]) -> ParticipantRecord:
    (pid, created_at, updated_at, query, scene_index, scene_id, status, code, data, secret_hash, active_at) = row
    return ParticipantRecord(
        secret_hash=secret_hash,
        active_at=active_at,
        participant_id=pid,
        created_at=created_at,
        updated_at=updated_at,
        query=loads(query),
        scene_index=scene_index,
        scene_id=scene_id,
        status=status,
        completion_code=code,
        data=loads(data),
    )


_PARTICIPANT_COLUMNS = (
    "participant_id, created_at, updated_at, query, scene_index, scene_id, status, completion_code, data, "
    "secret_hash, active_at"
)


class ParticipantWrites:
    """The participant methods of `mug.data.Store` (see there for its guarantees)."""

    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractContextManager[Database]: ...

        def _read(self) -> contextlib.AbstractContextManager[Database]: ...

    def get_or_create_participant(self, participant_id: str, query: Mapping[str, str], t: float) -> ParticipantRecord:
        """Return the participant, creating it (scene 0, status active) if new.

        Idempotent: an existing participant is returned unchanged (its first
        ``query`` is kept).
        """
        rec.text(participant_id, "participant_id")
        rec.mapping(dict(query), "query")
        for key, value in query.items():
            if not isinstance(value, str):
                raise RecordError(f"query.{key}: expected a str, got {type(value).__name__} {value!r}")
        query_text = dumps(dict(query), "query")
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO participants (participant_id, created_at, updated_at, query) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (participant_id, ts, ts, query_text),
            )
            row = conn.execute(
                f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE participant_id = ?",
                (participant_id,),
            ).fetchone()
        return _participant_from_row(row)

    def get_participant(self, participant_id: str) -> ParticipantRecord | None:
        """The participant, or ``None`` if unknown."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE participant_id = ?",
                (participant_id,),
            ).fetchone()
        return None if row is None else _participant_from_row(row)

    def update_participant_data(self, participant_id: str, data: Mapping[str, Any], t: float) -> None:
        """Merge ``data`` into the participant's session data (top-level keys replaced).

        Raises ``KeyError`` for an unknown participant.
        """
        rec.mapping(dict(data), "data")
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            current = self._require_participant(conn, participant_id, "data")
            merged = {**loads(current), **data}
            conn.execute(
                "UPDATE participants SET data = ?, updated_at = ? WHERE participant_id = ?",
                (dumps(merged, "data"), ts, participant_id),
            )

    def assign_scene_order(
        self, participant_id: str, choose: Callable[[list[list[str]]], list[str]], t: float
    ) -> list[str]:
        """The participant's order of scenes (a list of scene ids), chosen once and kept.

        A participant who has one (``data.scene_order``) keeps it; otherwise ``choose`` gets the
        orders of every other participant and its answer is stored, in one transaction: two
        participants assigned at the same time (even by two processes) never see the same counts,
        which balanced assignment needs. Raises ``KeyError`` for an unknown participant.
        """
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            conn.lock("scene_order")  # (every participant's order is read: one assignment at a time)
            data = loads(self._require_participant(conn, participant_id, "data"))
            if isinstance(data.get("scene_order"), list):
                return [str(sid) for sid in data["scene_order"]]
            order_of = conn.json_array("data", "scene_order")
            rows = conn.execute(
                f"SELECT {order_of} FROM participants WHERE participant_id != ? AND {order_of} IS NOT NULL",
                (participant_id,),
            ).fetchall()
            order = choose([json.loads(row[0]) for row in rows])
            if not isinstance(order, list) or not all(isinstance(sid, str) for sid in order):
                raise RecordError(f"scene_order: expected a list of scene ids, got {order!r}")
            conn.execute(
                "UPDATE participants SET data = ?, updated_at = ? WHERE participant_id = ?",
                (dumps({**data, "scene_order": order}, "data"), ts, participant_id),
            )
        return order

    def bind_secret(self, participant_id: str, secret_hash: str, t: float) -> None:
        """Bind the participant's session to a browser: store the hash of the secret it was given.

        Raises ``KeyError`` for an unknown participant.
        """
        rec.text(secret_hash, "secret_hash")
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            self._require_participant(conn, participant_id, "participant_id")
            conn.execute(
                "UPDATE participants SET secret_hash = ?, updated_at = ? WHERE participant_id = ?",
                (secret_hash, ts, participant_id),
            )

    def unbind_session(self, participant_id: str, t: float) -> bool:
        """Release the participant's session from its browser: the next browser to join takes it.

        Returns whether the participant was bound.
        """
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE participants SET secret_hash = NULL, updated_at = ? "
                "WHERE participant_id = ? AND secret_hash IS NOT NULL",
                (ts, participant_id),
            )
            return cursor.rowcount > 0

    def mark_active(self, participant_id: str, t: float) -> None:
        """Note the participant's first activity (later calls keep the first time)."""
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            conn.execute(
                "UPDATE participants SET active_at = ?, updated_at = ? WHERE participant_id = ? AND active_at IS NULL",
                (ts, ts, participant_id),
            )

    def enter_scene(self, participant_id: str, scene_index: int, scene_id: str, scene_type: str, t: float) -> None:
        """Record that the participant is now in scene ``scene_index``.

        Closes the open visit (``exited_at = t``) and opens a new one. If the
        open visit is already this scene (same index and id: a page reload), no
        visit is added; its ``reloads`` counter goes up by one instead. Raises
        ``KeyError`` for an unknown participant.
        """
        rec.integer(scene_index, "scene_index", minimum=0)
        rec.text(scene_id, "scene_id", allow_empty=True)
        rec.text(scene_type, "scene_type", allow_empty=True)
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            self._require_participant(conn, participant_id, "participant_id")
            open_visit = conn.execute(
                "SELECT visit_id, scene_index, scene_id FROM scene_visits "
                "WHERE participant_id = ? AND exited_at IS NULL",
                (participant_id,),
            ).fetchone()
            if open_visit is not None and open_visit[1:] == (scene_index, scene_id):
                conn.execute("UPDATE scene_visits SET reloads = reloads + 1 WHERE visit_id = ?", (open_visit[0],))
            else:
                if open_visit is not None:
                    conn.execute("UPDATE scene_visits SET exited_at = ? WHERE visit_id = ?", (ts, open_visit[0]))
                conn.execute(
                    "INSERT INTO scene_visits (participant_id, scene_index, scene_id, scene_type, "
                    "entered_at) VALUES (?, ?, ?, ?, ?)",
                    (participant_id, scene_index, scene_id, scene_type, ts),
                )
            conn.execute(
                "UPDATE participants SET scene_index = ?, scene_id = ?, updated_at = ? WHERE participant_id = ?",
                (scene_index, scene_id, ts, participant_id),
            )

    def complete_participant(self, participant_id: str, completion_code: str | None, t: float) -> None:
        """Mark the participant completed (with its completion code) and close its open visit.

        Raises ``KeyError`` for an unknown participant.
        """
        rec.text(completion_code, "completion_code", allow_none=True, allow_empty=True)
        self._set_status(participant_id, "completed", t, completion_code=completion_code)

    def exclude_participant(
        self, participant_id: str, reason: str, t: float, completion_code: str | None = None
    ) -> None:
        """Mark the participant excluded, close its open visit and log an ``excluded`` event.

        ``completion_code``: the code the excluded participant was shown (kept in the participant's
        row and in the event), if any. Raises ``KeyError`` for an unknown participant.
        """
        rec.text(reason, "reason", allow_empty=True)
        self._set_status(participant_id, "excluded", t, reason=reason, completion_code=completion_code)

    def _set_status(
        self,
        participant_id: str,
        status: ParticipantStatus,
        t: float,
        *,
        completion_code: str | None = None,
        reason: str | None = None,
    ) -> None:
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            self._require_participant(conn, participant_id, "participant_id")
            scene_id = conn.execute(
                "SELECT scene_id FROM participants WHERE participant_id = ?", (participant_id,)
            ).fetchone()[0]
            conn.execute(
                "UPDATE scene_visits SET exited_at = ? WHERE participant_id = ? AND exited_at IS NULL",
                (ts, participant_id),
            )
            # Completing or being excluded makes a participant part of the data (not an idle visitor).
            conn.execute(
                "UPDATE participants SET active_at = ? WHERE participant_id = ? AND active_at IS NULL",
                (ts, participant_id),
            )
            if status == "completed" or completion_code is not None:
                conn.execute(
                    "UPDATE participants SET status = ?, completion_code = ?, updated_at = ? WHERE participant_id = ?",
                    (status, completion_code, ts, participant_id),
                )
            else:
                conn.execute(
                    "UPDATE participants SET status = ?, updated_at = ? WHERE participant_id = ?",
                    (status, ts, participant_id),
                )
            if status != "completed":
                event = {"reason": reason, **({"completion_code": completion_code} if completion_code else {})}
                conn.execute(_EVENT_INSERT, (participant_id, scene_id, status, dumps(event), ts))

    @staticmethod
    def _require_participant(conn: Database, participant_id: str, column: str) -> Any:
        """The participant's ``column``, its row locked until the transaction ends (PostgreSQL)."""
        row = conn.execute(
            f"SELECT {column} FROM participants WHERE participant_id = ?{conn.for_update}", (participant_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"unknown participant {participant_id!r}")
        return row[0]
