"""The process that reads a SQLite store's steps through ADBC, for :mod:`mug.data.arrow_read`.

Why a process of its own: the ADBC SQLite driver carries its own copy of SQLite, and two copies
of SQLite in one process must never open the same database file. POSIX locks belong to the
process, so each copy takes the other's connections for its own: a copy that believes it is the
only one resets the WAL index other connections are reading (a test here died of SIGBUS at once;
the SQLite documentation lists this as a way to corrupt a database). The server that records the
data may run in the very process that calls ``results()`` (a notebook), so the driver runs here,
in another process, as a separate reader like any other: SQLite's multi-process locking is then
exactly what keeps it safe.

Run by path (``python _adbc_sqlite_child.py URI PARTS MIN_PART_ROWS BATCH_ROWS``), never imported
by MUG: it imports only pyarrow and the driver, so it is ready in a fraction of a second. It
connects ``PARTS`` times (read-only), then answers lines on stdin:

* ``pin``: each connection ends its transaction and opens a new one with a first read (the first
  reads the steps table's rowid span); answers ``pinned``. Every later read sees that moment.
* ``read <JSON text of the steps query, ending in its WHERE clause>``: each connection reads one
  rowid range of it on a thread of its own (the driver leaves Python's lock while it reads) and
  dictionary-encodes its text columns; answers ``parts <k>`` then, per part, its length (8 bytes,
  little-endian) and an Arrow IPC stream.

A failure answers ``error <JSON text of the message>``; end of stdin ends the process.
"""

from __future__ import annotations

import sys

# Run by path, Python puts this folder first on sys.path, where mug.data's own modules would hide
# the standard library's (its _json.py hides json's C part).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    del sys.path[0]

import json
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _pin(conns: list[Any], min_part_rows: int) -> list[tuple[int, int | None]]:
    ranges: list[tuple[int, int | None]] = [(0, None)]
    for k, conn in enumerate(conns):
        conn.rollback()  # (autocommit is off: the next read opens a new transaction, fixing what it sees)
        with conn.cursor() as cursor:
            cursor.execute("SELECT min(rowid), max(rowid) FROM steps" if k == 0 else "SELECT 1 FROM sqlite_master")
            found = cursor.fetchall()
        if k == 0 and found[0][0] is not None:
            low, high = found[0]
            parts = len(conns) if high - low >= min_part_rows else 1
            bounds = [low + (high - low + 1) * j // parts for j in range(parts)]
            ranges = list(zip(bounds, [*bounds[1:], None], strict=True))
    return ranges


def _read(conn: Any, sql: str, batch_rows: str) -> Any:
    """One part: its text columns dictionary-encoded (a code per row, each distinct text once):
    steps repeat their texts, so what goes through the pipe is ~70 MB at 1M rows instead of ~210."""
    import pyarrow as pa

    with conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": batch_rows})
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = column.combine_chunks().dictionary_encode()
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def main() -> None:
    uri, parts, min_part_rows, batch_rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    out = sys.stdout.buffer

    def answer(line: str) -> None:
        out.write(line.encode() + b"\n")
        out.flush()

    def failed(exc: BaseException) -> None:
        answer("error " + json.dumps(" ".join(str(exc).split()) or type(exc).__name__))

    try:
        import adbc_driver_sqlite.dbapi as driver
        import pyarrow as pa

        conns = [driver.connect(uri) for _ in range(max(1, parts))]
    except Exception as exc:  # (answered at the first command: the parent reads answers only)
        conns, startup = [], exc
    else:
        startup = None
    ranges: list[tuple[int, int | None]] = [(0, None)]
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if startup is not None:
            failed(startup)
            continue
        try:
            if command == "pin":
                ranges = _pin(conns, min_part_rows)
                answer("pinned")
            elif command == "read":
                sql = json.loads(argument)
                queries = [
                    sql + f" AND rowid >= {low}" + ("" if high is None else f" AND rowid < {high}")
                    for low, high in ranges
                ]
                with ThreadPoolExecutor(len(queries)) as pool:
                    tables = list(pool.map(_read, conns, queries, [batch_rows] * len(queries)))
                blobs = []
                for table in tables:
                    sink = pa.BufferOutputStream()
                    with pa.ipc.new_stream(sink, table.schema) as writer:
                        writer.write_table(table)
                    blobs.append(sink.getvalue())
                answer(f"parts {len(blobs)}")
                for blob in blobs:
                    out.write(struct.pack("<Q", blob.size))
                    out.write(memoryview(blob))
                out.flush()
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as exc:
            failed(exc)
    for conn in conns:
        conn.close()


if __name__ == "__main__":
    main()
