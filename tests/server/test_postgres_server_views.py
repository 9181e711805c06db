"""A server whose store is PostgreSQL: the monitor's snapshot, the admin download and `mug export`
read the database (not a SQLite file that is not there), and a wrong URL is a message, not a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

from envs import walk_scene
from helpers import run_async
from postgres import Postgres

import mug
from mug.widgets import autopilot


def test_the_monitor_the_download_and_export_read_a_postgresql_store(tmp_path: Path, postgres_server: Postgres) -> None:
    database = postgres_server.create_database()
    scenes = [mug.StartScene().scene("hello"), walk_scene(length=20), mug.EndScene().scene("end")]
    exp = mug.Experiment("views", scenes, data_dir=tmp_path / "unused", database=database)
    server = exp.serve(admin_token="a" * 24)
    try:
        run_async(autopilot(server, "viewer-1", policy=lambda spec, step: 2))
        snapshot = server.snapshot()
        assert [p["participant_id"] for p in snapshot["participants"]] == ["viewer-1"]
        with urllib.request.urlopen(server.url + "admin/download?format=csv&token=" + "a" * 24, timeout=30) as reply:
            archive = zipfile.ZipFile(io.BytesIO(reply.read()))
        steps = archive.read(next(n for n in archive.namelist() if n.endswith("steps.csv"))).decode()
        assert len(steps.strip().splitlines()) == 21  # a header and the 20 steps
    finally:
        server.stop()
    assert not (tmp_path / "unused" / "views" / "mug.sqlite3").exists()  # nothing went to SQLite

    mug_command = str(Path(sys.executable).with_name("mug"))
    done = subprocess.run([mug_command, "export", database], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "export" / "steps.csv").is_file()  # (a URL has no folder: ./export)
    wrong = database.rsplit("/", 1)[0] + "/nothere"
    done = subprocess.run([mug_command, "export", wrong], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ})  # fmt: skip
    assert done.returncode != 0 and "nothere" in done.stderr and "Traceback" not in done.stderr
