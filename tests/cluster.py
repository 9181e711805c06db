"""Real Redis, an nginx load balancer and `mug serve` processes on 127.0.0.1, for the many-process tests.

One experiment on several server processes (docs/deploy.md) is only tested honestly with the
parts a deployment uses: Debian's redis-server and nginx, and `mug serve` started as a command,
each in a process of its own. This module starts them for a test, each on a free 127.0.0.1 port
with its files (config, pid, logs, nginx's temp folders, data) inside the test's tmp dir, so
nothing needs root paths or a system service, and stops them again — also when the test fails:
every starter is a context manager, and `Cluster` collects them on one ``ExitStack``. Children
are started in sessions of their own (a Ctrl-C in the terminal reaches pytest, whose teardown
stops them) and with a parent-death signal (Linux): if the test process itself is killed, the
kernel kills them too, so no run leaves a server behind.

Ports: `mug serve`, redis-server and nginx are given a free port; should another program take it
before the child binds it (tests of four engineers share this machine), the child exits saying
the address is in use, and the start is retried on another port.

Measured here (2 shared cores): redis-server answers PING ~0.05 s after it is started, nginx
listens after ~0.03 s, a `mug serve` process answers ``/health`` after ~2.3 s (two started at
once: ~3.2 s; importing MUG's server with numpy, pandas and gymnasium alone takes ~2.2 s, and
all of it doubles when the machine is busy); a SIGINT stops it in ~0.3 s. Killing the test process
(SIGKILL) mid-test left no server or nginx behind.

Usage::

    with Cluster(tmp_path) as cluster:
        servers = cluster.servers("study.py", 2, extra_args=["--redis", cluster.redis().url])
        lb = cluster.load_balancer([s.port for s in servers])
        ... lb.url ...
        servers[0].kill()  # SIGKILL, as a crash
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from helpers import eventually

ROOT = Path(__file__).resolve().parent.parent
#: The `mug` command of the project's venv (as a researcher runs it); the venv's Python otherwise.
MUG = [str(ROOT / ".venv" / "bin" / "mug")] if (ROOT / ".venv" / "bin" / "mug").exists() else [
    sys.executable, "-c", "import sys; from mug.cli import main; sys.exit(main())",
]  # fmt: skip
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

#: Tries of a start whose port another program took between our check and the child's bind.
PORT_TRIES = 4


class ClusterError(RuntimeError):
    """A part of the test cluster did not start (or stop); the message names it and quotes its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at this moment (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


try:  # loaded here, in the parent: the child only calls it between fork and exec
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal, teardown still stops children
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies (PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))


def _spawn(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `args` with stdout and stderr appended to `log`.

    The parent-death signal fires when the *thread* that started the child ends, so call this
    from the test's own thread (never from a short-lived helper thread).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _stop_process(proc: subprocess.Popen[bytes], first: int, deadline: float) -> None:
    """Send `first`; SIGKILL if it has not exited within `deadline` s; then SIGKILL what is left of
    its process group (a `mug serve --game-processes N` leaves forked children otherwise)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(first)
        try:
            proc.wait(deadline)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> None:
    """Poll `ready()` (an explicit state: the child answering) until true; fail when the child exits
    or at the deadline, quoting its log."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise ClusterError(f"{what} exited with status {proc.returncode} before it was ready:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} was not ready within {timeout:g} s:\n{_tail(log)}")
        time.sleep(0.02)


def _port_taken(log: Path) -> bool:
    text = _tail(log).lower()
    return "address already in use" in text or "address in use" in text


# --------------------------------------------------------------------------------------------- Redis


