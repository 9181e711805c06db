"""The experiment's store: one implementation of every write, on SQLite or PostgreSQL.

Where the data goes is a location: a data folder (the embedded default, ``<folder>/mug.sqlite3``
in WAL mode) or a ``postgresql://`` URL (many server processes sharing one experiment). What differs
between the two is behind `mug.data.backends`; the methods below are written once. Written by the
server (from its own thread) and read concurrently by :func:`mug.data.load_results` (a notebook
kernel, a CLI, another process).

Guarantees, on both backends:

* **Committed before return.** Every write method commits its transaction
  before it returns; the server acknowledges to a client only after that.
* **Atomic.** Every write method is one transaction: a refused record (bad
  field, non-JSON-able value) leaves the database exactly as it was.
* **Idempotent where it matters.** Steps on ``(game_id, episode, step)``
  (``(game_id, episode, step, participant_id)`` per peer of a peer-to-peer game),
  episodes on ``(game_id, episode)``, forms on ``(participant_id, scene_id)``,
  client records on ``(participant_id, seq)``; participants are created once;
  a reload re-entering the open scene does not add a visit. Inserts say
  ``ON CONFLICT``, so a record written by two processes at once is stored once.
* **Safe read-modify-writes.** On SQLite a write transaction holds the whole database; on
  PostgreSQL a method that reads before it writes locks what it read (the participant's row, or a
  key such as a game) until it commits, so two processes doing it at once run one after the other.
* **Thread-safe.** One connection guarded by a lock; readers use their own
  connections and never block the writer (SQLite WAL, PostgreSQL MVCC).

Durability: on SQLite, with the default ``synchronous="NORMAL"`` a committed transaction
survives the process crashing; a power loss or OS crash may lose the last
transactions before the next WAL checkpoint. Pass ``synchronous="FULL"`` to
fsync on every commit (slower). On PostgreSQL, what the server's settings say
(by default a commit is flushed to its WAL before it returns).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import client_records, parity, recovery
from . import records as rec
from ._json import RecordError, dumps, loads
from .backends import Database, parse_location
from .participants import ParticipantRecord, ParticipantWrites
from .schema import DB_FILENAME, METADATA_FILENAME, MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    from mug.experiment import Experiment

__all__ = ["ParticipantRecord", "Store", "open_store"]


_STEP_INSERT = client_records.STEP_INSERT
_EPISODE_INSERT = client_records.EPISODE_INSERT
_EVENT_INSERT = client_records.EVENT_INSERT
_FORM_UPSERT = client_records.FORM_UPSERT


def open_store(source: Experiment | str | os.PathLike[str], **options: Any) -> Store:
    """The store of an experiment (its ``database``, else its data folder), or of a folder or URL.

    What the server, its game processes and ``mug serve --database`` open; ``options`` go to :class:`Store`.
    """
    if isinstance(source, (str, os.PathLike)):
        return Store(source, **options)
    database = getattr(source, "database", None)
    return Store(source.data_path if database is None else database, **options)


class Store(ParticipantWrites):
    """The experiment's store (see the module docstring for guarantees).

    Args:
        location: the experiment's data folder (created if missing; the database is
            ``location / "mug.sqlite3"``), or a ``postgresql://user@host:5432/dbname`` URL
            (the database must exist; MUG makes its tables).
        synchronous: SQLite ``synchronous`` setting, ``"NORMAL"`` (default,
            safe against process crashes) or ``"FULL"`` (also against power loss).
        timeout: seconds to wait for a lock held by another process (SQLite), or to connect (PostgreSQL).

    A bad location raises ``ValueError`` naming its problem; a PostgreSQL server that cannot be
    reached raises ``ConnectionError`` naming the URL. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        timeout: float = 10.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        where = parse_location(location, "store location")
        self._lock = threading.RLock()
        db: Database
        if isinstance(where, Path):
            from .backends.sqlite import SQLiteDatabase

            self._directory: Path | None = where
            self._path: Path | None = where / DB_FILENAME
            db = SQLiteDatabase(self._path, timeout=timeout, synchronous=synchronous)
        else:
            from .backends.postgres import PostgresDatabase

            self._directory = self._path = None
            db = PostgresDatabase(where, timeout=timeout)
        self._location: str | Path = where
        try:
            _bring_schema_up_to_date(db)
        except BaseException:
            db.close()  # (rolls back a transaction left open)
            raise
        self._db: Database | None = db
        self._name = db.name

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def location(self) -> str | Path:
        """Where the data is: the data folder (SQLite) or the database URL (PostgreSQL); what
        :func:`mug.load_results` and ``mug export`` take."""
        return self._location

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return "sqlite" if self._path is not None else "postgresql"

    @property
    def directory(self) -> Path | None:
        """The experiment's data folder (None for a PostgreSQL store)."""
        return self._directory

    @property
    def path(self) -> Path | None:
        """The SQLite database file (None for a PostgreSQL store)."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._db is None

    def close(self) -> None:
        """Close the connection (idempotent). Later calls raise ``RuntimeError``."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<mug.data.Store {self._name!r} ({state})>"

    def _connection(self) -> Database:
        if self._db is None:
            raise RuntimeError(f"the store at {self._name} is closed")
        return self._db

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction, committed before the ``with`` block is left."""
        with self._lock, self._connection().transaction() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Database]:
        with self._lock:
            yield self._connection()

    # -- records ------------------------------------------------------------------------------

    def add_form(self, participant_id: str, scene_id: str, answers: Mapping[str, Any], t: float) -> None:
        """Store a form submission; a resubmission of the same form replaces it.

        One row per ``(participant_id, scene_id)``. A later submission (by ``t``)
        replaces the answers and ``submitted_at``; an older one arriving late
        does not. The table also keeps ``first_submitted_at`` and the number of
        ``submissions`` received.
        """
        params = rec.form_params(participant_id, scene_id, dict(answers), t, "form")
        with self._write() as conn:
            conn.execute(_FORM_UPSERT, params)

    def forms_of(self, participant_id: str) -> dict[str, dict[str, Any]]:
        """A participant's latest form answers by scene id (what a matchmaker may match on)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT scene_id, answers FROM forms WHERE participant_id = ? ORDER BY first_submitted_at",
                (participant_id,),
            ).fetchall()
        return {scene_id: loads(answers) for scene_id, answers in rows}

    def add_steps(self, rows: list[dict[str, Any]]) -> int:
        """Store steps in one transaction; returns how many were new.

        Rows whose ``(game_id, episode, step)`` is already stored are ignored.
        An invalid row refuses the whole batch (:class:`RecordError` naming it).
        """
        return self.add_encoded_steps([rec.step_params(row, f"steps[{i}]") for i, row in enumerate(rows)])

    @staticmethod
    def encode_step(row: dict[str, Any], *, jsonable: bool = False) -> tuple[Any, ...]:
        """Validate and encode one step row for :meth:`add_encoded_steps` (raises RecordError).

        ``jsonable=True`` is for rows the server builds itself, every field present and every
        payload already through `mug.env.to_jsonable`: they are encoded without the checks.
        """
        if jsonable:
            return rec.jsonable_step_params(row)
        return rec.step_params(row, "step")

    def add_encoded_steps(self, params: list[tuple[Any, ...]]) -> int:
        """Store steps already encoded with :meth:`encode_step`, in one transaction.

        Splitting the two lets a caller do the Python work where it is cheap (as rows arrive) and
        hand only the database work to a writer thread.
        """
        if not params:
            return 0
        with self._write() as conn:
            return conn.insert_many(_STEP_INSERT, params)

    def add_episode(self, row: dict[str, Any]) -> None:
        """Store an episode summary (replacing any row with the same ``(game_id, episode)``)."""
        params = rec.episode_params(row, "episode")
        with self._write() as conn:
            conn.execute(_EPISODE_INSERT, params)

    def start_game(
        self,
        game_id: str,
        scene_id: str,
        mode: str,
        players: Mapping[str, str],
        seed: int | None,
        t: float,
        host: str | None = None,
    ) -> None:
        """Record a game's start. ``players`` maps agent id -> participant id or policy name.

        Starting a known ``game_id`` again updates scene, mode, players, seed and host
        but keeps the first ``started_at``. The game is linked to the latest saved
        config (``metadata_id``, see :meth:`write_metadata`), the one a replay uses.
        ``host`` names the server process that runs the game when several share the database
        (see :meth:`close_open_games`); None for a single process.
        """
        rec.text(game_id, "game_id")
        rec.text(scene_id, "scene_id", allow_empty=True)
        rec.text(mode, "mode", allow_empty=True)
        rec.mapping(dict(players), "players")
        for agent, player in players.items():
            rec.text(player, f"players.{agent}")
        rec.integer(seed, "seed", allow_none=True)
        rec.text(host, "host", allow_none=True)
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO games (game_id, scene_id, mode, players, seed, started_at, metadata_id, host) "
                "VALUES (?, ?, ?, ?, ?, ?, (SELECT MAX(metadata_id) FROM metadata), ?) "
                "ON CONFLICT (game_id) DO UPDATE SET "
                "scene_id = excluded.scene_id, mode = excluded.mode, players = excluded.players, "
                "seed = excluded.seed, metadata_id = COALESCE(games.metadata_id, excluded.metadata_id), "
                "host = COALESCE(excluded.host, games.host)",
                (game_id, scene_id, mode, dumps(dict(players), "players"), seed, ts, host),
            )

    def end_game(self, game_id: str, outcome: str, t: float) -> None:
        """Record a game's end and outcome. Raises ``KeyError`` for an unknown game."""
        rec.text(outcome, "outcome", allow_empty=True)
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            cur = conn.execute("UPDATE games SET ended_at = ?, outcome = ? WHERE game_id = ?", (ts, outcome, game_id))
            if cur.rowcount == 0:
                raise KeyError(f"unknown game {game_id!r}")

    def close_open_games(self, t: float, host: str | None = None) -> list[dict[str, Any]]:
        """End every server-run game still open (the server stopped without ending it) as ``interrupted``.

        Called when a server starts on an existing store: a game open then was cut off by a crash.
        With ``host``, only the games that server process ran (``start_game(..., host=)``): other
        processes sharing the database go on with theirs. Without, every open game.
        Each gets ``ended_at``/``outcome``; an episode left without a record gets a partial one
        (outcome ``interrupted``, its committed steps and returns). Games run in browsers (client-side
        and peer-to-peer) are left alone: their pages go on and end them. Returns, per closed game, its
        id, scene, players and the last committed ``(episode, step)``.
        """
        ts = rec.timestamp(t, "t")
        with self._write() as conn:
            return recovery.close_open_games(conn, ts, host)

    def open_game_hosts(self) -> set[str]:
        """The servers (``start_game(..., host=)``) that have server-run games open: whose games a
        server that stopped without ending them left behind (`mug.server.cluster.members`)."""
        with self._read() as conn:
            return recovery.open_game_hosts(conn)

    def game_progress(self, game_id: str, participant_id: str | None = None) -> dict[str, Any]:
        """What the store holds of a game: its episode records (number, outcome, steps counted, steps stored)
        and its step count.

        For a peer-to-peer game and a `participant_id`, what that peer sent (its ``peer_episodes`` and
        ``peer_steps``), so each peer's record of the game can be verified on its own; each episode then
        also has the peer's ``digest`` (None until all its steps are stored). Otherwise the canonical
        rows, each episode with its ``parity`` (None for a game that is not peer-to-peer).
        """
        with self._read() as conn:
            if participant_id is not None and parity.is_p2p(conn, game_id):
                return parity.peer_progress(conn, game_id, participant_id)
            episodes = conn.execute(
                "SELECT episode, outcome, num_steps, (SELECT COUNT(*) FROM steps s WHERE s.game_id = e.game_id "
                "AND s.episode = e.episode), parity FROM episodes e WHERE game_id = ? ORDER BY episode",
                (game_id,),
            ).fetchall()
            steps = conn.execute("SELECT COUNT(*) FROM steps WHERE game_id = ?", (game_id,)).fetchone()[0]
        return {
            "episodes": [
                {"episode": e, "outcome": o, "num_steps": n, "stored_steps": k, "parity": p}
                for e, o, n, k, p in episodes
            ],
            "steps": steps,
        }

    def game_parity(self, game_id: str) -> list[dict[str, Any]]:
        """Per episode of a peer-to-peer game, in order: ``{episode, parity, digests: {participant: digest}}``.

        ``parity`` is ``match``, ``mismatch`` or ``one-sided`` (see `mug.data.parity`); a digest is None
        while that peer's steps of the episode are still arriving. Empty for a game with no episode record.
        """
        with self._read() as conn:
            return parity.game_parity(conn, game_id)

    def add_event(
        self, participant_id: str | None, scene_id: str | None, kind: str, data: Mapping[str, Any], t: float
    ) -> None:
        """Log something notable (socket errors, disconnects, env exceptions, focus changes...)."""
        params = rec.event_params(participant_id, scene_id, kind, dict(data), t, "event")
        with self._write() as conn:
            conn.execute(_EVENT_INSERT, params)

    def add_events(self, events: list[tuple[str | None, str | None, str, Mapping[str, Any], float]]) -> None:
        """Log several events in one transaction: ``(participant_id, scene_id, kind, data, t)`` each.

        An invalid event raises :class:`RecordError` naming its index, and none is written.
        """
        params = [rec.event_params(p, s, k, dict(d), t, f"events[{i}]") for i, (p, s, k, d, t) in enumerate(events)]
        with self._write() as conn:
            conn.executemany(_EVENT_INSERT, params)

    # -- client-side records ------------------------------------------------------------------

    def add_client_records(self, participant_id: str, records: list[dict[str, Any]], *, source: str = "") -> list[int]:
        """Commit a batch from a participant's browser outbox; returns the seqs to acknowledge.

        Each record is ``{"seq": int, "kind": "step"|"episode"|"event"|"form",
        "payload": dict}``; a payload has the fields of :meth:`add_steps` (one
        row), :meth:`add_episode`, :meth:`add_event` or :meth:`add_form`
        (``scene_id``, ``answers``, ``t``). ``participant_id`` may be left out
        of step, event and form payloads (it is filled in); if given it must be
        this participant. ``source`` names the browser storage whose outbox
        numbered the records (see :mod:`mug.data.client_records`).

        Seqs already committed from this source are skipped (a resend); new
        records are written in one transaction. The result lists every seq of
        the batch (new and already present), in first-seen order. Any invalid
        record, a different record under a committed seq, or a step already
        stored raises :class:`RecordError` (a ``ValueError``) naming its seq,
        and nothing of the batch is committed.
        """
        rec.text(participant_id, "participant_id")
        rec.text(source, "source", allow_empty=True)
        if not isinstance(records, list):
            raise RecordError(f"records: expected a list, got {type(records).__name__}")
        prepared: dict[int, client_records.Prepared] = {}
        for i, record in enumerate(records):
            seq, item = client_records.prepare(participant_id, record, i)
            if prepared.setdefault(seq, item)[2] != item[2]:
                raise RecordError(f"client record seq={seq}: the batch holds two different records under it")
        if not prepared:
            return []
        with self._write() as conn:
            return client_records.commit(conn, participant_id, source, prepared, time.time())

    def commit_client_records(
        self, participant_id: str, records: list[Any], *, source: str, server_time: float | None = None
    ) -> tuple[list[int], list[tuple[int | None, str]]]:
        """:meth:`add_client_records` record by record, in one transaction: (acknowledged seqs, refusals).

        What the server uses: a refused record (see `mug.data.client_records.commit_each`) does
        not hold back the rest of its batch. With `server_time`, events are stored at that time
        (the page's stays in ``data.page_t``).
        """
        rec.text(participant_id, "participant_id")
        rec.text(source, "source", allow_empty=True)
        with self._write() as conn:
            return client_records.commit_each(conn, participant_id, source, records, time.time(), server_time)

    # -- metadata and monitoring --------------------------------------------------------------

    def write_metadata(self, config: Mapping[str, Any], versions: Mapping[str, Any]) -> None:
        """Save the experiment's config and versions beside the data.

        Appends them to the ``metadata`` table, so the database alone is self-describing (what a
        PostgreSQL store's readers use), and on SQLite also writes ``experiment.json``
        (``config``, ``versions``, ``written_at``) in the data folder atomically (temporary
        file, fsync, rename).
        """
        config_text = dumps(dict(config), "config")
        versions_text = dumps(dict(versions), "versions")
        written_at = time.time()
        document = {"config": loads(config_text), "versions": loads(versions_text), "written_at": written_at}
        with self._write() as conn:
            conn.execute(
                "INSERT INTO metadata (written_at, config, versions) VALUES (?, ?, ?)",
                (written_at, config_text, versions_text),
            )
            if self._directory is not None:
                _atomic_write_text(
                    self._directory / METADATA_FILENAME, json.dumps(document, indent=2, allow_nan=False) + "\n"
                )

    def counts(self) -> dict[str, int]:
        """Number of rows in each table."""
        with self._read() as conn:
            return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}


