"""MUG behind a real nginx load balancer (docs/deploy.md): real `mug serve` processes, real Chromium.

What a deployment behind a load balancer relies on, checked from the participant's side:

* one process behind nginx: the page, the client bundle and the runtime assets come through the
  proxy unchanged, the page's Socket.IO websocket is upgraded through it, a server-authoritative
  game is played to the end and recorded; the admin dashboard through the proxy refuses requests
  without its token and shows the participant live with it;
* two processes behind one nginx (each its own SQLite folder, no shared state): participants'
  connections are spread over both (their records land in both folders), and after one process
  is SIGKILLed a new participant's page still loads and connects — nginx passes over the dead
  process (``proxy_next_upstream``) to the survivor;
* the nginx configuration docs/deploy.md gives, taken from the page as written (only addresses,
  ports and certificate paths replaced), with TLS: a participant's page and websocket over
  https/wss, plain HTTP redirected, a killed process passed over.

The parts are started and stopped by tests/cluster.py. About 30 s on 2 shared cores.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Cluster, LoadBalancer, MugServer, free_port
from helpers import eventually, start_walking, wait_for

from mug import load_results

TESTS = Path(__file__).resolve().parent.parent
DEPLOY_DOC = TESTS.parent / "docs" / "deploy.md"

STUDY = """
import sys
sys.path.insert(0, {tests!r})
from envs import walk_scene
from mug import CompletionCodeScene, Experiment, StartScene

experiment = Experiment(
    "lb", [StartScene().scene("hello"), walk_scene(length=60), CompletionCodeScene().scene("end")]
)
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Servers and nginx of one test, all stopped afterwards (also when the test fails)."""
    with Cluster(tmp_path / "cluster") as parts:
        yield parts


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "study.py"
    path.write_text(STUDY.format(tests=str(TESTS)))
    return path


@pytest.fixture
def pages(browser) -> Iterator[object]:
    """Factory: a participant's page in a browser context of its own, recording every response and
    websocket before it navigates; the contexts are closed after the test."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.responses, page.websockets = [], []  # type: ignore[attr-defined]
        page.on("response", lambda r: page.responses.append((r.url, r.status)))  # type: ignore[attr-defined]
        page.on("websocket", lambda ws: page.websockets.append(ws.url))  # type: ignore[attr-defined]
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def participants_of(server: MugServer) -> set[str]:
    """The participants recorded in this server's own data folder (pages opened count too)."""
    folder = server.data_dir / "lb"
    if not (folder / "mug.sqlite3").exists():
        return set()
    return set(load_results(folder, include_idle=True).participants["participant_id"])


def logged(lb: LoadBalancer, uri_start: str, status: str) -> list[dict[str, str]]:
    return [r for r in lb.access_log() if r["uri"].startswith(uri_start) and r["status"] == status]


