"""Shared fixtures: a real MUG server on 127.0.0.1, Debian's Chromium driven by Playwright, and a
throwaway PostgreSQL server (started only when a test asks for it)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from postgres import Postgres, running_postgres

from mug._chromium import CHROMIUM_PATH as CHROMIUM
from mug._chromium import launch


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session; each participant gets a context of its own."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package (see README)")
    with sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL server of this test session (tests/postgres.py), stopped at its end, also when tests
    fail; each test makes a database of its own with ``create_database()``."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """The URL of a new, empty database of its own for one test."""
    return postgres_server.create_database()


@pytest.fixture
def participant(browser):
    """Factory: a fresh browser context + page per participant, closed after the test."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Factory: serve an experiment (data under tmp_path) and stop it after the test."""
    handles = []

    def start(experiment, **options):
        experiment.data_dir = tmp_path / "data"
        handle = experiment.serve(**options)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()
