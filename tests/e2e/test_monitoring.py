"""Continuous monitoring in real pages: a tab hidden too long mid-game, and a slow connection.

A headless browser never hides its tab, so the test hides it the way the page sees it: it sets
`document.visibilityState` to "hidden" and fires `visibilitychange` (the page reports exactly what it
would report for a real hidden tab). The slow connection is real: the page loads the study through
a TCP proxy on 127.0.0.1 that holds every byte 100 ms each way.
"""

from __future__ import annotations

from urllib.parse import urlparse

from envs import race_scene
from helpers import wait_for

from benchmarks.p2p_netdelay import DelayProxy
from mug import CompletionCodeScene, Experiment, StartScene

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def to_game(page) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


def test_a_tab_hidden_past_the_exclusion_time_ends_the_study_mid_game_and_the_partner_follows(
    serve, participant
) -> None:
    game = (
        race_scene(length=100_000)
        .multiplayer(reconnect_grace_s=1)
        .monitoring(tab_warning_s=1, tab_exclude_s=3, messages={"tab_exclude": "You left the game's tab."})
    )
    exp = Experiment("tabs", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    ann, ben = participant(f"{server.url}?participant=ann"), participant(f"{server.url}?participant=ben")
    for page in (ann, ben):
        to_game(page)
    for page in (ann, ben):
        wait_for(page, "m.status === 'running'")
    ann.evaluate(HIDE)
    wait_for(ann, "m.warning && m.warning.includes('come back')")  # the warning first
    assert ann.evaluate("window.mug.sceneType") != "completion_code"
    wait_for(ann, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert "You left the game's tab." in ann.get_by_test_id("scene-body").inner_text()
    code = ann.get_by_test_id("completion-code").inner_text()
    ann.reload()  # excluded stays excluded
    wait_for(ann, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert ann.get_by_test_id("completion-code").inner_text() == code
    # Ben's partner is gone: on_player_drop="end_game" after the grace, with its message and code.
    wait_for(ben, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert "partner" in ben.get_by_test_id("scene-body").inner_text()
    people = exp.results().participants.set_index("participant_id")
    assert people.loc["ann", "status"] == "excluded" and people.loc["ann", "completion_code"] == code
    ev = exp.results().events
    kinds = list(ev[ev["participant_id"] == "ann"]["kind"])
    assert kinds.index("monitor_warning") < kinds.index("ended_early")


def test_round_trips_over_the_bound_exclude_after_the_required_violations_not_before(serve, participant) -> None:
    game = race_scene("solo", agents=("red",), length=100_000).monitoring(
        max_ping_ms=150, ping_window=5, ping_violations=3
    )
    exp = Experiment("slow", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    with DelayProxy(urlparse(server.url).port, 100) as slow:
        page = participant(f"{slow.url}?participant=far")
        to_game(page)
        wait_for(page, "m.status === 'running'", timeout=30_000)
        wait_for(page, "m.warning && m.warning.includes('slow')", timeout=30_000)  # one violation: warned only
        assert page.evaluate("window.mug.sceneType") == "gym"
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=60_000)
    ev = exp.results().events
    mine = ev[ev["participant_id"] == "far"]
    [warning] = [r for _, r in mine[mine["kind"] == "monitor_warning"].iterrows()]
    [ended] = [r for _, r in mine[mine["kind"] == "ended_early"].iterrows()]
    assert warning["data.reason"] == "ping_warning" and warning["t"] < ended["t"]
    people = exp.results().participants.set_index("participant_id")
    assert people.loc["far", "status"] == "excluded"
    [excluded] = [r for _, r in mine[mine["kind"] == "excluded"].iterrows()]
    assert "3 of the last" in excluded["data.reason"] and "over 150 ms" in excluded["data.reason"]
