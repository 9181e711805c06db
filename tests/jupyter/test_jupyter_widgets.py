"""Preview and monitor widgets, the scripted pilot, participant URLs and the proxy extension, in-process."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envs import walk_scene
from helpers import eventually, run_async, wait_for

import mug
from mug.server import urls
from mug.widgets import autopilot
from mug.widgets.preview import preview


@pytest.fixture
def previews() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for widget in made:
        widget.stop()


def test_preview_steps_the_env_in_this_process_and_mirrors_the_game(tmp_path: Path, previews: list[Any]) -> None:
    scene = walk_scene("walk", length=20)
    exp = mug.Experiment("pv", [scene], data_dir=tmp_path)
    widget = exp.preview(scene)
    previews.append(widget)
    assert widget.running and widget.env is None and widget.players[0]["participant_id"]
    assert widget.direct_url == f"http://127.0.0.1:{widget.server.port}/" and widget.proxy_path == ""

    pid = run_async(autopilot(widget.server, widget.participant_ids[0], policy=lambda spec, step: 2))
    assert pid == widget.participant_ids[0]
    eventually(lambda: widget.status == "finished")
    assert len(widget.envs) == 1 and widget.env.t == 20  # the env object that stepped, here
    steps = widget.results().steps
    # The first steps run before the pilot's first action arrives (the default action, 0).
    assert len(steps) == 20 and set(steps.action) <= {0, 2} and (steps.action == 2).sum() >= 15
    assert not (tmp_path / "pv").exists()  # preview data lives elsewhere, not in the experiment's folder


def test_preview_shows_env_errors_with_the_traceback(tmp_path: Path, previews: list[Any]) -> None:
    scene = walk_scene("broken", fail_at=5)
    widget = mug.Experiment("pv", [scene], data_dir=tmp_path).preview("broken")
    previews.append(widget)
    run_async(autopilot(widget.server, widget.participant_ids[0]))
    error = eventually(lambda: widget.error)
    assert "Traceback" in error and "RuntimeError: the walk fell over" in error and "step 4" in error


def test_a_new_preview_of_the_same_scene_replaces_the_old_one(tmp_path: Path, previews: list[Any]) -> None:
    scene = walk_scene("walk")
    first = preview(scene)
    previews.append(first)
    data = first.experiment.data_path
    second = preview(scene)
    previews.append(second)
    assert not first.running and not first.server.running and not data.exists()
    assert second.running and second.server.port != first.server.port
    second.restart()
    assert second.participant_ids != [] and second.status == ""


def test_preview_of_a_multiplayer_scene_has_a_frame_per_player(tmp_path: Path, previews: list[Any]) -> None:
    from envs import race_scene

    widget = preview(race_scene())
    previews.append(widget)
    assert len(widget.players) == 2 and len(set(widget.participant_ids)) == 2


def test_snapshot_and_monitor_follow_participants_and_games(tmp_path: Path) -> None:
    exp = mug.Experiment("mon", [mug.StartScene().scene("hi"), walk_scene("walk", length=2000)], data_dir=tmp_path)
    with exp.serve() as server:
        monitor = server.monitor(interval=0.1)
        assert monitor.snapshot["running"] and monitor.snapshot["participants"] == []

        async def play_until_running() -> None:
            task = asyncio.ensure_future(autopilot(server, "p1", timeout=60))
            await asyncio.to_thread(eventually, lambda: any(g["step"] > 3 for g in monitor.snapshot.get("games", [])))
            task.cancel()

        run_async(play_until_running())
        snap = server.snapshot()
        assert [p["participant_id"] for p in snap["participants"]] == ["p1"]
        (game,) = monitor.snapshot["games"]
        assert game["scene_id"] == "walk" and game["status"] == "running" and "p1" in game["players"]
        row = monitor.snapshot["participants"][0]
        assert row["scene_id"] == "walk" and row["game_id"] == game["game_id"]
        assert snap["counts"]["total"] == 1 and snap["scenes"] == ["hi", "walk"]
    final = eventually(lambda: not monitor.snapshot["running"] and monitor.snapshot)
    assert final["games"] == [] and not final["participants"][0]["connected"]
    monitor.close()


def test_an_experiment_monitors_only_its_own_servers(tmp_path: Path) -> None:
    """`exp.monitor(server)` is what `server.monitor()` returns; a server of another experiment is named."""
    exp = mug.Experiment("mon_a", [mug.StartScene().scene("hi")], data_dir=tmp_path / "a")
    other = mug.Experiment("mon_b", [mug.StartScene().scene("hi")], data_dir=tmp_path / "b")
    with exp.serve() as server:
        widget = exp.monitor(server, interval=0.2)
        try:
            assert widget.server is server and widget.snapshot["running"]
        finally:
            widget.close()
        with pytest.raises(ValueError, match="serves another experiment, not 'mon_b'"):
            other.monitor(server)
        with pytest.raises(ValueError, match=r"interval must be between 0\.05 and 1 second"):
            server.monitor(interval=5)


# -- participant URLs -------------------------------------------------------------------------


class _FakeJupyter(http.server.BaseHTTPRequestHandler):
    proxy = True

    def do_GET(self) -> None:
        # Like a Jupyter server with a token: an existing route sends strangers to its login page.
        if self.path == "/base/server-proxy/servers-info" and type(self).proxy:
            self.send_response(302)
            self.send_header("Location", "/base/login?next=/base/server-proxy/servers-info")
        else:
            self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FakeJupyter]]:
    """A 'Jupyter server' that launched this process: a jpserver file naming our parent's pid."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeJupyter)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    info = {"pid": os.getppid(), "url": f"http://127.0.0.1:{port}/base/", "base_url": "/base/"}
    (tmp_path / "jpserver-1.json").write_text(json.dumps(info))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getppid()))
    monkeypatch.delenv(urls.ENV_TEMPLATE, raising=False)
    urls.find_jupyter_server.cache_clear()
    yield _FakeJupyter
    urls.find_jupyter_server.cache_clear()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_urls_are_proxied_under_a_jupyter_server_with_the_proxy(fake_jupyter: type[_FakeJupyter]) -> None:
    found = urls.participant_urls("127.0.0.1", 4321)
    jupyter = urls.find_jupyter_server()
    assert jupyter is not None and jupyter.has_proxy
    assert found.url == found.proxied == f"{jupyter.url}proxy/4321/"
    assert found.proxy_path == "/base/proxy/4321/" and found.direct == "http://127.0.0.1:4321/"


