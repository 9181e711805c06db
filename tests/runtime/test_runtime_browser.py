"""The client-side runtime in headless Chromium: Pyodide + the env + the game loop in a Web Worker.

The page is mug/client/test/runtime/harness.ts (bundled here with esbuild) next to the client
build's dist/ (worker.js, vendor/pyodide, vendor/ort), a mug env zip, a test wheel and a test model,
all served by a Tornado server on 127.0.0.1 (runtime_site.py). Every request that would leave that
server is aborted and fails the test. What the worker computes is compared with CPython running the
same env through mug.env.EnvAdapter (and mug.policies for the ONNX bot), as the server would.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from policies.policies_models import build_ff
from runtime_site import (
    CATCH_CODE,
    FIVE_ACTIONS_CODE,
    SiteServer,
    build_site,
    build_wheel,
    check_build,
    game_spec,
    guard_network,
)

from mug.env import EnvAdapter, RenderDiffer, to_jsonable
from mug.policies import ModelConfig, make_policy

BROKEN_CODE = """
from mug.env.examples import CatchEnv


class Broken(CatchEnv):
    def step(self, action):
        if self._state["steps"] == 4:
            raise RuntimeError("the env broke on purpose")
        return super().step(action)


env = Broken()
"""

WHEEL_CODE = """
import mugtestpkg
from mug.env.examples import CatchEnv

env = CatchEnv(render_mode="mug", max_drops=mugtestpkg.MAX_DROPS)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    check_build()  # a missing build fails the fixture with the command to run
    root = build_site(tmp_path_factory.mktemp("runtime_site"))
    (root / "wheels").mkdir()
    wheel = build_wheel(root / "wheels", "mugtestpkg", "1.0", {"mugtestpkg/__init__.py": "MAX_DROPS = 2\n"})
    (root / "models").mkdir()
    model = build_ff(root / "models" / "ff.onnx")
    server = SiteServer(root)
    url = server.start()
    try:
        yield {"url": url, "server": server, "wheel": wheel.name, "model": model}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def outside() -> list[str]:
    """Requests of the module's page (and its worker) that tried to leave the site."""
    return []


@pytest.fixture(scope="module")
def page(browser, site, outside) -> Iterator[Any]:
    """One page with a preloaded runtime; requests leaving the site are aborted and fail the module."""
    context = browser.new_context()
    guard_network(context, site["url"], outside)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site["url"])
    page.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
    # The guard works: a request elsewhere is aborted and recorded (TEST-NET-1, never routable).
    assert page.evaluate("fetch('http://192.0.2.1/probe').then(() => 'sent', () => 'blocked')") == "blocked"
    assert outside == ["http://192.0.2.1/probe"]
    outside.clear()
    started = time.perf_counter()
    preload = page.evaluate("window.mugRuntimeHarness.preload()")
    print(f"\n[runtime] preload {preload['ms']:.0f} ms (test wall {time.perf_counter() - started:.2f} s)")
    assert [label for _, label in preload["progress"]] == ["pyodide", "micropip", "mug env runtime", "ready"]
    yield page
    context.close()
    assert not outside, f"the page tried to reach the network: {outside}"
    assert not errors, f"page errors: {errors}"


def run(page: Any, spec: dict[str, Any], **options: Any) -> dict[str, Any]:
    return page.evaluate("([s, o]) => window.mugRuntimeHarness.run(s, o)", [spec, options])


def records(log: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["payload"] for r in log["records"] if r["kind"] == kind]


def cpython_replay(code: str, log: dict[str, Any], agents: list[str], seed: int) -> None:
    """Replay the browser's recorded actions in CPython; rewards, flags, infos and frames must agree."""
    steps, episodes = records(log, "step"), records(log, "episode")
    frames = log["frames"]
    namespace: dict[str, Any] = {}
    exec(compile(code, "<env_code>", "exec"), namespace)
    adapter, differ = EnvAdapter(namespace["env"], agents), RenderDiffer()
    expected_frames = []
    for k, episode in enumerate(episodes):
        assert episode["seed"] == seed + k
        adapter.reset(seed=seed + k)
        expected_frames.append(differ.diff(adapter.render()))
        for row in (s for s in steps if s["episode"] == k + 1):
            result = adapter.step(row["actions"])
            assert row["rewards"] == result.rewards, f"episode {k + 1} step {row['step']}"
            assert row["infos"] == to_jsonable(result.infos)
            assert row["terminated"] == any(result.terminated.values())
            assert row["truncated"] == any(result.truncated.values())
            if row["observations"] is not None:
                assert row["observations"] == to_jsonable(result.observations)
            expected_frames.append(differ.diff(adapter.render()))
    assert [f["state"] for f in frames] == expected_frames