def test_a_participant_plays_a_game_through_nginx_and_the_admin_needs_its_token(
    cluster, study, pages, browser
) -> None:
    (server,) = cluster.servers(study, 1)
    lb = cluster.load_balancer([server.port])

    page = pages(lb.url + "?participant=alice")
    start_walking(page)
    wait_for(page, "m.status === 'running' && m.render.framesApplied > 0")
    wait_for(page, "m.sceneId === 'end' && m.status === 'ended'", timeout=60_000)
    page.keyboard.up("ArrowRight")

    # Everything the page loaded came through nginx, and its websocket was upgraded there.
    origin = lb.url.rstrip("/")
    assert page.websockets == [f"ws://127.0.0.1:{lb.port}/socket.io/?EIO=4&transport=websocket"]
    assert all(url.startswith(origin) for url, _ in page.responses), page.responses
    assert all(status < 400 for _, status in page.responses), page.responses
    loaded = {re.sub(r"\?.*", "", url[len(origin) :]) for url, _ in page.responses}
    assert {"/", "/static/app.js", "/static/app.css"} <= loaded, loaded

    # The game was played and recorded in full.
    results = load_results(server.data_dir / "lb")
    steps = results.steps
    assert set(steps["participant_id"]) == {"alice"}
    assert list(steps["step"]) == list(range(1, 61))
    assert 2 in set(steps["action"])  # the held key reached the server through the proxy
    people = results.participants.set_index("participant_id")
    assert people.loc["alice", "status"] == "completed"
    assert people.loc["alice", "completion_code"] == page.get_by_test_id("completion-code").inner_text()

    # The client bundle and a runtime file come through the proxy byte for byte, headers kept.
    version = re.search(r'static/app\.js\?v=([0-9a-f]+)', fetch(lb.url)[2].decode()).group(1)
    for path in (f"static/app.js?v={version}", f"static/v/{version}/vendor/pyodide/pyodide.asm.wasm"):
        proxied, direct = fetch(lb.url + path), fetch(server.url + path)
        assert proxied[0] == direct[0] == 200, path
        assert proxied[2] == direct[2], path
        for header in ("Content-Type", "Cache-Control"):
            assert proxied[1][header] == direct[1][header], (path, header)
    assert fetch(lb.url + f"static/v/{version}/vendor/pyodide/pyodide.asm.wasm")[1]["Content-Type"] == (
        "application/wasm"
    )

    # The admin dashboard through the proxy: refused without the token, live with it.
    for route in ("admin/", "admin/api/state", "admin/download"):
        status, _, body = fetch(lb.url + route)
        assert status == 403 and b"no admin token was given" in body, route
    status, _, body = fetch(f"{lb.url}admin/api/state?token={server.admin_token}")
    assert status == 200 and b"alice" in body
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        admin = context.new_page()
        admin.goto(f"{lb.url}admin/?token={server.admin_token}")
        admin.wait_for_function("() => window.mugAdmin && window.mugAdmin.connected && window.mugAdmin.updates > 0")
        admin.locator('tr[data-participant="alice"]').wait_for()
    finally:
        context.close()

    # nginx logged the page's websocket as upgraded (101) by the backend once the page closed it.
    page.context.close()
    upgrade = eventually(lambda: logged(lb, "/socket.io/", "101"))
    assert upgrade[0]["upstream"] == f"127.0.0.1:{server.port}"


