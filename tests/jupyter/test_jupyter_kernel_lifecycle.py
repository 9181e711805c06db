"""serve() + stop(), monitor() and preview() repeated in one Jupyter kernel leave no thread, port or
open file behind; the kernel's main thread stays free while the monitor updates."""

from __future__ import annotations

import json
from pathlib import Path

SETUP = """
import json, os, socket, tempfile, threading, time
import mug
from mug.env.examples.catch import CatchEnv

game = (
    mug.GymScene().scene("catch").environment(env_creator=CatchEnv, seed=1)
    .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0)
    .policies(policy_mapping={"player": "human"})
)
exp = mug.Experiment("cycles", [mug.StartScene().scene("hi"), game], data_dir=tempfile.mkdtemp())

def fds():
    return len(os.listdir("/proc/self/fd"))

def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False

# Warm up once (imports, lazily made kernel threads), then take the baseline.
s = exp.serve(); w = s.monitor(); p = exp.preview(game); s.stop(); p.stop(); w.close()
iopub = getattr(get_ipython().kernel, "iopub_thread", None)
if hasattr(iopub, "_event_pipe_gc"):
    await iopub._event_pipe_gc()
threads_before, fds_before = set(threading.enumerate()), fds()
"""

CYCLES = """
ports, updates = [], []
for i in range(4):
    server = exp.serve()
    monitor = server.monitor(interval=0.1)
    preview = exp.preview(game)
    ports += [server.port, preview.server.port]
    first = monitor.snapshot["time"]
    # The monitor is fed from the server's thread: it changes while this (main) thread waits.
    deadline = time.monotonic() + 10
    while monitor.snapshot["time"] == first and time.monotonic() < deadline:
        time.sleep(0.02)
    updates.append(monitor.snapshot["time"] > first)
    server.stop(); preview.stop(); monitor.close()

leaked = [t.name for t in threading.enumerate() if t not in threads_before]
# ipykernel gives each thread that sends output (here: widget updates from the server threads) a
# pipe of its own and closes those of dead threads every 10 s; close them now instead of waiting.
iopub = getattr(get_ipython().kernel, "iopub_thread", None)
if hasattr(iopub, "_event_pipe_gc"):
    await iopub._event_pipe_gc()
# ZeroMQ frees a closed socket's descriptors in its own reaper thread, a moment later: wait for that.
deadline = time.monotonic() + 5
while fds() > fds_before and time.monotonic() < deadline:
    time.sleep(0.02)
print(json.dumps({
    "leaked_threads": leaked,
    "listening": [port for port in ports if listening(port)],
    "fd_growth": fds() - fds_before,
    "monitor_updates": updates,
    "stopped": [monitor.snapshot["running"], preview.running],
}))
"""


def test_jupyter_serve_stop_cycles_leave_nothing_behind(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(CYCLES)]
    NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in book.cells[1].outputs if o.get("output_type") == "stream")
    report = json.loads(text.strip().splitlines()[-1])
    assert report["leaked_threads"] == [], report
    assert report["listening"] == [], report
    assert report["fd_growth"] <= 0, report
    assert report["monitor_updates"] == [True] * 4, report
    assert report["stopped"] == [False, False], report
