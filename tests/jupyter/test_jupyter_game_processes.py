"""serve(game_processes=1) from a Jupyter kernel: an env class defined in the notebook runs in the
forked game process, the game finishes, and stopping leaves no process or descriptor behind."""

from __future__ import annotations

import json
from pathlib import Path

CELL = """
import json, os, tempfile, threading, time
import socketio
import mug
from mug.env import Surface

class NotebookWalk:  # defined here, in the kernel: the game process has it because it is forked
    def __init__(self):
        self.surface = Surface(200, 100)
    def reset(self, seed=None, options=None):
        self.t = 0
        return [0], {}
    def step(self, action):
        self.t += 1
        return [self.t], 1.0, self.t >= 20, False, {}
    def render(self):
        self.surface.text(0.1, 0.1, f"t={self.t}", id="clock")
        return self.surface.commit()

game = (
    mug.GymScene().scene("walk").environment(env_creator=NotebookWalk, seed=1)
    .rendering(fps=30).gameplay(action_mapping={"ArrowRight": 1}, default_action=0)
    .policies(policy_mapping={"walker": "human"})
)
exp = mug.Experiment("forked", [game, mug.EndScene().scene("end")], data_dir=tempfile.mkdtemp())
fds_before = len(os.listdir("/proc/self/fd"))
server = exp.serve(game_processes=1)
child = server._processes.workers[0].pid
scenes, moved_on = [], threading.Event()
client = socketio.Client(reconnection=False)
client.on("scene", lambda spec: (scenes.append(spec), moved_on.set()))
client.connect(f"http://127.0.0.1:{server.port}", transports=["websocket"], socketio_path="socket.io")
client.call("join", {"query": {"participant": "nb"}})
client.call("start_game", {"scene_id": "walk"})
moved_on.wait(30)  # the game ended and the server sent the next scene
client.disconnect()
server.stop()
steps = len(exp.results().steps)
try:
    os.kill(child, 0)
    child_alive = True
except ProcessLookupError:
    child_alive = False
deadline = time.monotonic() + 5
while len(os.listdir("/proc/self/fd")) > fds_before and time.monotonic() < deadline:
    time.sleep(0.02)  # (ZeroMQ frees closed sockets' descriptors a moment later)
print(json.dumps({"next_scene": [s["scene_id"] for s in scenes], "steps": steps, "child_alive": child_alive,
                  "fd_growth": len(os.listdir("/proc/self/fd")) - fds_before}))
"""


def test_a_notebook_defined_env_plays_in_a_game_process(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(CELL)]
    NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in book.cells[0].outputs if o.get("output_type") == "stream")
    report = json.loads(text.strip().splitlines()[-1])
    assert report["next_scene"] == ["end"], report
    assert report["steps"] == 20, report
    assert report["child_alive"] is False, report
    assert report["fd_growth"] <= 0, report
