"""HTTP hardening: no 500 for odd paths, security headers everywhere, a CSP that keeps the page working."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from helpers import run_async, wait_for
from policies.policies_models import build_constant_bot

from mug import CompletionCodeScene, Experiment, GymScene, StartScene, StaticScene
from mug.policies import ModelConfig
from mug.server.web.app import FRAME_ANCESTORS, make_app
from mug.server.web.assets import RuntimeFiles
from mug.server.web.transport import DirectSocketServer


def _experiment(tmp_path, name: str = "headers") -> Experiment:
    return Experiment(name, [StartScene().scene("a"), StaticScene().scene("b")], data_dir=tmp_path)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_nul_byte_in_a_file_path_is_not_found_rather_than_a_server_error(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:
        base = f"http://127.0.0.1:{server.port}"
        _, _, page = fetch(base + "/")
        version = page.decode().split("static/app.js?v=")[1].split('"')[0]
        for path in [
            "/static/%00",
            "/static/%00/app.js",
            "/static/app.js%00",
            "/static/v/x/%00",
            f"/static/v/{version}/%00",
            "/wheels/%00",
            "/models/%00",
            "/models/a%00b.onnx",
        ]:
            status, _, _ = fetch(base + path)
            assert status in (400, 404), f"GET {path} answered {status}"


def test_every_response_says_nosniff_and_the_page_carries_a_csp_that_local_notebooks_may_frame(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:
        base = f"http://127.0.0.1:{server.port}"
        page_status, page, body = fetch(base + "/")
        assert page_status == 200 and b"static/app.js" in body
        csp = page["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["frame-ancestors"].split() == list(FRAME_ANCESTORS)
        assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
        assert "'wasm-unsafe-eval'" in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
        assert "X-Frame-Options" not in page  # it would forbid the notebook preview's frame
        assert page["Referrer-Policy"] == "same-origin"
        for path in [
            "/",
            "/static/app.js",
            "/static/app.css?v=1",
            "/static/worker.js",
            "/static/nothing.js",
            "/health",
        ]:
            status, headers, _ = fetch(base + path)
            assert headers.get("X-Content-Type-Options") == "nosniff", f"GET {path} ({status}) lacks nosniff"
            assert headers.get("Referrer-Policy") == "same-origin", f"GET {path} ({status}) lacks Referrer-Policy"
        status, headers, _ = fetch(base + "/socket.io/?EIO=4&transport=polling")
        assert status == 200 and headers.get("X-Content-Type-Options") == "nosniff"


def test_the_frame_ancestors_are_a_parameter_of_the_app(tmp_path) -> None:
    import tornado.httpserver
    import tornado.netutil
    from tornado.httpclient import AsyncHTTPClient

    exp = _experiment(tmp_path)

    async def page_csp() -> str:
        app = make_app(DirectSocketServer(async_mode="tornado"), "t", RuntimeFiles(exp), ["https://lab.example.org"])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        http = tornado.httpserver.HTTPServer(app)
        http.add_sockets(sockets)
        try:
            response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{sockets[0].getsockname()[1]}/")
            return response.headers["Content-Security-Policy"]
        finally:
            http.stop()

    assert "frame-ancestors https://lab.example.org" in run_async(page_csp())


@contextmanager
def framing_page(host: str, target: str) -> Iterator[str]:
    """A page (like a notebook's) at http://{host}:<port>/ showing `target` in an iframe."""
    html = f'<!doctype html><title>notebook</title><iframe src="{target}" width="900" height="600"></iframe>'.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_of_another_local_origin_can_frame_the_participant_page(tmp_path, participant) -> None:
    with _experiment(tmp_path).serve() as server:
        target = f"http://127.0.0.1:{server.port}/?participant="
        ready = "() => window.mug && window.mug.sceneId === 'a' && window.mug.status === 'ready'"
        for origin in ["http://127.0.0.1", "http://localhost"]:  # (a notebook at localhost:8888 is the latter)
            with framing_page("127.0.0.1", target + origin[7:]) as url:  # a participant per frame
                page = participant(url.replace("http://127.0.0.1", origin))
                frame = page.locator("iframe").element_handle().content_frame()
                assert frame is not None
                frame.wait_for_function(ready)
        # An origin not in the list (another loopback address) is refused the frame.
        with framing_page("127.0.0.2", target + "refused") as url:
            page = participant(url)
            with page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=20_000):
                page.reload()


# A pure-Python two-agent env (it runs in Pyodide): the participant and an ONNX bot pull a ball.
TUG = """
from mug.env import Surface
from mug.env.spaces import Discrete

class Tug:
    possible_agents = ["me", "bot"]

    def __init__(self, length=45):
        self.length = length
        self.surface = Surface(200, 100)

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.t, self.x = 0, 0.5
        return {a: [self.x] for a in self.possible_agents}, {a: {} for a in self.possible_agents}

    def step(self, actions):
        self.t += 1
        self.x = min(1.0, max(0.0, self.x + (actions["bot"] - actions["me"]) * 0.005))
        obs = {a: [self.x] for a in self.possible_agents}
        done = self.t >= self.length
        return obs, {a: 0.0 for a in obs}, {a: done for a in obs}, {a: False for a in obs}, {a: {} for a in obs}

    def render(self):
        self.surface.circle(self.x, 0.5, 0.05, fill="#d03030", id="ball")
        return self.surface.commit()

env = Tug()
"""

#: Collects the page's CSP violations (the document's securitypolicyviolation events).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"}`);
});
"""


def test_a_client_side_game_with_an_onnx_policy_runs_without_a_csp_violation(tmp_path, browser, serve) -> None:
    bot = ModelConfig(build_constant_bot(tmp_path / "bot.onnx"), obs_input="obs", logit_output="logits")
    game = (
        GymScene()
        .scene("tug")
        .runtime(env_code=TUG)
        .rendering(fps=30, game_width=200, game_height=100)
        .gameplay(action_mapping={"ArrowLeft": 0, "ArrowRight": 2}, default_action=1)
        .policies(policy_mapping={"me": "human", "bot": bot})
        .environment(seed=1)
    )
    welcome = StartScene().scene("hello").display(scene_body='<p id="styled" style="color: rgb(1, 2, 3)">Hello</p>')
    server = serve(Experiment("csp", [welcome, game, CompletionCodeScene().scene("end")]))
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(server.url)
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") == "rgb(1, 2, 3)"
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'tug' && m.status === 'waiting_start'", timeout=60_000)
        page.get_by_test_id("start-game").click()
        wait_for(page, "m.sceneId === 'end'", timeout=90_000)
        violations = page.evaluate("window.__cspViolations")
    finally:
        context.close()
    assert violations == [], violations
    assert not [text for text in console if "Content Security Policy" in text], console
    steps = server.results().steps
    assert len(steps) == 45 and set(steps["action.bot"]) == {2}  # the ONNX policy ran on the page
