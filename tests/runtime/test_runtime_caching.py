"""The MUG server's caching of the client's files: Pyodide's and onnxruntime's files live under a
path naming the build (``static/v/<build>/vendor/...``) and are immutable, so a warm page load asks
the server nothing about them; everything else keeps its rule (``?v=`` cacheable, else no-cache)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from mug import Experiment, StartScene
from mug.server.web.app import IMMUTABLE


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_vendor_files_under_the_build_version_are_immutable(serve) -> None:
    server = serve(Experiment("caching", [StartScene()]))
    _, _, page = fetch(server.url)
    config = re.search(rb'<script id="mug-config" type="application/json">(.*?)</script>', page)
    assert config
    version = json.loads(config.group(1))["version"]
    base = f"{server.url}static/v/{version}/vendor/"

    status, headers, body = fetch(base + "pyodide/pyodide.asm.wasm")
    assert status == 200 and body[:4] == b"\0asm"
    assert headers["Content-Type"] == "application/wasm"
    assert headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    for name in (
        "pyodide/pyodide.mjs",
        "pyodide/pyodide-lock.json",
        "pyodide/python_stdlib.zip",
        "ort/ort-wasm-simd-threaded.wasm",
    ):
        status, headers, _ = fetch(base + name)
        assert (status, headers["Cache-Control"]) == (200, IMMUTABLE), name
    status, headers, body = fetch(base + "pyodide/pyodide.mjs", method="HEAD")
    assert (status, headers["Cache-Control"], body) == (200, IMMUTABLE, b"")

    # Another build's name still gets today's files, but uncached: never stored under the old URL.
    status, headers, _ = fetch(f"{server.url}static/v/0123456789ab/vendor/pyodide/pyodide.mjs")
    assert (status, headers["Cache-Control"]) == (200, "no-cache")
    # The unversioned paths keep the old rule.
    assert fetch(f"{server.url}static/vendor/pyodide/pyodide.mjs")[1]["Cache-Control"] == "no-cache"
    assert "immutable" not in fetch(f"{server.url}static/app.js?v={version}")[1]["Cache-Control"]
    # No way out of the build folder.
    assert fetch(f"{server.url}static/v/{version}/%2E%2E/%2E%2E/server/app.py")[0] in (403, 404)
    assert fetch(f"{server.url}static/v/{version}/nothing.js")[0] == 404
