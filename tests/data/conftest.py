"""Fixtures of the data tests: one throwaway PostgreSQL for the session, a fresh database per test.

``location`` runs a test on both backends: a SQLite data folder, then a PostgreSQL database URL
(what `mug.data.Store` and `mug.load_results` take). PostgreSQL starts only when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import Postgres, start_postgres

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL server of this test session (stopped at its end, also when tests fail)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """The URL of a new, empty database of its own for one test."""
    return postgres_server.create_database()


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store goes: a SQLite data folder, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "data"
    return request.getfixturevalue("postgres_url")