@dataclass
class RedisInstance:
    """A running redis-server of a test: ``url`` is what ``mug serve --redis`` takes."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        """True when the server answers PING (RESP over a plain socket: no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``; terminate (then kill) if it does not exit."""
        if self.proc.poll() is None:
            subprocess.run(
                [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "shutdown", "nosave"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False,
            )  # fmt: skip
        _stop_process(self.proc, signal.SIGTERM, 5)


@contextlib.contextmanager
def redis_server(workdir: Path, timeout: float = 10.0) -> Iterator[RedisInstance]:
    """A redis-server on a free 127.0.0.1 port, no persistence, stopped on exit."""
    if not Path(REDIS_SERVER).exists():
        raise ClusterError(f"redis-server not found at {REDIS_SERVER}; install Debian's redis-server (setup.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(PORT_TRIES):
        port = free_port()
        log = workdir / f"redis-{port}.log"
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(workdir), "--logfile", ""]  # fmt: skip
        instance = RedisInstance(port, workdir, _spawn(args, log))
        try:
            _wait_until(instance.ping, instance.proc, f"redis-server on port {port}", log, timeout)
        except ClusterError:
            instance.stop()
            if _port_taken(log) and attempt + 1 < PORT_TRIES:
                continue
            raise
        break
    try:
        yield instance
    finally:
        instance.stop()


# --------------------------------------------------------------------------------------------- nginx

#: nginx.conf around a site: everything inside the test's tmp dir (pid, logs, temp files).
NGINX_MAIN = """\
# MUG test load balancer (tests/cluster.py); started as: nginx -p PREFIX -c nginx.conf -g 'daemon off;'
{user}# One process, no master: a SIGKILLed master leaves its workers running (serving the port),
# and the parent-death signal reaches only the process the test started.
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;

events {{
    worker_connections 1024;
}}

http {{
    # Which backend served each request (a list when nginx moved on to the next one): tests read it.
    log_format mug escape=json '{{"uri":"$request_uri","status":"$status","upstream":"$upstream_addr",'
                               '"upstream_status":"$upstream_status","request_time":"$request_time","msec":"$msec"}}';
    access_log {prefix}/access.log mug;

    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

{site}
}}
"""

#: The load balancer itself (what goes inside ``http {}``). docs/deploy.md gives the same
#: directives with TLS and public `listen` lines; a test runs the docs' version too.
NGINX_SITE = """\
# A websocket upgrade is passed on as one; any other request gets "Connection: close".
map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}

upstream mug {{
    # least_conn: a participant's websocket lives as long as their study, so the process
    # holding the fewest open connections gets the next one (ties go round-robin).
    least_conn;
    zone mug_backends 64k;
{servers}
}}