def test_urls_are_direct_without_the_proxy(fake_jupyter: type[_FakeJupyter], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_jupyter, "proxy", False)
    found = urls.participant_urls("127.0.0.1", 4321)
    assert found.url == found.direct == "http://127.0.0.1:4321/" and found.proxied is None


def test_urls_are_direct_outside_jupyter_and_follow_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    urls.find_jupyter_server.cache_clear()
    if "ipykernel" not in sys.modules:
        assert urls.participant_urls("0.0.0.0", 80).url == "http://127.0.0.1:80/"
    monkeypatch.setenv(urls.ENV_TEMPLATE, "https://hub.example.org/user/a/proxy/{port}/")
    assert urls.participant_urls("127.0.0.1", 81).url == "https://hub.example.org/user/a/proxy/81/"
    urls.find_jupyter_server.cache_clear()


# -- the proxy extension ------------------------------------------------------------------------


def test_proxy_extension_turns_nodelay_on_for_both_legs(monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_server_proxy.handlers import ProxyHandler

    from mug import jupyter_ext

    calls: list[str] = []

    async def original(self: Any, host: str, port: int, proxied_path: str = "") -> None:
        calls.append("open")
        self.ws = _Ws(calls)

    monkeypatch.setattr(ProxyHandler, "proxy_open", original)
    assert jupyter_ext.patch_proxy_nodelay() and jupyter_ext.patch_proxy_nodelay()  # idempotent
    handler = _Handler(calls)
    run_async(ProxyHandler.proxy_open(handler, "localhost", 1234, "/socket.io/"))  # type: ignore[arg-type]
    assert calls == ["browser leg", "open", "server leg"]
    points = jupyter_ext._jupyter_server_extension_points()
    assert points == [{"module": "mug.jupyter_ext"}]


class _Handler:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def set_nodelay(self, value: bool) -> None:
        assert value is True
        self.calls.append("browser leg")


class _Ws:
    def __init__(self, calls: list[str]) -> None:
        stream = type("Stream", (), {"set_nodelay": lambda _s, value: calls.append("server leg")})()
        self.protocol = type("Protocol", (), {"stream": stream})()


def test_plain_import_mug_loads_no_notebook_machinery() -> None:
    code = (
        "import sys, mug; "
        "print([m for m in ('IPython', 'ipywidgets', 'anywidget', 'matplotlib', 'mug.widgets') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_monitor_reads_the_store_incrementally_and_agrees_with_a_full_read(tmp_path: Path) -> None:
    from mug.data import Store
    from mug.data.live import StoredCache, open_database, stored_state

    with Store(tmp_path) as store:
        for i in range(30):
            store.get_or_create_participant(f"p{i}", {}, 1000.0 + i)
            store.mark_active(f"p{i}", 1000.0 + i)
        for i in range(3):  # pages opened and never used: counted, listed last
            store.get_or_create_participant(f"idle{i}", {}, 1500.0 + i)
        store.exclude_participant("p3", "left the tab", 2000.0)
        cache = StoredCache(store.path, limit=10)
        conn = open_database(store.path)
        assert conn is not None
        try:
            assert cache.read() == stored_state(conn, limit=10)
            store.enter_scene("p5", 1, "game", "gym", 3000.0)
            store.exclude_participant("p7", "idle", 3001.0)
            incremental, full = cache.read(), stored_state(conn, limit=10)
        finally:
            conn.close()
            cache.close()
    assert incremental == full
    assert [p["participant_id"] for p in incremental["participants"][:3]] == ["p7", "p5", "p3"]
    assert [(x["participant_id"], x["reason"]) for x in incremental["exclusions"]] == [
        ("p7", "idle"),
        ("p3", "left the tab"),
    ]
    assert incremental["counts"] == {"active": 28, "excluded": 2, "total": 30, "idle": 3}
    assert not any(p["participant_id"].startswith("idle") for p in incremental["participants"])


def test_preview_of_a_client_side_scene_runs_its_env_in_the_page(participant, previews: list[Any]) -> None:
    scene = (
        mug.GymScene()
        .scene("browser_catch")
        .runtime(env_code="from mug.env.examples.catch import CatchEnv\nenv = CatchEnv(max_drops=2)\n")
        .environment(seed=1)
        .rendering(fps=30)
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )
    widget = preview(scene)
    previews.append(widget)
    page = participant(f"{widget.direct_url}?participant={widget.participant_ids[0]}")
    wait_for(page, "m.status === 'waiting_start'", timeout=60_000)
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.step > 30", timeout=60_000)
    eventually(lambda: widget.status == "running in the browser" and widget.step > 0)
    assert widget.env is None  # nothing steps in the kernel: the env is the page's
