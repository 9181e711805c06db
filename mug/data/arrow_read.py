"""The steps query read as Arrow columns (ADBC), so a million step rows never become Python tuples.

Why: ``results()`` on 1M step rows took 7-9 s on SQLite, and about 5 s of it was the Python driver
(``sqlite3``'s ``fetchall``) building a million row tuples of 13 cells; psycopg's was the same kind
of cost. An ADBC driver (``adbc-driver-sqlite``, ``adbc-driver-postgresql``) reads the same query
in C into Arrow arrays; the text columns are then coded by Arrow's ``dictionary_encode`` (C: an
integer per row and the distinct values once) instead of ``pandas.factorize`` on object arrays,
and the number columns go straight to numpy. What :mod:`mug.data.step_frames` builds from there
is unchanged, so the frames are the same whichever path read the rows.

SQLite in a process of its own. The ADBC SQLite driver carries its own copy of SQLite, and two
copies of SQLite in one process must never open the same file (POSIX locks belong to the process,
so each copy mistakes the other's connections for its own: the first try, in this process, died
of SIGBUS as soon as a writer thread was busy, the WAL index reset under it). The reading runs in
``_adbc_sqlite_child.py``, started per read (~0.4 s of imports on a quiet machine, so a table of
fewer than :data:`SQLITE_MIN_ROWS` rows is read by the Python driver): a reader like any other
process, which SQLite's locking is made for. It reads the table in two rowid ranges on
two connections and threads at once, dictionary-encodes the texts (84 MB through the pipe at 1M
rows instead of 207 MB) and sends Arrow IPC streams. PostgreSQL's driver is a network client
and runs in this process.

One moment of the data. ``load_results`` reads every table in one read transaction of the store's
own connection; the ADBC connections are others, and are made to see that same moment:

* PostgreSQL: the store's transaction (``REPEATABLE READ``) exports its snapshot
  (``pg_export_snapshot()``) and the ADBC connection's transaction adopts it
  (``SET TRANSACTION SNAPSHOT``): the same snapshot, exactly.
* SQLite: the reading process opens its read transactions first, then the store's connection opens
  its own; ``PRAGMA data_version`` read by the store's connection before the first and inside the
  second is unchanged only if no other connection committed in between, so all of them see the
  same commit. When a commit fell in that window (the server commits its steps every 200 ms; the
  window is a millisecond or so), the store's own connection reads the steps (the driver path):
  still one moment, only slower.

SQLite's ADBC driver infers each column's type from the values of the first batch of rows and
fails when a later batch disagrees (a NULL-first column is typed int64, then meets a text). The
whole result is therefore read as one batch (``adbc.sqlite.query.batch_rows``: also the fastest,
2.0 s against 2.4-2.6 s in batches of 1,024 for 1M rows), in which the driver widens a column's
type as it goes; and every column's Arrow type is checked before use (a text column all NULL is
None throughout, whatever its inferred type).

The driver path (``sqlite3`` / psycopg row tuples) is kept: it is used when the ADBC packages
cannot be imported (an environment without their wheels), when ``MUG_ADBC=0`` is set (an escape
hatch, should a driver misbehave on some database), when the ADBC connection cannot be made, or
when a column comes back with a type not expected; a failure is logged (a URL's password hidden),
never raised.

Measured (1M two-player step rows as ``benchmarks/store.py`` writes them, this 2-core machine,
2026-12-06) while other engineers' tests and browsers ran on it, so wall times are inflated and
noisy; the load average (1 min) is given with each figure:

* parts of it, at load ~1.2: the ADBC read of the steps query in this process 2.0 s in one batch,
  against ``fetchall`` 4.6 s; the eight text columns coded by Arrow 0.4-0.5 s; the key sort 0.13 s;
  two rowid ranges read at once 1.4 s instead of 2.1 s (the same CPU time);
* ``load_results``, in-process ADBC (the first design, unsafe, see above) at load ~2.5: 3.5 s
  against 7.9 s through the driver, CPU 3.2 s against 7.2 s;
* ``load_results`` as built, ``python -m benchmarks --only store`` (04:33-04:37 UTC):
  SQLite 3.5 s at load 5.1 (this process 0.7 s CPU, the reading process 3.8 s: ~0.8 s of it its
  imports) against 10.3 s / 8.1 s CPU through the driver; PostgreSQL 3.8 s at load 7.9 (2.8 s
  CPU here) against 14.4 s / 5.7 s CPU. An earlier run at load 7.0 / 4.3: SQLite 10.3 s (driver
  22.6 s), PostgreSQL 2.8 s (driver 5.3 s): on a machine whose two cores are taken, the reading
  process waits its turn. A third run (04:57-05:01 UTC, load 6.1 / 9.5): SQLite 7.8 s (driver
  14.6 s), PostgreSQL 11.4 s (driver 18.9 s). CPU time is the steadier figure: SQLite 0.7-0.9 s
  here + 3.8-4.0 s in the reading process against 7.0-8.1 s through the driver; PostgreSQL
  2.8-3.1 s against 4.4-5.7 s (plus the server's work in both). So the 5 s goal holds while the
  machine has a core to spare, not when others take both. ``player_steps`` on first read is not
  slower (3.0-3.7 s on SQLite; the same CPU time, ~3 s, whichever path built the columns).

Whether ADBC is a core dependency: yes (``adbc-driver-manager``, ``adbc-driver-sqlite`` and
``pyarrow`` are in ``dependencies``; ``adbc-driver-postgresql`` in the ``cluster`` extra beside
psycopg): with it the default ``results()`` on 1M steps meets the 5 s goal on SQLite, without it it
does not, and a researcher gets it with a plain ``pip install``. (pyarrow is a large wheel, but
it is also what pandas uses for its string columns when present, and the Parquet export's.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from .backends import Database
from .step_frames import STEP_NUMBER_COLUMNS, STEP_QUERY_COLUMNS, STEP_TEXT_COLUMNS, StepColumns, key_order

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("mug.data")

__all__ = ["ENV_SWITCH", "StepsReader", "adbc_enabled", "step_columns"]

#: Set to ``0`` (or ``false``/``no``/``off``) to read results through the Python drivers only.
ENV_SWITCH = "MUG_ADBC"
#: The reading process of a SQLite store (see there why it is a process).
_CHILD = Path(__file__).with_name("_adbc_sqlite_child.py")
#: SQLite: fewer step rows than this are read by the Python driver. Starting the reading process
#: costs ~0.4-0.8 s (its imports); the driver reads ~8 us a row: below ~100k rows it is the faster.
SQLITE_MIN_ROWS = 100_000
#: SQLite: how many rowid ranges (connections, threads) the steps are read in, at most.
SQLITE_PARTS = max(1, min(2, os.cpu_count() or 1))
#: SQLite: a table spanning fewer rowids is read in one part.
_SQLITE_PART_MIN_ROWS = 100_000
#: Rows per Arrow batch of SQLite's ADBC driver: the whole result as one batch (see the module docstring).
_SQLITE_BATCH_ROWS = 1 << 30


def adbc_enabled() -> bool:
    """Whether results may be read through ADBC: yes unless ``MUG_ADBC`` says 0 (false, no, off).

    Raises ValueError for a value that is neither yes nor no, naming it.
    """
    value = os.environ.get(ENV_SWITCH, "").strip().lower()
    if value in ("", "1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(
        f"{ENV_SWITCH}={os.environ[ENV_SWITCH]!r}: expected 0 (read results through the Python drivers) "
        "or 1 (through ADBC when installed, the default)"
    )


def _secrets(url: str) -> list[str]:
    """The password in a PostgreSQL URL (as written and decoded; in its user part or its query)."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query) if key == "password" and value]
    return [s for secret in found for s in {secret, unquote(secret)}]


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL's password hidden wherever it appears."""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