server {{
    listen 127.0.0.1:{port};

    location / {{
        proxy_pass http://mug;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;

        # A dead process: connection refused (or no answer within the connect timeout) -> the next one.
        proxy_connect_timeout {connect_timeout}s;
        proxy_next_upstream error timeout;
        proxy_next_upstream_timeout 10s;
        # An open websocket is quiet between Socket.IO pings (every 5 s): never cut it for that.
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }}
}}
"""


@dataclass
class LoadBalancer:
    """A running nginx in front of `backends` (ports on 127.0.0.1); ``url`` ends with ``/``."""

    port: int
    backends: list[int]
    prefix: Path
    proc: subprocess.Popen[bytes] = field(repr=False)
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    def access_log(self) -> list[dict[str, str]]:
        """The requests nginx has logged so far (nginx writes each line when its request ends; a
        websocket's line comes when the websocket closes)."""
        path = self.prefix / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def requests_since(self, t: float) -> list[dict[str, str]]:
        """The logged requests that began at or after `t` (``time.time()``; nginx logs when each
        ended, ``msec``, and how long it took, ``request_time``, to the millisecond)."""
        return [r for r in self.access_log() if float(r["msec"]) - float(r["request_time"]) >= t - 0.002]

    def error_log(self) -> str:
        return _tail(self.prefix / "error.log", 20_000)

    def listening(self) -> bool:
        """True once this nginx has written its pid file (it does so after binding its port) and
        the port accepts connections: a port taken by another program is not taken for ours."""
        pid = self.prefix / "nginx.pid"
        if not pid.exists() or pid.read_text().strip() != str(self.proc.pid):
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGQUIT (graceful: open websockets are closed) and SIGKILL after 10 s."""
        _stop_process(self.proc, signal.SIGQUIT, 10)


def nginx_site(port: int, backends: Sequence[int], *, connect_timeout: float = 1.0, max_fails: int = 1,
               fail_timeout: float = 10.0) -> str:  # fmt: skip
    """The load balancer on 127.0.0.1:`port` in front of `backends` (ports on 127.0.0.1).

    ``max_fails``/``fail_timeout``: after that many failed attempts on a backend, nginx passes it
    over for ``fail_timeout`` seconds (open-source nginx has only these passive health checks).
    """
    if not backends:
        raise ValueError("a load balancer needs at least one backend port")
    for backend in backends:
        if isinstance(backend, bool) or not isinstance(backend, int) or not 0 < backend < 65536:
            raise ValueError(f"backend port {backend!r} is not a TCP port number (1-65535)")
    servers = "\n".join(
        f"    server 127.0.0.1:{b} max_fails={max_fails} fail_timeout={fail_timeout:g}s;" for b in backends
    )
    return NGINX_SITE.format(port=port, servers=servers, connect_timeout=f"{connect_timeout:g}")


def nginx_config(prefix: Path, site: str) -> str:
    """A whole nginx.conf for `site` (http-level directives), its files under `prefix`."""
    # Started as root, nginx runs its worker as "nobody", which cannot enter pytest's tmp dirs
    # (mode 0700): a response too big for its memory buffers (the 8.6 MB Pyodide wasm) then came
    # through truncated, with "open() ... tmp/proxy/... failed (13: Permission denied)" in the
    # error log. The worker runs as the test's own user instead.
    user = f"user root {grp.getgrgid(os.getegid()).gr_name};\n" if os.geteuid() == 0 else ""
    return NGINX_MAIN.format(user=user, prefix=prefix, site=site)


@contextlib.contextmanager
def load_balancer(
    workdir: Path, backends: Sequence[int], *, site: Callable[[int], str] | None = None, scheme: str = "http",
    timeout: float = 10.0, **options: Any,
) -> Iterator[LoadBalancer]:  # fmt: skip
    """nginx in the foreground (``nginx -p PREFIX -c nginx.conf -g 'daemon off;'``) balancing HTTP and
    websockets over `backends` on a free 127.0.0.1 port; stopped on exit.

    ``options``: `nginx_site`'s. ``site``: instead of `nginx_site`, a function of the port to
    listen on giving the http-level config (e.g. docs/deploy.md's, with TLS: ``scheme="https"``).
    """
    if not Path(NGINX).exists():
        raise ClusterError(f"nginx not found at {NGINX}; install Debian's nginx-light (scripts/setup.sh)")
    for attempt in range(PORT_TRIES):
        port = free_port()
        prefix = workdir / f"nginx-{port}"
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "logs"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        text = site(port) if site is not None else nginx_site(port, backends, **options)
        (prefix / "nginx.conf").write_text(nginx_config(prefix, text))
        log = prefix / "error.log"
        args = [NGINX, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(log), "-g", "daemon off;"]
        balancer = LoadBalancer(port, list(backends), prefix, _spawn(args, prefix / "stderr.log"), scheme)
        try:
            _wait_until(balancer.listening, balancer.proc, f"nginx on port {port}", log, timeout)
        except ClusterError as exc:
            balancer.stop()
            stderr = prefix / "stderr.log"
            if (_port_taken(log) or _port_taken(stderr)) and attempt + 1 < PORT_TRIES:
                continue
            raise ClusterError(f"{exc}\nnginx's stderr:\n{_tail(stderr)}") from None
        break
    try:
        yield balancer
    finally:
        balancer.stop()


# ---------------------------------------------------------------------------------------- mug serve


@dataclass
class MugServer:
    """One `mug serve` process: its port, its log (stdout and stderr) and its data folder."""

    port: int
    data_dir: Path
    log: Path
    admin_token: str
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def admin_url(self) -> str:
        return f"{self.url}admin/?token={self.admin_token}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def server_id(self) -> str:
        """The id `mug serve --redis` prints in its banner (what the games table names as their host)."""
        found: list[str] = []

        def printed() -> bool:
            found[:] = re.findall(r"this server: ([0-9a-f]+)", self.log.read_text())
            return bool(found)

        eventually(printed, timeout=10)
        return found[0]

    def healthy(self) -> bool:
        """True when the process answers ``GET /health`` with 200."""
        try:
            with urllib.request.urlopen(self.url + "health", timeout=1) as reply:
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs. (Forked game processes, if any, are left to
        notice their parent's end themselves, as after a real crash; `stop` reaps them.)"""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, deadline: float = 20.0) -> None:
        """Graceful stop, then SIGKILL after `deadline` s.

        SIGINT, not SIGTERM: `mug serve` stops gracefully on Ctrl-C (games recorded as aborted,
        the store closed); SIGTERM ends a Python process at once, without that.
        """
        _stop_process(self.proc, signal.SIGINT, deadline)


def _launch(target: str | os.PathLike[str], data_dir: Path, log: Path, admin_token: str,
            extra_args: Sequence[str], env: dict[str, str] | None) -> MugServer:  # fmt: skip
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "MUG_ADMIN_TOKEN": admin_token, **(env or {})}
    child_env.pop("MUG_PUBLIC_URL", None)  # (the banner would name it instead of this process)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [*MUG, "serve", str(target), "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir), *extra_args]  # fmt: skip
    return MugServer(port, data_dir, log, admin_token, _spawn(args, log, child_env, cwd=log.parent))