PROBE_CODE = """
import js

request = js.XMLHttpRequest.new()
request.open("GET", "http://192.0.2.1/worker-probe", False)  # synchronous: allowed in a worker
try:
    request.send()
    PROBE = "sent"
except Exception:
    PROBE = "blocked"

from mug.env.examples import CatchEnv

env = CatchEnv(render_mode="mug")
env.PROBE = PROBE
"""


def test_the_network_guard_covers_the_worker(page, outside):
    """The guard sees (and aborts) the worker's requests too, so the module's check covers Pyodide."""
    log = run(page, game_spec(envCode=PROBE_CODE, maxSteps=1, pace="unpaced"))
    assert log["result"] == "done", log["errors"]
    assert outside == ["http://192.0.2.1/worker-probe"]
    outside.clear()


# -- a human plays CatchEnv ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def catch_log(page) -> dict[str, Any]:
    """Two real-time episodes at 60 fps; the human presses 'right' at step 5 and 'left' in episode 2."""
    spec = game_spec(numEpisodes=2, maxSteps=30, resetFreezeS=0.2, seed=7, hud="Catch the fruit")
    actions = [{"episode": 1, "step": 5, "action": 2}, {"episode": 2, "step": 3, "action": 1}]
    return run(page, spec, actions=actions)


def test_catch_runs_in_the_worker_with_frames_and_records(catch_log):
    log = catch_log
    assert log["result"] == "done", log["errors"]
    assert log["errors"] == []
    assert [(s["status"], s["info"]["episode"]) for s in log["statuses"]] == [
        ("loading", 0), ("running", 1), ("resetting", 2), ("running", 2), ("done", 2),
    ]  # fmt: skip
    assert log["statuses"][2]["info"]["freezeS"] == 0.2
    frames = log["frames"]
    assert len(frames) == 2 + 60  # a reset frame per episode + one per step
    assert [f["full"] for f in frames] == [True] + [False] * 61
    assert {o["id"] for o in frames[0]["state"]["objects"]} >= {"sky", "ground"}
    assert all(f["hud"] == "Catch the fruit" for f in frames)
    assert [(f["episode"], f["step"]) for f in frames[:3]] == [(1, 0), (1, 1), (1, 2)]

    steps = records(log, "step")
    assert [(s["episode"], s["step"]) for s in steps] == [(e, t) for e in (1, 2) for t in range(1, 31)]
    assert list(steps[0]) == [
        "game_id", "episode", "step", "scene_id", "t", "actions", "rewards", "terminated", "truncated",
        "infos", "observations",
    ]  # fmt: skip
    assert steps[0]["game_id"] == "g-catch" and steps[0]["scene_id"] == "catch"
    assert steps[0]["observations"] is None
    assert set(steps[0]["infos"]["player"]) == {"caught", "missed", "drops"}
    episodes = records(log, "episode")
    assert [list(e) for e in episodes] == [
        ["game_id", "episode", "scene_id", "participant_ids", "seed", "started_at", "ended_at", "num_steps",
         "returns", "terminated", "truncated", "outcome"],
    ] * 2  # fmt: skip
    assert [(e["episode"], e["seed"], e["num_steps"], e["participant_ids"]) for e in episodes] == [
        (1, 7, 30, ["p1"]), (2, 8, 30, ["p1"]),
    ]  # fmt: skip
    assert all(e["truncated"] and not e["terminated"] and e["outcome"] == "completed" for e in episodes)
    for e in episodes:
        rows = [s for s in steps if s["episode"] == e["episode"]]
        assert e["returns"] == {"player": sum(s["rewards"]["player"] for s in rows)}
    assert log["records"][-1]["kind"] == "episode"
    # Real time: 30 steps at 60 fps take ~0.5 s; the worker's clock keeps the schedule.
    t = [s["t"] for s in steps[:30]]
    assert 0.4 < t[-1] - t[0] < 0.75
    assert log["stats"]["ticks"] == 60
    print(f"\n[runtime] catch: env step {log['stats']['envMs']['mean']:.2f} ms mean; tick lateness p95 "
          f"{log['stats']['lateMs']['p95']:.2f} ms")  # fmt: skip