class StepsReader:
    """Reads the steps query as Arrow through ADBC, at the moment of the store connection's snapshot.

    Use: :meth:`open`; :meth:`before_snapshot` just before the store's connection opens its
    snapshot; :meth:`join_snapshot` inside it, after its first read; :meth:`read`; :meth:`close`
    (always: it ends the reader's connections and, on SQLite, its process).
    """

    def __init__(self, name: str, url: str = "") -> None:
        self._name = name
        self._url = url

    @classmethod
    def open(cls, db: Database) -> StepsReader | None:
        """A reader for ``db``'s database, or None when ADBC is off, not installed, or cannot connect."""
        if not adbc_enabled() or db.dialect not in ("sqlite", "postgresql"):
            return None
        try:
            import pyarrow  # noqa: F401 (what the driver's results are)

            if db.dialect == "sqlite":
                import adbc_driver_sqlite.dbapi  # noqa: F401 (used by the reading process; its SQLite is not loaded here)
            else:
                import adbc_driver_postgresql.dbapi  # noqa: F401
        except ImportError as exc:
            log.debug("reading results through the Python driver: ADBC is not installed (%s)", exc)
            return None
        if db.dialect == "sqlite":
            try:  # (outside any transaction; the rowid span bounds the row count, read from the index's ends)
                low, high = db.execute("SELECT min(rowid), max(rowid) FROM steps").fetchone()
            except Exception:  # (no MUG store: the store's connection says so, clearly, next)
                return None
            if low is None or high - low + 1 < SQLITE_MIN_ROWS:
                return None
            return _SQLiteSteps.start(db)
        return _PostgresSteps.connect(db)

    def before_snapshot(self, db: Database) -> None:
        """Called just before ``db`` opens its read snapshot."""

    def join_snapshot(self, db: Database) -> bool:
        """Inside ``db``'s snapshot (after its first read): make this reader see the same moment;
        False (and nothing to read here) when that cannot be had."""
        raise NotImplementedError

    def read(self, sql: str) -> pa.Table | None:
        """The steps query's result as an Arrow table, its column types checked; None if the read
        failed or a column's type is not what the frames are built from (then read them the other way).

        ``sql`` ends in its ``WHERE`` clause (on SQLite each part appends its rowid range to it).
        """
        raise NotImplementedError

    def close(self) -> None:
        """End the reader's transactions and connections (and its process)."""

    def _failed(self, what: str, exc: BaseException | str) -> None:
        log.warning(
            "reading results through the Python driver: ADBC %s of %s (%s)",
            what, self._name, _scrub(" ".join(str(exc).split()), self._url) or type(exc).__name__,
        )  # fmt: skip


