"""The waitroom: its queue (first come first served, deadlines kept across a leave, timeouts fire), the
ready-made matchmakers' decisions, and how a researcher's matchmaker is contained."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from mug.matchmaking import (
    FIFOMatchmaker,
    GroupReunionMatchmaker,
    LatencyFIFOMatchmaker,
    Match,
    MatchCandidate,
    Matchmaker,
    PastGroup,
)
from mug.server.sessions.waitroom import Waitroom


async def take_group(room: Waitroom, rtts: dict[str, list[float]] | None = None) -> list[str] | None:
    """What the sessions do with a proposal: the group leaves the queue."""
    proposal = await room.propose(rtts or {})
    if proposal is None:
        return None
    room.take(proposal.members)
    room.started(proposal.members)
    return proposal.members


def run_in_own_loop(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async test on a thread of its own (the browser tests keep a loop running in this one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, test()).result(timeout=30)


def test_groups_form_in_arrival_order_and_leavers_free_their_place() -> None:
    run_in_own_loop(groups_form_in_arrival_order)


async def groups_form_in_arrival_order() -> None:
    timed_out: list[str] = []
    room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=timed_out.append)
    room.add("a")
    room.add("a")  # a second Start press does not queue twice
    assert room.waiting == ["a"] and await take_group(room) is None
    room.add("b")
    assert room.remove("a") is True
    assert await take_group(room) is None
    room.add("c")
    assert await take_group(room) == ["b", "c"]
    assert room.waiting == []
    room.close()
    assert timed_out == []


def test_the_deadline_survives_leaving_and_the_timeout_fires() -> None:
    run_in_own_loop(deadline_survives_leaving)


async def deadline_survives_leaving() -> None:
    fired = asyncio.Event()
    timed_out: list[str] = []

    def on_timeout(pid: str) -> None:
        timed_out.append(pid)
        fired.set()

    room = Waitroom("duo", needed=2, timeout_s=0.2, on_timeout=on_timeout)
    room.add("a")
    first = room.seconds_left("a")
    room.remove("a")
    room.add("a")  # back after a reload: same deadline, not a fresh one
    assert room.seconds_left("a") <= first
    await asyncio.wait_for(fired.wait(), timeout=5)
    assert timed_out == ["a"] and room.waiting == []


def cand(pid: str, *, rtt: float | None = None, samples: int = 2, waited: float = 0.0,
         history: tuple[PastGroup, ...] = (), avoid: frozenset[str] = frozenset()) -> MatchCandidate:  # fmt: skip
    return MatchCandidate(
        pid, waited, rtt, (rtt,) * samples if rtt is not None else (), history, avoid
    )  # fmt: skip


def ids(decision: object) -> list[str] | None:
    if decision is None:
        return None
    assert isinstance(decision, Match) and decision.reason
    return [m.participant_id if isinstance(m, MatchCandidate) else m for m in decision.members]


def test_fifo_takes_the_longest_waiting_but_never_a_pair_whose_probe_failed() -> None:
    fifo = FIFOMatchmaker()
    assert ids(fifo.find_match(cand("d"), [cand("a"), cand("b"), cand("c")], 3)) == ["d", "a", "b"]
    avoiding = cand("d", avoid=frozenset({"a"}))
    assert ids(fifo.find_match(avoiding, [cand("a"), cand("b")], 2)) == ["d", "b"]
    assert fifo.find_match(avoiding, [cand("a")], 2) is None


def test_latency_fifo_groups_only_measured_participants_within_the_bound() -> None:
    mm = LatencyFIFOMatchmaker(max_server_rtt_ms=200)
    far, near = cand("far", rtt=300), cand("near", rtt=40)
    assert mm.find_match(far, [cand("far2", rtt=310)], 2) is None  # 610 ms apart
    assert mm.find_match(far, [near], 2) is None  # 340 ms
    assert ids(mm.find_match(cand("x", rtt=50), [far, near], 2)) == ["x", "near"]  # 90 ms; far skipped
    # Not measured enough yet: neither grouped nor grouped with.
    assert mm.find_match(cand("new", rtt=10, samples=1), [near], 2) is None
    assert mm.find_match(cand("x", rtt=50), [cand("new", rtt=10, samples=1)], 2) is None
    assert mm.find_match(cand("x", rtt=None, samples=0), [near], 2) is None
    reason = mm.find_match(cand("x", rtt=50), [near], 2)
    assert isinstance(reason, Match) and "90 ms" in reason.reason and "200 ms" in reason.reason


def test_group_reunion_waits_for_former_partners_then_falls_back() -> None:
    mm = GroupReunionMatchmaker(reunion_wait_s=30)
    ab = PastGroup("first", "g1", ("b",))
    ba = PastGroup("first", "g1", ("a",))
    a, b, c = cand("a", history=(ab,)), cand("b", history=(ba,)), cand("c")
    assert mm.find_match(a, [c], 2) is None  # a waits for b, c is not mixed in
    assert mm.find_match(c, [a], 2) is None  # nor is a taken by c
    decision = mm.find_match(a, [c, b], 2)
    assert ids(decision) == ["a", "b"] and "first" in decision.reason  # type: ignore[union-attr]
    # b has played with d since: that is b's group now, not a's.
    b_later = cand("b", history=(ba, PastGroup("second", "g2", ("d",))))
    assert mm.find_match(a, [b_later], 2) is None
    # After 30 s without b, a goes first come, first served with those free to.
    a_long = cand("a", history=(ab,), waited=31)
    assert ids(mm.find_match(a_long, [c], 2)) == ["a", "c"]
    assert GroupReunionMatchmaker(reunion_wait_s=30, fallback_to_fifo=False).find_match(a_long, [c], 2) is None
    # A source scene: the group of that scene, not the latest.
    by_scene = GroupReunionMatchmaker(source_scene_id="first")
    a2 = cand("a", history=(ab, PastGroup("second", "g2", ("e",))))
    assert ids(by_scene.find_match(a2, [cand("b", history=(ba,)), cand("e")], 2)) == ["a", "b"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LatencyFIFOMatchmaker(max_server_rtt_ms=0), "max_server_rtt_ms must be a positive number"),
        (lambda: LatencyFIFOMatchmaker(150, min_rtt_samples=9), "min_rtt_samples must be an int from 1 to 5"),
        (lambda: FIFOMatchmaker(max_p2p_rtt_ms="fast"), "max_p2p_rtt_ms must be a positive number"),
        (lambda: GroupReunionMatchmaker(reunion_wait_s=-1), "reunion_wait_s must be a number of seconds"),
        (lambda: GroupReunionMatchmaker(source_scene_id=""), "source_scene_id must be a scene id"),
    ],
)
def test_matchmaker_settings_are_checked(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


class Raising(Matchmaker):
    def find_match(self, arriving, waiting, group_size):  # type: ignore[no-untyped-def]
        raise KeyError("condition")


class Strangers(Matchmaker):
    def find_match(self, arriving, waiting, group_size):  # type: ignore[no-untyped-def]
        return [arriving, "someone-else"]


class Stalling(Matchmaker):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def find_match(self, arriving, waiting, group_size):  # type: ignore[no-untyped-def]
        self.release.wait(30)
        return None


class Pairs(Matchmaker):
    """Pairs participants with the same 'condition' in their link's query."""

    def find_match(self, arriving, waiting, group_size):  # type: ignore[no-untyped-def]
        same = [c for c in waiting if c.data["query"].get("condition") == arriving.data["query"].get("condition")]
        return Match([arriving, *same[: group_size - 1]], "same condition") if len(same) >= group_size - 1 else None


