"""A server killed mid-game: the next server closes the game as interrupted and tells the participant.

Reproduces a defect found by SIGKILL-ing a server: the interrupted game never got an outcome or an
episode record, the participant's new game started from step 0 with no notice, and the last steps
the participant saw (frames leave before their 0.2 s commit batch) were lost without a trace.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import socketio
from helpers import eventually, join, start_walking, wait_for

from mug import load_results

TESTS = Path(__file__).resolve().parent.parent

EXPERIMENT = """
import sys
sys.path.insert(0, {tests!r})
from envs import walk_scene
from mug import CompletionCodeScene, Experiment, StartScene

game = walk_scene(length=100_000).gameplay(on_interrupt={policy!r})
experiment = Experiment(
    "crash", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")], data_dir={data!r}
)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`mug serve` in a process of its own, so that the test can kill it the way a crash would."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = "import sys; from mug.cli import main; sys.exit(main())"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", command, "serve", f"{self.path}:experiment", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        eventually(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "the server process exited"
        try:
            with urllib.request.urlopen(self.url + "health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def crashable(tmp_path: Path):
    """Factory: an experiment file with the given ``on_interrupt``, served by a killable process."""
    servers: list[ServerProcess] = []

    def make(policy: str) -> tuple[ServerProcess, Path]:
        data = tmp_path / "data"
        path = tmp_path / "experiment.py"
        path.write_text(EXPERIMENT.format(tests=str(TESTS), policy=policy, data=str(data)))
        server = ServerProcess(path, _free_port())
        servers.append(server)
        return server, data / "crash"

    yield make
    for server in servers:
        server.stop()


def test_a_game_cut_off_by_a_crash_is_closed_announced_and_restarted(crashable, participant) -> None:
    server, data = crashable("restart")
    server.start()
    page = participant(server.url + "?participant=carol")
    start_walking(page)
    wait_for(page, "m.status === 'running' && m.step >= 40")

    server.kill()
    page.keyboard.up("ArrowRight")
    wait_for(page, "m.connected === false")
    seen = page.evaluate("window.mug.step")
    server.start()  # the same store, as after a restart of the study's server

    # The page reconnects by itself; the participant is told, and the scene's game starts over.
    wait_for(page, "m.connected && m.sceneId === 'walk' && m.status === 'waiting_start'", timeout=30_000)
    assert "server restarted" in page.get_by_test_id("notice").inner_text()
    results = load_results(data)
    games = results.games
    assert list(games["outcome"]) == ["interrupted"]
    game_id = games.iloc[0]["game_id"]
    committed = results.steps[results.steps["game_id"] == game_id]
    episode = results.episodes.iloc[0]
    assert episode["outcome"] == "interrupted" and episode["num_steps"] == len(committed)
    assert list(committed["step"]) == list(range(1, len(committed) + 1))
    events = results.events
    notice = events[events["kind"] == "game_interrupted_notice"].iloc[0]
    assert notice["data.seen"] == [1, seen] and notice["data.committed"] == [1, len(committed)]
    lost = events[events["kind"] == "steps_lost"]
    if seen > len(committed):  # frames the participant saw whose steps had not been committed
        assert len(lost) == 1 and lost.iloc[0]["data.seen"] == [1, seen]
    else:
        assert lost.empty

    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.step >= 5")
    games = load_results(data).games
    assert len(games) == 2 and games["outcome"].isna().iloc[-1]  # the new game, running


def test_a_scene_that_ends_on_interruption_gives_the_completion_code(crashable) -> None:
    server, data = crashable("end")
    server.start()
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    joined = join(client, server, "dave")
    client.call("advance", {"scene_id": joined["scene"]["scene_id"]})
    frames: list[dict] = []
    client.on("frame", frames.append)
    assert client.call("start_game", {"scene_id": "walk"})["ok"]
    eventually(lambda: len(frames) >= 10)
    server.kill()
    eventually(lambda: not client.connected)
    server.start()

    again = socketio.Client(reconnection=False)
    again.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        scene = join(again, server, "dave")["scene"]
    finally:
        again.disconnect()
    assert scene["scene_type"] == "completion_code" and scene["ended"] == "interrupted"
    assert len(scene["completion_code"]) == 10
    participants = load_results(data).participants.set_index("participant_id")
    assert participants.loc["dave", "status"] == "completed"