class _PostgresSteps(StepsReader):
    """PostgreSQL: one ADBC connection in this process, in a transaction that adopts the store
    connection's exported snapshot."""

    def __init__(self, name: str, url: str, conn: Any) -> None:
        super().__init__(name, url)
        self._conn = conn

    @classmethod
    def connect(cls, db: Database) -> StepsReader | None:
        import adbc_driver_postgresql.dbapi as driver

        url = str(db.url)  # type: ignore[attr-defined]
        try:
            conn = driver.connect(url, autocommit=True)
        except Exception as exc:
            cls(db.name, url, None)._failed("could not connect", exc)
            return None
        return cls(db.name, url, conn)

    def join_snapshot(self, db: Database) -> bool:
        try:
            snapshot = db.execute("SELECT pg_export_snapshot()").fetchone()[0]
            with self._conn.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return True
        except Exception as exc:
            self._failed("could not share the store's snapshot", exc)
            return False

    def read(self, sql: str) -> pa.Table | None:
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(sql)
                return _checked(cursor.fetch_arrow_table())
        except Exception as exc:
            self._failed("could not read the steps", exc)
            return None

    def close(self) -> None:
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("ROLLBACK")
        except Exception:  # (nothing was written; closing ends the transaction anyway)
            pass
        finally:
            self._conn.close()