def test_a_matchmaker_that_raises_or_proposes_strangers_is_recorded_and_fifo_decides() -> None:
    async def go() -> None:
        for mm, expected in [(Raising(), "Raising.find_match raised KeyError"),
                             (Strangers(), "not waiting: ['someone-else']")]:  # fmt: skip
            errors: list[str] = []
            room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=lambda pid: None, matchmaker=mm)
            room.on_error = errors.append
            room.add("a")
            room.add("b")
            proposal = await room.propose({})
            assert proposal is not None and proposal.members == ["a", "b"]
            assert proposal.fallback is not None and expected in proposal.fallback
            assert proposal.matchmaker["matchmaker"] == "FIFOMatchmaker"
            await room.propose({})
            assert len(errors) == 1 and expected in errors[0]  # (recorded once, counted after)
            assert sum(room.errors.values()) == 2
            room.close()

    run_in_own_loop(go)


def test_a_stalling_matchmaker_is_given_up_on_and_fifo_decides_from_then_on() -> None:
    async def go() -> None:
        mm = Stalling()
        room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=lambda pid: None, matchmaker=mm)
        room.add("a")
        room.add("b")
        started = time.monotonic()
        proposal = await room.propose({})
        assert proposal is not None and proposal.members == ["a", "b"]
        assert room.replaced is not None and "took longer than 2 s" in room.replaced
        assert time.monotonic() - started < 10
        room.add("c")
        room.add("d")
        again = await room.propose({})  # no second wait: FIFO decides at once
        assert again is not None and again.fallback == room.replaced
        mm.release.set()
        room.close()

    run_in_own_loop(go)


