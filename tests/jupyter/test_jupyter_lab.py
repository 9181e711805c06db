"""The quick-start notebook in JupyterLab, driven by Chromium: play the preview widget with the
keyboard and see the kernel's env change; then play one episode through the proxied participant URL
and find its steps in results()."""

from __future__ import annotations

import json
from typing import Any

from helpers import hold_key_for_steps, wait_for

NOTEBOOK = "01_quickstart.ipynb"

# The notebook panel Lab shows, once its kernel is ready.
PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{ const p = {PANEL};
    const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;
    return !!(k && k.status === 'idle' && p.content && p.content.widgets.length > 0); }}"""

# Runs code in the notebook's kernel (as a cell would) and returns what it printed.
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


def kernel(page: Any, code: str) -> Any:
    """Run ``code`` in the notebook's kernel; it must print one JSON value, which is returned."""
    result = page.evaluate(KERNEL_EXEC, code)
    assert not result["err"], result["err"]
    return json.loads(result["out"].strip().splitlines()[-1])


def run_all_but_last(page: Any) -> None:
    """Run every cell above the last one (the last stops the server) and wait until they ran."""
    page.evaluate(
        f"""() => {{ const p = {PANEL}; p.content.activeCellIndex = p.content.widgets.length - 1;
            return window.jupyterapp.commands.execute('notebook:run-all-above'); }}"""
    )
    page.wait_for_function(
        f"""() => {{ const p = {PANEL}; const cells = p.content.widgets.slice(0, -1);
            const k = p.sessionContext.session.kernel;
            return k.status === 'idle' && cells.every((c) => c.model.type !== 'code' || c.model.executionCount); }}""",
        timeout=90_000,
    )
    errors = page.evaluate(
        f"""() => {PANEL}.content.widgets.flatMap((c) => c.model.type !== 'code' ? [] :
            Array.from({{ length: c.model.outputs.length }}, (_, i) => c.model.outputs.get(i).toJSON())
                .filter((o) => o.output_type === 'error'))"""
    )
    assert not errors, errors


def test_jupyter_lab_quickstart_preview_and_proxied_participant(jupyter_lab, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{jupyter_lab.url}lab/tree/{NOTEBOOK}?reset")
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        run_all_but_last(page)

        # The preview says plainly what it is; only serve()'s cell shows a banner with a participant link.
        notice = page.get_by_test_id("preview-notice").text_content() or ""
        assert "not the study" in notice and "discarded" in notice, notice
        banners = page.evaluate(
            f"""() => {PANEL}.content.widgets.map((c) => c.model.type === 'code' &&
                JSON.stringify(Array.from({{ length: c.model.outputs.length }},
                    (_, i) => c.model.outputs.get(i).toJSON())).includes('is running. Participants'))"""
        )
        assert [i for i, shown in enumerate(banners) if shown] == [8], banners  # `server = exp.serve()`

        # The preview widget: the participant page in a frame, served through the Jupyter proxy.
        frame_el = page.locator("[data-testid=preview-frame]")
        frame_el.scroll_into_view_if_needed()
        src = frame_el.get_attribute("src") or ""
        assert src.startswith(f"{jupyter_lab.url}proxy/"), src
        frame = frame_el.element_handle().content_frame()
        assert frame is not None
        wait_for(frame, "m.status === 'waiting_start'")
        before = kernel(page, "import json; print(json.dumps(preview.env is None))")
        assert before is True  # no game yet: no env in the kernel

        frame.get_by_test_id("start-game").click()
        frame.get_by_test_id("game").click()  # focus: keys go to the game only while it has it
        assert page.evaluate("() => document.activeElement && document.activeElement.tagName") == "IFRAME"
        # The notebook page's keyboard: the keys go wherever the focus is, here the game's frame.
        start = wait_for(frame, "m.status === 'running' && m.step")
        page.keyboard.down("ArrowLeft")
        wait_for(frame, "m.step >= arg", start + 20)
        page.keyboard.up("ArrowLeft")

        state = kernel(
            page,
            "import json; s = preview.env.get_state(); "
            "print(json.dumps({'paddle_x': s['paddle_x'], 'step': preview.step, 'status': preview.status, "
            "'actions': sorted(set(int(a) for a in preview.results().steps.action))}))",
        )
        assert state["paddle_x"] < 0.5, state  # the basket moved left, in the kernel's env
        assert state["step"] > 0 and 1 in state["actions"], state
        # Focus back on the notebook: the game releases the keys, and keys pressed now never reach it.
        page.locator(".jp-MarkdownCell").first.click()
        assert page.evaluate("() => document.activeElement && document.activeElement.tagName") != "IFRAME"
        step = wait_for(frame, "m.step")
        page.keyboard.down("ArrowRight")
        wait_for(frame, "m.step >= arg", step + 15)  # > 2 mirror updates
        page.keyboard.up("ArrowRight")
        assert kernel(page, "import json; print(json.dumps(preview.action))") == "0"
        # The kernel's view is mirrored under the game.
        page.wait_for_function(
            "() => /step [1-9]/.test(document.querySelector('[data-testid=preview-kernel-status]').textContent)"
        )

        # A participant on the proxied URL plays one episode to the end.
        url = kernel(page, "import json; print(json.dumps(server.url))")
        assert url.startswith(f"{jupyter_lab.url}proxy/"), url
        participant = context.new_page()
        participant.goto(url)
        wait_for(participant, "m.status === 'ready' && m.sceneId === 'welcome'")
        participant.get_by_test_id("continue").click()
        wait_for(participant, "m.status === 'waiting_start'")
        participant.get_by_test_id("start-game").click()
        hold_key_for_steps(participant, "ArrowRight", 10)
        wait_for(participant, "m.sceneId === 'feedback'", timeout=60_000)
        pid = participant.evaluate("() => window.mug.participantId")

        data = kernel(
            page,
            f"import json; r = exp.results(); pid = {pid!r}; s = r.steps[r.steps.participant_id == pid]; "
            "played = r.episodes.participant_ids.map(lambda ids: pid in ids); "
            "print(json.dumps({'steps': len(s), 'episodes': int(played.sum()), 'last_step': int(s.step.max())}))",
        )
        assert data["episodes"] == 1 and data["steps"] == data["last_step"] > 0, data

        kernel(page, "import json; server.stop(); preview.stop(); print(json.dumps(True))")
        # Installing mug-py enabled its server extension: proxied websockets have TCP_NODELAY on.
        assert "MUG: TCP_NODELAY on for websockets proxied by jupyter-server-proxy" in jupyter_lab.log.read_text()
    finally:
        context.close()
