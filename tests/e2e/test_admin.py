"""The admin dashboard (docs/admin.md): a real server, the dashboard and participants in Chromium."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile

import pytest
import socketio
from envs import walk_scene
from helpers import eventually, join, run_async, wait_for

from mug import EndScene, Experiment, StartScene, StaticScene

XSS = '<img src=x onerror="window.__pwned=1">'


def study() -> Experiment:
    return Experiment(
        "admin",
        [
            StartScene().scene("hello").display(scene_header="Hello"),
            StaticScene().scene("middle").display(scene_header="Middle"),
            EndScene().scene("bye").display(scene_header="Bye"),
        ],
    )


def fetch(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def live_messages(url: str, count: int) -> list[dict]:
    """Connect to the live channel at `url` and return its first `count` messages (raises on refusal)."""
    import tornado.websocket

    async def run() -> list[dict]:
        conn = await tornado.websocket.websocket_connect(url)
        try:
            return [json.loads(await conn.read_message()) for _ in range(count)]
        finally:
            conn.close()

    return run_async(run())


def dashboard(browser, server):
    """The admin dashboard in a browser context of its own, once its live channel is up."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server.admin_url)
    page.wait_for_function("() => window.mugAdmin && window.mugAdmin.connected && window.mugAdmin.updates > 0")
    return context, page


def row_cell(page, participant_id: str, cell: str) -> str:
    return page.locator(f'tr[data-participant="{participant_id}"] [data-testid="participant-{cell}"]').inner_text()


def test_every_admin_route_and_the_live_channel_refuse_requests_without_the_token(serve) -> None:
    server = serve(study())
    token = server.admin_token
    assert len(token) >= 24 and server.admin_url == f"{server.url}admin/?token={token}"
    routes = ["admin", "admin/", "admin/admin.js", "admin/admin.css", "admin/api/state",
              "admin/api/participant?participant_id=x", "admin/download", "admin/download?format=parquet",
              "admin/anything"]  # fmt: skip
    for route in routes:
        sep = "&" if "?" in route else "?"
        status, body = fetch(server.url + route)
        assert status == 403 and b"no admin token was given" in body, route
        status, body = fetch(f"{server.url}{route}{sep}token={token[:-1]}")
        assert status == 403 and b"the admin token is wrong" in body, route
        assert fetch(server.url + route, {"Authorization": "Bearer " + token + "x"})[0] == 403, route
    excluded = json.dumps({"participant_id": "x", "message": "bye"}).encode()
    assert fetch(server.url + "admin/api/exclude", {"Content-Type": "application/json"}, excluded)[0] == 403
    # With the token (in the query, or as a bearer token).
    status, page = fetch(server.admin_url)
    assert status == 200 and b"admin.js?token=" in page
    status, body = fetch(server.url + "admin/api/state", {"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["scenes"] == ["hello", "middle", "bye"]

    # The live channel: refused at the handshake without the token or with a wrong one.
    ws = server.url.replace("http://", "ws://") + "admin/live"
    import tornado.httpclient

    for url in (ws, f"{ws}?token=", f"{ws}?token={token}x"):
        with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
            live_messages(url, 1)
        assert refused.value.code == 403
    (first,) = live_messages(f"{ws}?token={token}", 1)
    assert first["type"] == "state" and first["scenes"] == ["hello", "middle", "bye"]


def test_the_researcher_can_set_the_token_and_a_weak_one_is_refused(serve, monkeypatch) -> None:
    server = serve(study(), admin_token="my-own-admin-token-123")
    assert server.admin_token == "my-own-admin-token-123"
    assert fetch(server.url + "admin/?token=my-own-admin-token-123")[0] == 200
    server.stop()
    monkeypatch.setenv("MUG_ADMIN_TOKEN", "from-the-environment-42")
    server = serve(study())
    assert server.admin_token == "from-the-environment-42"
    server.stop()
    monkeypatch.delenv("MUG_ADMIN_TOKEN")
    first = serve(study())
    first.stop()
    second = serve(study())
    assert first.admin_token != second.admin_token  # made anew at every serve(): no default
    second.stop()
    for weak in ("", "short", "has spaces in it, sadly", "x" * 300):
        with pytest.raises(ValueError, match="admin token must be 16-256 characters"):
            serve(study(), admin_token=weak)
    monkeypatch.setenv("MUG_ADMIN_TOKEN", "short")
    with pytest.raises(ValueError, match="MUG_ADMIN_TOKEN"):
        serve(study())


def test_the_dashboard_shows_a_participant_moving_through_scenes_live(serve, participant, browser) -> None:
    server = serve(study())
    context, admin = dashboard(browser, server)
    try:
        admin.evaluate("() => { window.__sameDashboard = true; }")  # gone if the page reloaded
        page = participant(server.url + "?participant=walker")
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        admin.locator('tr[data-participant="walker"]').wait_for()
        assert row_cell(admin, "walker", "scene") == "hello"
        assert row_cell(admin, "walker", "status") == "active (opened only)"

        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'middle' && m.status === 'ready'")
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="walker"] [data-testid="participant-scene"]')
                       ?.textContent === 'middle'"""
        )
        assert row_cell(admin, "walker", "status") == "active"
        # The participant hides the tab: the dashboard shows it.
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="walker"] [data-testid="participant-focus"]')
                       ?.textContent === 'hidden'"""
        )
        shown = "() => { delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); }"
        page.evaluate(shown)
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="walker"] [data-testid="participant-focus"]')
                       ?.textContent === 'focused'"""
        )

        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'bye'")
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="walker"]')?.dataset.status === 'completed'"""
        )
        assert row_cell(admin, "walker", "scene") == "bye"
        assert admin.evaluate("() => window.__sameDashboard === true")  # pushed, not reloaded

        # The participant's detail: their scenes, live.
        admin.locator('tr[data-participant="walker"] [data-testid="open-participant"]').click()
        admin.wait_for_function("() => window.mugAdmin.detail && window.mugAdmin.detail.participant_id === 'walker'")
        visits = admin.get_by_test_id("detail-visits").inner_text()
        assert "hello" in visits and "middle" in visits and "bye" in visits
        assert "join" in admin.get_by_test_id("detail-timeline").inner_text()
    finally:
        context.close()


