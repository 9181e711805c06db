"""The admin dashboard's HTTP routes and live channel, all under ``admin/`` and all behind a token.

Every route here refuses a request without the server's admin token (HTTP 403, compared in
constant time): the page (``admin/``), its script and style, the JSON API (``admin/api/...``),
the data download (``admin/download``) and the live websocket (``admin/live``, refused before the
upgrade). The token comes in the ``token`` query parameter (the URL ``serve()`` prints), or in an
``Authorization: Bearer <token>`` header. It is made at ``serve()`` (or given by the researcher:
``serve(admin_token=...)`` or ``MUG_ADMIN_TOKEN``); there is no default. Tokens are blanked out of
the access log.

The page and its assets come from the client build (``dist/admin.js``, ``admin.css``); every URL
is relative, so the dashboard works at ``/admin/`` and behind jupyter-server-proxy or another
reverse proxy. What it shows: `mug.server.dashboard`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import importlib.util
import io
import json
import logging
import os
import re
import secrets
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.web
import tornado.websocket

from mug._bundle import client_dist
from mug.server.sessions.exclusion import ExclusionError, exclude

if TYPE_CHECKING:
    from mug.server.dashboard import Dashboard
    from mug.server.runner import ServerHandle

__all__ = ["ADMIN_TOKEN_ENV", "admin_routes", "check_token", "redacting_log_function", "resolve_token"]

log = logging.getLogger("mug.server.web.admin")

#: Environment variable a researcher may set to choose the admin token.
ADMIN_TOKEN_ENV = "MUG_ADMIN_TOKEN"

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.~]{16,256}")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>MUG admin: {title}</title>
<link rel="stylesheet" href="admin.css?token={token}">
</head>
<body>
<div id="mug-admin" data-testid="admin-root"><p>Loading the dashboard…</p></div>
<script id="mug-admin-config" type="application/json">{config}</script>
<script type="module" src="admin.js?token={token}"></script>
</body>
</html>
"""

#: The dashboard page's Content-Security-Policy: its own script and style only, no inline script,
#: no images or frames from anywhere, and the live websocket to the same server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self' http://localhost:* http://127.0.0.1:*"
)


def check_token(token: str) -> str:
    """``token`` if it can be the admin token (16-256 of ``A-Z a-z 0-9 _ - . ~``), else ValueError."""
    if not isinstance(token, str) or not _TOKEN_CHARS.fullmatch(token):
        shown = f"{len(token)} characters" if isinstance(token, str) else type(token).__name__
        raise ValueError(
            f"the admin token must be 16-256 characters of A-Z a-z 0-9 _ - . ~ (it goes into a URL); got {shown}"
        )
    return token


def resolve_token(given: str | None) -> str:
    """The admin token: ``given``, else ``$MUG_ADMIN_TOKEN``, else a new random one (no default)."""
    if given is not None:
        return check_token(given)
    env = os.environ.get(ADMIN_TOKEN_ENV)
    if env:
        try:
            return check_token(env)
        except ValueError as exc:
            raise ValueError(f"{ADMIN_TOKEN_ENV}: {exc}") from None
    return secrets.token_urlsafe(24)


def _given_token(handler: tornado.web.RequestHandler) -> str | None:
    header = handler.request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    values = handler.request.query_arguments.get("token")
    if values:
        return values[-1].decode("utf-8", "replace")
    return None


def token_ok(given: str | None, expected: str) -> bool:
    """Whether ``given`` is the admin token (constant-time comparison)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def refusal(given: str | None) -> str:
    """The text of a 403: what was wrong with the token, and where the right one is."""
    what = "no admin token was given" if not given else "the admin token is wrong"
    return (
        f"Refused: {what}. Open the admin URL that serve() printed (server.admin_url), or send the token "
        "as ?token=... or an 'Authorization: Bearer <token>' header.\n"
    )


_TOKEN_IN_URI = re.compile(r"(token=)[^&\s]*")


def redacting_log_function(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, with any ``token=`` value in the URI blanked out."""
    from tornado.log import access_log

    status = handler.get_status()
    if status < 400:
        log_method = access_log.info
    elif status < 500:
        log_method = access_log.warning
    else:
        log_method = access_log.error
    request = handler.request
    uri = _TOKEN_IN_URI.sub(r"\1***", request.uri or "")
    log_method("%d %s %s (%s) %.2fms", status, request.method, uri, request.remote_ip, 1000.0 * request.request_time())


