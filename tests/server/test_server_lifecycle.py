"""serve() returns at once with a working server; stop() leaves no thread, socket or file behind."""

from __future__ import annotations

import os
import threading
import urllib.request

import pytest
from envs import walk_scene

from mug import Experiment, StartScene


def open_files_under(path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            found.append(target)
    return found


def test_serve_and_stop_repeatedly_leave_nothing_behind(tmp_path) -> None:
    threads_before = set(threading.enumerate())
    exp = Experiment("life", [StartScene(), walk_scene()], data_dir=tmp_path)
    ports = []
    for _ in range(3):
        with exp.serve() as server:
            ports.append(server.port)
            assert server.url == f"http://127.0.0.1:{server.port}/"
            page = urllib.request.urlopen(server.url, timeout=5).read().decode()
            assert 'src="static/app.js?v=' in page  # relative asset URLs: any path prefix works
            asset = urllib.request.urlopen(server.url + "static/app.js", timeout=5)
            assert asset.headers["Content-Type"].startswith("text/javascript")
        assert not server.running
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=2)
    assert set(threading.enumerate()) <= threads_before
    assert open_files_under(tmp_path) == []
    assert (tmp_path / "life" / "experiment.json").is_file()


def test_a_port_in_use_is_a_clear_error(tmp_path) -> None:
    exp = Experiment("busy", [StartScene()], data_dir=tmp_path)
    with exp.serve() as server, pytest.raises(OSError, match="in use"):
        exp.serve(port=server.port)
    assert open_files_under(tmp_path) == []