def _await_servers(launch: Callable[[int], MugServer], count: int, timeout: float) -> list[MugServer]:
    """Launch `count` servers at once (a start is mostly imports: in parallel they overlap) and wait
    until each answers HTTP; one whose port another program took meanwhile is launched again."""
    servers = [launch(i) for i in range(count)]
    try:
        for i in range(count):
            for attempt in range(PORT_TRIES):
                server = servers[i]
                try:
                    _wait_until(server.healthy, server.proc, f"mug serve on port {server.port}", server.log, timeout)
                    break
                except ClusterError:
                    server.stop(5)
                    if not (_port_taken(server.log) and attempt + 1 < PORT_TRIES):
                        raise
                    servers[i] = launch(i)
    except BaseException:
        for server in servers:
            server.stop(5)
        raise
    return servers


def start_mug_server(target: str | os.PathLike[str], data_dir: Path, log: Path, *, admin_token: str,
                     extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                     timeout: float = 60.0) -> MugServer:  # fmt: skip
    """``mug serve TARGET --port P --data-dir DATA_DIR EXTRA_ARGS...``, returned once it answers HTTP.

    The caller stops it (`MugServer.stop`); a start that fails stops what it started.
    """
    return _await_servers(lambda _: _launch(target, data_dir, log, admin_token, extra_args, env), 1, timeout)[0]


@contextlib.contextmanager
def mug_servers(target: str | os.PathLike[str], count: int, workdir: Path, *,
                extra_args: Sequence[str] | Callable[[int], Sequence[str]] = (),
                admin_token: str | None = None, env: dict[str, str] | None = None,
                separate_data: bool = True, timeout: float = 60.0) -> Iterator[list[MugServer]]:  # fmt: skip
    """`count` `mug serve` processes of one experiment file, each answering HTTP; stopped on exit.

    ``extra_args``: more `mug serve` arguments (e.g. ``["--redis", url, "--database", url]``), or a
    function of the server's index giving them. ``separate_data``: each server its own data
    folder (``workdir/server-<i>/data``, what plain SQLite processes need), else one shared
    ``workdir/data``. All share one admin token (``MUG_ADMIN_TOKEN``), as a deployment's would.
    The processes start at the same time; with ``separate_data=False`` they open one data folder
    at once, as a deployment's processes do.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    token = admin_token or secrets.token_urlsafe(24)

    def launch(i: int) -> MugServer:
        home = workdir / f"server-{i}"
        home.mkdir(parents=True, exist_ok=True)
        data = home / "data" if separate_data else workdir / "data"
        args = extra_args(i) if callable(extra_args) else extra_args
        return _launch(target, data, home / "serve.log", token, args, env)

    servers = _await_servers(launch, count, timeout)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


# -------------------------------------------------------------------------------------------- all


class Cluster:
    """Collects the parts a test starts and stops them all, in reverse order, on exit (failed or not)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Cluster:
        self._stack.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.__exit__(kind, exc, tb)

    def close(self) -> None:
        self._stack.close()

    def redis(self) -> RedisInstance:
        """A Redis of its own for this test."""
        return self._stack.enter_context(redis_server(self.workdir / "redis"))

    def servers(self, target: str | os.PathLike[str], count: int, **options: Any) -> list[MugServer]:
        """`count` `mug serve` processes of `target` (see `mug_servers` for the options)."""
        n = sum(1 for p in self.workdir.glob("servers-*"))
        return self._stack.enter_context(mug_servers(target, count, self.workdir / f"servers-{n}", **options))

    def load_balancer(self, backends: Sequence[int], **options: Any) -> LoadBalancer:
        """nginx in front of these backend ports; its URL is ``.url``."""
        return self._stack.enter_context(load_balancer(self.workdir / "lb", backends, **options))
