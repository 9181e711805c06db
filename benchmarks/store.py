"""The store: step rows ingested per second and 1M step rows -> ``results().steps``, SQLite and PostgreSQL.

    python -m benchmarks --only store

What is measured is the server's own write path: a game's rows are encoded as they arrive
(`Store.encode_step(row, jsonable=True)`, as `mug.server.games.recorder.StepRecorder` does) and
committed in batches by `Store.add_encoded_steps` (one transaction per batch; the recorder commits
every 200 ms, i.e. ~1,200 rows at 200 two-player games at 30 fps). Rows look like a two-player
server-run game's (Overcooked-like): two agents' discrete actions, float rewards, small infos, no
observations (the default). Goals (issue 15): >= 100k rows/s on SQLite; 1M step rows ->
``load_results(...).steps`` in < 5 s (``player_steps`` is built on first read and timed apart:
``player_steps_first_read_s``). ``load_results`` reads the steps through ADBC when installed
(``steps_read``; mug.data.arrow_read: on SQLite in a reading process of its own, whose CPU time is
``load_results_child_cpu_s``), then the same read through the Python drivers (``MUG_ADBC=0``:
``driver_load_results_s``), what a researcher without the ADBC packages gets; ``load_average`` is
the machine's 1-minute load when the read began (other programs' share of the 2 cores).

PostgreSQL runs as a throwaway instance started here (tests/postgres.py: ``fsync=off``, so the
figure is the database's and the driver's work, not a disk's flush; a production server with
``fsync=on`` and ``synchronous_commit=on`` adds one WAL flush per batch). Both are on this machine,
over loopback for PostgreSQL.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mug.data import Store, arrow_read, load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.postgres import start_postgres  # noqa: E402

BATCH = 1_200  # rows per transaction: the recorder's 200 ms at 200 games x 30 fps
INGEST_ROWS = 240_000
RESULTS_ROWS = 1_000_000
STEPS_PER_EPISODE = 400


def step_row(game: int, episode: int, step: int) -> dict[str, Any]:
    """One step of a two-player server-run game, as `ServerGame._step_row` builds it."""
    return {
        "game_id": f"game-{game:05d}-7f3a9c",
        "episode": episode,
        "step": step,
        "participant_id": None,
        "scene_id": "kitchen",
        "t": 1_767_225_600.0 + game * 1000 + step / 30,
        "actions": {"agent_0": step % 6, "agent_1": (step * 7) % 6},
        "rewards": {"agent_0": 20.0 if step % 97 == 0 else 0.0, "agent_1": 0.0},
        "terminated": False,
        "truncated": step == STEPS_PER_EPISODE,
        "infos": {"agent_0": {"soups": step // 97}, "agent_1": {"soups": step // 97}},
        "observations": None,
    }


def rows(count: int, first_game: int = 0) -> list[dict[str, Any]]:
    out = []
    per_game = STEPS_PER_EPISODE * 5
    for i in range(count):
        game, rest = divmod(i, per_game)
        episode, step = divmod(rest, STEPS_PER_EPISODE)
        out.append(step_row(first_game + game, episode + 1, step + 1))
    return out


def ingest(store: Store, encoded: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Commit ``encoded`` in batches of BATCH rows; rows/s and per-batch ms."""
    batch_ms = []
    start = time.perf_counter()
    for i in range(0, len(encoded), BATCH):
        t0 = time.perf_counter()
        store.add_encoded_steps(encoded[i : i + BATCH])
        batch_ms.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    batch_ms.sort()
    return {
        "rows": len(encoded),
        "rows_per_s": round(len(encoded) / seconds),
        "batch_ms_p50": round(batch_ms[len(batch_ms) // 2], 2),
        "batch_ms_p99": round(batch_ms[int(len(batch_ms) * 0.99)], 2),
    }


def measure(location: str | Path) -> dict[str, Any]:
    """Ingest, a resend of the same rows (ignored: idempotent), then 1M rows -> results().steps."""
    made = rows(INGEST_ROWS)
    t0 = time.perf_counter()
    encoded = [Store.encode_step(row, jsonable=True) for row in made]
    encode_s = time.perf_counter() - t0
    out: dict[str, Any] = {"encode_rows_per_s": round(len(made) / encode_s)}
    with Store(location) as store:
        out["ingest"] = ingest(store, encoded)
        out["resend_same_rows"] = ingest(store, encoded[: BATCH * 20])
        assert store.counts()["steps"] == INGEST_ROWS  # (the resend added nothing)
        # Up to 1M rows, through the same path (not timed as ingest: a second, larger sample).
        more = rows(RESULTS_ROWS - INGEST_ROWS, first_game=10_000)
        encoded = [Store.encode_step(row, jsonable=True) for row in more]
        out["ingest_to_1m"] = ingest(store, encoded)
        assert store.counts()["steps"] == RESULTS_ROWS
    load_before = os.getloadavg()[0]
    t0, cpu0, child0 = time.perf_counter(), time.process_time(), _children_cpu()
    results = load_results(location)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    child_cpu = _children_cpu() - child0
    steps = results.steps
    assert len(steps) == RESULTS_ROWS
    t0 = time.perf_counter()
    player_steps = results.player_steps  # (built on first read: not part of load_results' time)
    player_steps_s = time.perf_counter() - t0
    assert len(player_steps) == 2 * RESULTS_ROWS
    out["results_1m_steps"] = {
        "load_results_s": round(seconds, 2),
        # CPU time of this process: less sensitive than wall time to other programs on the machine.
        "load_results_cpu_s": round(cpu, 2),
        # CPU time of the processes it started (SQLite's ADBC reading process, mug.data.arrow_read).
        "load_results_child_cpu_s": round(child_cpu, 2),
        "steps_rows": len(steps),
        "steps_columns": len(steps.columns),
        "player_steps_first_read_s": round(player_steps_s, 2),
        "goal_s": 5.0,
        # How the steps were read (mug.data.arrow_read): "adbc" unless its packages are missing.
        "steps_read": "adbc" if arrow_read.adbc_enabled() and _adbc_installed() else "driver",
        # Other programs' load on the machine (1-minute load average) when the read began.
        "load_average": round(load_before, 2),
    }
    del results, steps, player_steps
    # The same read through the Python drivers (MUG_ADBC=0): what researchers without ADBC get.
    previous = os.environ.get(arrow_read.ENV_SWITCH)
    os.environ[arrow_read.ENV_SWITCH] = "0"
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        driver_steps = load_results(location).steps
        out["results_1m_steps"]["driver_load_results_s"] = round(time.perf_counter() - t0, 2)
        out["results_1m_steps"]["driver_load_results_cpu_s"] = round(time.process_time() - cpu0, 2)
        assert len(driver_steps) == RESULTS_ROWS
    finally:
        if previous is None:
            del os.environ[arrow_read.ENV_SWITCH]
        else:
            os.environ[arrow_read.ENV_SWITCH] = previous
    return out


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _adbc_installed() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _adbc_version() -> str | None:
    try:
        import adbc_driver_manager
    except ImportError:
        return None
    return str(adbc_driver_manager.__version__)


def run() -> dict[str, Any]:
    import sqlite3

    import psycopg

    report: dict[str, Any] = {
        "batch_rows": BATCH,
        "versions": {"sqlite": sqlite3.sqlite_version, "psycopg": psycopg.__version__, "adbc": _adbc_version()},
        "goal_sqlite_rows_per_s": 100_000,
    }
    with tempfile.TemporaryDirectory(prefix="mug-bench-store-") as tmp:
        report["sqlite"] = measure(Path(tmp) / "data")
    server = start_postgres()
    try:
        url = server.create_database("bench_store")
        with psycopg.connect(url) as conn:
            report["versions"]["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        report["postgresql"] = measure(url)
    finally:
        server.stop()
    return report


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
