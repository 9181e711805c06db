"""The server's part of P2P games, over the real protocol: python-socketio clients against a real server.

Each client plays a participant's page: it joins, presses Start (``start_game``), and is matched
in the scene's waitroom; then it sends what a page's WebRTC mesh sends through the server
(signals, relayed packets, status reports) and what its outbox sends (records). The browsers'
own part (WebRTC, the worker) is tested in tests/e2e with Chromium.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from typing import Any

import pytest
import socketio
from helpers import eventually, join, p2p_episode_records

from mug import Experiment, GymScene, StaticScene
from mug.server.sessions.p2p import RELAY_EVENTS_BURST, RELAY_EVENTS_PER_S

ENV_CODE = """
class Duel:
    def get_state(self):
        return {}

    def set_state(self, state):
        pass

env = Duel()
"""
TURN_SECRET = "turn-secret-never-stored"


def p2p_scene(humans: int = 2, *, webrtc: bool = True, **multiplayer: Any) -> GymScene:
    mapping = {f"p{i}": "human" for i in range(humans)} | {"bot": "random"}
    scene = (
        GymScene()
        .scene("duel")
        .runtime(env_code=ENV_CODE)
        .multiplayer(mode="p2p", **multiplayer)
        .gameplay(action_mapping={"a": 1}, default_action=0, num_episodes=1)
        .policies(policy_mapping=mapping)
    )
    if webrtc:
        scene.webrtc(turn_url="turn:127.0.0.1:3478", turn_username="lab", turn_credential=TURN_SECRET)
    return scene


class Page:
    """A participant's page: a Socket.IO client that keeps every event the server sends it."""

    def __init__(self, server, participant: str) -> None:
        self.participant = participant
        self.events: dict[str, list[Any]] = defaultdict(list)
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data=None: self.events[event].append(data))
        self.client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        reply = join(self.client, server, participant)
        assert reply["ok"], reply
        self.scene = reply["scene"]

    def call(self, event: str, payload: dict[str, Any]) -> Any:
        return self.client.call(event, payload)

    def send(self, event: str, payload: dict[str, Any]) -> None:
        self.client.emit(event, payload)

    def errors(self, event: str) -> list[str]:
        return [e["message"] for e in self.events["error"] if e["event"] == event]

    def close(self) -> None:
        self.client.disconnect()


def matched(server, participants: list[str], scene_id: str = "duel") -> tuple[list[Page], list[dict[str, Any]]]:
    """Open a page per participant and press Start on each: every page's game, once the group is formed."""
    pages = [Page(server, p) for p in participants]
    for page in pages[:-1]:
        assert "waitroom" in page.call("start_game", {"scene_id": scene_id})
    last = pages[-1].call("start_game", {"scene_id": scene_id})
    games = [eventually(lambda page=page: page.events["matched"] and page.events["matched"][0]) for page in pages]
    assert last["game"] == {k: v for k, v in games[-1].items() if k != "scene_id"}
    return pages, games


