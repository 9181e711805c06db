"""The Tornado application: the participant page, the client's static assets and the Socket.IO route."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import mimetypes
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import socketio
import tornado.httputil
import tornado.web

from mug._bundle import client_dist
from mug.server.web.assets import EnvZipHandler, RuntimeFileHandler, RuntimeFiles, SceneAssetHandler
from mug.server.web.inbound import InboundChecks

# Python's mimetypes lacks these on some versions; browsers refuse to stream-compile wasm without it.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="static/app.css?v={version}">
</head>
<body>
<div id="mug-root"><div class="mug-loading" data-testid="loading">Loading…</div></div>
<script id="mug-config" type="application/json">{config}</script>
<script type="module" src="static/app.js?v={version}"></script>
</body>
</html>
"""


#: Who may show the participant page in a frame: itself (JupyterLab through jupyter-server-proxy,
#: same origin) and any local origin (a notebook at http://localhost:8888 framing the server at
#: http://127.0.0.1:<port>/, as the preview widget does).
FRAME_ANCESTORS = ("'self'", "http://localhost:*", "http://127.0.0.1:*", "https://localhost:*", "https://127.0.0.1:*")


def content_security_policy(frame_ancestors: Sequence[str]) -> str:
    """The participant page's Content-Security-Policy.

    Everything is same-origin: the page's scripts (no inline script), the Socket.IO websocket, the
    runtime worker (static/worker.js; workers have the policy of their own response, so Pyodide and
    onnxruntime-web inside it are not bound by this one). 'wasm-unsafe-eval' lets the page compile
    WebAssembly (onnxruntime-web when a policy runs on the page). Researcher HTML may use inline
    style attributes and same-origin images; Phaser draws data: and blob: images.
    """
    directives = {
        "default-src": "'self'",
        "script-src": "'self' 'wasm-unsafe-eval'",
        "worker-src": "'self' blob:",
        "connect-src": "'self'",
        "img-src": "'self' data: blob:",
        "style-src": "'self' 'unsafe-inline'",
        "font-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": " ".join(frame_ancestors),
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeaders(tornado.web.OutputTransform):
    """Headers every response carries: no MIME sniffing, and no full URL in Referer to other origins."""

    def transform_first_chunk(
        self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        return status_code, headers, chunk


class PageHandler(tornado.web.RequestHandler):
    """Serves the participant page; all URLs in it are relative so any path prefix works."""

    def initialize(self, title: str, version: str, csp: str) -> None:
        self.title = title
        self.version = version
        self.csp = csp

    def get(self, participant_id: str | None = None) -> None:
        # (`/<participant id>`: the page reads the id from its path; docs/crowdsourcing.md.)
        config = json.dumps({"title": self.title, "version": self.version}).replace("</", "<\\/")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", self.csp)
        self.write(PAGE.format(title=html.escape(self.title), version=self.version, config=config))


#: Cache-Control of a versioned asset: its URL changes with every build, so browsers may keep it a
#: year and never revalidate it.
IMMUTABLE = "public, max-age=31536000, immutable"


class AssetHandler(tornado.web.StaticFileHandler):
    """Client assets (``static/<path>``); a request carrying ``?v=<build hash>`` may be cached for a
    year, anything else is ``no-cache`` (revalidated on every use)."""

    def parse_url_path(self, url_path: str) -> str:
        if "\x00" in url_path:  # no file has one; the OS calls below would raise (a 500)
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)

    def set_extra_headers(self, path: str) -> None:
        if "v" not in self.request.arguments:
            self.set_header("Cache-Control", "no-cache")


class VersionedAssetHandler(AssetHandler):
    """Client assets under a path naming the build (``static/v/<build hash>/<path>``), for files whose
    URLs the page cannot suffix with ``?v=``: Pyodide and onnxruntime-web derive their files' URLs
    from a base URL. The current build's are immutable; another build's name gets today's files
    uncached, so a stale page cannot file new content under its old URL for a year."""

    def initialize(self, path: str, version: str) -> None:  # type: ignore[override]
        super().initialize(path)
        self.version = version
        self.current = False

    async def get(self, version: str, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        """Serve ``path`` of the build; ``version`` only decides the caching."""
        self.current = version == self.version
        await super().get(path, include_body)

    async def head(self, version: str, path: str) -> None:  # type: ignore[override]
        """As get(), without the body."""
        await self.get(version, path, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", IMMUTABLE if self.current else "no-cache")


class HealthHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"ok": True})


class NoIconHandler(tornado.web.RequestHandler):
    """Browsers ask for /favicon.ico; answer "no content" instead of logging a 404."""

    def get(self) -> None:
        self.set_status(204)


#: Websocket messages a connection may have waiting for Engine.IO; while this many wait, its
#: socket is not read (TCP pushes back on the page). Each is at most the message size cap.
RECEIVE_QUEUE = 4


async def _next_turn(checks: InboundChecks, eio_sid: str, data: str) -> None:
    """Hand a packet to `checks.receive` in a later turn of the event loop (a burst's rest)."""
    await asyncio.sleep(0)
    handled = checks.receive(eio_sid, data)
    if handled is not None:
        await handled


def _socketio_handler(sio: socketio.AsyncServer) -> type:
    base: Any = socketio.get_tornado_handler(sio)
    checks = sio if isinstance(sio, InboundChecks) else None

    class NoDelaySocketHandler(base):  # type: ignore[misc, valid-type]
        """The Socket.IO websocket, tuned for many small messages at a game's frame rate.

        Nagle's algorithm is off: otherwise every small message waits ~40 ms. Per-message deflate
        (which browsers always offer) is declined: compressing each ~0.5 kB frame cost the server
        more CPU than anything else per message and raised tick lateness several-fold, to save a
        participant ~100 kbit/s; image frames are PNG-compressed already.

        Each message is checked (`InboundChecks.accept_frame`) before anything decodes it. On a
        connection that opened as a websocket, Socket.IO packets then go straight to
        `InboundChecks.receive` (once `eio_sid` is set, at Engine.IO's connect); the next message is
        read after the packet is handled, and at most `InboundChecks.BURST` of a connection's
        packets are handled per turn of the event loop. Everything else (Engine.IO's pongs and
        close, and every message of a connection upgraded from long-polling) goes to Engine.IO
        through its receive queue, of which at most RECEIVE_QUEUE messages wait (python-engineio's
        queue is unbounded).
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.receive_queue: asyncio.Queue[str | bytes | None] = asyncio.Queue(RECEIVE_QUEUE)
            self._last_put: asyncio.Task[None] | None = None
            #: This connection's Engine.IO sid once Engine.IO has connected it, if it opened as a
            #: websocket and the server reads it directly (set by `InboundChecks`); else None.
            self.eio_sid: str | None = None
            self._handling: asyncio.Future[None] | None = None  # a packet whose handler waits
            self._turn = -1
            self._burst = 0

        def on_message(self, message: str | bytes) -> Awaitable[None] | None:
            if checks is not None and not checks.accept_frame(self, message):
                return None
            if self.eio_sid is not None and isinstance(message, str) and message[:1] == "4":
                assert checks is not None
                turn = checks.turn()
                if turn != self._turn:
                    self._turn, self._burst = turn, 0
                self._burst += 1
                if self._burst > checks.BURST:
                    handled: Awaitable[None] | None = _next_turn(checks, self.eio_sid, message[1:])
                else:
                    handled = checks.receive(self.eio_sid, message[1:])
                if handled is not None:
                    self._handling = asyncio.ensure_future(handled)
                    return self._handling
                return None
            return self.receive_queue.put(message)  # waits while the queue is full

        def on_close(self) -> None:
            if self._handling is not None and not self._handling.done():
                # Engine.IO hears of the end (and runs the disconnect) after the packet in hand.
                self._handling.add_done_callback(lambda _: self._end())
            else:
                self._end()

        def _end(self) -> None:
            try:
                self.receive_queue.put_nowait(None)  # tells Engine.IO the connection ended
            except asyncio.QueueFull:  # after what is waiting
                self._last_put = asyncio.ensure_future(self.receive_queue.put(None))

        async def open(self, *args: Any, **kwargs: Any) -> None:
            self.set_nodelay(True)
            await super().open(*args, **kwargs)

        def get_compression_options(self) -> None:
            return None

    return NoDelaySocketHandler


def build_version(dist: Path) -> str:
    """A short hash of the built bundle, used to version asset URLs."""
    digest = hashlib.sha256()
    for name in ("app.js", "app.css", "build-info.json"):
        path = dist / name
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_routes(dist: Path, version: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The routes of the client's built assets: ``static/v/<version>/...`` and ``static/...``."""
    return [
        (r"/static/v/([^/]+)/(.*)", VersionedAssetHandler, {"path": str(dist), "version": version}),
        (r"/static/(.*)", AssetHandler, {"path": str(dist)}),
    ]


def make_app(
    sio: socketio.AsyncServer,
    title: str,
    runtime_files: RuntimeFiles,
    frame_ancestors: Sequence[str] = FRAME_ANCESTORS,
) -> tornado.web.Application:
    """The application; `frame_ancestors`: the origins that may frame the participant page (CSP)."""
    dist = client_dist()
    version = build_version(dist)
    csp = content_security_policy(frame_ancestors)
    app = tornado.web.Application(
        [
            (r"/", PageHandler, {"title": title, "version": version, "csp": csp}),
            *static_routes(dist, version),
            (r"/socket.io/", _socketio_handler(sio)),
            (r"/runtime/mug-env.zip", EnvZipHandler, {"files": runtime_files}),
            (r"/wheels/(.+)", RuntimeFileHandler, {"files": runtime_files, "kind": "wheels"}),
            (r"/models/(.+)", RuntimeFileHandler, {"files": runtime_files, "kind": "models"}),
            (r"/assets/(.+)", SceneAssetHandler, {"files": runtime_files}),
            (r"/health", HealthHandler),
            (r"/favicon.ico", NoIconHandler),
            # The participant id in the path (`/<id>`), as the links of the system MUG replaces had
            # it; after every fixed route, so none of them can be taken for an id.
            (r"/([A-Za-z0-9_.:@\-]{1,128})", PageHandler, {"title": title, "version": version, "csp": csp}),
        ],
        websocket_ping_interval=None,
        # Tornado's own cap (10 MiB by default) buffers a message whole before Engine.IO's
        # max_http_buffer_size can refuse it; with the same cap a bigger one is refused at its header.
        websocket_max_message_size=sio.eio.max_http_buffer_size,
    )
    app.add_transform(SecurityHeaders)
    return app