def test_excluding_a_participant_from_the_dashboard_ends_their_study_for_good(serve, participant, browser) -> None:
    server = serve(study())
    page = participant(server.url + "?participant=leaver")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    context, admin = dashboard(browser, server)
    try:
        admin.locator('tr[data-participant="leaver"] [data-testid="open-participant"]').click()
        admin.get_by_test_id("exclude-button").click()  # no message yet: refused, says why
        admin.wait_for_function("() => window.mugAdmin.lastAction && !window.mugAdmin.lastAction.ok")
        assert "message" in admin.get_by_test_id("action-result").inner_text()
        admin.get_by_test_id("exclude-message").fill("Your session was flagged; thank you for your time.")
        admin.get_by_test_id("exclude-button").click()
        admin.wait_for_function("() => window.mugAdmin.lastAction && window.mugAdmin.lastAction.ok")

        # The participant's page ends at once, with the message and a completion code.
        wait_for(page, "m.sceneType === 'completion_code'")
        code = page.get_by_test_id("completion-code").inner_text().strip()
        assert len(code) == 10
        assert "Your session was flagged; thank you for your time." in page.locator("#mug-root").inner_text()
        assert page.get_by_test_id("continue").count() == 0

        # A reload shows the same ending: they stay excluded.
        page.reload()
        wait_for(page, "m.sceneType === 'completion_code' && m.connected")
        assert page.get_by_test_id("completion-code").inner_text().strip() == code
        assert "Your session was flagged" in page.locator("#mug-root").inner_text()

        # The dashboard lists the exclusion; the data records it with its reason and the code.
        admin.wait_for_function(
            """() => document.querySelector('tr[data-participant="leaver"]')?.dataset.status === 'excluded'"""
        )
        assert "flagged" in admin.get_by_test_id("exclusions").inner_text()
        assert "excluded" in admin.get_by_test_id("problems").inner_text()
        people = server.results().participants.set_index("participant_id")
        assert people.loc["leaver", "status"] == "excluded"
        assert people.loc["leaver", "completion_code"] == code
        events = server.results().events
        excluded = events[(events["participant_id"] == "leaver") & (events["kind"] == "excluded")]
        assert len(excluded) == 1

        # Excluding again is refused, naming why.
        with pytest.raises(ValueError, match="excluded already"):
            server.exclude("leaver", "again")
    finally:
        context.close()


def test_participant_supplied_strings_show_as_text_never_as_html(serve, browser) -> None:
    server = serve(study())
    # The id pattern (A-Z a-z 0-9 _ . : @ -) keeps markup out of ids; the link's other values, the
    # user agent and the page's error messages are the participant's own text.
    person = browser.new_context(user_agent=f"Mozilla/5.0 {XSS}")
    context, admin = dashboard(browser, server)
    try:
        page = person.new_page()
        page.goto(server.url + "?participant=markup&note=" + urllib.request.quote(XSS))
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        # An uncaught error on the participant's page, with markup in its message.
        page.evaluate("(msg) => { setTimeout(() => { throw new Error(msg); }, 0); }", XSS)
        admin.wait_for_function(
            "(msg) => [...document.querySelectorAll('[data-testid=problem]')].some(li => li.textContent.includes(msg))",
            arg=XSS,
        )
        admin.locator('tr[data-participant="markup"] [data-testid="open-participant"]').click()
        admin.wait_for_function(
            "() => window.mugAdmin.detail && window.mugAdmin.detail.events.some(e => e.kind === 'client_log')"
        )
        facts = admin.get_by_test_id("detail-facts").inner_text()
        assert XSS in facts  # the user agent and the link's `note`, as the characters they are
        assert facts.count(XSS) == 2
        assert XSS in admin.get_by_test_id("detail-errors").inner_text()
        assert admin.locator("img").count() == 0
        assert admin.evaluate("() => window.__pwned") is None
        # The error is in the data as a page event.
        events = server.results(include_idle=True).events
        logged = events[(events["participant_id"] == "markup") & (events["kind"] == "client_log")]
        assert logged["data.message"].iloc[0].endswith(XSS) and logged["data.level"].iloc[0] == "error"
    finally:
        context.close()
        person.close()