def query(exp: Experiment, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{(exp.data_path / 'mug.sqlite3').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_matched_group_gets_one_game_with_a_place_for_each_and_a_reload_gets_it_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MUG_P2P_TEST_HOOKS", "1")
    exp = Experiment("p2p-match", [p2p_scene(input_delay=3, max_prediction=6)], data_dir=tmp_path)
    with exp.serve() as server:
        pages, games = matched(server, ["ann", "bob"])
        try:
            first, second = games
            assert (first["peer"], second["peer"]) == (0, 1)  # in the order they came
            for key in ("game_id", "seed", "session_tag", "peers", "ice_servers"):
                assert first[key] == second[key], key
            assert first["peers"] == [{"peer": 0, "agent": "p0"}, {"peer": 1, "agent": "p1"}]
            assert first["mode"] == "p2p" and first["agent_id"] == "p0" and second["agent_id"] == "p1"
            assert (first["input_delay"], first["max_prediction"], first["connect_timeout_s"]) == (3, 6, 5.0)
            assert first["session_tag"] == int(first["game_id"][:8], 16) < 2**32
            assert first["test_hooks"] is True and first["rejoin"] is False and first["force_relay"] is False
            # The browsers get the TURN credential: they must, to use the TURN server.
            assert first["ice_servers"] == [
                {"urls": ["turn:127.0.0.1:3478"], "username": "lab", "credential": TURN_SECRET}
            ]
            # Pressing Start again (a reloaded page) gives the same game back, marked as a rejoin.
            again = pages[0].call("start_game", {"scene_id": "duel"})["game"]
            assert again["game_id"] == first["game_id"] and again["peer"] == 0 and again["rejoin"] is True
            reloaded = Page(server, "ann")  # the newest page of a participant wins; its scene has the game
            assert reloaded.scene["game"]["game_id"] == first["game_id"] and reloaded.scene["game"]["rejoin"]
            reloaded.close()
        finally:
            for page in pages:
                page.close()
    games_rows = query(exp, "SELECT game_id, mode, players, seed, outcome FROM games")
    # (the server stopped with the game running: its signaling and relay ended, so did the record)
    assert [(g[0], g[1], g[3], g[4]) for g in games_rows] == [
        (first["game_id"], "client_p2p", first["seed"], "interrupted")
    ]
    assert json.loads(games_rows[0][2]) == {"p0": "ann", "p1": "bob", "bot": "policy:random"}
    # The credential is in nothing stored: not the data, not the saved config.
    for path in exp.data_path.rglob("*"):
        if path.is_file():
            assert TURN_SECRET.encode() not in path.read_bytes(), path


def test_signals_and_relayed_packets_reach_only_the_peer_they_name(tmp_path) -> None:
    exp = Experiment("p2p-route", [p2p_scene(humans=3, webrtc=False)], data_dir=tmp_path)
    exp.webrtc(ice_servers=[{"urls": "stun:127.0.0.1:3478"}], force_relay=False)
    with exp.serve() as server:
        (a, b, c), (game, _, _) = matched(server, ["a", "b", "c"])
        gid = game["game_id"]
        try:
            assert game["ice_servers"] == [{"urls": ["stun:127.0.0.1:3478"]}]  # the experiment's (the scene sets none)
            offer = {"kind": "offer", "data": {"type": "offer", "sdp": "v=0 for b"}}
            a.send("p2p_signal", {"game_id": gid, "to": 1, "signal": offer})
            a.send("p2p_signal", {"game_id": gid, "to": 2, "signal": {"kind": "candidate", "data": None}})
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 1, "data": "AAEC"}, {"to": 1, "data": "Aw=="}]})
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 2, "data": "BAU="}]})
            eventually(lambda: c.events["p2p_relay"])
            # (a's messages reach the server in order: c's first of each is the one addressed to it)
            assert b.events["p2p_signal"] == [{"game_id": gid, "from": 0, "signal": offer}]
            candidate = {"kind": "candidate", "data": None}
            assert c.events["p2p_signal"] == [{"game_id": gid, "from": 0, "signal": candidate}]
            assert b.events["p2p_relay"] == [{"game_id": gid, "from": 0, "data": ["AAEC", "Aw=="]}]
            assert c.events["p2p_relay"] == [{"game_id": gid, "from": 0, "data": ["BAU="]}]
            assert not a.events["p2p_signal"] and not a.events["p2p_relay"]
            assert not a.events["error"]
        finally:
            for page in (a, b, c):
                page.close()


