"""Entry screening in real pages: the device from the browser's User-Agent, the researcher's
callback on the link's query, and a callback that fails letting people in (recorded)."""

from __future__ import annotations

from helpers import wait_for

from mug import CompletionCodeScene, Experiment, StartScene

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


def study(name: str) -> Experiment:
    return Experiment(name, [StartScene().scene("hello"), CompletionCodeScene().scene("end")])


def screened_out(page, message: str) -> str:
    wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert message in page.get_by_test_id("scene-body").inner_text()
    return page.get_by_test_id("completion-code").inner_text()


def test_a_phone_is_screened_out_with_the_message_and_a_reload_keeps_it_out(serve, browser, participant) -> None:
    exp = study("phones").entry_screening(device_exclusion="mobile", exclusion_messages={"mobile": "Use a computer."})
    server = serve(exp)
    context = browser.new_context(user_agent=IPHONE, viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        phone.goto(f"{server.url}?participant=phone")
        code = screened_out(phone, "Use a computer.")
        phone.reload()
        assert screened_out(phone, "Use a computer.") == code
    finally:
        context.close()
    desk = participant(f"{server.url}?participant=desk")  # Chromium on a desktop enters
    wait_for(desk, "m.sceneId === 'hello' && m.status === 'ready'")
    people = exp.results(include_idle=True).participants.set_index("participant_id")
    assert people.loc["phone", "status"] == "excluded" and people.loc["phone", "completion_code"] == code
    assert people.loc["desk", "status"] == "active"
    ev = exp.results(include_idle=True).events
    ended = ev[(ev["kind"] == "ended_early") & (ev["participant_id"] == "phone")]
    assert list(ended["data.reason"]) == ["screened_out"]


def test_an_entry_callback_screens_by_the_links_query_and_one_that_raises_lets_people_in(serve, participant) -> None:
    def closed_to_pilots(context) -> dict:
        return {"exclude": context.query.get("group") == "pilot", "message": "This study is closed to pilots."}

    exp = study("callback").entry_screening(entry_callback=closed_to_pilots)
    server = serve(exp)
    screened_out(participant(f"{server.url}?participant=p1&group=pilot"), "This study is closed to pilots.")
    wait_for(participant(f"{server.url}?participant=m1&group=main"), "m.sceneId === 'hello' && m.status === 'ready'")

    def broken(context) -> dict:
        raise RuntimeError("the sheet of allowed ids is unreachable")

    exp2 = study("broken").entry_screening(entry_callback=broken)
    server2 = serve(exp2)
    wait_for(participant(f"{server2.url}?participant=x1"), "m.sceneId === 'hello' && m.status === 'ready'")
    ev = exp2.results(include_idle=True).events
    [error] = [r for _, r in ev[ev["kind"] == "screening_error"].iterrows()]
    assert error["participant_id"] == "x1" and error["data.let_in"] is True
    assert "RuntimeError: the sheet of allowed ids is unreachable" in error["data.error"]


def test_a_slow_connection_is_screened_out_by_the_median_of_its_first_round_trips(serve, participant) -> None:
    from urllib.parse import urlparse

    from benchmarks.p2p_netdelay import DelayProxy

    exp = study("pings").entry_screening(max_ping_ms=120, min_ping_measurements=3)
    server = serve(exp)
    near = participant(f"{server.url}?participant=near")
    wait_for(near, "m.sceneId === 'hello' && m.status === 'ready'")
    with DelayProxy(urlparse(server.url).port, 100) as slow:  # 200 ms round trips
        far = participant(f"{slow.url}?participant=far")
        screened_out(far, "too slow")
        far.reload()
        screened_out(far, "too slow")
    assert near.evaluate("window.mug.sceneType") == "start"
    ev = exp.results(include_idle=True).events
    checks = {r["participant_id"]: r for _, r in ev[ev["kind"] == "screening_ping"].iterrows()}
    assert checks["near"]["data.passed"] is True and checks["near"]["data.median_ms"] < 120
    assert checks["far"]["data.passed"] is False and checks["far"]["data.median_ms"] > 120
    assert len(checks["far"]["data.samples"]) == 3
    assert len(ev[(ev["kind"] == "screening_ping") & (ev["participant_id"] == "far")]) == 1  # not screened twice