def _bring_schema_up_to_date(db: Database) -> None:
    """Make the tables of a new database, or migrate an older one, in one transaction.

    The version is read inside the transaction that upgrades the database (holding a lock), so a
    second process opening an old database at the same moment waits, then finds it done (rather
    than running the same migration again and failing on it).
    """
    with db.transaction():
        db.lock("mug_schema")
        version = db.schema_version()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{db.name} has schema version {version}, newer than this MUG "
                f"({SCHEMA_VERSION}); upgrade MUG to write to it"
            )
        # An older database is brought up to date first, then any missing table is made; a new
        # one gets the current schema at once.
        steps = "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION)) if version else ""
        for statement in _statements(db.schema_sql(f"{steps}\n{SCHEMA_SQL}")):
            db.execute(statement)
        db.set_schema_version(SCHEMA_VERSION)


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one by one (``executescript`` would commit the open transaction)."""
    import sqlite3  # (its parser tells where a statement ends; the same for PostgreSQL's schema text)

    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):  # (not a ';' inside a string literal)
            if _code(pending[:-1]):
                yield pending
            pending = ""
    if _code(pending[:-1]):
        raise ValueError(f"an SQL statement of the schema does not end with ';': {pending.strip()[:80]!r}")


def _code(sql: str) -> str:
    """``sql`` without its ``--`` comment lines and surrounding space: empty when there is no statement."""
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--")).strip()


def _atomic_write_text(path: Path, content: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