def test_forged_senders_targets_and_games_are_refused_and_counted(tmp_path) -> None:
    exp = Experiment("p2p-forged", [p2p_scene()], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        outsider = Page(server, "mallory")
        gid = game["game_id"]
        signal = {"kind": "answer", "data": "sdp"}
        try:
            outsider.send("p2p_signal", {"game_id": gid, "to": 1, "signal": signal})
            outsider.send("p2p_relay", {"game_id": gid, "packets": [{"to": 0, "data": "AA=="}]})
            a.send("p2p_signal", {"game_id": gid, "to": 0, "signal": signal})  # itself
            a.send("p2p_signal", {"game_id": gid, "to": 2, "signal": signal})  # no such peer
            a.send("p2p_signal", {"game_id": "0" * 32, "to": 1, "signal": signal})  # no such game
            a.send("p2p_signal", {"game_id": gid, "to": 1, "signal": {"kind": "sdp", "data": "x"}})
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 1, "data": "not base64!"}]})
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 1, "data": "A" * 4000}]})
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 1, "data": "AA=="}] * 17})
            a.send("p2p_status", {"game_id": gid, "frame": 1, "peers": [{"peer": 1, "transport": "carrier pigeon",
                                                                          "rtt_ms": 1}], "rollbacks": 0,
                                   "max_rollback": 0, "predicted_frames": 0, "frames": 1, "desyncs": 0})  # fmt: skip
            eventually(lambda: len(a.errors("p2p_signal")) == 4 and len(a.errors("p2p_relay")) == 3)
            eventually(lambda: a.errors("p2p_status") and len(outsider.events["error"]) == 2)
            assert all("not a peer of a running P2P game" in e["message"] for e in outsider.events["error"])
            assert [m.split(":")[0] for m in a.errors("p2p_signal")] == [
                "'p2p_signal' field 'to' names the sender itself (peer 0)",
                "'p2p_signal' field 'to' must be a peer of the game (0-1), got 2",
                "'p2p_signal'",
                "'p2p_signal' field 'signal' must be {kind",
            ]
            assert "base64" in a.errors("p2p_relay")[0] and "base64" in a.errors("p2p_relay")[1]
            assert "1 to 16 packets" in a.errors("p2p_relay")[2]
            assert "transport must be one of" in a.errors("p2p_status")[0]
            assert not b.events["p2p_signal"] and not b.events["p2p_relay"]
        finally:
            for page in (a, b, outsider):
                page.close()
    # Counted, not a row each: the first refusal of each participant is a row, the rest a summary.
    refused = exp.results(include_idle=True).events
    refused = refused[refused["kind"] == "refused"]
    assert refused["data.count"].sum() == 10 and len(refused) <= 4


