"""Where an experiment's data lives: the store's database behind one small interface.

`mug.data.Store` keeps one implementation of every write and read it does; what differs between
databases is here, in a :class:`Database` with few primitives (python-socketio's way with its
client managers): run a statement (SQL written in the SQLite dialect MUG's schema uses, ``?``
marks, portable ``INSERT ... ON CONFLICT``), open a write transaction or a read snapshot, lock a
key for a read-modify-write, the JSON expressions and schema DDL of the dialect, the schema
version. Two backends:

* :class:`~mug.data.backends.sqlite.SQLiteDatabase` -- the embedded default: one file per
  experiment, ``<data folder>/mug.sqlite3`` (WAL), one writer at a time.
* :class:`~mug.data.backends.postgres.PostgresDatabase` -- PostgreSQL (psycopg 3), for one
  experiment served by many processes on one or several machines; selected by a
  ``postgresql://`` URL (``Experiment(database=...)``, docs/data.md).

:func:`parse_location` turns what a user gives (a folder, a file, a URL) into one of the two, with
an error naming what is wrong with anything else.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from ..schema import DB_FILENAME

__all__ = [
    "Cursor",
    "Database",
    "DatabaseUnavailable",
    "is_database_url",
    "open_database",
    "parse_location",
    "redact_url",
]

#: URL schemes of PostgreSQL (libpq accepts both spellings).
POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseUnavailable(ConnectionError):
    """The connection to the database was lost and could not be made again (or the transaction it
    cut could not be retried): the message names the database (password hidden) and the cause.

    Nothing of the transaction that raised it was committed; a caller that keeps the records it
    could not write (the step recorder, a page's outbox) writes them once the database is back.
    """


class Cursor(Protocol):
    """What a statement returns: the DB-API cursor of either driver."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """One connection to an experiment's database, in the store's SQL dialect.

    Not thread-safe by itself: `mug.data.Store` guards it with its lock.
    """

    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: ClassVar[str]
    #: Appended to a ``SELECT`` that reads a row before updating it: locks the row until commit
    #: where several processes write at once (PostgreSQL); empty where one writer holds the whole
    #: database (SQLite's write transaction).
    for_update: ClassVar[str] = ""

    #: Where the data is, for messages: a file path, or a URL without its password.
    name: str

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement (SQLite dialect, ``?`` marks) and return its cursor."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement for each row; returns how many rows it changed in all."""

    #: Rows per statement of :meth:`insert_many` (measured, see there).
    rows_per_insert: ClassVar[int] = 50

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``INSERT ... VALUES (?, ...) [ON CONFLICT ...]`` for many rows; returns how many were written.

        Several rows go in one statement (``VALUES (...), (...), ...``): the per-statement work
        (SQLite's reset and step, PostgreSQL's round trip) is paid once per :attr:`rows_per_insert`
        rows. Measured with 1,200-row batches of step rows on SQLite: 90k -> 115k rows/s at 50 rows
        a statement (benchmarks/store.py). PostgreSQL copies instead (its ``insert_many``).
        """
        written = 0
        step = self.rows_per_insert
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            written += self.execute(_multi_row(sql, len(chunk)), list(itertools.chain.from_iterable(chunk))).rowcount
        return written

    @abstractmethod
    def begin(self, *, write: bool) -> None:
        """Open a transaction: a write one, or a read-only snapshot every later read agrees with."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll back the open transaction, if any."""

    @abstractmethod
    def lock(self, key: str) -> None:
        """Hold ``key`` until the transaction ends: read-modify-writes of one key by several processes
        then run one after the other. A no-op where a write transaction already excludes every other
        writer (SQLite)."""

    @abstractmethod
    def json_text(self, column: str, *keys: str) -> str:
        """An SQL expression: the value at ``keys`` of the JSON text in ``column``, as text (NULL if absent)."""

    @abstractmethod
    def json_array(self, column: str, key: str) -> str:
        """An SQL expression: the JSON text of the array at top-level ``key`` of ``column``, NULL if not an array."""

    @abstractmethod
    def json_values(self, column: str) -> str:
        """An SQL ``FROM`` item of the values (as text) of the JSON object in ``column``, as ``p(value)``."""

    @abstractmethod
    def schema_sql(self, script: str) -> str:
        """MUG's schema script (written for SQLite) in this dialect."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version stored in the database (0: no MUG schema yet), inside a transaction."""

    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Store the schema version (inside the transaction that brought the schema to it)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (rolls back a transaction left open)."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction, committed when the block ends, rolled back if it raises."""
        self.begin(write=True)
        try:
            yield self
            self.commit()
        except BaseException:
            self.rollback()
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Database]:
        """A read-only transaction: every read inside it sees the same moment of the data."""
        self.begin(write=False)
        try:
            yield self
        finally:
            self.rollback()


