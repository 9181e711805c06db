"""Fixtures of the data tests: ``location`` runs a test on both backends.

A SQLite data folder, then a PostgreSQL database URL (what `mug.data.Store` and `mug.load_results`
take): ``postgres_url`` of tests/conftest.py, a fresh database of the session's throwaway
PostgreSQL, started only when a test asks for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store goes: a SQLite data folder, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "data"
    return request.getfixturevalue("postgres_url")