def test_human_actions_from_set_action_are_in_the_step_records(catch_log):
    steps = records(catch_log, "step")
    ep1 = [s["actions"]["player"] for s in steps if s["episode"] == 1]
    ep2 = [s["actions"]["player"] for s in steps if s["episode"] == 2]
    # setAction(2) on the frame of step 5 reaches the worker a tick or a few later (the page's
    # thread may lag on a busy machine), and is held from then on.
    first = ep1.index(2)
    assert 5 <= first <= 15, ep1
    assert set(ep1[:first]) == {0} and set(ep1[first:]) == {2}
    # pressed_keys: the held action carries into episode 2 until setAction(1).
    first = ep2.index(1)
    assert 3 <= first <= 15 and set(ep2[:first]) == {2} and set(ep2[first:]) == {1}, ep2


def test_an_action_set_while_the_game_loads_is_held_from_the_first_step(page):
    log = page.evaluate(
        "(s) => { const h = window.mugRuntimeHarness; h.start(s); h.setAction(2); return h.wait(); }",
        game_spec(maxSteps=5, pace="unpaced"),
    )
    assert [s["actions"]["player"] for s in records(log, "step")] == [2] * 5


def test_same_seed_same_trajectory_as_cpython(catch_log):
    cpython_replay(CATCH_CODE, catch_log, ["player"], seed=7)


# -- bots ---------------------------------------------------------------------------------------


def test_onnx_bot_acts_in_the_worker_like_the_server_policy(page, site):
    config = ModelConfig(site["model"], "obs", "logits", fixed_inputs={"temperature": 1.0})
    model = config.client_spec(f"{site['url']}models/ff.onnx")
    spec = game_spec(
        envCode=FIVE_ACTIONS_CODE, agents=["ai"], policies={"ai": {"kind": "onnx", "model": model}},
        numEpisodes=2, maxSteps=25, seed=40, recordObservations=True, pace="unpaced",
    )  # fmt: skip
    log = run(page, spec)
    assert log["result"] == "done", log["errors"]
    steps = records(log, "step")
    assert len(steps) == 50
    cpython_replay(FIVE_ACTIONS_CODE, log, ["ai"], seed=40)
    # The server's OnnxPolicy, reset with the same episode seeds, picks the same actions.
    namespace: dict[str, Any] = {}
    exec(FIVE_ACTIONS_CODE, namespace)
    adapter = EnvAdapter(namespace["env"], ["ai"])
    policy = make_policy(config, agent_id="ai")
    expected = []
    for k in range(2):
        obs = adapter.reset(seed=40 + k)["ai"]
        policy.reset(40 + k)
        for _ in range(25):
            action = policy.act(obs)
            expected.append(action)
            obs = adapter.step({"ai": action}).observations["ai"]
    assert [s["actions"]["ai"] for s in steps] == expected
    assert len(set(expected)) > 1
    stats = log["stats"]
    assert stats["policyMs"]["count"] == 50
    print(f"\n[runtime] onnx bot: inference {stats['policyMs']['mean']:.3f} ms mean per step in the worker")


def test_random_bot_draws_from_the_agents_pcg32_stream(page):
    from mug.policies import agent_rng

    spec = game_spec(agents=["ai"], policies={"ai": {"kind": "random"}}, numEpisodes=2, maxSteps=20, pace="unpaced")
    log = run(page, spec)
    assert log["result"] == "done", log["errors"]
    actions = [s["actions"]["ai"] for s in records(log, "step")]
    expected = []
    for k in range(2):
        rng = agent_rng(7 + k, "ai")
        expected += [int(rng.uniform() * 3) for _ in range(20)]
    assert actions == expected


# -- packages -----------------------------------------------------------------------------------


def test_micropip_installs_a_wheel_served_by_our_server(page, site):
    wheel_url = f"{site['url']}wheels/{site['wheel']}"
    spec = game_spec(envCode=WHEEL_CODE, packages=[wheel_url], maxSteps=400, pace="unpaced")
    log = run(page, spec)
    assert log["result"] == "done", log["errors"]
    episode = records(log, "episode")[0]
    assert episode["terminated"]  # the env got max_drops=2 from the installed package
    assert episode["num_steps"] < 400
    assert records(log, "step")[-1]["infos"]["player"]["drops"] == 2
    assert any(r.startswith(f"/wheels/{site['wheel']}") for r in site["server"].requests)
    assert any("packages" in p[1] for p in log["progress"])


