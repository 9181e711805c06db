"""Per-participant in-game text (`content(game_page_html_fn=...)`) as participants see it in Chromium:
each player of a server-run game reads their own, so does the player of a client-side game, and a
function that fails leaves the scene's in-game text in place (the failure is recorded)."""

from __future__ import annotations

from envs import race_scene, walk_scene
from helpers import wait_for
from test_client_side import duel_scene

from mug import CompletionCodeScene, Experiment, StartScene

DEFAULT = "<p>Use the arrow keys.</p>"


def role_page(participant_id: str, agent_id: str) -> str:
    return f'<p data-testid="role">You are the <b>{agent_id}</b> player ({participant_id}).</p>'


def experiment(game) -> Experiment:
    return Experiment("pages", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])


def to_game(page) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


def test_each_player_of_a_server_run_game_sees_their_own_text_also_after_a_reload(serve, participant) -> None:
    game = race_scene(length=100_000).content(in_game_scene_body=DEFAULT, game_page_html_fn=role_page)
    server = serve(experiment(game))
    alice = participant(server.url + "?participant=alice")
    to_game(alice)
    wait_for(alice, "m.status === 'waitroom'")
    assert not alice.get_by_test_id("role").is_visible()  # (no game yet: the scene's text)
    bob = participant(server.url + "?participant=bob")
    to_game(bob)
    for page in (alice, bob):
        wait_for(page, "m.status === 'running'")
    agents = {name: page.evaluate("window.mug.agentId") for name, page in (("alice", alice), ("bob", bob))}
    assert set(agents.values()) == {"red", "blue"}
    for name, page in (("alice", alice), ("bob", bob)):
        text = page.get_by_test_id("in-game-body").inner_text()
        assert text == f"You are the {agents[name]} player ({name}).", text
        assert page.get_by_test_id("role").locator("b").inner_text() == agents[name]  # researcher HTML, as HTML
    bob.reload()  # a page that comes back to its game reads the same text
    wait_for(bob, "m.status === 'running' && m.step > 0")
    assert bob.get_by_test_id("in-game-body").inner_text() == f"You are the {agents['bob']} player (bob)."


def test_the_player_of_a_client_side_game_sees_their_own_text(serve, participant) -> None:
    game = duel_scene("random", length=100_000).content(in_game_scene_body=DEFAULT, game_page_html_fn=role_page)
    server = serve(experiment(game))
    page = participant(server.url + "?participant=carol")
    to_game(page)
    page.get_by_test_id("role").wait_for()
    assert page.get_by_test_id("in-game-body").inner_text() == "You are the me player (carol)."
    wait_for(page, "m.status === 'running' && m.step > 3", timeout=60_000)  # (the game runs with it)


def test_a_failing_page_function_leaves_the_scene_text_and_is_recorded(serve, participant) -> None:
    def broken(participant_id: str, agent_id: str) -> str:
        return {"walker-p": "<p>never</p>"}[agent_id]  # KeyError: the agent, not the participant

    exp = experiment(walk_scene(length=100_000).content(in_game_scene_body=DEFAULT, game_page_html_fn=broken))
    server = serve(exp)
    page = participant(server.url + "?participant=dave")
    to_game(page)
    wait_for(page, "m.status === 'running' && m.step > 0")
    assert page.get_by_test_id("in-game-body").inner_text() == "Use the arrow keys."
    events = exp.results().events
    errors = events[events["kind"] == "game_page_error"]
    assert len(errors) == 1
    error = errors.iloc[0]
    assert error["participant_id"] == "dave" and error["data.agent_id"] == "walker"
    assert error["data.error"] == "KeyError: 'walker'" and "in broken" in error["data.traceback"]