class _SQLiteSteps(StepsReader):
    """SQLite: the ADBC driver in a process of its own (``_adbc_sqlite_child.py``: two copies of
    SQLite must not open one file in one process), pinned to a read transaction before the store
    connection opens its own, the two compared with ``PRAGMA data_version``."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(name)
        self._proc = proc
        self._data_version: Any = None
        self._pin_error: BaseException | None = None

    @classmethod
    def start(cls, db: Database) -> StepsReader | None:
        uri = db.path.resolve().as_uri() + "?mode=ro"  # type: ignore[attr-defined]
        argv = [
            sys.executable,
            str(_CHILD),
            uri,
            str(SQLITE_PARTS),
            str(_SQLITE_PART_MIN_ROWS),
            str(_SQLITE_BATCH_ROWS),
        ]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as exc:
            cls(db.name, None)._failed("could not start its reading process", exc)  # type: ignore[arg-type]
            return None
        return cls(db.name, proc)

    def _ask(self, command: str) -> str:
        """Send a command; the answer's first line (raises RuntimeError for an error or no answer)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command.encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline().decode().strip()
        if line.startswith("error "):
            raise RuntimeError(json.loads(line[len("error ") :]))
        if not line:
            raise RuntimeError(f"its reading process ended (exit code {self._proc.poll()})")
        return line

    def before_snapshot(self, db: Database) -> None:
        try:
            self._data_version = db.execute("PRAGMA data_version").fetchone()[0]
            self._ask("pin")
        except Exception as exc:  # (said in join_snapshot: a file that is no MUG store fails there first, clearly)
            self._pin_error = exc
            self._data_version = None

    def join_snapshot(self, db: Database) -> bool:
        if self._pin_error is not None:
            self._failed("could not open a read transaction", self._pin_error)
            return False
        same = db.execute("PRAGMA data_version").fetchone()[0] == self._data_version
        if not same:
            log.debug("reading the steps through the Python driver: a commit fell between the two snapshots")
        return bool(same)

    def read(self, sql: str) -> pa.Table | None:
        import pyarrow as pa

        try:
            header = self._ask("read " + json.dumps(sql))
            if not header.startswith("parts "):
                raise RuntimeError(f"unexpected answer {header[:80]!r}")
            assert self._proc.stdout is not None
            tables = []
            for _ in range(int(header.split()[1])):
                (size,) = struct.unpack("<Q", self._proc.stdout.read(8))
                blob = self._proc.stdout.read(size)
                if len(blob) != size:
                    raise RuntimeError("its reading process ended mid-answer")
                tables.append(_checked(pa.ipc.open_stream(pa.py_buffer(blob)).read_all()))
            return _checked(pa.concat_tables(tables)) if len(tables) > 1 else tables[0]
        except Exception as exc:
            self._failed("could not read the steps", exc)
            return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # (end of input: the process closes its connections and ends)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


#: The Arrow type of each number column (SQLite and PostgreSQL alike: INTEGER/BIGINT, REAL/DOUBLE PRECISION).
_NUMBER_TYPES = {"episode": "int64", "step": "int64", "t": "double", "terminated": "int64", "truncated": "int64"}