def test_a_package_that_cannot_be_installed_fails_clearly(page, site):
    missing = f"{site['url']}wheels/nothere-1.0-py3-none-any.whl"
    log = run(page, game_spec(packages=[missing]))
    assert log["result"] == "error"
    assert log["errors"][0]["message"].startswith(f"Could not install package {missing}: ")
    assert log["statuses"][-1]["status"] == "error"
    (event,) = records(log, "event")
    assert event["kind"] == "load_error" and event["data"]["game_id"] == "g-catch"
    # A name that is neither a URL nor in the Pyodide lock: micropip does not go to PyPI.
    log = run(page, game_spec(packages=["no-such-package-mug"]))
    assert log["errors"][0]["message"].startswith("Could not install package no-such-package-mug: ")


# -- errors -------------------------------------------------------------------------------------


def test_an_exception_in_step_stops_the_game_with_the_traceback(page):
    log = run(page, game_spec(envCode=BROKEN_CODE, maxSteps=50, pace="unpaced"))
    assert log["result"] == "error"
    ((message, traceback),) = [(e["message"], e["traceback"]) for e in log["errors"]]
    assert "RuntimeError: the env broke on purpose" in message
    assert 'File "<env_code>", line 8, in step' in traceback
    assert 'raise RuntimeError("the env broke on purpose")' in traceback
    (event,) = records(log, "event")
    assert event["kind"] == "env_error"
    assert event["data"] == {
        "game_id": "g-catch", "episode": 1, "step": 4, "error": "RuntimeError: the env broke on purpose",
        "traceback": traceback,
    }  # fmt: skip
    assert len(records(log, "step")) == 4
    assert log["records"][-1]["kind"] == "event"
    assert log["statuses"][-1]["status"] == "error"
    assert "stopped because of an error" in log["statuses"][-1]["info"]["message"]


@pytest.mark.parametrize(
    ("code", "kind", "expected"),
    [
        ("x = 1\n", "load_error", "The env code did not define an env: the env code ran but did not define `env`"),
        ("import nowhere_to_be_found\n", "env_error", "The env code raised an exception: ModuleNotFoundError"),
    ],
)
def test_env_code_that_defines_no_env_fails_clearly(page, code, kind, expected):
    log = run(page, game_spec(envCode=code))
    assert log["result"] == "error"
    assert log["errors"][0]["message"].startswith(expected)
    assert [r["kind"] for r in records(log, "event")] == [kind]
    assert log["frames"] == [] and records(log, "step") == []
    assert [s["status"] for s in log["statuses"]] == ["loading", "error"]


# -- the clock and control ----------------------------------------------------------------------


def test_the_worker_keeps_time_while_the_main_thread_is_blocked(page):
    """The simulation clock is in the worker: a main thread that cannot run (as in a throttled
    background tab) does not stop or slow the game. Frames and records queue up and arrive later."""
    page.evaluate("(s) => window.mugRuntimeHarness.start(s)", game_spec(fps=30, maxSteps=45))
    page.wait_for_function("window.mugRuntimeHarness.current().frames.length >= 5")
    blocked = page.evaluate(
        """() => {
            const from = Date.now() / 1000;
            const until = performance.now() + 800;
            while (performance.now() < until) {}  // the page's thread is busy for 0.8 s
            return [from, Date.now() / 1000];
        }"""
    )
    page.wait_for_function("window.mugRuntimeHarness.current().result !== null")
    log = page.evaluate("window.mugRuntimeHarness.current()")
    assert log["result"] == "done"
    t = [s["t"] for s in records(log, "step")]
    during = [x for x in t if blocked[0] <= x <= blocked[1]]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    # ~24 ticks at 30 fps in 0.8 s; margins for a busy 2-core machine (other tests, the busy loop itself).
    assert len(during) >= 16, f"{len(during)} ticks in the 0.8 s the main thread was blocked; gaps {gaps}"
    assert max(gaps) < 0.2, gaps


def test_the_game_ignores_the_page_becoming_hidden(page):
    """A hidden page (visibilityState, as the participant page reports it) changes nothing in the loop.
    Real background-tab throttling cannot be produced in headless Chromium (every page stays visible),
    which is why the test above blocks the main thread instead; see docs/runtime.md."""
    page.evaluate("(s) => window.mugRuntimeHarness.start(s)", game_spec(fps=60, maxSteps=30))
    page.wait_for_function("window.mugRuntimeHarness.current().frames.length >= 3")
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    page.wait_for_function("window.mugRuntimeHarness.current().result !== null")
    page.evaluate("delete document.visibilityState; delete document.hidden")
    log = page.evaluate("window.mugRuntimeHarness.current()")
    assert log["result"] == "done" and len(records(log, "step")) == 30