def test_two_processes_share_the_participants_and_a_killed_one_is_passed_over(cluster, study, pages) -> None:
    servers = cluster.servers(study, 2)  # each with its own SQLite folder: no shared state yet
    lb = cluster.load_balancer([s.port for s in servers])

    # Two participants: least_conn gives the second websocket to the process without one.
    first = pages(lb.url + "?participant=p1")
    wait_for(first, "m.connected && m.sceneId === 'hello' && m.status === 'ready'")
    second = pages(lb.url + "?participant=p2")
    wait_for(second, "m.connected && m.sceneId === 'hello' && m.status === 'ready'")
    eventually(lambda: participants_of(servers[0]) | participants_of(servers[1]) == {"p1", "p2"})
    assert {frozenset(participants_of(s)) for s in servers} == {frozenset({"p1"}), frozenset({"p2"})}

    # The process holding p1 crashes; p2's carries on.
    dead, survivor = (servers[0], servers[1]) if participants_of(servers[0]) == {"p1"} else (servers[1], servers[0])
    killed_at = time.time()
    dead.kill()

    # A new participant's page loads and connects through nginx, to the survivor, and carries on.
    third = pages(lb.url + "?participant=p3")
    wait_for(third, "m.connected && m.sceneId === 'hello' && m.status === 'ready'")
    third.get_by_test_id("continue").click()
    wait_for(third, "m.sceneId === 'walk' && m.status === 'waiting_start'")
    assert all(status < 400 for _, status in third.responses), third.responses
    eventually(lambda: "p3" in participants_of(survivor))
    assert second.evaluate("window.mug.connected && window.mug.sceneId") == "hello"
    assert len(second.websockets) == 1  # never dropped

    # p1's page reconnects by itself, through nginx, to the survivor (which, sharing no state with
    # the dead process, takes p1 for a newcomer: docs/deploy.md says why a deployment shares it).
    eventually(lambda: "p1" in participants_of(survivor))
    wait_for(first, "m.connected && m.sceneId === 'hello'")
    assert first.websockets == 2 * [f"ws://127.0.0.1:{lb.port}/socket.io/?EIO=4&transport=websocket"]

    # Every request since the kill was answered by the survivor, none failed; nginx tried the dead
    # process (refused at once) for the first of them and then passed it over. (A websocket is
    # logged when it closes: the pages are closed first.)
    for page in (first, second, third):
        page.context.close()
    dead_addr, live_addr = f"127.0.0.1:{dead.port}", f"127.0.0.1:{survivor.port}"
    opened = sum(len(page.websockets) for page in (first, second, third))
    eventually(lambda: len(logged(lb, "/socket.io/", "101")) == opened)
    after = lb.requests_since(killed_at)
    assert after and all(int(r["status"]) < 500 and r["upstream"].endswith(live_addr) for r in after), after
    assert any(r["upstream"] == f"{dead_addr}, {live_addr}" for r in after), after
    assert any(dead_addr in line and "Connection refused" in line for line in lb.error_log().splitlines())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def docs_nginx_site(port: int, http_port: int, backends: list[int], cert: Path, key: Path) -> str:
    """docs/deploy.md's nginx configuration as written, on 127.0.0.1 ports with a test certificate."""
    (block,) = re.findall(r"```nginx\n(.*?)```", DEPLOY_DOC.read_text(), flags=re.S)
    servers = re.findall(r"^ *server 127\.0\.0\.1:\d+ (.*);$", block, flags=re.M)
    assert servers and len(set(servers)) == 1, servers
    ours = "".join(f"    server 127.0.0.1:{b} {servers[0]};\n" for b in backends)
    site, n = re.subn(r"(^ *server 127\.0\.0\.1:\d+ .*;\n)+", ours, block, flags=re.M)
    assert n == 1, "docs/deploy.md's upstream block lists its processes on consecutive lines"
    replacements = [
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        (r"ssl_certificate +\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};"),
    ]
    for pattern, replacement in replacements:
        site, n = re.subn(pattern, replacement, site)
        assert n == 1, f"docs/deploy.md's nginx block has {n} lines matching {pattern!r}"
    return site


def test_the_nginx_config_of_the_deploy_doc_serves_the_study_over_tls(
    cluster, study, browser, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    servers = cluster.servers(study, 2)
    http_port = free_port()
    lb = cluster.load_balancer(
        [s.port for s in servers],
        site=lambda port: docs_nginx_site(port, http_port, [s.port for s in servers], cert, key),
        scheme="https",
    )
    trusted = ssl.create_default_context(cafile=str(cert))

    # Plain HTTP is sent to https; the page and its websocket come over TLS.
    try:
        urllib.request.build_opener(NoRedirect).open(f"http://127.0.0.1:{http_port}/?participant=x", timeout=30)
        raise AssertionError("plain HTTP was not redirected")
    except urllib.error.HTTPError as exc:
        assert exc.code == 301 and exc.headers["Location"] == "https://127.0.0.1/?participant=x"
    context = browser.new_context(ignore_https_errors=True)  # (the test's own certificate)
    try:
        page = context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(lb.url + "?participant=tls")
        wait_for(page, "m.connected && m.sceneId === 'hello' && m.status === 'ready'")
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'walk' && m.status === 'waiting_start'")
        assert sockets == [f"wss://127.0.0.1:{lb.port}/socket.io/?EIO=4&transport=websocket"]
    finally:
        context.close()
    eventually(lambda: participants_of(servers[0]) | participants_of(servers[1]) == {"tls"})

    # A killed process is passed over: every request still answered, over TLS.
    servers[0].kill()
    for _ in range(4):
        status, _, body = fetch(lb.url + "health", trusted)
        assert status == 200 and body == b'{"ok": true}'
    refused = [line for line in lb.error_log().splitlines() if "Connection refused" in line]
    assert any(f"127.0.0.1:{servers[0].port}" in line for line in refused), refused
