"""P2P play end to end: real Chromium pages, real Pyodide workers, real WebRTC through a coturn
relay on 127.0.0.1, the real server matching, signaling, relaying and recording.

Every test keeps its WebRTC traffic on loopback: Chromium's host candidates are on the machine's
outward interface, so the pages use relay-only ICE (`force_relay=True`) through a TURN server the
test starts (tests/turn.py). Direct host-to-host links run the same code with other candidates;
docs/p2p.md says what was and was not tested. The server runs with MUG_P2P_TEST_HOOKS=1, which lets
the pages read `window.mugTest` (injected latency, loss, blocked DataChannels, a provoked desync).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually, wait_for
from turn import Turn, running_turn

from mug import CompletionCodeScene, Experiment, FIFOMatchmaker, GymScene, StartScene

PADDLES = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=99)\n"

# Three players, each moving a dot on its own line: the smallest env with get_state/set_state.
DOTS = """
from mug.env import Surface
from mug.env.spaces import Discrete

AGENTS = ["a", "b", "c"]

class Dots:
    possible_agents = AGENTS

    def __init__(self):
        self.agents = list(AGENTS)
        self.surface = Surface(300, 300)
        self.state = {a: 50 for a in AGENTS}

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.state = {a: 50 for a in AGENTS}
        return self._obs(), {a: {} for a in AGENTS}

    def step(self, actions):
        for agent, action in actions.items():
            move = {0: 0, 1: -1, 2: 1}[action]
            self.state[agent] = max(0, min(100, self.state[agent] + move))
        flags = {a: False for a in AGENTS}
        return self._obs(), {a: 0.0 for a in AGENTS}, flags, dict(flags), {a: {} for a in AGENTS}

    def _obs(self):
        return {a: [self.state[a] / 100] for a in AGENTS}

    def get_state(self):
        return dict(self.state)

    def set_state(self, state):
        self.state = dict(state)

    def render(self):
        for i, agent in enumerate(AGENTS):
            self.surface.circle(self.state[agent] / 100, (i + 1) / 4, 0.03, fill="#3050d0", id=agent)
        return self.surface.commit()

env = Dots()
"""


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[Turn]:
    with running_turn(tmp_path / "turn") as relay:
        yield relay


@pytest.fixture(autouse=True)
def test_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUG_P2P_TEST_HOOKS", "1")


def p2p_scene(
    turn: Turn,
    *,
    env_code: str = PADDLES,
    agents: tuple[str, ...] = ("left", "right"),
    max_steps: int = 150,
    episodes: int = 1,
    **multiplayer: Any,
) -> GymScene:
    return (
        GymScene()
        .scene("duel")
        .runtime(env_code=env_code)
        .multiplayer(mode="p2p", input_delay=2, **multiplayer)
        .webrtc(turn_url=turn.url, turn_username=turn.username, turn_credential=turn.credential, force_relay=True)
        .policies(policy_mapping={agent: "human" for agent in agents})
        .rendering(fps=30, game_width=400, game_height=240)
        .gameplay(
            action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, num_episodes=episodes, max_steps=max_steps
        )
        .environment(seed=3)
    )


def experiment(game: GymScene) -> Experiment:
    return Experiment("p2p", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])


def open_pages(participant, server, names: list[str], conditions: dict | None = None) -> list[Any]:
    """Each participant through the start scene into the game's waitroom (conditions: window.mugTest.p2p)."""
    pages = []
    for name in names:
        page = participant(f"{server.url}?participant={name}")
        if conditions is not None:
            page.evaluate("(p2p) => { window.mugTest = { p2p }; }", conditions)
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'", timeout=60_000)
        pages.append(page)
    for page in pages:
        page.get_by_test_id("start-game").click()
    for page in pages:  # (Pyodide loads in each page's worker: the first game can take a while)
        wait_for(page, "m.p2p && m.status === 'running'", timeout=90_000)
    return pages