def test_a_researchers_matchmaker_decides_by_what_participants_brought() -> None:
    async def go() -> None:
        room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=lambda pid: None, matchmaker=Pairs())
        room.add("a", data={"query": {"condition": "red"}})
        room.add("b", data={"query": {"condition": "blue"}})
        assert await room.propose({}) is None
        room.add("c", data={"query": {"condition": "blue"}})
        proposal = await room.propose({})
        assert proposal is not None and proposal.members == ["b", "c"] and proposal.reason == "same condition"
        assert proposal.fallback is None and proposal.matchmaker["matchmaker"] == "Pairs"
        room.close()

    run_in_own_loop(go)


def test_scene_options_of_matchmaking_are_checked_at_definition() -> None:
    from envs import race_scene

    from mug import SceneConfigError

    with pytest.raises(SceneConfigError, match=r"matchmaker.*not the class"):
        race_scene().multiplayer(matchmaker=FIFOMatchmaker)
    with pytest.raises(SceneConfigError, match=r"matchmaker.*must be a mug.Matchmaker.*got str"):
        race_scene().multiplayer(matchmaker="fifo")
    with pytest.raises(SceneConfigError, match="max_p2p_rtt_ms=80, which applies to mode='p2p' only"):
        race_scene().multiplayer(matchmaker=FIFOMatchmaker(max_p2p_rtt_ms=80))
    with pytest.raises(SceneConfigError, match=r"timeout_policy.*cannot be combined with timeout_scene_id"):
        race_scene().waitroom(timeout_policy="random", timeout_scene_id="solo")
    with pytest.raises(SceneConfigError, match=r"timeout_policy.*not 'human'"):
        race_scene().waitroom(timeout_policy="human")
    with pytest.raises(SceneConfigError, match="timeout_policy"):
        race_scene().waitroom(timeout_policy=42)
    scene = race_scene().multiplayer(matchmaker=LatencyFIFOMatchmaker(150)).waitroom(timeout_policy="random")
    assert scene.multiplayer_options.to_json()["matchmaker"] == {
        "matchmaker": "LatencyFIFOMatchmaker", "max_p2p_rtt_ms": None, "max_server_rtt_ms": 150.0, "min_rtt_samples": 2
    }  # fmt: skip
    assert scene.effective_waitroom().to_json()["timeout_policy"] == "random"
    filled = scene.filled_in({"red": "p1"})
    assert filled.policy_mapping == {"red": "human", "blue": "random"} and filled.scene_id == scene.scene_id
    assert scene.policy_mapping == {"red": "human", "blue": "human"}
    assert scene.filled_in({"red": "a", "blue": "b"}) is scene


def test_a_probe_result_is_checked_field_by_field() -> None:
    from mug.server.web.protocol import ProtocolError, parse_p2p_probe_result

    peers = [{"peer": 1, "rtt_ms": 80.123}, {"peer": 2, "rtt_ms": None}]
    ok = parse_p2p_probe_result(({"game_id": "ab12", "peers": peers},))
    assert ok.game_id == "ab12" and ok.rtt_ms == {1: 80.12, 2: None}
    for bad, says in [
        ({"game_id": "ab12", "peers": [{"peer": 1, "rtt_ms": -1}]}, "rtt_ms must be a number of milliseconds"),
        ({"game_id": "ab12", "peers": [{"peer": 1, "rtt_ms": True}]}, "rtt_ms must be a number of milliseconds"),
        ({"game_id": "ab12", "peers": [{"peer": 1}]}, "peers must be {peer, rtt_ms}"),
        ({"game_id": "ab12", "peers": [{"peer": 1, "rtt_ms": 5}] * 9}, "at most"),
    ]:
        with pytest.raises(ProtocolError, match=re.escape(says)):
            parse_p2p_probe_result((bad,))