class _Admin:
    """What every admin handler needs: the token, the server handle and its dashboard."""

    def __init__(self, handle: ServerHandle, token: str, dashboard: Dashboard) -> None:
        self.handle = handle
        self.token = token
        self.dashboard = dashboard


class AdminHandler(tornado.web.RequestHandler):
    """Base of the admin routes: refuses a request without the right token before anything else."""

    def initialize(self, admin: _Admin) -> None:
        self.admin = admin

    def prepare(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        given = _given_token(self)
        if not token_ok(given, self.admin.token):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(refusal(given))

    def check_xsrf_cookie(self) -> None:
        """No cookies are involved: every request carries the token itself."""

    def reply(self, payload: Any, status: int = 200) -> None:
        """Send ``payload`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, default=str))


class AdminNotFound(AdminHandler):
    """Any other path under ``admin/``: 403 without the token, 404 with it."""

    def get(self) -> None:
        raise tornado.web.HTTPError(404)


class AdminRedirect(AdminHandler):
    """``admin`` (no slash) → ``admin/``, so the page's relative URLs resolve under it."""

    def get(self) -> None:
        query = self.request.query
        self.redirect("admin/" + (f"?{query}" if query else ""))


class AdminPage(AdminHandler):
    """The dashboard page: a shell that loads ``admin.js``; the token it was opened with goes in."""

    def get(self) -> None:
        token = _given_token(self) or ""
        exp = self.admin.handle.experiment
        config = {
            "experiment_id": exp.experiment_id,
            "title": exp.title,
            "token": token,
            "parquet": importlib.util.find_spec("pyarrow") is not None,
        }
        text = json.dumps(config).replace("</", "<\\/")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE.format(title=html.escape(exp.title), token=html.escape(token), config=text))


class AdminAsset(AdminHandler):
    """``admin.js`` and ``admin.css`` from the client build."""

    def initialize(self, admin: _Admin, name: str, content_type: str) -> None:  # type: ignore[override]
        super().initialize(admin)
        self.name = name
        self.content_type = content_type

    def get(self) -> None:
        path = client_dist() / self.name
        if not path.is_file():
            raise tornado.web.HTTPError(404, f"{self.name} is not in the client build; rebuild the client")
        self.set_header("Content-Type", self.content_type)
        self.finish(path.read_bytes())


class AdminState(AdminHandler):
    """``admin/api/state``: what the dashboard shows, once (the page gets it pushed on ``admin/live``)."""

    def get(self) -> None:
        self.reply(self.admin.dashboard.state())


class AdminParticipant(AdminHandler):
    """``admin/api/participant?participant_id=...``: one participant's record and event timeline."""

    async def get(self) -> None:
        pid = self.get_query_argument("participant_id", "")
        if not pid:
            return self.reply({"ok": False, "error": "name a participant: ?participant_id=..."}, 400)
        found = await self.admin.dashboard.detail(pid)
        if found is None:
            return self.reply({"ok": False, "error": f"no participant {pid!r} in this study"}, 404)
        return self.reply({"ok": True, "participant": found})


