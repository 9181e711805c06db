"""Replay of a P2P game: two Chromium pages play over WebRTC (a TURN relay on 127.0.0.1) with delay
and loss, so rollbacks re-simulate frames in both workers; the canonical record and each peer's own
rows then replay here, from the saved env code and seeds, with every step matching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for
from turn import Turn, running_turn

from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.replay import replay_game

PADDLES = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=99)\n"


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    with running_turn(tmp_path / "turn") as relay:
        yield relay


@pytest.fixture(autouse=True)
def test_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUG_P2P_TEST_HOOKS", "1")  # lets the pages inject latency and loss


def test_a_p2p_game_with_rollbacks_replays_with_no_divergence_for_every_peer(serve, participant, turn) -> None:
    game = (
        GymScene()
        .scene("duel")
        .runtime(env_code=PADDLES)
        .multiplayer(mode="p2p", input_delay=2)
        .webrtc(turn_url=turn.url, turn_username=turn.username, turn_credential=turn.credential, force_relay=True)
        .policies(policy_mapping={"left": "human", "right": "human"})
        .rendering(fps=30, game_width=400, game_height=240)
        .gameplay(action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, num_episodes=2, max_steps=90,
                  record_observations=True)
        .environment(seed=8)
    )
    exp = Experiment("replay-p2p", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    conditions = {"latencyMs": 40, "jitterMs": 10, "loss": 0.05, "seed": 3}
    pages = []
    for name in ("ann", "ben"):
        page = participant(f"{server.url}?participant={name}")
        page.evaluate("(p2p) => { window.mugTest = { p2p }; }", conditions)
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'", timeout=60_000)
        pages.append(page)
    for page in pages:
        page.get_by_test_id("start-game").click()
    for page in pages:
        wait_for(page, "m.p2p && m.status === 'running'", timeout=90_000)
    pages[0].keyboard.down("ArrowUp")  # both press keys: late inputs, missed predictions, rollbacks
    pages[1].keyboard.down("ArrowDown")
    wait_for(pages[0], "m.p2p.confirmedFrame >= 40", timeout=60_000)
    pages[0].keyboard.up("ArrowUp")
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=90_000)
    pages[1].keyboard.up("ArrowDown")

    results = server.results(peer_rows=True)
    assert list(results.games["mode"]) == ["client_p2p"] and list(results.episodes["parity"]) == ["match", "match"]
    assert results.p2p["rollbacks"].sum() > 0
    game_id = str(results.games.iloc[0]["game_id"])

    canonical = replay_game(exp.data_path, game_id)
    assert canonical.ok, canonical.report()
    assert [(e.seed, len(e.steps)) for e in canonical.episodes.values()] == [(8, 90), (9, 90)]
    assert "observations" in canonical.compared
    for peer in ("ann", "ben"):
        own = replay_game(exp.data_path, game_id, peer=peer)
        assert own.ok and sum(len(e.steps) for e in own.episodes.values()) == 180, own.report()