def play_to_the_end(pages: list[Any], key: str = "ArrowUp", timeout: float = 90_000) -> None:
    """The first page holds `key` for a while; every page reaches the end scene."""
    pages[0].keyboard.down(key)
    wait_for(pages[0], "m.p2p.confirmedFrame >= 30", timeout=timeout)
    pages[0].keyboard.up(key)
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=timeout)


def assert_identical_records(results, players: int, episodes: int = 1, steps: int = 150) -> None:
    """Every peer recorded every confirmed step, the same way; parity says so per episode."""
    assert list(results.episodes["parity"]) == ["match"] * episodes
    peer_steps = results.peer_steps
    assert peer_steps is not None and peer_steps["participant_id"].nunique() == players
    recorded = ("action.", "reward.", "info.", "focus.", "terminated", "truncated", "obs")
    columns = [c for c in peer_steps.columns if c.startswith(recorded)]
    by_peer = [
        rows.sort_values(["episode", "step"])[["episode", "step", *columns]].reset_index(drop=True)
        for _, rows in peer_steps.groupby("participant_id")
    ]
    assert len(by_peer[0]) == episodes * steps
    for rows in by_peer[1:]:
        assert rows.astype(str).equals(by_peer[0].astype(str))
    assert len(results.steps) == episodes * steps  # one canonical row per step


def test_two_participants_play_p2p_over_turn_to_the_end_with_identical_records(serve, participant, turn) -> None:
    server = serve(experiment(p2p_scene(turn)))
    pages = open_pages(participant, server, ["ann", "ben"])
    for page in pages:
        peer = page.evaluate("window.mug.p2p.peer")
        other = 1 - peer
        # force_relay: the selected candidate pair is a relay one, and the pair says "turn".
        wait_for(page, f"m.p2p.transports[{other}] === 'turn'", timeout=15_000)
        assert page.evaluate(f"window.mug.p2p.candidateTypes[{other}]") == "relay"
    # The researcher's monitor shows the game with each side's transport and round trip (reported every 2 s).
    def reported() -> dict | None:
        games = [g for g in server.snapshot()["games"] if g.get("mode") == "p2p"]
        link = games[0]["links"][0] if games else None
        if not link or set(link["transport"].values()) != {"turn"}:
            return None
        return games[0] if all(isinstance(rtt, (int, float)) for rtt in link["rtt_ms"].values()) else None

    game = eventually(reported)
    assert len(game["players"]) == 2 and game["links"][0]["pair"] == [0, 1]
    play_to_the_end(pages)
    results = server.results(peer_rows=True)
    assert list(results.games["outcome"]) == ["completed"]
    assert_identical_records(results, players=2)
    focus = [c for c in results.steps.columns if c.startswith("focus.")]
    assert sorted(focus) == ["focus.left", "focus.right"]
    p2p = results.p2p
    assert len(p2p) == 2
    for _, row in p2p.iterrows():
        assert list(row["transport"].values()) == ["turn"]
        assert row["frames"] >= 150 and row["rollbacks"] is not None
    moved = results.steps["action.left"].astype(int).tolist() + results.steps["action.right"].astype(int).tolist()
    assert 1 in moved  # the held key reached the game as "up"


def test_latency_jitter_and_loss_cause_rollbacks_and_the_records_still_agree(serve, participant, turn) -> None:
    server = serve(experiment(p2p_scene(turn, max_steps=240)))
    conditions = {"latencyMs": 50, "jitterMs": 10, "loss": 0.05, "seed": 7}  # each way: RTT 100 ms ± 20
    pages = open_pages(participant, server, ["ann", "ben"], conditions)
    # Both press keys: each one's inputs arrive late at the other, whose predictions then miss.
    pages[1].keyboard.down("ArrowDown")
    play_to_the_end(pages)
    pages[1].keyboard.up("ArrowDown")
    results = server.results(peer_rows=True)
    assert_identical_records(results, players=2, steps=240)
    assert results.p2p["rollbacks"].sum() > 0
    assert all(rtt[next(iter(rtt))] >= 60 for rtt in results.p2p["rtt_ms"])