@functools.lru_cache(maxsize=256)
def _multi_row(sql: str, count: int) -> str:
    """``INSERT ... VALUES (?, ?) tail`` with ``count`` groups of marks."""
    found = re.fullmatch(r"(.*\bVALUES\s*)(\([?,\s]*\))(.*)", sql, re.DOTALL)
    if found is None:
        raise ValueError(f"not an INSERT ... VALUES (?, ...) statement: {sql[:80]!r}")
    head, marks, tail = found.groups()
    return head + ",".join([marks] * count) + tail


def is_database_url(value: Any) -> bool:
    """Whether ``value`` is a string spelling a database URL (``scheme://...``) rather than a path."""
    return isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", value) is not None


def redact_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


def parse_location(value: Any, what: str = "database") -> str | Path:
    """Check where data is to go or come from: a ``postgresql://`` URL (returned as given) or a SQLite
    data folder (returned as a ``Path``; ``sqlite:///path`` and a path to ``mug.sqlite3`` name its folder).

    Raises ``ValueError`` naming the problem (an unknown scheme, a URL without a database name, a
    port that is not a number, a file that is not ``mug.sqlite3``...).
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{what} must be a PostgreSQL URL (postgresql://user@host:5432/dbname) or a SQLite data folder, "
            f"got {value!r}"
        )
    if not is_database_url(value):
        return _sqlite_folder(Path(value), what, value)
    scheme = value.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = value[len("sqlite://") :]
        if not path or path == "/":
            raise ValueError(f"{what} {value!r}: a sqlite:// URL needs a path, e.g. sqlite:///srv/study/data")
        return _sqlite_folder(Path(path), what, value)
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(
            f"{what} {redact_url(value)!r}: unsupported scheme {scheme + '://'!r}; "
            "MUG stores data in PostgreSQL (postgresql://user@host:5432/dbname) or SQLite (a folder or sqlite:///path)"
        )
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(f"{what} {redact_url(value)!r}: the port is not a number from 1 to 65535") from None
    if not parts.path.strip("/"):
        raise ValueError(
            f"{what} {redact_url(value)!r}: no database name; add it after the host, e.g. "
            "postgresql://user@127.0.0.1:5432/mystudy"
        )
    if "/" in parts.path.strip("/"):
        raise ValueError(f"{what} {redact_url(value)!r}: the database name {parts.path.strip('/')!r} holds a '/'")
    return value


def _sqlite_folder(path: Path, what: str, given: str) -> Path:
    if path.suffix == ".sqlite3" or path.is_file():
        if path.name != DB_FILENAME:
            raise ValueError(
                f"{what} {given!r}: a SQLite store is the file {DB_FILENAME} in a data folder; "
                f"give the folder (e.g. {str(path.parent)!r})"
            )
        return path.parent
    return path


def open_database(location: str | Path, *, timeout: float = 10.0, readonly: bool = False) -> Database:
    """Connect to the database at ``location`` (a URL or a SQLite data folder, see :func:`parse_location`).

    ``readonly``: for readers (results, export, replay): a SQLite file must exist and is opened read-only.
    """
    where = parse_location(location)
    if isinstance(where, Path):
        from .sqlite import SQLiteDatabase

        return SQLiteDatabase(where / DB_FILENAME, timeout=timeout, readonly=readonly)
    from .postgres import PostgresDatabase

    return PostgresDatabase(where, timeout=timeout)
