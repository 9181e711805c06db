"""A throwaway PostgreSQL server for tests: its own data folder, port and socket, stopped afterwards.

PostgreSQL refuses to run as root (these machines run tests as root), so ``initdb`` and ``pg_ctl`` run
as the ``postgres`` user (``runuser``) on a folder it owns; when the tests already run as another user
they run directly. ``fsync=off`` and ``--no-sync``: the instance is thrown away, durability is not
what a test of MUG measures. Measured here: initdb 0.7 s, start 0.1 s, ``CREATE DATABASE`` ~0.05 s.

Use :func:`start_postgres` (returns a :class:`Postgres` with ``url``, ``create_database()`` and
``stop()``) from any test module or benchmark; ``tests/data/conftest.py`` wraps it in a session
fixture.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Postgres", "find_bin", "running_postgres", "start_postgres"]

USER = "mug"


def find_bin(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``), newest major version first."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]), reverse=True)
    if found:
        return found[0]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise RuntimeError(f"PostgreSQL's {name} not found under /usr/lib/postgresql/*/bin (scripts/setup.sh installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Postgres:
    """A running test instance: ``url`` of its ``postgres`` database, databases made by :meth:`create_database`."""

    directory: Path
    port: int
    databases: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL of the instance's ``postgres`` database (user ``mug``, no password)."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        """The URL of one database of the instance."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URL (a test's own, so tests never share rows)."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url_of(name)

    def restart(self) -> None:
        """Restart the server (fast shutdown: every connection to it is ended, as in an upgrade or a
        failover), on the same port; returns once it accepts connections again."""
        self._pg_ctl("restart", "-o", self._options())

    def halt(self) -> None:
        """Stop the server but keep its data, so :meth:`resume` brings the same databases back."""
        self._pg_ctl("stop")

    def resume(self) -> None:
        """Start a server :meth:`halt` stopped, on the same port; returns once it accepts connections."""
        self._pg_ctl("start", "-o", self._options())

    def _options(self) -> str:
        return _server_options(self.directory, self.port)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        argv = [find_bin("pg_ctl"), "-D", str(self.directory / "db"), "-l", str(self.directory / "log"), "-w"]
        if action != "start":
            argv += ["-m", "fast"]
        done = subprocess.run(_as_server_user([*argv, *extra, action]), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"pg_ctl {action} failed: {done.stderr.strip() or done.stdout.strip()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder; safe to call twice."""
        if self.directory.exists():
            subprocess.run(
                _as_server_user([find_bin("pg_ctl"), "-D", str(self.directory / "db"), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
            shutil.rmtree(self.directory, ignore_errors=True)


def _server_options(directory: Path, port: int) -> str:
    return f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"


def start_postgres() -> Postgres:
    """initdb a new cluster in a temporary folder and start it on a free 127.0.0.1 port.

    The caller must :meth:`Postgres.stop` it (in a ``finally`` or a fixture's teardown).
    """
    directory = Path(tempfile.mkdtemp(prefix="mug-pg-"))
    data = directory / "db"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    try:
        init = subprocess.run(
            _as_server_user(
                [find_bin("initdb"), "-D", str(data), "-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8"]
            ),
            capture_output=True,
            text=True,
        )
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        for attempt in range(5):  # (a free port may be taken between choosing it and binding it)
            port = _free_port()
            options = _server_options(directory, port)
            started = subprocess.run(
                _as_server_user(
                    [find_bin("pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "start"]
                ),
                capture_output=True,
                text=True,
            )
            if started.returncode == 0:
                return Postgres(directory, port)
            if attempt == 4:
                log = (directory / "log").read_text(errors="replace")[-2000:] if (directory / "log").exists() else ""
                raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log}")
    except BaseException:
        with contextlib.suppress(Exception):
            Postgres(directory, 0).stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server (`start_postgres`) for the ``with`` block, stopped at its end, also on an error."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