def test_a_tab_frozen_for_8_s_catches_up_in_one_go_and_the_records_agree(serve, participant, turn) -> None:
    server = serve(experiment(p2p_scene(turn, max_steps=600)))
    pages = open_pages(participant, server, ["ann", "ben"])
    frozen, other = pages
    wait_for(frozen, "m.p2p.confirmedFrame >= 30")
    # A hidden tab's worker keeps the clock (it is not throttled), so the case to catch up from is a
    # tab the browser froze: page and worker both stop. (CDP's Page.setWebLifecycleState "frozen"
    # leaves a page with a live RTCPeerConnection running, so the test hook blocks both threads.)
    start = other.evaluate("window.mug.p2p.frame")
    frozen.evaluate("window.mugTest.freeze(8)")  # returns after 8 s
    # The other page never stalls: 8 s of frames at 30 fps went by while its partner was frozen.
    wait_for(other, "m.p2p.frame >= arg", start + 240, timeout=10_000)
    wait_for(frozen, "m.p2p.replayedFrames >= 240", timeout=20_000)
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=90_000)
    results = server.results(peer_rows=True)
    assert_identical_records(results, players=2, steps=600)
    replayed = results.p2p.set_index("participant_id")["replayed_frames"]
    assert replayed["ann"] >= 240


def test_a_provoked_desync_is_detected_resynced_and_recorded(serve, participant, turn) -> None:
    server = serve(experiment(p2p_scene(turn, max_steps=150, episodes=2)))
    pages = open_pages(participant, server, ["ann", "ben"])
    target = next(p for p in pages if p.evaluate("window.mug.p2p.peer") == 1)  # resynced from peer 0
    wait_for(target, "m.p2p.confirmedFrame >= 20")
    # The hook salts the game's own state (no step or rollback undoes it) and changes a number of
    # the env's: the next checksum of this peer differs, whatever the ball is doing.
    target.evaluate("window.mugTest.desync()")
    for page in pages:
        wait_for(page, "m.p2p.desyncs >= 1")
    wait_for(target, "m.p2p.resyncs >= 1")
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=90_000)
    results = server.results(peer_rows=True)
    events = results.events[results.events["kind"] == "p2p_desync"]
    assert len(events) >= 1
    assert set(events["participant_id"]) == {"ann", "ben"}  # both peers saw the checksums differ
    first = events.iloc[0]
    assert list(first["data.peers"]) == [0, 1] and first["data.frame"] >= 20 and first["data.resynced_from"] == 0
    # Play went on from the resynced state, and the peers agree again (the first episode's records
    # hold what each peer simulated; its parity says whether the perturbation reached them).
    assert list(results.games["outcome"]) == ["completed"]
    assert results.episodes["parity"].iloc[1] == "match"
    assert results.p2p.set_index("participant_id")["desyncs"].min() >= 1


def test_with_datachannels_blocked_the_server_relay_carries_the_game(serve, participant, turn) -> None:
    server = serve(experiment(p2p_scene(turn, p2p_connect_timeout_s=1.0)))
    pages = open_pages(participant, server, ["ann", "ben"], {"blockDataChannels": True})
    for page in pages:
        other = 1 - page.evaluate("window.mug.p2p.peer")
        wait_for(page, f"m.p2p.transports[{other}] === 'server'", timeout=15_000)
    play_to_the_end(pages)
    results = server.results(peer_rows=True)
    assert_identical_records(results, players=2)
    for transport in results.p2p["transport"]:
        assert list(transport.values()) == ["server"]
    changes = results.events[results.events["kind"] == "p2p_transport"]
    assert set(changes["data.transport"]) == {"connecting", "server"}


