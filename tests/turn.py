"""A coturn TURN relay on 127.0.0.1 for WebRTC tests.

Chromium never gathers 127.0.0.1 host candidates, and tests must not send traffic beyond the
loopback range, so browser-to-browser DataChannels in tests go through a local TURN relay with
relay-only ICE (see docs/p2p.md "Transport"). Each relay gets a free listening port, a free UDP
relay port range and its own user and password; it is stopped and its files removed afterwards.
Needs Debian's ``coturn`` package (``turnserver``; scripts/setup.sh installs it).
"""

from __future__ import annotations

import random
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

RELAY_PORTS = 40  # UDP ports the relay may allocate (two pages need a handful)


@dataclass(frozen=True)
class Turn:
    """A running relay: what pages put in their RTCConfiguration."""

    port: int
    username: str
    credential: str

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def ice_servers(self) -> list[dict[str, str]]:
        return [{"urls": self.url, "username": self.username, "credential": self.credential}]


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _free_listening_port() -> int:
    """A port free for both UDP and TCP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _port_free(port):
            return port
    raise RuntimeError("no free port for the TURN relay on 127.0.0.1")


def _free_relay_range(avoid: int) -> tuple[int, int]:
    """A run of RELAY_PORTS free UDP ports, at a random place so parallel relays rarely meet."""
    rng = random.Random()
    for _ in range(50):
        low = rng.randrange(20_000, 32_000)
        ports = range(low, low + RELAY_PORTS)
        if avoid not in ports and all(_port_free(p) for p in ports):
            return low, low + RELAY_PORTS - 1
    raise RuntimeError(f"no {RELAY_PORTS} free UDP ports in a row for the TURN relay")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_turn(workdir: Path, timeout: float = 10.0) -> Iterator[Turn]:
    """Starts ``turnserver`` on 127.0.0.1, waits until it listens, and stops it on exit."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("turnserver not found: install Debian's coturn package (scripts/setup.sh does)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_listening_port()
    low, high = _free_relay_range(port)
    turn = Turn(port=port, username=f"mug-{secrets.token_hex(4)}", credential=secrets.token_hex(12))
    log = workdir / "turnserver.log"
    args = [
        binary,
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        f"--min-port={low}",
        f"--max-port={high}",
        "--allow-loopback-peers",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--lt-cred-mech",
        f"--user={turn.username}:{turn.credential}",
        "--realm=mug",
        "--fingerprint",
        "--no-stdout-log",
        "--simple-log",
        f"--log-file={log}",
        f"--pidfile={workdir / 'turnserver.pid'}",
        f"--userdb={workdir / 'turnserver.db'}",
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"turnserver exited with {proc.returncode} before listening: {err}{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not listen on 127.0.0.1:{port} within {timeout} s")
            time.sleep(0.02)
        yield turn
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        for name in ("turnserver.pid", "turnserver.db", "turnserver.db-journal"):
            (workdir / name).unlink(missing_ok=True)


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    """A TURN relay on 127.0.0.1 for one test (import it into the test module to use it)."""
    with running_turn(tmp_path / "turn") as relay:
        yield relay
