"""JupyterLab (with jupyter-server-proxy and MUG's server extension) for the notebook tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass
class Lab:
    url: str  # ends with '/'
    root: Path  # the notebooks' folder (a copy of notebooks/)
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab on 127.0.0.1 serving a copy of notebooks/; every kernel is shut down afterwards."""
    with launch_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@contextlib.contextmanager
def launch_lab(base: Path) -> Iterator[Lab]:
    """Start JupyterLab in ``base`` (with its own runtime and workspace folders); stop it on exit."""
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("data", ".ipynb_checkpoints"))
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_ALLOW_INSECURE_WRITES": "1",
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
        "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]  # fmt: skip
    log = base / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    lab = Lab(url, root, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for an explicit state: the server answering its status API
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.1)
        yield lab
    finally:
        _stop_lab(lab)


def _stop_lab(lab: Lab) -> None:
    """Shut every kernel down through the API, then the server; kill whatever is left."""
    import json

    try:
        with urllib.request.urlopen(f"{lab.url}api/kernels", timeout=5) as response:
            kernels = json.loads(response.read())
        for kernel in kernels:
            request = urllib.request.Request(f"{lab.url}api/kernels/{kernel['id']}", method="DELETE")
            urllib.request.urlopen(request, timeout=15).close()
    except OSError:
        pass
    leftovers = _children(lab.process.pid)
    lab.process.send_signal(signal.SIGTERM)
    try:
        lab.process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(lab.process.pid, signal.SIGKILL)
        lab.process.wait(5)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
