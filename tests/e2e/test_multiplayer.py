"""Server-authoritative multiplayer: matching, waitroom timeout, reconnects and drops, bots, per-player views."""

from __future__ import annotations

import socketio
from envs import race_scene
from helpers import hold_key_for_steps, wait_for

from mug import CompletionCodeScene, Experiment, StartScene, StaticScene


def experiment(game) -> Experiment:
    return Experiment(
        "multi",
        [
            StartScene().scene("hello").display(scene_header="Hello"),
            game,
            StaticScene().scene("after").display(scene_header="Thanks for playing"),
            CompletionCodeScene().scene("end"),
        ],
    )


def to_game(page) -> None:
    """From the first page to pressing Start in the game scene."""
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


def test_two_participants_are_matched_see_the_same_game_and_both_are_recorded(serve, participant) -> None:
    exp = experiment(race_scene(length=90))
    server = serve(exp)
    alice = participant(server.url + "?participant=alice")
    to_game(alice)
    wait_for(alice, "m.status === 'waitroom' && m.waitroom.waiting === 1 && m.waitroom.needed === 2")
    assert alice.get_by_test_id("waitroom-count").inner_text() == "1 of 2 players here"
    bob = participant(server.url + "?participant=bob")
    to_game(bob)
    for page in (alice, bob):
        wait_for(page, "m.status === 'running'")
    assert {alice.evaluate("window.mug.agentId"), bob.evaluate("window.mug.agentId")} == {"red", "blue"}
    alice_agent = alice.evaluate("window.mug.agentId")
    hold_key_for_steps(alice, "ArrowRight", 10)
    for page in (alice, bob):
        wait_for(page, "m.sceneId === 'after'", timeout=30_000)
    # Both pages received the very same frames, in the same order.
    a, b = alice.evaluate("window.mug.game"), bob.evaluate("window.mug.game")
    assert a["frames"] == b["frames"] >= 90 and a["digest"] == b["digest"] and a["lastHud"] == b["lastHud"]

    results = exp.results()
    game = results.games.iloc[0]
    assert game["outcome"] == "completed"
    steps = results.steps
    assert list(steps["step"]) == list(range(1, 91))
    # Alice's right-arrow steps are on her agent only. (Held while her page saw 10 steps: the key's
    # first and last action reach the server a round trip and a frame or two late on a busy machine.)
    assert steps[f"action.{alice_agent}"].eq(2).sum() >= 5
    other = "blue" if alice_agent == "red" else "red"
    assert set(steps[f"action.{other}"]) == {0}
    people = results.participants.set_index("participant_id")
    assert set(people.index) == {"alice", "bob"}
    matched = results.events[results.events["kind"] == "matched"].iloc[0]
    assert matched["data.game_id"] == game["game_id"]
    assert set(matched["data.waited_s"]) == {"alice", "bob"} and matched["data.waited_s"]["alice"] > 0
    visits = results.scene_visits
    assert set(visits[visits["scene_id"] == "after"]["participant_id"]) == {"alice", "bob"}


def test_a_participant_without_partner_times_out_with_a_completion_code(serve, participant) -> None:
    game = race_scene().waitroom(timeout=1.5, timeout_message="Nobody came, sorry.")
    exp = experiment(game)
    server = serve(exp)
    page = participant(server.url + "?participant=carol")
    to_game(page)
    wait_for(page, "m.status === 'waitroom'")
    wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert "Nobody came, sorry." in page.get_by_test_id("scene-body").inner_text()
    code = page.get_by_test_id("completion-code").inner_text()
    page.reload()  # the outcome is kept: a reload shows the same message and code
    wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert page.get_by_test_id("completion-code").inner_text() == code
    results = exp.results()
    assert results.participants.set_index("participant_id").loc["carol", "completion_code"] == code
    assert "waitroom_timeout" in set(results.events["kind"])


def test_leaving_the_waitroom_frees_the_place(serve, participant) -> None:
    exp = experiment(race_scene())
    server = serve(exp)
    first = participant(server.url + "?participant=first")
    to_game(first)
    wait_for(first, "m.status === 'waitroom'")
    first.context.close()
    second = participant(server.url + "?participant=second")
    to_game(second)
    wait_for(second, "m.status === 'waitroom' && m.waitroom.waiting === 1")
    third = participant(server.url + "?participant=third")
    to_game(third)
    for page in (second, third):
        wait_for(page, "m.status === 'running'")
    assert "waitroom_left" in set(exp.results().events["kind"])