def test_three_players_and_one_closes_the_tab_the_others_get_the_message_and_a_code(serve, participant, turn) -> None:
    scene = p2p_scene(turn, env_code=DOTS, agents=("a", "b", "c"), max_steps=3000, reconnect_grace_s=1.0)
    server = serve(experiment(scene))
    pages = open_pages(participant, server, ["ann", "ben", "cat"])
    for page in pages:
        wait_for(page, "Object.values(m.p2p.transports).filter((t) => t === 'turn').length === 2", timeout=20_000)
        wait_for(page, "m.p2p.confirmedFrame >= 30")
    pages[2].close()
    for page in pages[:2]:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=30_000)
        assert "partner left" in page.get_by_test_id("scene-body").inner_text()
        assert len(page.get_by_test_id("completion-code").inner_text()) == 10
        assert page.evaluate("window.mug.p2p.peerLeft.some((p) => p.final)")
    results = server.results()
    people = results.participants.set_index("participant_id")
    assert people.loc["ann", "completion_code"] and people.loc["ben", "completion_code"]
    assert list(results.games["outcome"]) != ["completed"]


# Two players and a bot on three lines; everyone observes every position, so the bot's inputs
# (and after a rollback, its re-simulated inputs) follow what the humans did.
TRIO = """
from mug.env import Surface
from mug.env.spaces import Discrete

AGENTS = ["a", "b", "bot"]

class Trio:
    possible_agents = AGENTS

    def __init__(self):
        self.agents = list(AGENTS)
        self.surface = Surface(300, 300)
        self.pos = {a: 50 for a in AGENTS}
        self.t = 0

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.pos = {a: 50 for a in AGENTS}
        self.t = 0
        return self._obs(), {a: {} for a in AGENTS}

    def step(self, actions):
        for agent, action in actions.items():
            self.pos[agent] = max(0, min(100, self.pos[agent] + {0: 0, 1: -3, 2: 3}[action]))
        self.t += 1
        flags = {a: False for a in AGENTS}
        return self._obs(), {a: 0.0 for a in AGENTS}, flags, dict(flags), {a: {} for a in AGENTS}

    def _obs(self):
        view = [self.pos[a] / 100 for a in AGENTS] + [(self.t % 20) / 20]
        return {a: list(view) for a in AGENTS}

    def get_state(self):
        return {"pos": dict(self.pos), "t": self.t}

    def set_state(self, state):
        self.pos = dict(state["pos"])
        self.t = state["t"]

    def render(self):
        for i, agent in enumerate(AGENTS):
            self.surface.circle(self.pos[agent] / 100, (i + 1) / 4, 0.03, fill="#3050d0", id=agent)
        return self.surface.commit()

env = Trio()
"""