def test_stop_ends_the_game_and_the_runtime_runs_the_next_one(page):
    log = run(page, game_spec(fps=60, maxSteps=300), stopAt={"episode": 1, "step": 10})
    assert log["result"] == "done"
    steps = records(log, "step")
    assert len(steps) == 10  # records come before their frame; the page stopped on frame 10
    stopped = log["records"][-1]
    assert stopped["kind"] == "event" and stopped["payload"]["kind"] == "game_stopped"
    assert stopped["payload"]["data"] == {"game_id": "g-catch", "episode": 1, "step": 10}
    assert not records(log, "episode")
    assert log["statuses"][-1]["status"] == "running"  # no "done": the page stopped it
    again = run(page, game_spec(maxSteps=5, pace="unpaced"))
    assert again["result"] == "done" and len(records(again, "step")) == 5
    # Nothing of the stopped game arrived later (its worker messages are ignored).
    previous = page.evaluate("window.mugRuntimeHarness.history().at(-2)")
    assert len(previous["frames"]) == len(log["frames"]) and len(previous["records"]) == len(log["records"])


def test_run_twice_at_once_is_refused(page):
    page.evaluate("(s) => window.mugRuntimeHarness.start(s)", game_spec(fps=30, maxSteps=300))
    refused = page.evaluate(
        """(s) => window.mugRuntimeHarness.run(s).then(() => 'ran', (e) => String(e))""",
        game_spec(),
    )
    page.evaluate("window.mugRuntimeHarness.stop()")
    assert "a game is already running" in refused


# -- loading failures ---------------------------------------------------------------------------


def test_load_failures_name_what_failed(browser, site):
    context = browser.new_context()
    outside = guard_network(context, site["url"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(site["url"])
        page.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
        message = page.evaluate(
            """() => { try { window.mugRuntimeHarness.reset({workerUrl: 'static/worker.js'}); return 'accepted'; }
                       catch (e) { return String(e); } }"""
        )
        assert "urls.workerUrl must be an absolute URL" in message
        page.evaluate("window.mugRuntimeHarness.reset({workerUrl: new URL('static/nope.js', location.href).href})")
        log = run(page, game_spec())
        assert log["result"] == "error"
        assert log["errors"][0]["message"].startswith("The runtime worker failed")
        assert records(log, "event")[0]["kind"] == "load_error"
        page.evaluate("window.mugRuntimeHarness.reset({pyodideBase: new URL('static/none/', location.href).href})")
        log = run(page, game_spec())
        assert log["result"] == "error"
        assert log["errors"][0]["message"].startswith("Could not load Pyodide from ")
        assert "static/none/pyodide.mjs" in log["errors"][0]["message"]
        page.evaluate("window.mugRuntimeHarness.reset({mugEnvZipUrl: new URL('none.zip', location.href).href})")
        log = run(page, game_spec())
        assert log["errors"][0]["message"].startswith("Could not download the mug env runtime from ")
        assert json.dumps(log["records"]).count("load_error") == 1
    finally:
        page.evaluate("window.mugRuntimeHarness.terminate()")
        context.close()
    assert not outside, outside


def test_a_package_index_serves_pyodide_packages_but_micropip_stays_ours(browser, site):
    """packageIndexUrl: Pyodide-built packages (numpy) are fetched from it, micropip still from
    pyodideBase. No Pyodide numpy exists offline here, so the index is an empty folder of our
    server: the install fails, but only after asking that index for the lock's numpy wheel."""
    context = browser.new_context()
    outside = guard_network(context, site["url"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(site["url"])
        page.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
        page.evaluate("window.mugRuntimeHarness.reset({packageIndexUrl: new URL('index/', location.href).href})")
        log = run(page, game_spec(packages=["numpy"]))
        message = log["errors"][0]["message"]
        assert message.startswith("Could not install package numpy: numpy was not installed"), message
        assert message.endswith(f"[package index: {site['url']}index/]"), message
        requests = site["server"].requests
        assert any(r.startswith("/static/vendor/pyodide/micropip-") for r in requests)
        assert any(r.startswith("/index/numpy-") and r.endswith(".whl") for r in requests), requests[-5:]
        log = run(page, game_spec(maxSteps=3, pace="unpaced"))  # a game without packages runs
        assert log["result"] == "done"
    finally:
        page.evaluate("window.mugRuntimeHarness.terminate()")
        context.close()
    assert not outside, outside


def test_preload_is_idempotent(page):
    first = page.evaluate("window.mugRuntimeHarness.preload()")
    again = page.evaluate("window.mugRuntimeHarness.preload()")
    assert again["ms"] < 50 and again["progress"] == [[1, "ready"]]
    assert first["progress"][-1] == [1, "ready"]