def test_a_reload_rejoins_and_a_closed_tab_ends_the_game_for_the_partner(serve, participant) -> None:
    game = race_scene(length=100_000).multiplayer(reconnect_grace_s=1.5, on_player_drop="end_game")
    exp = experiment(game)
    server = serve(exp)
    alice, bob = participant(server.url + "?participant=alice"), participant(server.url + "?participant=bob")
    to_game(alice)
    to_game(bob)
    for page in (alice, bob):
        wait_for(page, "m.status === 'running' && m.step > 5")
    agent = alice.evaluate("window.mug.agentId")
    alice.reload()
    wait_for(alice, "m.sceneId === 'race' && m.status === 'running' && m.agentId === arg", agent)
    before = alice.evaluate("window.mug.step")
    hold_key_for_steps(alice, "ArrowRight", 5)
    assert alice.evaluate("window.mug.step") > before

    bob.context.close()
    wait_for(alice, "m.gameMessage && m.gameMessage.includes('connection dropped')")
    wait_for(alice, "m.sceneType === 'completion_code' && m.status === 'ended'")
    assert "partner left" in alice.get_by_test_id("scene-body").inner_text()
    assert len(alice.get_by_test_id("completion-code").inner_text()) == 10

    results = exp.results()
    assert results.games.iloc[0]["outcome"] == "player_dropped"
    events = results.events
    assert list(events[events["kind"] == "player_dropped"]["participant_id"]) == ["bob"]
    people = results.participants.set_index("participant_id")
    assert people.loc["alice", "status"] == "completed" and people.loc["alice", "completion_code"]
    assert people.loc["bob", "completion_code"]  # bob gets his code too if he comes back


def test_a_game_continues_without_a_dropped_player_when_asked(serve, participant) -> None:
    game = race_scene(length=150).multiplayer(reconnect_grace_s=0.5, on_player_drop="continue")
    exp = experiment(game)
    server = serve(exp)
    alice, bob = participant(server.url + "?participant=alice"), participant(server.url + "?participant=bob")
    to_game(alice)
    to_game(bob)
    wait_for(alice, "m.status === 'running'")
    bob.context.close()
    wait_for(alice, "m.gameMessage && m.gameMessage.includes('goes on without them')")
    wait_for(alice, "m.sceneId === 'after'", timeout=30_000)
    assert exp.results().games.iloc[0]["outcome"] == "completed"


def test_one_human_with_bots_and_a_three_human_game(serve, participant) -> None:
    def always_right(observation) -> int:
        return 2

    solo = race_scene("solo", agents=("red",), length=40, bots={"blue": always_right, "green": "random"})
    trio = race_scene("trio", agents=("red", "blue", "green"), length=40)
    exp = Experiment("bots", [StartScene().scene("hello"), solo, trio, CompletionCodeScene().scene("end")])
    server = serve(exp)
    pages = [participant(server.url + f"?participant=p{i}") for i in range(3)]
    for page in pages:
        to_game(page)  # the solo game needs only this participant; bots play the rest
        wait_for(page, "m.sceneId === 'trio' && m.status === 'waiting_start'", timeout=30_000)
        page.get_by_test_id("start-game").click()
    for page in pages:
        wait_for(page, "m.sceneId === 'end'", timeout=30_000)
    assert (
        sorted(page.evaluate("window.mug.game.digest") for page in pages).count(
            pages[0].evaluate("window.mug.game.digest")
        )
        == 3
    )

    results = exp.results()
    games = results.games.set_index("scene_id")
    assert len(results.games) == 4  # three solo games, one trio
    steps = results.steps
    solo_steps = steps[steps["scene_id"] == "solo"]
    assert set(solo_steps["action.blue"]) == {2}
    assert set(solo_steps["action.green"]) <= {0, 1, 2}
    assert {games.loc["trio", f"players.{a}"] for a in ("red", "blue", "green")} == {"p0", "p1", "p2"}
    mine = results.player_steps
    solo_rows = mine[mine["scene_id"] == "solo"]
    assert set(solo_rows[solo_rows["agent_id"] == "blue"]["policy"]) == {"always_right"}
    assert set(solo_rows[solo_rows["agent_id"] == "red"]["participant_id"]) == {"p0", "p1", "p2"}
    assert set(solo_rows[solo_rows["agent_id"] == "green"]["policy"]) == {"random"}


def test_per_player_views_differ_and_players_act_only_for_their_agent(serve, participant) -> None:
    exp = experiment(race_scene(length=60).multiplayer(per_player_views=True))
    server = serve(exp)
    alice, bob = participant(server.url + "?participant=alice"), participant(server.url + "?participant=bob")
    to_game(alice)
    to_game(bob)
    for page in (alice, bob):
        wait_for(page, "m.sceneId === 'after'", timeout=30_000)
    assert alice.evaluate("window.mug.game.digest") != bob.evaluate("window.mug.game.digest")

    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        client.call("join", {"query": {"participant": "mallory"}})
        reply = client.call("action", {"scene_id": "race", "action": 2, "agent": "red"})
        assert "unknown field(s) agent" in reply["error"]
    finally:
        client.disconnect()


def test_one_human_with_an_onnx_bot(serve, participant, tmp_path) -> None:
    from policies.policies_models import build_constant_bot

    from mug.policies import ModelConfig

    build_constant_bot(tmp_path / "right_bot.onnx")  # all but always "right" (2)
    bot = ModelConfig(tmp_path / "right_bot.onnx", obs_input="obs", logit_output="logits")

    exp = experiment(race_scene(agents=("red",), length=40, bots={"blue": bot}))
    server = serve(exp)
    page = participant(server.url + "?participant=solo")
    to_game(page)
    wait_for(page, "m.sceneId === 'after'", timeout=30_000)
    results = exp.results()
    assert set(results.steps["action.blue"]) == {2}
    assert results.games.iloc[0]["players.blue"] == "policy:onnx:right_bot.onnx"
