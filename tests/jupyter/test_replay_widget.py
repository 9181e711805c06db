"""The replay widget in JupyterLab, driven by Chromium: a recorded game's episode replayed in a
notebook cell is drawn by the participants' renderer (the dot where the record has it, moving as the
researcher steps and scrubs), the kernel follows the position, and the divergence of an env made
nondeterministic on purpose is shown at its step and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from helpers import eventually, run_async
from replay_envs import drift_scene

import mug
from mug.replay import replay_game
from mug.widgets import autopilot

TESTS = Path(__file__).resolve().parents[1]
PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{ const p = {PANEL};
    const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;
    return !!(k && k.status === 'idle' && p.content && p.content.widgets.length > 0); }}"""
KERNEL_EXEC = f"""async (code) => {{
    const kernel = {PANEL}.sessionContext.session.kernel;
    const future = kernel.requestExecute({{ code, store_history: false }});
    let out = '', err = '';
    future.onIOPub = (msg) => {{
        if (msg.header.msg_type === 'stream') out += msg.content.text;
        if (msg.header.msg_type === 'error') err += msg.content.ename + ': ' + msg.content.evalue;
    }};
    await future.done;
    return {{ out, err }};
}}"""
# The colour of the canvas pixel at (x, y) of the replay's stage, as [r, g, b]; RED_AT: whether it is the dot's.
PIXEL = """([x, y]) => { const c = document.querySelector('[data-testid=replay-stage] canvas');
    return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)); }"""
RED = (208, 48, 48)  # the dot's fill, #d03030
RED_AT = f"([x, y]) => ({PIXEL})([x, y]).every((v, i) => Math.abs(v - {list(RED)}[i]) <= 12)"


def kernel(page: Any, code: str) -> Any:
    result = page.evaluate(KERNEL_EXEC, code)
    assert not result["err"], result["err"]
    return json.loads(result["out"].strip().splitlines()[-1])


def is_red(pixel: list[int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(pixel, RED, strict=True))


def dot_at(page: Any, x: float) -> bool:
    """Whether the canvas is the dot's red at normalised x (the dot is drawn at y = 0.5 of 400x200)."""
    return is_red(page.evaluate(PIXEL, [round(x * 400), 100]))


def test_the_replay_widget_draws_the_episode_in_jupyterlab_and_shows_the_divergence(
    jupyter_lab, browser, tmp_path: Path
) -> None:
    # Record a game through a real server: 20 steps, an unseeded random number in the reward at step 7.
    exp = mug.Experiment("lab-replay", [drift_scene(length=20, episodes=1, glitch_at=7)], data_dir=tmp_path)
    server = exp.serve()
    try:
        run_async(autopilot(server, "walker", policy=lambda spec, step: 2 if step < 12 else 1))
    finally:
        server.stop()
    game_id = str(exp.results().games.iloc[0]["game_id"])
    # Where the dot is after each step, as the replay rebuilds it (the page must draw it there).
    frames = replay_game(exp.data_path, game_id, frames=True).episodes[1]
    drawn = [frames.reset_frame, *(s.frame for s in frames.steps)]
    xs = [next(o["x"] for o in f["objects"] if o["id"] == "dot") for f in drawn]
    assert abs(xs[12] - xs[0]) > 0.15  # it moved far enough to tell the frames apart

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f"import sys\nsys.path.insert(0, {str(TESTS)!r})  # the env's module, replay_envs\n"
            f"from mug.widgets.replay import replay\nw = replay({str(exp.data_path)!r}, {game_id[:10]!r})\nw"
        )
    ]
    nbformat.write(notebook, jupyter_lab.root / "replay.ipynb")

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{jupyter_lab.url}lab/tree/replay.ipynb?reset")
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector("[data-testid=mug-replay][data-ready=true]", timeout=60_000)

        verdict = page.get_by_test_id("replay-verdict").text_content() or ""
        assert "DIVERGES" in verdict and "first at step 7, rewards.walker" in verdict, verdict
        assert page.locator(".mugw-mark").count() == 1  # the scrub bar marks the one step that differs

        # Position 0: the reset frame, drawn by the participants' renderer.
        page.wait_for_function(RED_AT, arg=[round(xs[0] * 400), 100])
        assert not dot_at(page, xs[12])

        # Step on five times: the kernel follows, the line under the game says where we are.
        for _ in range(5):
            page.get_by_test_id("replay-step").click()
        page.wait_for_function("() => document.querySelector('[data-testid=mug-replay]').dataset.position === '5'")
        assert kernel(page, "import json; print(json.dumps(w.position))") == 5
        assert "step 5/20" in (page.get_by_test_id("replay-step-line").text_content() or "")
        assert page.get_by_test_id("replay-step-divergence").text_content() == ""

        # Scrub to step 7: the divergence of that step is shown, the dot drawn where the record has it.
        scrub = page.get_by_test_id("replay-scrub")
        scrub.evaluate("(el) => { el.value = '7'; el.dispatchEvent(new Event('input')); }")
        page.wait_for_function("() => document.querySelector('[data-testid=mug-replay]').dataset.position === '7'")
        shown = page.get_by_test_id("replay-step-divergence").text_content() or ""
        assert "episode 1, step 7: rewards.walker" in shown, shown

        # From Python: jump to step 12 and the page draws it (the dot has left its first place).
        kernel(page, "w.seek(12); print(12)")
        page.wait_for_function("() => document.querySelector('[data-testid=mug-replay]').dataset.position === '12'")
        page.wait_for_function(RED_AT, arg=[round(xs[12] * 400), 100])
        assert not dot_at(page, xs[0])

        # Play runs to the end on its own, in the page, and stops there.
        page.get_by_test_id("replay-play").click()
        page.wait_for_function("() => document.querySelector('[data-testid=mug-replay]').dataset.position === '20'")
        page.wait_for_function("() => document.querySelector('[data-testid=replay-play]').textContent === 'Play'")
        # (The widget manager batches model updates while the kernel is busy: the kernel catches up.)
        eventually(lambda: kernel(page, "import json; print(json.dumps([w.position, w.playing]))") == [20, False])
    finally:
        context.close()