def test_relayed_packets_have_a_budget_of_their_own(tmp_path) -> None:
    exp = Experiment("p2p-budget", [p2p_scene()], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        sent = 3_000  # far more than a burst and what the budget refills while the server takes them
        try:
            began = time.monotonic()
            for _ in range(sent):
                a.send("p2p_relay", {"game_id": game["game_id"], "packets": [{"to": 1, "data": "AAAA"}]})
            eventually(lambda: len(b.events["p2p_relay"]) + len(a.errors("p2p_relay")) == sent, timeout=90)
            took = time.monotonic() - began
            passed = len(b.events["p2p_relay"])
            assert RELAY_EVENTS_BURST <= passed <= RELAY_EVENTS_BURST + RELAY_EVENTS_PER_S * took + 1
            assert "too many 'p2p_relay' events: more than 200 a second" in a.errors("p2p_relay")[0]
            # The page's other events have their own budget: still answered.
            assert a.call("ping", {"t": 1.0})["ok"] is True
        finally:
            a.close()
            b.close()


def test_the_monitor_shows_a_p2p_game_with_its_transport_and_rtt(tmp_path) -> None:
    exp = Experiment("p2p-monitor", [p2p_scene()], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])

        def status(peer: int, transport: str, rtt: float | None, frame: int) -> dict[str, Any]:
            return {"game_id": game["game_id"], "frame": frame, "peers": [{"peer": peer, "transport": transport,
                    "rtt_ms": rtt}], "rollbacks": 3, "max_rollback": 2, "predicted_frames": 10, "frames": frame,
                    "desyncs": 0}  # fmt: skip

        try:
            a.send("p2p_status", status(1, "direct", 12.5, 90))
            b.send("p2p_status", status(0, "server", None, 88))

            def shown() -> dict[str, Any] | None:
                games = [g for g in server.snapshot()["games"] if g["game_id"] == game["game_id"]]
                ready = games and all("frame" in p for p in games[0]["players"].values())
                return games[0] if ready else None

            shown_game = eventually(shown)
            assert shown_game["mode"] == "p2p" and shown_game["scene_id"] == "duel" and shown_game["step"] == 90
            assert shown_game["links"] == [
                {"pair": [0, 1], "transport": {"0": "direct", "1": "server"}, "rtt_ms": {"0": 12.5, "1": None}}
            ]
            assert shown_game["players"]["a"]["rollbacks"] == 3 and shown_game["players"]["b"]["peer"] == 1
            snapshot = server.snapshot()
            assert {p["participant_id"]: p["game_id"] for p in snapshot["participants"]} == {
                "a": game["game_id"],
                "b": game["game_id"],
            }
            assert TURN_SECRET not in str(snapshot)
            assert snapshot["counts"]["games"] == 1
            stats = server.stats()
            assert stats["games"] == 1 and stats["p2p_games"] == 1 and stats["tick_lateness_ms"] == []
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize("on_player_drop", ["end_game", "continue"])
def test_a_partner_who_does_not_come_back_is_dropped_and_the_others_are_told(tmp_path, on_player_drop) -> None:
    scene = p2p_scene(reconnect_grace_s=0.5, on_player_drop=on_player_drop)
    exp = Experiment("p2p-drop", [scene], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        gid = game["game_id"]
        try:
            a.close()
            first = eventually(lambda: b.events["p2p_peer_left"] and b.events["p2p_peer_left"][0])
            assert first == {"game_id": gid, "peer": 0, "final": False}
            final = eventually(lambda: len(b.events["p2p_peer_left"]) == 2 and b.events["p2p_peer_left"][1])
            if on_player_drop == "end_game":
                code = final["completion_code"]
                expected = {"game_id": gid, "peer": 0, "final": True, "game_over": True}
                assert final == {**expected, "message": final["message"], "completion_code": code}
                assert "partner left" in final["message"] and len(code) == 10
                ended = eventually(lambda: b.events["scene"] and b.events["scene"][-1])
                assert ended["ended"] == "partner_left" and ended["completion_code"] == code
                eventually(lambda: query(exp, "SELECT outcome FROM games") == [("player_dropped",)])
            else:
                assert final == {"game_id": gid, "peer": 0, "final": True, "game_over": False}
                assert not b.events["scene"]  # b plays on
                # A dropped peer sends nothing more into the game.
                signal = {"kind": "offer", "data": "x"}
                back = Page(server, "a")
                assert back.scene["scene_type"] == "completion_code" and back.scene["ended"] == "dropped"
                back.close()
                b.send("p2p_signal", {"game_id": gid, "to": 0, "signal": signal})  # (to a dropped peer: dropped)
                assert b.call("ping", {"t": 1.0})["ok"] and not b.errors("p2p_signal")
                assert query(exp, "SELECT outcome FROM games") == [(None,)]
        finally:
            b.close()
    participants = exp.results().participants.set_index("participant_id")
    assert participants.loc["a", "status"] == "completed"  # (ended early, with a code: "dropped")


def test_a_peer_back_within_the_grace_rejoins_its_game(tmp_path) -> None:
    exp = Experiment("p2p-back", [p2p_scene(reconnect_grace_s=30)], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        try:
            a.close()
            eventually(lambda: b.events["p2p_peer_left"])
            a = Page(server, "a")
            assert a.scene["game"]["game_id"] == game["game_id"] and a.scene["game"]["rejoin"] is True
            assert eventually(lambda: b.events["p2p_peer_back"]) == [{"game_id": game["game_id"], "peer": 0}]
            assert len(b.events["p2p_peer_left"]) == 1  # never final
            a.send("p2p_signal", {"game_id": game["game_id"], "to": 1, "signal": {"kind": "restart", "data": None}})
            eventually(lambda: b.events["p2p_signal"])
        finally:
            a.close()
            b.close()


def test_each_peer_ends_the_game_with_its_own_records_and_the_game_ends_when_all_have(tmp_path) -> None:
    exp = Experiment("p2p-done", [p2p_scene()], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        gid = game["game_id"]

        def records(page: Page, steps: int) -> dict[str, Any]:
            batch = p2p_episode_records(game, steps, ("p0", "p1", "bot"))
            return page.call("client_records", {"source": f"outbox-{page.participant}", "records": batch})

        try:
            assert len(records(a, 5)["committed"]) == 6
            done = a.call("advance", {"scene_id": "duel", "game_id": gid, "outcome": "done"})
            assert done["ok"], done
            assert query(exp, "SELECT outcome FROM games") == [(None,)]  # b still plays
            # b's page says it is done before its records came: unverified until they do.
            assert b.call("advance", {"scene_id": "duel", "game_id": gid, "outcome": "done"})["ok"]
            assert query(exp, "SELECT outcome FROM games") == [("unverified",)]
            assert len(records(b, 5)["committed"]) == 6
            eventually(lambda: query(exp, "SELECT outcome FROM games") == [("completed",)])
            assert a.call("start_game", {"scene_id": "duel"})["ok"] is False  # (a moved on: the experiment ended)
            # The page's final figures may arrive after it said it was done: taken. A step is not.
            late = a.call("client_records", {"source": "outbox-a", "records": [
                {"seq": 7, "kind": "event", "payload": {"scene_id": "duel", "kind": "p2p_stats", "t": 9.0,
                                                         "data": {"game_id": gid, "peer": 0, "frames": 5}}},
                {"seq": 8, "kind": "step", "payload": {"game_id": gid, "episode": 1, "step": 6, "scene_id": "duel"}},
            ]})  # fmt: skip
            assert late["committed"] == [7] and late["refused"] == [8]
        finally:
            a.close()
            b.close()
    results = exp.results()
    events = results.events
    assert list(events[events["kind"] == "game_verified"]["participant_id"]) == ["b"]
    assert list(results.p2p["participant_id"]) == ["a"] and list(results.p2p["frames"]) == [5]


def test_a_peer_whose_game_failed_leaves_it_and_the_others_are_told(tmp_path) -> None:
    exp = Experiment("p2p-failed", [p2p_scene(), StaticScene().scene("after")], data_dir=tmp_path)
    with exp.serve() as server:
        (a, b), (game, _) = matched(server, ["a", "b"])
        gid = game["game_id"]
        try:
            moved = a.call("advance", {"scene_id": "duel", "game_id": gid, "outcome": "error"})
            assert moved["ok"] and "error" in moved["scene"]["notice"]  # a moves on, told of the error
            left = eventually(lambda: b.events["p2p_peer_left"] and b.events["p2p_peer_left"][0])
            assert left["final"] is True and left["game_over"] is True and len(left["completion_code"]) == 10
            assert eventually(lambda: b.events["scene"])[-1]["ended"] == "partner_left"
            eventually(lambda: query(exp, "SELECT outcome FROM games") == [("error",)])
            # Its last packets crossing the end are dropped quietly; a new signal is refused.
            a.send("p2p_relay", {"game_id": gid, "packets": [{"to": 1, "data": "AA=="}]})
            a.send("p2p_signal", {"game_id": gid, "to": 1, "signal": {"kind": "restart", "data": None}})
            assert eventually(lambda: a.events["error"]) == [
                {"event": "p2p_signal", "message": f"'p2p_signal': game {gid!r} is over"}
            ]
            assert not b.events["p2p_relay"] and not b.events["p2p_signal"]
        finally:
            a.close()
            b.close()
