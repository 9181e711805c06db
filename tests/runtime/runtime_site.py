"""A test site for the client-side runtime: harness bundle + client build + mug env zip, on 127.0.0.1.

Used by tests/runtime/test_runtime_*.py and benchmarks/pyodide.py. The site serves

- ``/`` -> a temp folder: ``index.html``, ``harness.js`` (mug/client/test/runtime/harness.ts bundled
  with esbuild), ``mug_env.zip`` (``mug/__init__.py`` + ``mug/env/**``), test wheels and models;
- ``/static/`` and ``/static/v/<build>/`` -> ``mug/client/dist`` (worker.js, vendor/pyodide, vendor/ort).

``/static/`` caching is the MUG server's own (its routes): ``static/v/<build>/...`` immutable, a URL
with ``?v=`` cacheable, anything else ``no-cache`` (revalidated); the site's own files follow the
same ``?v=`` rule.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import mimetypes
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "mug" / "client"
DIST = CLIENT / "dist"
ESBUILD = CLIENT / "node_modules" / ".bin" / "esbuild"

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")

CATCH_CODE = "from mug.env.examples import CatchEnv\n\nenv = CatchEnv(render_mode='mug')\n"

# CatchEnv with the 5 actions of the test model (policies_models.build_ff): 3 and 4 mean "stay".
FIVE_ACTIONS_CODE = """
from mug.env.examples import CatchEnv
from mug.env.spaces import Discrete


class FiveActions:
    def __init__(self):
        self.inner = CatchEnv(render_mode="mug")
        self.action_space = Discrete(5)

    def reset(self, seed=None, options=None):
        return self.inner.reset(seed=seed)

    def step(self, action):
        return self.inner.step(action if action < 3 else 0)

    def render(self):
        return self.inner.render()


env = FiveActions()
"""


def check_build() -> None:
    """Fail with the command to run when the client build lacks the runtime."""
    needed = [DIST / "worker.js", DIST / "vendor" / "pyodide" / "pyodide.asm.wasm", DIST / "vendor" / "ort"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise RuntimeError(f"client build incomplete ({', '.join(missing)}): cd mug/client && node scripts/build.mjs")


def build_harness(out: Path) -> None:
    subprocess.run(
        [str(ESBUILD), "test/runtime/harness.ts", "--bundle", "--format=esm", "--target=es2022",
         f"--outfile={out}", "--log-level=warning"],
        cwd=CLIENT, check=True, timeout=60,
    )  # fmt: skip


def build_env_zip(out: Path) -> Path:
    """``mug/__init__.py`` (empty) + every ``.py`` under ``mug/env`` — what the server provides."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mug/__init__.py", "")
        for path in sorted((ROOT / "mug" / "env").rglob("*.py")):
            zf.write(path, path.relative_to(ROOT).as_posix())
    return out


def build_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel (``py3-none-any``) with a RECORD, as a build backend writes it."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: mug-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    records = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={digest},{len(text.encode())}")
    records.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(records) + "\n"
    out = folder / f"{name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    out.write_bytes(buffer.getvalue())
    return out


def build_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    build_harness(root / "harness.js")
    (root / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>mug runtime harness</title>'
        '<script type="module" src="harness.js"></script>'
    )
    build_env_zip(root / "mug_env.zip")
    return root


class SiteServer:
    """Tornado on 127.0.0.1 (own thread and loop) serving a site folder and the client build.

    ``/static/`` is served by the MUG server's own routes (``static_routes``), so caching is the
    real server's: ``static/v/<version>/...`` immutable, ``?v=`` cacheable, the rest ``no-cache``.
    ``version`` is the client build's (what the page would get from the MUG server).
    """

    def __init__(self, root: Path) -> None:
        from mug.server.web.app import build_version

        self.root = root
        self.version = build_version(DIST)
        self.port = 0
        #: Every request's URI, and (URI, status) once answered, in order.
        self.requests: list[str] = []
        self.responses: list[tuple[str, int]] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="runtime-site", daemon=True)

    def _run(self) -> None:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web

        from mug.server.web.app import static_routes

        site = self

        class Handler(tornado.web.StaticFileHandler):
            def set_extra_headers(self, path: str) -> None:
                if "v" not in self.request.arguments:
                    self.set_header("Cache-Control", "no-cache")

        def log(handler: tornado.web.RequestHandler) -> None:
            site.responses.append((handler.request.uri or "", handler.get_status()))

        class Recorder(tornado.web.Application):
            def find_handler(self, request: Any, **kwargs: Any) -> Any:
                site.requests.append(request.uri or "")
                return super().find_handler(request, **kwargs)

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        app = Recorder(
            [
                *static_routes(DIST, self.version),
                (r"/(.*)", Handler, {"path": str(self.root), "default_filename": "index.html"}),
            ],
            log_function=log,
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.stop()
            loop.run_until_complete(server.close_all_connections())
            loop.close()

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("site server did not start")
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def guard_network(context: Any, url: str, outside: list[str] | None = None) -> list[str]:
    """Abort (and list) every request of a browser context that leaves the site's origin
    (the page's and its worker's). Routing turns the context's HTTP cache off."""
    origin = urlsplit(url).netloc
    outside = [] if outside is None else outside

    def guard(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != origin:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    return outside


def watch_network(context: Any, url: str) -> list[str]:
    """List (without intercepting) every request of a browser context that leaves the site's origin.

    For measurements: Playwright turns the HTTP cache off while requests are routed, so the
    warm-start benchmark cannot use :func:`guard_network`.
    """
    origin = urlsplit(url).netloc
    outside: list[str] = []

    def seen(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != origin:
            outside.append(request.url)

    context.on("request", seen)
    return outside


def game_spec(**overrides: Any) -> dict[str, Any]:
    """A RuntimeGameSpec for CatchEnv played by a human (override anything)."""
    spec: dict[str, Any] = {
        "gameId": "g-catch",
        "sceneId": "catch",
        "participantId": "p1",
        "envCode": CATCH_CODE,
        "packages": [],
        "agents": ["player"],
        "policies": {"player": {"kind": "human"}},
        "seed": 7,
        "fps": 60,
        "numEpisodes": 1,
        "maxSteps": 30,
        "resetFreezeS": 0.0,
        "defaultAction": 0,
        "inputMode": "pressed_keys",
        "actionPopulationMethod": "default_action",
        "recordObservations": False,
        "hud": None,
    }
    spec.update(overrides)
    return spec


def autorun_url(base: str, spec: dict[str, Any], version: str | None = None) -> str:
    from urllib.parse import urlencode

    query: dict[str, str] = {"autorun": json.dumps(spec)}
    if version:
        query["v"] = version
    return f"{base}?{urlencode(query)}"
