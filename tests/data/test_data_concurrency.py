"""Concurrency (server thread writes while a notebook thread reads) and file handles."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mug.data import Store, export_results, load_results

BATCH = 25


def step_rows(batch: int) -> list[dict]:
    return [
        {
            "game_id": "g1",
            "episode": batch,
            "step": i,
            "participant_id": "p1",
            "scene_id": "game",
            "t": 1000.0 + batch + i / 100,
            "actions": {"agent_0": i % 4},
            "rewards": {"agent_0": 1.0},
            "terminated": i == BATCH - 1,
            "truncated": False,
            "infos": {"agent_0": {"i": i}},
        }
        for i in range(BATCH)
    ]


def open_handles(directory: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory.resolve())):
            found.append(target)
    return found


def test_reader_sees_consistent_snapshots_while_writer_writes(tmp_path: Path):
    batches = 120
    with Store(tmp_path) as store:
        store.get_or_create_participant("p1", {}, 1.0)
        errors: list[BaseException] = []
        done = threading.Event()
        first_read = threading.Event()

        def writer() -> None:
            try:
                first_read.wait(timeout=10)
                for b in range(batches):
                    assert store.add_steps(step_rows(b)) == BATCH
                    store.add_episode(
                        {
                            "game_id": "g1",
                            "episode": b,
                            "scene_id": "game",
                            "participant_ids": ["p1"],
                            "seed": b,
                            "started_at": 1000.0 + b,
                            "ended_at": 1001.0 + b,
                            "num_steps": BATCH,
                            "returns": {"agent_0": float(BATCH)},
                            "terminated": True,
                            "truncated": False,
                            "outcome": "completed",
                        }
                    )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        seen = []
        while not done.is_set() or len(seen) < 3:
            results = load_results(tmp_path)
            n = len(results.steps)
            assert n % BATCH == 0, "a reader saw half of a transaction"
            # each episode's steps are committed just before its summary
            assert n // BATCH - 1 <= len(results.episodes) <= n // BATCH
            seen.append(n)
            first_read.set()
            if done.is_set() and len(seen) >= 3:
                break
        thread.join()
        assert not errors, errors
        assert seen == sorted(seen)
        assert load_results(tmp_path).steps.shape[0] == batches * BATCH
        assert seen[0] == 0 and len(seen) >= 3


def test_many_writer_threads_share_one_store(tmp_path: Path):
    with Store(tmp_path) as store:

        def work(k: int) -> None:
            for i in range(50):
                store.add_event(f"p{k}", None, "tick", {"i": i}, float(i))
                store.add_client_records(
                    f"p{k}", [{"seq": i, "kind": "event", "payload": {"kind": "c", "t": 1.0}}]
                )

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = store.counts()
        assert counts["events"] == 4 * 50 * 2
        assert counts["client_records"] == 4 * 50


def test_close_leaves_no_file_handle(tmp_path: Path):
    store = Store(tmp_path)
    store.add_steps(step_rows(0))
    store.write_metadata({"a": 1}, {"mug": "0"})
    load_results(tmp_path)
    export_results(tmp_path, tmp_path / "out")
    assert open_handles(tmp_path)  # the store itself is still open
    store.close()
    assert open_handles(tmp_path) == []
    # and the database can be removed and recreated
    for name in ("mug.sqlite3", "mug.sqlite3-wal", "mug.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with Store(tmp_path) as again:
        assert again.counts()["steps"] == 0


def test_load_results_after_failure_leaves_no_handle(tmp_path: Path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"x" * 4096)
    with pytest.raises(ValueError):
        load_results(junk)
    if os.path.isdir("/proc/self/fd"):
        assert open_handles(tmp_path) == []


def test_processes_opening_one_new_store_at_once_all_succeed(tmp_path: Path):
    """The server and its game processes open the same new store together; none may fail as locked."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()

    def open_store(index: int) -> None:
        start.wait()
        try:
            with Store(tmp_path / "data") as store:
                store.add_event(f"p{index}", None, "opened", {}, float(index))
            results.put("ok")
        except Exception as exc:  # reported to the test, which names it
            results.put(f"{type(exc).__name__}: {exc}")

    workers = [context.Process(target=open_store, args=(i,)) for i in range(6)]
    for worker in workers:
        worker.start()
    start.set()  # all at once
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == ["ok"] * 6
    assert len(load_results(tmp_path / "data").events) == 6
