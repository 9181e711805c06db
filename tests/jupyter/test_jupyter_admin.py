"""The admin dashboard through JupyterLab's proxy (jupyter-server-proxy): page, live channel, refusal."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from helpers import wait_for

from mug import EndScene, Experiment, StartScene, StaticScene


def test_the_dashboard_works_behind_the_jupyter_proxy(jupyter_lab, serve, participant, browser) -> None:
    exp = Experiment(
        "admin-proxy",
        [StartScene().scene("hello"), StaticScene().scene("middle"), EndScene().scene("bye")],
    )
    server = serve(exp)
    proxied = f"{jupyter_lab.url}proxy/{server.port}/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{proxied}admin/api/state", timeout=10)
    assert refused.value.code == 403

    page = participant(proxied + "?participant=proxied")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    context = browser.new_context()
    try:
        admin = context.new_page()
        admin.set_default_timeout(20_000)
        admin.goto(f"{proxied}admin/?token={server.admin_token}")
        admin.wait_for_function("() => window.mugAdmin && window.mugAdmin.connected")  # the websocket, proxied
        admin.locator('tr[data-participant="proxied"]').wait_for()
        page.get_by_test_id("continue").click()
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="proxied"] [data-testid="participant-scene"]')
                       ?.textContent === 'middle'"""
        )
    finally:
        context.close()
