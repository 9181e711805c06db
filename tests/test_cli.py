"""The `mug` command: loading experiments from files, export, check-env."""

from __future__ import annotations

import textwrap

import pytest

from mug import Experiment
from mug.cli import CliError, load_experiment, main


def write(tmp_path, body: str):
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_load_the_only_experiment_or_a_named_one(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        import mug
        exp = mug.Experiment("one", [mug.StartScene()])
        def make():
            return mug.Experiment("two", [mug.StartScene()])
    """,
    )
    assert load_experiment(str(path)).experiment_id == "one"
    assert load_experiment(f"{path}:make").experiment_id == "two"
    with pytest.raises(CliError, match="has no attribute 'other'"):
        load_experiment(f"{path}:other")
    with pytest.raises(CliError, match="no such file"):
        load_experiment(str(tmp_path / "missing.py"))


def test_several_experiments_need_a_name(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        import mug
        a = mug.Experiment("a", [mug.StartScene()])
        b = mug.Experiment("b", [mug.StartScene()])
    """,
    )
    with pytest.raises(CliError, match="defines 2 Experiment objects; name one"):
        load_experiment(str(path))


def test_export_writes_csv_files(tmp_path, capsys) -> None:
    exp = Experiment("exported", [__import__("mug").StartScene()], data_dir=tmp_path)
    exp.serve().stop()  # creates the store and metadata
    assert main(["export", str(exp.data_path), "--out", str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert any(p.endswith("steps.csv") for p in written)
    assert (tmp_path / "out" / "participants.csv").is_file()
    assert main(["export", str(tmp_path / "nowhere")]) == 2


def test_check_env_reports_the_contract(capsys) -> None:
    assert main(["check-env", "mug.env.examples.catch:CatchEnv"]) == 0
    assert "contract holds" in capsys.readouterr().out
    assert main(["check-env", "envs:BrokenStep"]) == 1
    assert "step" in capsys.readouterr().out
    assert main(["check-env", "nomodule"]) == 2


def test_serve_refuses_a_wrong_game_process_count_with_a_clear_message(tmp_path, capsys) -> None:
    path = write(
        tmp_path,
        """
        import mug
        exp = mug.Experiment("one", [mug.StartScene()])
    """,
    )
    assert main(["serve", str(path), "--port", "0", "--data-dir", str(tmp_path), "--game-processes", "-1"]) == 2
    assert "game_processes must be a whole number >= 0, not -1" in capsys.readouterr().err


def test_serve_stops_gracefully_on_sigterm_ending_a_running_game(tmp_path) -> None:
    # `kill`, systemd and containers stop a process with SIGTERM: the server ends its games as
    # on Ctrl-C (recorded, not left open for the next start to close as interrupted).
    import signal
    from pathlib import Path

    import socketio
    from cluster import start_mug_server
    from helpers import eventually

    from mug import load_results

    tests = Path(__file__).resolve().parent
    path = write(
        tmp_path,
        f"""
        import sys
        sys.path.insert(0, {str(tests)!r})
        from envs import walk_scene
        from mug import Experiment, StartScene
        experiment = Experiment("term", [StartScene().scene("hello"), walk_scene(length=100_000)])
        """,
    )
    server = start_mug_server(f"{path}:experiment", tmp_path / "data", tmp_path / "serve.log", admin_token="t" * 24)
    try:
        client = socketio.Client(reconnection=False)
        frames: list[dict] = []
        client.on("frame", frames.append)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        client.call("join", {"query": {"participant": "tess"}})
        assert client.call("advance", {"scene_id": "hello"})["ok"]
        assert client.call("start_game", {"scene_id": "walk"})["ok"]
        eventually(lambda: len(frames) >= 10)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
        client.disconnect()
    finally:
        server.stop()
    games = load_results(tmp_path / "data" / "term").games
    assert games["outcome"].notna().all() and "interrupted" not in set(games["outcome"])