def test_the_data_download_works_with_the_token_and_is_refused_without(serve, participant, browser) -> None:
    server = serve(study())
    page = participant(server.url + "?participant=downloader")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'middle'")

    assert fetch(server.url + "admin/download?format=csv")[0] == 403
    assert fetch(server.url + "admin/download?format=csv&token=wrong-token-wrong-token")[0] == 403
    status, body = fetch(f"{server.url}admin/download?format=parquet&token={server.admin_token}")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "participants.parquet" in archive.namelist() and "experiment.json" in archive.namelist()
    status, body = fetch(f"{server.url}admin/download?format=xlsx&token={server.admin_token}")
    assert status == 400 and b"unknown format" in body

    # From the dashboard: the download link gives a CSV zip with the participant in it.
    context, admin = dashboard(browser, server)
    try:
        with admin.expect_download() as download:
            admin.get_by_test_id("download-csv").click()
        path = download.value.path()
        with zipfile.ZipFile(path) as archive:
            assert "scene_visits.csv" in archive.namelist()
            participants = archive.read("participants.csv").decode()
        assert "downloader" in participants
    finally:
        context.close()


def test_a_participant_excluded_mid_game_leaves_it_at_once(serve, participant, browser) -> None:
    game = walk_scene(length=100_000)
    exp = Experiment("admin-game", [StartScene().scene("hello"), game, EndScene().scene("bye")])
    server = serve(exp, reconnect_grace_s=1.0)
    page = participant(server.url + "?participant=player")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'walk' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.step > 5")

    # The dashboard lists the running game: its player, mode and fps.
    context, admin = dashboard(browser, server)
    try:
        admin.get_by_test_id("game-row").wait_for()
        cells = admin.get_by_test_id("game-row").locator("td").all_inner_texts()
        assert cells[1:4] == ["walk", "server", "running"] and cells[4] == "player (walker)" and cells[6] == "30"
        assert cells[7].endswith(" ms")  # tick lateness
    finally:
        context.close()

    reply = server.exclude("player", "The researcher ended your session.", reason="test exclusion")
    wait_for(page, "m.sceneType === 'completion_code'")
    assert page.get_by_test_id("completion-code").inner_text().strip() == reply["completion_code"]
    assert "The researcher ended your session." in page.locator("#mug-root").inner_text()
    # Gone from the game as if their page had closed: it ends as abandoned once the grace is over.
    eventually(lambda: server.stats()["games"] == 0)
    results = server.results()
    assert list(results.games["outcome"]) == ["abandoned"]
    person = results.participants.set_index("participant_id").loc["player"]
    assert person["status"] == "excluded" and person["completion_code"] == reply["completion_code"]
    events = results.events
    assert events[events["kind"] == "excluded"]["data.reason"].tolist() == ["test exclusion"]


def test_the_page_reports_its_uncaught_errors_within_its_limits(serve, participant) -> None:
    server = serve(study())
    page = participant(server.url + "?participant=thrower")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.evaluate(
        """() => {
            for (let i = 0; i < 8; i++) setTimeout(() => { throw new Error('boom ' + (i % 2)); }, 0);
            setTimeout(() => Promise.reject(new Error('late')), 0);
            // A page event after them: the server handles one page's events in order.
            setTimeout(() => window.dispatchEvent(new Event('blur')), 0);
        }"""
    )

    def events():
        found = server.results(include_idle=True).events
        return found[found["participant_id"] == "thrower"]

    eventually(lambda: (events()["kind"] == "client_blur").any())
    logged = events()[events()["kind"] == "client_log"]
    # At most 5 a minute, the same error at most 3 times: boom 0, 1, 0, 1, 0 are sent, the rest not.
    assert [m.removeprefix("Uncaught Error: ") for m in logged["data.message"]] == [
        "boom 0", "boom 1", "boom 0", "boom 1", "boom 0",
    ]  # fmt: skip
    assert set(logged["data.level"]) == {"error"} and set(logged["data.type"]) == {"error"}
    assert logged["data.line"].notna().all()


def test_the_problems_feed_shows_refused_events_and_disconnects(serve, browser) -> None:
    server = serve(study())
    context, admin = dashboard(browser, server)
    try:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        assert join(client, server, "scripted")["participant_id"] == "scripted"
        reply = client.call("advance", {"scene_id": "nowhere"})
        assert reply["ok"] is False
        client.disconnect()
        feed = admin.get_by_test_id("problems")
        admin.wait_for_function(
            """() => ['refused', 'disconnect'].every(kind => [...document.querySelectorAll('[data-testid=problem]')]
                       .some(li => li.dataset.kind === kind && li.textContent.includes('scripted')))"""
        )
        refused = feed.locator('[data-kind="refused"]').first.inner_text()
        assert "'advance'" in refused and "nowhere" in refused
    finally:
        context.close()