def test_former_groups_survive_a_server_restart(tmp_path) -> None:
    """Ann and Bob play `first` together; the server restarts; in `second` Ann is not grouped with
    Cam (who waited there first) but with Bob again."""
    import socketio
    from envs import race_scene
    from helpers import eventually, join

    from mug import EndScene, Experiment, StaticScene

    def experiment() -> Experiment:
        first = race_scene("first", length=5).waitroom(timeout=1, timeout_scene_id="second")
        second = race_scene("second", length=5).multiplayer(matchmaker=GroupReunionMatchmaker(reunion_wait_s=120))
        scenes = [first, StaticScene().scene("between"), second, EndScene().scene("end")]
        return Experiment("reunion-restart", scenes, data_dir=tmp_path)

    def page(server, pid: str, secret: str | None = None) -> tuple[socketio.Client, dict, dict]:
        seen: dict = {}
        client = socketio.Client(reconnection=False)
        client.on("*", lambda event, data=None: seen.setdefault(event, []).append(data))
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        reply = join(client, server, pid, **({"secret": secret} if secret else {}))
        assert reply["ok"], reply
        return client, reply, seen

    secrets = {}
    with experiment().serve() as server:
        pages = {pid: page(server, pid) for pid in ("ann", "bob")}
        for pid, (client, reply, _) in pages.items():
            secrets[pid] = reply["secret"]
            assert client.call("start_game", {"scene_id": "first"})["ok"]
        for client, _, seen in pages.values():  # the 5-step game plays itself out
            eventually(lambda seen=seen: any(s["scene_id"] == "between" for s in seen.get("scene", [])))
            client.disconnect()
    with experiment().serve() as server:
        cam, _, cam_seen = page(server, "cam")
        assert cam.call("start_game", {"scene_id": "first"})["waitroom"]
        eventually(lambda: any(s["scene_id"] == "second" for s in cam_seen.get("scene", [])))  # timed out alone
        assert cam.call("start_game", {"scene_id": "second"})["waitroom"]["waiting"] == 1
        ann, reply, _ = page(server, "ann", secrets["ann"])
        assert reply["scene"]["scene_id"] == "between"
        assert ann.call("advance", {"scene_id": "between"})["scene"]["scene_id"] == "second"
        waiting = ann.call("start_game", {"scene_id": "second"})
        assert "game" not in waiting and waiting["waitroom"]["waiting"] == 2  # FIFO would have paired her with Cam
        bob, _, _ = page(server, "bob", secrets["bob"])
        bob.call("advance", {"scene_id": "between"})
        assert bob.call("start_game", {"scene_id": "second"})["game"]["players"] == 2
        for client in (cam, ann, bob):
            client.disconnect()
    events = experiment().results().events
    proposals = events[(events["kind"] == "match_proposal") & (events["scene_id"] == "second")]
    assert [list(m) for m in proposals["data.members"]] == [["ann", "bob"]]
    assert "played together in 'first'" in proposals["data.reason"].iloc[0]


def test_a_p2p_scene_fills_in_only_with_a_policy_that_runs_in_the_browser() -> None:
    from mug import GymScene, SceneConfigError

    def p2p(policy: object) -> GymScene:
        return (
            GymScene().scene("duel")
            .runtime(env_code="from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv()\n")
            .multiplayer(mode="p2p")
            .policies(policy_mapping={"left": "human", "right": "human"})
            .gameplay(action_mapping={"ArrowUp": 1}, default_action=0)
            .waitroom(timeout_policy=policy)
        )  # fmt: skip

    p2p("random").validate()
    with pytest.raises(SceneConfigError, match="must be 'random' or a ModelConfig with mode='p2p'"):
        p2p(lambda obs: 0).validate()