class AdminExclude(AdminHandler):
    """``POST admin/api/exclude`` ``{participant_id, message, reason?}``: exclude a participant now."""

    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            return self.reply({"ok": False, "error": "the request body is not JSON"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("participant_id"), str):
            return self.reply({"ok": False, "error": "send {participant_id, message}"}, 400)
        try:
            result = await exclude(
                self.admin.handle.sessions, body["participant_id"], body.get("message", ""), body.get("reason") or ""
            )
        except ExclusionError as exc:
            return self.reply({"ok": False, "error": str(exc)}, 400)
        log.info("participant %r excluded from the admin dashboard", body["participant_id"])
        return self.reply({"ok": True, **result})


class AdminDownload(AdminHandler):
    """``admin/download?format=csv|parquet``: the data so far as a zip of one file per table."""

    async def get(self) -> None:
        fmt = self.get_query_argument("format", "csv")
        if fmt not in ("csv", "parquet"):
            return self.reply({"ok": False, "error": f"unknown format {fmt!r}: csv or parquet"}, 400)
        if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
            return self.reply({"ok": False, "error": "Parquet needs pyarrow installed on the server"}, 400)
        exp = self.admin.handle.experiment
        data = await asyncio.get_running_loop().run_in_executor(None, _zip_export, exp.data_location, fmt)
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{exp.experiment_id}-{fmt}.zip"')
        self.finish(data)


def _zip_export(data_path: str | Path, fmt: str) -> bytes:
    from mug.data import export_results

    with tempfile.TemporaryDirectory(prefix="mug-admin-export-") as tmp:
        written = export_results(data_path, tmp, format=fmt)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, arcname=path.name)
        return buffer.getvalue()


class AdminLive(tornado.websocket.WebSocketHandler):
    """``admin/live``: the dashboard's state pushed as it changes; a participant's detail on request.

    Server → page: ``{"type": "state", ...}``, ``{"type": "detail", "participant": {...} | null}``,
    ``{"type": "error", "message"}``. Page → server: ``{"watch": participant_id | null}`` (the
    participant whose detail to keep pushing). Refused (403) before the upgrade without the token.
    """

    def initialize(self, admin: _Admin) -> None:
        self.admin = admin
        self.watching: str | None = None
        self._detail_task: asyncio.Task[None] | None = None

    def prepare(self) -> None:
        given = _given_token(self)
        if not token_ok(given, self.admin.token):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(refusal(given))

    def check_origin(self, origin: str) -> bool:
        return True  # the token is the credential (another site's page cannot know it)

    def get_compression_options(self) -> None:
        return None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        self.admin.dashboard.channels.add(self.close)
        self.admin.dashboard.subscribe(self._push)

    def on_close(self) -> None:
        self.admin.dashboard.channels.discard(self.close)
        self.admin.dashboard.unsubscribe(self._push)

    def _push(self, state: dict[str, Any] | None, news: set[str]) -> None:
        if state is not None:
            self._send({"type": "state", **state})
        if self.watching is not None and self.watching in news:
            self._refresh_detail()

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):
            self.write_message(json.dumps(message, default=str))

    def _refresh_detail(self) -> None:
        pid = self.watching
        if pid is None:
            return

        async def send() -> None:
            found = await self.admin.dashboard.detail(pid)
            if self.watching == pid:
                self._send({"type": "detail", "participant_id": pid, "participant": found})

        self._detail_task = asyncio.get_running_loop().create_task(send())

    def on_message(self, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            watch = request["watch"]
            if watch is not None and (not isinstance(watch, str) or len(watch) > 256):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._send({"type": "error", "message": 'send {"watch": participant_id or null}'})
            return
        self.watching = watch
        self._refresh_detail()


def admin_routes(handle: ServerHandle, token: str, dashboard: Dashboard) -> list[tuple[str, type, dict[str, Any]]]:
    """The ``admin/`` routes of a server (see the module's docstring)."""
    admin = {"admin": _Admin(handle, token, dashboard)}
    return [
        (r"/admin", AdminRedirect, admin),
        (r"/admin/", AdminPage, admin),
        (r"/admin/admin\.js", AdminAsset, {**admin, "name": "admin.js", "content_type": "text/javascript"}),
        (r"/admin/admin\.css", AdminAsset, {**admin, "name": "admin.css", "content_type": "text/css"}),
        (r"/admin/api/state", AdminState, admin),
        (r"/admin/api/participant", AdminParticipant, admin),
        (r"/admin/api/exclude", AdminExclude, admin),
        (r"/admin/download", AdminDownload, admin),
        (r"/admin/live", AdminLive, admin),
        (r"/admin/.*", AdminNotFound, admin),  # anything else under admin/: 403 without the token, else 404
    ]
