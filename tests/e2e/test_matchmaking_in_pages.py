"""Matchmaking in real pages: latency-aware grouping, groups kept across scenes, the match log.

Latency is real network delay: the slow participants' pages load the study through a TCP proxy on
127.0.0.1 that holds every byte 150 ms each way (benchmarks.p2p_netdelay), so their pages measure
round trips over 300 ms exactly as a participant on a bad connection would.
"""

from __future__ import annotations

from urllib.parse import urlparse

from envs import race_scene
from helpers import wait_for

from benchmarks.p2p_netdelay import DelayProxy
from mug import (
    CompletionCodeScene,
    Experiment,
    GroupReunionMatchmaker,
    LatencyFIFOMatchmaker,
    StartScene,
    StaticScene,
)


def to_game(page, first: str = "hello") -> None:
    """From the first page to pressing Start in the game scene."""
    wait_for(page, f"m.sceneId === '{first}' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


def proposals(results, scene_id: str) -> list[dict]:
    ev = results.events
    rows = ev[(ev["kind"] == "match_proposal") & (ev["scene_id"] == scene_id)]
    return [{k[len("data.") :]: row[k] for k in rows.columns if k.startswith("data.")} for _, row in rows.iterrows()]


def players_of(game) -> list[str]:
    return sorted(v for k, v in game.items() if k.startswith("players.") and isinstance(v, str))


def test_a_high_latency_pair_is_not_grouped_and_a_low_latency_pair_arriving_later_is(serve, participant) -> None:
    game = race_scene(length=30).multiplayer(matchmaker=LatencyFIFOMatchmaker(max_server_rtt_ms=250))
    exp = Experiment("latency", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    with DelayProxy(urlparse(server.url).port, 150) as slow:
        far = [participant(slow.url + f"?participant=far{i}") for i in (1, 2)]
        for page in far:
            to_game(page)
        for page in far:
            wait_for(page, "m.status === 'waitroom' && m.waitroom.waiting === 2", timeout=30_000)
            wait_for(page, "m.rttMs !== null && m.rttMs > 250", timeout=30_000)
        near = [participant(server.url + f"?participant=near{i}") for i in (1, 2)]
        for page in near:
            to_game(page)
        for page in near:
            wait_for(page, "m.status === 'running'", timeout=30_000)
        for page in far:  # still waiting: 300 ms + 300 ms apart, and 300 ms from the near ones
            wait_for(page, "m.waitroom !== null && m.waitroom.waiting === 2")
            assert page.evaluate("window.mug.status") == "waitroom"
    results = exp.results()
    [proposal] = proposals(results, "race")
    assert proposal["members"] == ["near1", "near2"] and proposal["decision"] == "play"
    assert proposal["matchmaker"]["matchmaker"] == "LatencyFIFOMatchmaker"
    assert proposal["matchmaker"]["max_server_rtt_ms"] == 250
    assert all(0 < proposal["rtt_ms"][m] < 100 for m in proposal["members"])
    assert "bound 250 ms" in proposal["reason"] and proposal["fallback"] is None
    assert [players_of(g) for _, g in results.games.iterrows()] == [["near1", "near2"]]


def test_a_pair_from_scene_a_is_grouped_again_in_scene_b_and_a_third_is_not_mixed_in(serve, participant) -> None:
    first = race_scene("first", length=20).waitroom(timeout=2, timeout_scene_id="second")
    second = race_scene("second", length=20).multiplayer(matchmaker=GroupReunionMatchmaker(reunion_wait_s=120))
    between = StaticScene().scene("between")
    exp = Experiment(
        "reunion", [StartScene().scene("hello"), first, between, second, CompletionCodeScene().scene("end")]
    )
    server = serve(exp)
    # Cam finds nobody in the first game's waitroom and is sent on to the second: no former group.
    cam = participant(server.url + "?participant=cam")
    to_game(cam)
    wait_for(cam, "m.sceneId === 'second' && m.status === 'waiting_start'", timeout=30_000)
    cam.get_by_test_id("start-game").click()
    wait_for(cam, "m.status === 'waitroom'")
    ann, ben = (participant(server.url + f"?participant={p}") for p in ("ann", "ben"))
    for page in (ann, ben):
        to_game(page)
    for page in (ann, ben):
        wait_for(page, "m.sceneId === 'between' && m.status === 'ready'", timeout=30_000)
    # Ann reaches the second waitroom first, where Cam waits: first come first served would pair them.
    to_game(ann, "between")
    wait_for(ann, "m.status === 'waitroom' && m.waitroom.waiting === 2")
    ann.reload()  # her former group is kept with her data, not in the page
    wait_for(ann, "m.sceneId === 'second' && m.status === 'waiting_start'")
    ann.get_by_test_id("start-game").click()
    wait_for(ann, "m.status === 'waitroom' && m.waitroom.waiting === 2")
    to_game(ben, "between")
    for page in (ann, ben):
        wait_for(page, "m.sceneId === 'end'", timeout=30_000)
    assert cam.evaluate("window.mug.status") == "waitroom"
    results = exp.results()
    games = results.games.set_index("scene_id")
    assert players_of(games.loc["second"]) == ["ann", "ben"]
    [proposal] = proposals(results, "second")
    assert proposal["members"] == ["ann", "ben"] and "played together in 'first'" in proposal["reason"]
    assert proposal["matchmaker"]["matchmaker"] == "GroupReunionMatchmaker"


def test_a_waitroom_timeout_with_a_timeout_policy_starts_the_game_against_the_policy(serve, participant) -> None:
    game = race_scene(length=30).waitroom(timeout=1.5, timeout_policy="random")
    exp = Experiment("fill", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    page = participant(server.url + "?participant=solo")
    to_game(page)
    wait_for(page, "m.status === 'waitroom'")
    wait_for(page, "m.status === 'running'", timeout=30_000)  # the game starts: not a dead end
    assert page.evaluate("window.mug.agentId") == "red"
    wait_for(page, "m.sceneId === 'end'", timeout=30_000)
    results = exp.results()
    [row] = [g for _, g in results.games.iterrows()]
    assert row["outcome"] == "completed" and row["players.red"] == "solo" and row["players.blue"] == "policy:random"
    steps = results.steps
    assert len(steps) == 30 and steps["action.blue"].nunique() > 1  # the random policy played blue
    ev = results.events
    [fill] = [r for _, r in ev[ev["kind"] == "waitroom_fill_in"].iterrows()]
    assert fill["participant_id"] == "solo" and fill["data.game_id"] == row["game_id"]
    assert fill["data.filled_in"] == {"blue": "random"}
    assert "ended_early" not in set(ev["kind"])