def _text_type(kind: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _checked(table: pa.Table) -> pa.Table:
    """``table`` with one type per column, or TypeError when a column is not what
    :func:`step_columns` takes: texts as strings, dictionary-encoded or not (or all NULL, whatever
    their type), numbers as int64/float64 without NULLs. Parts of a SQLite read inferred their
    types apart: a text column all NULL in one part becomes NULL strings, so the parts concatenate."""
    import pyarrow as pa

    if table.column_names != list(STEP_QUERY_COLUMNS):
        raise TypeError(f"the steps query gave the columns {table.column_names}, expected {list(STEP_QUERY_COLUMNS)}")
    columns = []
    for name in STEP_QUERY_COLUMNS:
        column = table.column(name)
        if name in STEP_TEXT_COLUMNS:
            if column.null_count == len(column):
                column = pa.chunked_array([pa.nulls(len(column), pa.dictionary(pa.int32(), pa.string()))])
            elif not _text_type(column.type):
                raise TypeError(f"steps.{name} came back as {column.type}, not text")
        elif str(column.type) != _NUMBER_TYPES[name] or column.null_count:
            raise TypeError(
                f"steps.{name} came back as {column.type} with {column.null_count} NULLs, not {_NUMBER_TYPES[name]}"
            )
        columns.append(column)
    return pa.table(columns, names=list(STEP_QUERY_COLUMNS))


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """A text column as (codes in first-appearance order, distinct values), None last (as
    :meth:`mug.data.step_frames.Coded.factorize` codes it).

    Chunks may be plain strings (encoded here, by Arrow) or dictionary-encoded already (by SQLite's
    reading process, one dictionary per part): each chunk's distinct values are numbered into one
    list in the order they first appear, chunk after chunk, which is the rows' first-appearance order.
    """
    import pyarrow as pa

    values: list[Any] = []
    number: dict[Any, int] = {}
    pieces = []
    for chunk in column.chunks:
        if chunk.null_count == len(chunk):
            pieces.append(np.full(len(chunk), -1, dtype=np.intp))
            continue
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        ids = []
        for value in chunk.dictionary.to_pylist():
            if value not in number:
                number[value] = len(values)
                values.append(value)
            ids.append(number[value])
        indices = chunk.indices
        local = (
            indices.fill_null(0).to_numpy().astype(np.intp)
            if indices.null_count
            else indices.to_numpy().astype(np.intp)
        )
        codes = np.asarray(ids, dtype=np.intp)[local]
        if indices.null_count:
            codes[np.asarray(indices.is_null())] = -1
        pieces.append(codes)
    codes = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.intp)
    missing = codes < 0
    if missing.any():
        codes[missing] = len(values)
        values.append(None)
    return codes, values


def _reordered(codes: np.ndarray, values: list[Any], order: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """The codes of rows taken in ``order``, numbered again by first appearance (None kept last)."""
    import pyarrow as pa

    taken = codes[order]
    none = len(values) - 1 if values and values[-1] is None else -1
    recoded = pa.array(taken, mask=(taken == none) if none >= 0 else None).dictionary_encode()
    firsts = recoded.dictionary.to_numpy()
    new_values = [values[k] for k in firsts]
    indices = recoded.indices
    if indices.null_count:
        indices = indices.fill_null(len(new_values))
        new_values.append(None)
    return indices.to_numpy().astype(np.intp), new_values


def step_columns(table: pa.Table, *, sort: bool = True) -> StepColumns:
    """:class:`StepColumns` from the steps query read as Arrow (checked by :meth:`StepsReader.read`);
    ``sort``: in (game_id, episode, step) order, as the driver path sorts them."""
    n = table.num_rows
    if not n:
        return StepColumns([], sort=sort)
    numbers = {}
    for name, dtype in STEP_NUMBER_COLUMNS.items():
        values = table.column(name).to_numpy()
        # (a copy: Arrow's buffers are read-only, the frames' columns are the user's to change)
        numbers[name] = values != 0 if dtype is bool else np.array(values, dtype=dtype)
    texts = {name: _encode(table.column(name)) for name in STEP_TEXT_COLUMNS}
    if sort:
        order = key_order(*texts["game_id"], numbers["episode"], numbers["step"])
        if not np.array_equal(order, np.arange(n)):
            numbers = {name: values[order] for name, values in numbers.items()}
            texts = {name: _reordered(codes, values, order) for name, (codes, values) in texts.items()}
    return StepColumns.from_columns(n, texts, numbers)
