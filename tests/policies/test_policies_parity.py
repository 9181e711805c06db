"""Browser (onnxruntime-web) and server (onnxruntime) policies agree: logits within 1e-5, same actions.

The browser side is mug/client/test/policies/browser_harness.ts, bundled here with esbuild and served
with the client build's dist/vendor/ort and the test's models by a Tornado static server on
127.0.0.1. Every request the page makes must stay on that server.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from policies_models import N_OBS, build_ff, build_lstm, observations
from runtime.runtime_site import SiteServer, guard_network

from mug.policies import ModelConfig, OnnxPolicy, make_policy

CLIENT = Path(__file__).resolve().parents[2] / "mug" / "client"
ORT_DIST = CLIENT / "dist" / "vendor" / "ort"
ESBUILD = CLIENT / "node_modules" / ".bin" / "esbuild"
TOLERANCE = 1e-5
STEPS = 40


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    if not (ORT_DIST / "ort-wasm-simd-threaded.wasm").exists():
        pytest.fail(f"{ORT_DIST} is missing: build the client (cd mug/client && npm ci && node scripts/build.mjs)")
    root = tmp_path_factory.mktemp("parity_site")
    started = time.perf_counter()
    subprocess.run(
        [str(ESBUILD), "test/policies/browser_harness.ts", "--bundle", "--format=esm", "--target=es2022",
         f"--outfile={root / 'harness.js'}", "--log-level=warning"],
        cwd=CLIENT, check=True, timeout=60,
    )  # fmt: skip
    bundle_s = time.perf_counter() - started
    (root / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>policy parity</title>'
        '<script type="module" src="harness.js"></script>'
    )
    models = root / "models"
    models.mkdir()
    paths = {"ff": build_ff(models / "ff.onnx"), "lstm": build_lstm(models / "lstm.onnx")}
    server = SiteServer(root)  # / -> the test folder, /static/ -> the client build (vendor/ort)
    url = server.start()
    try:
        yield {"url": url, "models": paths, "bundle_s": bundle_s}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(browser, site) -> Iterator[Any]:
    """One page on the harness; any request that leaves the test server is aborted and recorded."""
    context = browser.new_context()
    outside = guard_network(context, site["url"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site["url"])
    page.wait_for_function("window.mugPolicyHarness && window.mugPolicyHarness.ready")
    # The guard works: a request elsewhere is aborted and recorded (TEST-NET-1, never routable).
    assert page.evaluate("fetch('http://192.0.2.1/probe').then(() => 'sent', () => 'blocked')") == "blocked"
    assert outside == ["http://192.0.2.1/probe"]
    outside.clear()
    yield page
    context.close()
    assert not outside, f"the page tried to reach the network: {outside}"
    assert not errors, f"page errors: {errors}"


def configs(site: dict[str, Any], **extra: Any) -> dict[str, ModelConfig]:
    m = site["models"]
    return {
        "ff": ModelConfig(m["ff"], "obs", "logits", fixed_inputs={"temperature": 1.5}, **extra),
        "lstm": ModelConfig(m["lstm"], "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"], **extra),
    }


def episodes() -> list[dict[str, Any]]:
    a, b = observations(STEPS, seed=21), observations(STEPS, seed=22)
    # Three episodes, reset before each: the third repeats the first's seed and observations.
    return [{"seed": 1001, "observations": a}, {"seed": 1002, "observations": b}, {"seed": 1001, "observations": a}]


def server_run(policy: Any, onnx: OnnxPolicy, eps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[float]]:
    out, step_ms = [], []
    for ep in eps:
        policy.reset(ep["seed"])
        actions, logits = [], []
        for obs in ep["observations"]:
            t = time.perf_counter()
            actions.append(policy.act(obs))
            step_ms.append((time.perf_counter() - t) * 1000)
            logits.append(onnx.last_logits.tolist())
        out.append({"actions": actions, "logits": logits})
    return out, step_ms


def browser_run(page: Any, spec: dict[str, Any], agent_id: str, eps: list[dict[str, Any]]) -> dict[str, Any]:
    return page.evaluate("(r) => window.mugPolicyHarness.run(r)", {"spec": spec, "agentId": agent_id, "episodes": eps})


@pytest.mark.parametrize("model", ["ff", "lstm"])
def test_browser_and_server_agree_on_logits_and_sampled_actions(page, site, model):
    config = configs(site)[model]
    started = time.perf_counter()
    onnx = OnnxPolicy(config, "ai")  # first use of this model file: creates its session
    server_create_ms = (time.perf_counter() - started) * 1000
    eps = episodes()
    server, server_ms = server_run(onnx, onnx, eps)
    browser = browser_run(page, config.client_spec(f"models/{model}.onnx"), "ai", eps)

    worst = 0.0
    for k, (s, b) in enumerate(zip(server, browser["episodes"], strict=True)):
        diff = np.abs(np.asarray(s["logits"]) - np.asarray(b["logits"], dtype=np.float64))
        worst = max(worst, float(diff.max()))
        assert diff.max() <= TOLERANCE, f"episode {k}: logits differ by {diff.max():.3g}"
        assert b["actions"] == s["actions"], f"episode {k}: sampled actions differ"
    # The reset between episodes really resets: the third episode repeats the first on both sides.
    assert server[2] == server[0]
    assert browser["episodes"][2]["actions"] == browser["episodes"][0]["actions"]
    assert len(set(server[0]["actions"])) > 1  # sampling, not a constant policy

    bench = page.evaluate(
        "([spec, obs]) => window.mugPolicyHarness.bench(spec, obs, 300)",
        [config.client_spec(f"models/{model}.onnx"), [0.1] * N_OBS],
    )
    print(
        f"\n[policy timings] {model}: server first session {server_create_ms:.1f} ms, "
        f"step median {statistics.median(server_ms):.3f} ms; browser createPolicy {browser['createMs']:.1f} ms, "
        f"step mean {bench['totalMs'] / bench['steps']:.3f} ms; max |logit diff| {worst:.2g}; "
        f"harness bundle {site['bundle_s'] * 1000:.0f} ms"
    )


def test_frame_skip_is_the_same_on_both_sides(page, site):
    config = configs(site, frame_skip=3)["lstm"]
    policy = make_policy(config, agent_id="partner")
    eps = episodes()[:2]
    server, _ = server_run(policy, policy.policy, eps)  # type: ignore[attr-defined]
    browser = browser_run(page, config.client_spec("models/lstm.onnx"), "partner", eps)
    for s, b in zip(server, browser["episodes"], strict=True):
        assert b["actions"] == s["actions"]
        assert all(s["actions"][t] == s["actions"][t - t % 3] for t in range(STEPS))


CUSTOM_FN = """
// The declarative LSTM path written by hand: state kept in context.state, sampling through context.sample.
const T = context.ort.Tensor;
const zeros = () => new T("float32", new Float32Array(16), [1, 1, 16]);
const feeds = {
  obs: new T("float32", Float32Array.from(observation), [1, 6]),
  h_in: context.state.h ?? zeros(),
  c_in: context.state.c ?? zeros(),
};
const out = await session.run(feeds);
context.state.h = out.h_out;
context.state.c = out.c_out;
const logits = Array.from(out[modelConfig.logit_output].data);
return { action: context.sample(logits), best: logits.indexOf(Math.max(...logits)), step: context.step };
"""


def test_custom_inference_fn_is_used_in_the_browser(page, site):
    m = site["models"]
    custom = ModelConfig(
        m["lstm"], "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"], custom_inference_fn=CUSTOM_FN
    )
    declarative = configs(site)["lstm"]
    onnx = OnnxPolicy(declarative, "ai")
    eps = episodes()
    server, _ = server_run(onnx, onnx, eps)
    browser = browser_run(page, custom.client_spec("models/lstm.onnx"), "ai", eps)
    for s, b in zip(server, browser["episodes"], strict=True):
        assert [a["step"] for a in b["actions"]] == list(range(STEPS))
        assert [a["action"] for a in b["actions"]] == s["actions"]
        assert [a["best"] for a in b["actions"]] == [int(np.argmax(x)) for x in s["logits"]]
        assert b["logits"] == [None] * STEPS  # the declarative path did not run