def test_an_onnx_bot_plays_on_every_peer_through_rollbacks_and_both_record_the_same_actions(
    serve, participant, turn, tmp_path
) -> None:
    from policies.policies_models import build_recurrent_bot

    from mug.policies import ModelConfig

    # A recurrent model that samples: its actions depend on what it observes, on its memory and on
    # the seeded draws, so a peer that fed it other inputs (or restored the wrong memory after a
    # rollback) would record other actions and another game.
    bot = ModelConfig(
        build_recurrent_bot(tmp_path / "bot.onnx"),
        obs_input="obs", logit_output="logits", state_inputs=["h_in"], state_outputs=["h_out"],
    )  # fmt: skip
    # Two episodes: under jitter both peers propose the first episode's end, and the later
    # proposal, still in flight when the episode ended, must not end the second one.
    scene = p2p_scene(turn, env_code=TRIO, agents=("a", "b"), max_steps=120, episodes=2)
    scene.policies(policy_mapping={"a": "human", "b": "human", "bot": bot})
    server = serve(experiment(scene))
    conditions = {"latencyMs": 50, "jitterMs": 10, "loss": 0.05, "seed": 1}  # each way: RTT 100 ms ± 20
    pages = open_pages(participant, server, ["ann", "ben"], conditions)
    # Both players change keys several times: each change reaches the other late, so its
    # predictions miss and it rolls back, re-running the bot over the frames it re-simulates.
    for i, (page, key) in enumerate([(0, "ArrowUp"), (1, "ArrowDown"), (0, "ArrowDown"), (1, "ArrowUp")]):
        pages[page].keyboard.down(key)
        wait_for(pages[page], "m.p2p.confirmedFrame >= arg", 25 * (i + 1), timeout=90_000)
        pages[page].keyboard.up(key)
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=120_000)
    results = server.results(peer_rows=True)
    assert list(results.games["outcome"]) == ["completed"]
    assert_identical_records(results, players=2, episodes=2, steps=120)
    assert results.p2p["rollbacks"].sum() > 0 and results.p2p["replayed_frames"].sum() > 0
    by_peer = {
        pid: rows.sort_values(["episode", "step"])["action.bot"].astype(int).tolist()
        for pid, rows in results.peer_steps.groupby("participant_id")
    }
    assert by_peer["ann"] == by_peer["ben"] and len(by_peer["ann"]) == 240
    assert set(by_peer["ann"]) == {0, 1, 2}  # a model that really chooses, not a constant
    assert not results.events["kind"].isin(["policy_error", "env_error", "runtime_error", "p2p_desync"]).any()


def test_a_page_reloaded_mid_game_rejoins_within_the_grace_and_both_records_are_whole(
    serve, participant, turn, caplog
) -> None:
    server = serve(experiment(p2p_scene(turn, max_steps=450, reconnect_grace_s=60)))
    pages = open_pages(participant, server, ["ann", "ben"])
    stays, reloads = pages
    gone = reloads.evaluate("window.mug.p2p.peer")
    stays.keyboard.down("ArrowDown")  # (held throughout: its inputs keep changing nothing, the other's do)
    reloads.keyboard.down("ArrowUp")
    wait_for(reloads, "m.p2p.confirmedFrame >= 60")
    reloads.reload()  # the page goes; its worker, netcode session and WebRTC connections with it
    wait_for(stays, "m.p2p.peerLeft.length >= 1")
    # The reloaded page gets its game back (rejoin), loads the runtime again, takes the partner's
    # state and plays on; the game goes to its end on both pages.
    wait_for(reloads, "m.sceneId === 'duel' && m.p2p && m.status === 'running'", timeout=90_000)
    wait_for(stays, "m.p2p.peerBack.includes(arg)", gone)
    reloads.keyboard.down("ArrowUp")
    wait_for(reloads, "m.p2p.confirmedFrame >= 300", timeout=90_000)
    reloads.keyboard.up("ArrowUp")
    stays.keyboard.up("ArrowDown")
    for page in pages:
        wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=120_000)
    assert stays.evaluate("window.mug.p2p.peerLeft") == [{"peer": gone, "final": False}]
    results = server.results(peer_rows=True)
    assert list(results.games["outcome"]) == ["completed"]
    # Every step recorded by both peers, once each, identical: what the reloaded page sent before it
    # went plus what it sent after (copied from its partner's records for the frames it missed).
    assert_identical_records(results, players=2, steps=450)
    rejoined = results.events[(results.events["kind"] == "p2p_peer") & (results.events["data.change"] == "rejoined")]
    assert len(rejoined) == 1 and rejoined.iloc[0]["participant_id"] == "ben"
    assert rejoined.iloc[0]["data.peer"] == gone and rejoined.iloc[0]["data.source"] == 1 - gone
    # Nothing the reloaded page sent was refused: no step twice (a resend of a stored step would be).
    assert [r.getMessage() for r in caplog.records if r.name == "mug.server.sessions.refusals"] == []
    moved = set(results.steps["action.right" if gone == 1 else "action.left"].astype(int))
    assert {1} <= moved  # the reloaded page's held key reached the game before and after
    assert not results.events["kind"].isin(["runtime_error", "env_error"]).any()


