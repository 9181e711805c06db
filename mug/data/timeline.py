"""Read-only queries for the admin dashboard: events as they are written, and one participant's story.

Like `mug.data.live`, these read the experiment's database through a read-only connection of the
caller's own (`mug.data.live.open_database`), so they never take the store's lock.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import Any

__all__ = ["events_since", "last_event_id", "participant_detail"]


def _data(text: str | None) -> Any:
    with contextlib.suppress(ValueError, TypeError):
        return json.loads(text) if text else {}
    return {"raw": text}


def last_event_id(conn: sqlite3.Connection) -> int:
    """The id of the newest event (0 when there is none)."""
    row = conn.execute("SELECT MAX(event_id) FROM events").fetchone()
    return int(row[0] or 0)


def events_since(conn: sqlite3.Connection, after: int, limit: int = 2000) -> list[dict[str, Any]]:
    """Events written after event id ``after``, oldest first (at most ``limit``)."""
    rows = conn.execute(
        "SELECT event_id, participant_id, scene_id, kind, data, t FROM events WHERE event_id > ? "
        "ORDER BY event_id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [
        {"event_id": eid, "participant_id": pid, "scene_id": scene, "kind": kind, "data": _data(data), "t": t}
        for eid, pid, scene, kind, data, t in rows
    ]


def participant_detail(conn: sqlite3.Connection, participant_id: str, limit: int = 500) -> dict[str, Any] | None:
    """One participant: their record, scene visits, forms and their latest ``limit`` events (oldest first).

    None for an unknown participant. ``events`` is the timeline; the page's reported errors are the
    events of kind ``client_log``.
    """
    row = conn.execute(
        "SELECT participant_id, status, scene_index, scene_id, completion_code, created_at, updated_at, query, "
        "active_at FROM participants WHERE participant_id = ?",
        (participant_id,),
    ).fetchone()
    if row is None:
        return None
    pid, status, index, scene_id, code, created, updated, query, active = row
    visits = conn.execute(
        "SELECT scene_index, scene_id, scene_type, entered_at, exited_at, reloads FROM scene_visits "
        "WHERE participant_id = ? ORDER BY entered_at, visit_id",
        (pid,),
    ).fetchall()
    forms = conn.execute(
        "SELECT scene_id, submitted_at, answers FROM forms WHERE participant_id = ? ORDER BY submitted_at", (pid,)
    ).fetchall()
    events = conn.execute(
        "SELECT event_id, scene_id, kind, data, t FROM events WHERE participant_id = ? ORDER BY event_id DESC LIMIT ?",
        (pid, limit),
    ).fetchall()
    return {
        "participant_id": pid,
        "status": status,
        "scene_index": index,
        "scene_id": scene_id,
        "completion_code": code,
        "created_at": created,
        "updated_at": updated,
        "active_at": active,
        "query": _data(query),
        "visits": [
            {"scene_index": i, "scene_id": s, "scene_type": k, "entered_at": e, "exited_at": x, "reloads": r}
            for i, s, k, e, x, r in visits
        ],
        "forms": [{"scene_id": s, "submitted_at": t, "answers": _data(a)} for s, t, a in forms],
        "events": [
            {"event_id": eid, "scene_id": s, "kind": kind, "data": _data(data), "t": t}
            for eid, s, kind, data, t in reversed(events)
        ],
    }
