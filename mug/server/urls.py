"""The participant URL that works from where the notebook runs.

A MUG server started from a kernel listens on ``host:port`` of the kernel's machine. Whether a
browser can reach it there depends on where the browser is:

* a kernel started by a Jupyter server (JupyterLab, Notebook, JupyterHub) that has
  jupyter-server-proxy: ``{jupyter url}{base_url}proxy/{port}/`` works from any browser logged in to
  that Jupyter server, wherever it runs;
* otherwise (a script, VS Code, nbclient, or no jupyter-server-proxy): the direct address.

The Jupyter server is found the way Jupyter itself records it: each running server writes
``jpserver-<pid>.json`` (its url, base_url and pid) into the Jupyter runtime directory, and the
kernel is a descendant of the server that launched it. Whether the proxy is there is asked of the
server itself, without credentials: the route ``{base_url}server-proxy/servers-info`` exists only
with jupyter-server-proxy (404 otherwise).

``MUG_PUBLIC_URL`` overrides all of this: a template such as
``https://hub.example.org/user/alice/proxy/{port}/`` (``{port}`` is replaced).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

__all__ = [
    "JupyterServer",
    "ParticipantURLs",
    "direct_url",
    "find_jupyter_server",
    "participant_urls",
]

ENV_TEMPLATE = "MUG_PUBLIC_URL"


@dataclass(frozen=True)
class JupyterServer:
    """The Jupyter server a kernel runs under, as its ``jpserver-<pid>.json`` describes it."""

    pid: int
    url: str  # e.g. 'http://127.0.0.1:8888/lab-base/' (ends with the base_url)
    base_url: str  # e.g. '/lab-base/' (starts and ends with '/')
    has_proxy: bool


@dataclass(frozen=True)
class ParticipantURLs:
    """Where participants reach one MUG server.

    Attributes:
        url: the URL to show and share (``proxied`` when there is one, else ``direct``).
        direct: ``http://host:port/`` on the kernel's machine.
        proxied: the jupyter-server-proxy URL, or None.
        proxy_path: ``{base_url}proxy/{port}/``: resolved against the notebook page in a browser it
            is the proxied URL whatever host name the browser used; None without a proxy.
    """

    url: str
    direct: str
    proxied: str | None
    proxy_path: str | None


def direct_url(host: str, port: int) -> str:
    """``http://host:port/``; a wildcard bind address is shown as 127.0.0.1."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def participant_urls(host: str, port: int) -> ParticipantURLs:
    """The participant URLs of a MUG server listening on ``host:port`` started by this process."""
    direct = direct_url(host, port)
    template = os.environ.get(ENV_TEMPLATE)
    if template:
        proxied = template.replace("{port}", str(port))
        return ParticipantURLs(proxied, direct, proxied, None)
    # The proxy forwards to localhost: a server bound to another interface is not reachable by it.
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "", "::", "::1"):
        return ParticipantURLs(direct, direct, None, None)
    server = find_jupyter_server()
    if server is None or not server.has_proxy:
        return ParticipantURLs(direct, direct, None, None)
    path = f"{server.base_url}proxy/{port}/"
    proxied = f"{server.url}proxy/{port}/"
    return ParticipantURLs(proxied, direct, proxied, path)


@lru_cache(maxsize=1)
def find_jupyter_server() -> JupyterServer | None:
    """The Jupyter server this process (a kernel) was started by, or None. Computed once per process."""
    if not _in_kernel():
        return None
    infos = _running_servers()
    if not infos:
        return None
    ancestors = _ancestors(os.getpid())
    parent = os.environ.get("JPY_PARENT_PID")
    if parent and parent.isdigit():
        ancestors.insert(0, int(parent))
    for pid in ancestors:
        info = infos.get(pid)
        if info is not None:
            return _describe(info)
    return None


def _in_kernel() -> bool:
    # A kernel started by jupyter_client has a connection file; ipykernel records it on its app.
    import sys

    return "ipykernel" in sys.modules or bool(os.environ.get("JPY_PARENT_PID"))


def _runtime_dir() -> Path:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        return Path(jupyter_runtime_dir())
    except ImportError:  # pragma: no cover - jupyter_core comes with every kernel
        return Path(os.environ.get("JUPYTER_RUNTIME_DIR", Path.home() / ".local/share/jupyter/runtime"))


def _running_servers() -> dict[int, dict[str, object]]:
    found: dict[int, dict[str, object]] = {}
    directory = _runtime_dir()
    try:
        names = [p for p in directory.iterdir() if p.name.startswith("jpserver-") and p.suffix == ".json"]
    except OSError:
        return found
    for path in names:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found[pid] = info
    return found


def _ancestors(pid: int, limit: int = 16) -> list[int]:
    """Parent, grandparent, ... of ``pid`` (Linux /proc, else psutil, else just the parent)."""
    chain: list[int] = []
    current = pid
    for _ in range(limit):
        parent = _parent_of(current)
        if parent is None or parent <= 1 or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # pid (comm) state ppid ...; comm may contain spaces or parentheses.
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process(pid).ppid()
    except Exception:
        return os.getppid() if pid == os.getpid() else None


def _describe(info: dict[str, object]) -> JupyterServer:
    base_url = str(info.get("base_url") or "/")
    base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    url = str(info.get("url") or "")
    if not url.endswith("/"):
        url += "/"
    return JupyterServer(pid=int(str(info["pid"])), url=url, base_url=base_url, has_proxy=_has_proxy(url))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _has_proxy(url: str) -> bool:
    """Ask the Jupyter server whether jupyter-server-proxy is loaded.

    Its ``server-proxy/servers-info`` route exists only with the proxy: without credentials the
    server answers 404 when the route does not exist, and 200, a redirect to its login page or 403
    when it does.
    """
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(f"{url}server-proxy/servers-info", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as err:
        return err.code != 404
    except (OSError, ValueError):
        # Could not ask (TLS, a network policy, ...): the package being importable is the next best sign.
        return find_spec("jupyter_server_proxy") is not None