def test_a_pair_over_the_p2p_round_trip_bound_is_dissolved_and_not_proposed_again(serve, participant, turn) -> None:
    # Ann's and Ben's pages hold every packet 200 ms: 400 ms between them, 200 ms between either and
    # Cam. The bound sits 150 ms above the near pairs (a busy machine only makes round trips longer).
    server = serve(experiment(p2p_scene(turn, matchmaker=FIFOMatchmaker(max_p2p_rtt_ms=350))))

    def arrive(name: str, conditions: dict | None) -> Any:
        page = participant(f"{server.url}?participant={name}")
        if conditions is not None:
            page.evaluate("(p2p) => { window.mugTest = { p2p }; }", conditions)
        wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
        page.get_by_test_id("continue").click()
        wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'", timeout=60_000)
        page.get_by_test_id("start-game").click()
        return page

    ann, ben = arrive("ann", {"latencyMs": 200}), arrive("ben", {"latencyMs": 200})
    for page in (ann, ben):  # proposed, measured over their DataChannels, dissolved: both wait again
        wait_for(page, "m.p2pProbe && m.p2pProbe.state === 'done'", timeout=60_000)
        wait_for(page, "m.status === 'waitroom' && m.waitroom.waiting === 2")
    measured = ann.evaluate("window.mug.p2pProbe.rttMs[1]")
    assert measured > 350, measured
    cam = arrive("cam", None)
    # First come, first served would propose Ann and Ben again; the pair that failed is not.
    for page in (ann, cam):
        wait_for(page, "m.p2p && m.status === 'running'", timeout=120_000)
    assert ben.evaluate("window.mug.status") == "waitroom" and ben.evaluate("window.mug.p2p") is None
    ev = server.results().events
    proposed = [(list(r["data.members"]), r["data.decision"]) for _, r in ev[ev["kind"] == "match_proposal"].iterrows()]
    assert proposed == [(["ann", "ben"], "probe"), (["ann", "cam"], "probe")]
    probes = [r for _, r in ev[ev["kind"] == "match_probe"].iterrows()]
    assert [p["data.decision"] for p in probes] == ["dissolved", "play"]
    assert probes[0]["data.p2p_rtt_ms"]["ann|ben"] > 350 and "ann–ben" in probes[0]["data.reason"]
    assert probes[1]["data.p2p_rtt_ms"]["ann|cam"] < 350


def test_nobody_came_the_participant_plays_alone_against_the_timeout_policy(serve, participant, turn) -> None:
    scene = p2p_scene(turn, max_steps=60).waitroom(timeout=2, timeout_policy="random")
    server = serve(experiment(scene))
    page = participant(f"{server.url}?participant=solo")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'", timeout=60_000)
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'waitroom'")
    # The wait times out: the game starts in this page, the random policy playing the partner.
    wait_for(page, "m.status === 'running'", timeout=90_000)
    assert page.evaluate("window.mug.agentId") == "left" and page.evaluate("window.mug.p2p") is None
    page.keyboard.down("ArrowUp")
    wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=90_000)
    page.keyboard.up("ArrowUp")
    results = server.results()
    [game] = [g for _, g in results.games.iterrows()]
    assert game["outcome"] == "completed" and game["mode"] == "client_pyodide"
    assert game["players.left"] == "solo" and game["players.right"] == "policy:random"
    steps = results.steps
    assert len(steps) == 60 and steps["action.right"].nunique() > 1 and (steps["action.left"] == 1).any()
    ev = results.events
    [fill] = [r for _, r in ev[ev["kind"] == "waitroom_fill_in"].iterrows()]
    assert fill["data.game_id"] == game["game_id"] and fill["data.filled_in"] == {"right": "random"}
