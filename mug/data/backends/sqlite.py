"""The embedded default: one SQLite file per experiment, in WAL mode.

One writer at a time: a write transaction (``BEGIN IMMEDIATE``) holds the whole database, so the
store's read-modify-writes need no row locks here (:meth:`Database.lock` is a no-op). Readers open
the file read-only and never block the writer (WAL). The SQL MUG writes is this dialect already;
statements run as written.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from . import Cursor, Database

__all__ = ["SQLiteDatabase"]


def _journal_mode_wal(conn: sqlite3.Connection, timeout: float) -> str:
    """Switch to WAL and return the mode in effect, waiting out other processes doing the same.

    Changing the journal mode of a new database takes an exclusive lock for which SQLite does not
    wait (the busy timeout does not apply), so two processes opening one new store at once (the
    server and its game processes) would otherwise fail with "database is locked".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)  # (a lock held for a moment by another process; nothing to await here)


class SQLiteDatabase(Database):
    """A connection to ``path`` (created when writing; must exist when ``readonly``)."""

    dialect: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 10.0,
        readonly: bool = False,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = path
        self.name = str(path)
        if readonly:
            if not path.is_file():
                raise FileNotFoundError(f"no MUG data at {path}")
            self._conn = sqlite3.connect(
                path.resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            mode = _journal_mode_wal(conn, timeout)
            if mode.lower() != "wal":
                warnings.warn(
                    f"SQLite could not enable WAL mode for {path} (got {mode!r}); "
                    "readers may block the writer on this filesystem",
                    RuntimeWarning,
                    stacklevel=3,
                )
            conn.execute(f"PRAGMA synchronous={synchronous}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._conn.executemany(sql, rows).rowcount

    def begin(self, *, write: bool) -> None:
        # IMMEDIATE takes the write lock now, so a read-modify-write never has to upgrade a read lock
        # (which SQLite would refuse with "database is locked" when another process got there first).
        self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def lock(self, key: str) -> None:
        pass  # (BEGIN IMMEDIATE already holds every other writer off until commit)

    def json_text(self, column: str, *keys: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(keys)}')"

    def json_array(self, column: str, key: str) -> str:
        return f"CASE WHEN json_type({column}, '$.{key}') = 'array' THEN json_extract({column}, '$.{key}') END"

    def json_values(self, column: str) -> str:
        return f"json_each({column}) p"

    def schema_sql(self, script: str) -> str:
        return script

    def schema_version(self) -> int:
        try:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is not a SQLite database: {exc}") from exc

    def set_schema_version(self, version: int) -> None:
        self._conn.execute(f"PRAGMA user_version={int(version)}")

    def close(self) -> None:
        self._conn.close()
