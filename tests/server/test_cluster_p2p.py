"""Peers of one P2P game connected to different servers: matched together, signaling, reloads, drops, the end.

Two `mug serve --redis` processes (the store: PostgreSQL, or one SQLite file they share), and
python-socketio clients speaking as the pages do (tests/server/test_p2p_signaling.py tests one
server; the browsers' WebRTC part is tested in tests/e2e). The first participant's server runs
the scene's waitroom and keeps the game; the other's page plays through a stand-in on its own
server (`mug.server.cluster.p2p_links`).
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import socketio
from cluster import Cluster, MugServer
from helpers import eventually, p2p_episode_records
from postgres import Postgres

from mug import load_results

EXPERIMENT = """
from mug import CompletionCodeScene, Experiment, GymScene, StaticScene
from mug.matchmaking import FIFOMatchmaker

ENV_CODE = '''
class Duel:
    def get_state(self):
        return {{}}

    def set_state(self, state):
        pass

env = Duel()
'''

duel = (
    GymScene()
    .scene("duel")
    .runtime(env_code=ENV_CODE)
    .multiplayer(mode="p2p", reconnect_grace_s={grace}, matchmaker={matchmaker})
    .gameplay(action_mapping={{"a": 1}}, default_action=0, num_episodes=1)
    .policies(policy_mapping={{"p0": "human", "p1": "human"}})
){waitroom}
experiment = Experiment("p2p-cluster", [StaticScene().scene("hello"), duel, CompletionCodeScene().scene("end")])
"""


class Page:
    """A participant's page on one server: keeps every event it is sent, and its session secret."""

    def __init__(self, server: MugServer, participant: str, secret: str | None = None) -> None:
        self.participant = participant
        self.events: dict[str, list[Any]] = defaultdict(list)
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data=None: self.events[event].append(data))
        self.client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        message: dict[str, Any] = {"query": {"participant": participant}}
        if secret:
            message["secret"] = secret
        self.joined = self.client.call("join", message)
        assert self.joined.get("participant_id") == participant, self.joined
        self.secret: str = secret or self.joined["secret"]

    def call(self, event: str, payload: dict[str, Any]) -> Any:
        return self.client.call(event, payload)

    def send(self, event: str, payload: dict[str, Any]) -> None:
        self.client.emit(event, payload)

    def start(self) -> dict[str, Any]:
        assert self.call("advance", {"scene_id": "hello"})["ok"]
        return self.call("start_game", {"scene_id": "duel"})

    def matched(self) -> dict[str, Any]:
        return eventually(lambda: self.events["matched"] and self.events["matched"][0], timeout=20)

    def records(self, game: dict[str, Any], steps: int) -> dict[str, Any]:
        """Send the page's records of one episode of ``steps`` steps, as its outbox does."""
        batch = p2p_episode_records(game, steps)
        return self.call("client_records", {"source": f"outbox-{self.participant}", "records": batch})

    def close(self) -> None:
        self.client.disconnect()


def _start(
    tmp_path: Path,
    cluster: Cluster,
    grace: float,
    database: str | None = None,
    matchmaker: str = "None",
    waitroom: str = "",
) -> list[MugServer]:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(grace=grace, matchmaker=matchmaker, waitroom=waitroom))
    args = ["--redis", cluster.redis().url, *(["--database", database] if database else [])]
    return cluster.servers(f"{path}:experiment", 2, extra_args=args, separate_data=False)


def _pair(one: MugServer, two: MugServer) -> tuple[Page, Page, dict[str, Any], dict[str, Any]]:
    """ann on ``one`` (whose server then runs the waitroom), bob on ``two``: matched; their games."""
    ann = Page(one, "ann")
    assert "waitroom" in ann.start()
    bob = Page(two, "bob")
    bob.start()
    return ann, bob, ann.matched(), bob.matched()


def test_peers_on_two_servers_play_one_game_and_a_reload_onto_the_other_server_plays_on(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    database = postgres_server.create_database()
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = _start(tmp_path, cluster, grace=30, database=database)
        ann, bob, game_a, game_b = _pair(one, two)
        pages = [ann, bob]
        try:
            gid = game_a["game_id"]
            assert game_b["game_id"] == gid and (game_a["peer"], game_b["peer"]) == (0, 1)
            assert game_a["seed"] == game_b["seed"] and game_a["session_tag"] == game_b["session_tag"]

            # Signals and relayed packets cross the servers, to the named peer only.
            offer = {"kind": "offer", "data": {"type": "offer", "sdp": "v=0 for bob"}}
            ann.send("p2p_signal", {"game_id": gid, "to": 1, "signal": offer})
            assert eventually(lambda: bob.events["p2p_signal"]) == [{"game_id": gid, "from": 0, "signal": offer}]
            bob.send("p2p_relay", {"game_id": gid, "packets": [{"to": 0, "data": "AAEC"}]})
            assert eventually(lambda: ann.events["p2p_relay"]) == [{"game_id": gid, "from": 1, "data": ["AAEC"]}]
            # bob's page reports its link: the monitor of the server keeping the game shows it.
            bob.send("p2p_status", {"game_id": gid, "frame": 10, "peers": [{"peer": 0, "transport": "direct",
                     "rtt_ms": 3.5}], "rollbacks": 2, "max_rollback": 1, "predicted_frames": 4, "frames": 10,
                     "desyncs": 0})  # fmt: skip

            def shown() -> dict[str, Any] | None:
                with urllib.request.urlopen(f"{one.url}admin/api/state?token={one.admin_token}", timeout=5) as reply:
                    state = json.load(reply)
                games = [g for g in state["games"] if g["game_id"] == gid]
                return games[0] if games and "frame" in games[0]["players"]["bob"] else None

            shown_game = eventually(shown)
            assert shown_game["links"] == [
                {"pair": [0, 1], "transport": {"0": None, "1": "direct"}, "rtt_ms": {"0": None, "1": 3.5}}
            ]
            assert shown_game["players"]["bob"]["rollbacks"] == 2

            # bob's page reloads and lands on ann's server: the others are told it went and came back,
            # and the game goes on from there.
            bob.close()
            assert eventually(lambda: ann.events["p2p_peer_left"]) == [{"game_id": gid, "peer": 1, "final": False}]
            bob = Page(one, "bob", bob.secret)
            pages.append(bob)
            back = bob.joined["scene"]["game"]
            assert back["game_id"] == gid and back["peer"] == 1 and back["rejoin"] is True
            assert eventually(lambda: ann.events["p2p_peer_back"]) == [{"game_id": gid, "peer": 1}]
            ann.send("p2p_signal", {"game_id": gid, "to": 1, "signal": {"kind": "restart", "data": None}})
            eventually(lambda: bob.events["p2p_signal"])

            # ann's page reloads onto the other server: the game goes on there too.
            ann.close()
            eventually(lambda: bob.events["p2p_peer_left"])
            ann = Page(two, "ann", ann.secret)
            pages.append(ann)
            assert ann.joined["scene"]["game"]["game_id"] == gid
            eventually(lambda: bob.events["p2p_peer_back"])
            bob.send("p2p_relay", {"game_id": gid, "packets": [{"to": 0, "data": "BAU="}]})
            assert eventually(lambda: ann.events["p2p_relay"]) == [{"game_id": gid, "from": 1, "data": ["BAU="]}]

            # Each page ends the game with its records, on the server it is at now: the game ends once.
            for page, game in ((ann, game_a), (bob, game_b)):
                assert len(page.records(game, 5)["committed"]) == 6
                done = page.call("advance", {"scene_id": "duel", "game_id": gid, "outcome": "done"})
                assert done["ok"] and done["scene"]["scene_id"] == "end", done
            assert not [e for page in pages for e in page.events["error"]]

            def ended() -> bool:
                games = load_results(database).games
                return list(games["outcome"]) == ["completed"]

            eventually(ended, timeout=20)
        finally:
            for page in pages:
                page.close()

    results = load_results(database)
    assert list(results.games["mode"]) == ["client_p2p"]
    assert list(results.steps["step"]) == [1, 2, 3, 4, 5]  # (the two peers' records agree: one row each)
    people = results.participants.set_index("participant_id")
    assert list(people.loc[["ann", "bob"], "status"]) == ["completed", "completed"]


@pytest.mark.parametrize("leaver", ["ann", "bob"])
def test_a_peer_who_does_not_come_back_is_dropped_and_the_partner_on_the_other_server_is_told(
    tmp_path: Path, leaver: str
) -> None:
    """ann's server keeps the game; bob plays through his. Whichever leaves, the other is told, ends
    with a code at their own server, and the leaver's session ended as dropped."""
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = _start(tmp_path, cluster, grace=0.5)
        ann, bob, game, _ = _pair(one, two)
        gone, stays = (ann, bob) if leaver == "ann" else (bob, ann)
        gid = game["game_id"]
        try:
            gone.close()
            left = eventually(lambda: len(stays.events["p2p_peer_left"]) == 2 and stays.events["p2p_peer_left"], 20)
            peer = 0 if leaver == "ann" else 1
            assert left[0] == {"game_id": gid, "peer": peer, "final": False}
            final = left[1]
            assert final["final"] is True and final["game_over"] is True and len(final["completion_code"]) == 10
            ended = eventually(lambda: stays.events["scene"] and stays.events["scene"][-1])
            assert ended["ended"] == "partner_left" and ended["completion_code"] == final["completion_code"]
            # The leaver comes back (to the other server): their session ended, as dropped.
            again = Page(two if gone is ann else one, gone.participant, gone.secret)
            assert again.joined["scene"]["ended"] == "dropped", again.joined["scene"]
            again.close()
            eventually(lambda: list(load_results(one.data_dir / "p2p-cluster").games["outcome"]) == ["player_dropped"])
        finally:
            ann.close()
            bob.close()


def test_a_group_of_two_servers_measures_its_round_trips_before_it_plays(tmp_path: Path) -> None:
    """With ``max_p2p_rtt_ms``, the proposed pair's pages measure their round trips first, at the
    waitroom's home (ann's server): bob's probe signals and figures pass through his own server."""
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = _start(tmp_path, cluster, grace=30, matchmaker="FIFOMatchmaker(max_p2p_rtt_ms=100)")
        ann = Page(one, "ann")
        assert "waitroom" in ann.start()
        bob = Page(two, "bob")
        bob.start()
        try:
            probe_a = eventually(lambda: ann.events["p2p_probe"] and ann.events["p2p_probe"][0], timeout=20)
            probe_b = eventually(lambda: bob.events["p2p_probe"] and bob.events["p2p_probe"][0], timeout=20)
            pid = probe_a["probe_id"]
            assert probe_b["probe_id"] == pid and (probe_a["peer"], probe_b["peer"]) == (0, 1)
            offer = {"kind": "offer", "data": {"type": "offer", "sdp": "v=0 probe"}}
            bob.send("p2p_signal", {"game_id": pid, "to": 0, "signal": offer})
            assert eventually(lambda: ann.events["p2p_signal"]) == [{"game_id": pid, "from": 1, "signal": offer}]
            ann.send("p2p_relay", {"game_id": pid, "packets": [{"to": 1, "data": "AA=="}]})
            assert eventually(lambda: bob.events["p2p_relay"]) == [{"game_id": pid, "from": 0, "data": ["AA=="]}]
            assert not ann.events["matched"] and not bob.events["matched"]  # (not before both answered)
            bob.send("p2p_probe_result", {"game_id": pid, "peers": [{"peer": 0, "rtt_ms": 12.0}]})
            ann.send("p2p_probe_result", {"game_id": pid, "peers": [{"peer": 1, "rtt_ms": 14.0}]})
            game_a, game_b = ann.matched(), bob.matched()
            assert game_a["game_id"] == game_b["game_id"] != pid and (game_a["peer"], game_b["peer"]) == (0, 1)
            # The probe's last packets, sent as it ended, are dropped quietly (as on one server).
            bob.send("p2p_relay", {"game_id": pid, "packets": [{"to": 0, "data": "AQ=="}]})
            assert bob.call("ping", {"t": 1.0})["ok"]
            assert not [e for page in (ann, bob) for e in page.events["error"]]
        finally:
            ann.close()
            bob.close()
        events = load_results(one.data_dir / "p2p-cluster").events
        probes = events[events["kind"] == "match_probe"]
        assert list(probes["data.decision"]) == ["play"] and probes.iloc[0]["data.p2p_rtt_ms"] == {"ann|bob": 14.0}


def test_a_participant_timed_out_at_another_servers_waitroom_plays_alone_and_again_after_a_reload(
    tmp_path: Path,
) -> None:
    """Nobody comes: bob, waiting at ann's server's waitroom through his own, gets the AI fill-in game
    from his own server, and a new one at once after his page reloads (not another wait)."""
    with Cluster(tmp_path / "cluster") as cluster:
        fill_in = '.waitroom(timeout=1, timeout_policy="random")'
        one, two = _start(tmp_path, cluster, grace=30, waitroom=fill_in)
        ann = Page(one, "ann")
        assert "waitroom" in ann.start()  # (the scene's waitroom is now run by one)
        ann.close()
        bob = Page(two, "bob")
        pages = [bob]
        try:
            assert bob.start()["waitroom"]["needed"] == 2
            game = bob.matched()
            assert game["mode"] == "client" and game["policies"]
            bob.close()
            bob = Page(two, "bob", bob.secret)
            pages.append(bob)
            again = bob.call("start_game", {"scene_id": "duel"})
            assert again["game"]["mode"] == "client" and again["game"]["game_id"] != game["game_id"], again
        finally:
            for page in pages:
                page.close()
        events = load_results(one.data_dir / "p2p-cluster").events
        fills = events[events["kind"] == "waitroom_fill_in"]
        assert list(fills["participant_id"]) == ["bob", "bob"]


def test_a_p2p_game_whose_server_is_killed_goes_on_through_the_other_and_ends_completed(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    """ann's server keeps the game; it is killed mid-game. bob's server takes the game over; ann's
    page comes back through it and plays on; both end the game, which ends completed."""
    database = postgres_server.create_database()
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = _start(tmp_path, cluster, grace=30, database=database)
        ann, bob, game_a, game_b = _pair(one, two)
        pages = [ann, bob]
        gid = game_a["game_id"]
        try:
            one.kill()
            ann = Page(two, "ann", ann.secret)  # (her page reconnects through the load balancer)
            pages.append(ann)
            back = ann.joined["scene"]["game"]
            assert back["game_id"] == gid and back["peer"] == 0 and back["rejoin"] is True, ann.joined
            bob.send("p2p_signal", {"game_id": gid, "to": 0, "signal": {"kind": "restart", "data": None}})
            eventually(lambda: ann.events["p2p_signal"])
            for page, game in ((ann, game_a), (bob, game_b)):
                assert len(page.records(game, 5)["committed"]) == 6
                done = page.call("advance", {"scene_id": "duel", "game_id": gid, "outcome": "done"})
                assert done["ok"] and done["scene"]["scene_id"] == "end", done
            assert not [e for page in pages[1:] for e in page.events["error"]]
            eventually(lambda: list(load_results(database).games["outcome"]) == ["completed"], timeout=20)
        finally:
            for page in pages:
                page.close()
    events = load_results(database).events
    taken = events[events["kind"] == "p2p_game_taken_over"]
    assert len(taken) == 1 and taken.iloc[0]["data.game_id"] == gid


def test_a_peer_opening_the_game_on_the_other_server_while_its_old_page_is_open_is_told_as_a_page_that_left(
    tmp_path: Path,
) -> None:
    """The newest page wins: a second page on the other server replaces the old one (which another
    server may close late). The partner is told the peer left and came back, in that order, each once."""
    with Cluster(tmp_path / "cluster") as cluster:
        one, two = _start(tmp_path, cluster, grace=30)
        ann, bob, game, _ = _pair(one, two)
        gid = game["game_id"]
        pages = [ann, bob]
        try:
            # bob's new page on the server keeping the game, his old one still open on his own.
            bob = Page(one, "bob", bob.secret)
            pages.append(bob)
            assert bob.joined["scene"]["game"]["game_id"] == gid
            assert eventually(lambda: ann.events["p2p_peer_back"]) == [{"game_id": gid, "peer": 1}]
            assert ann.events["p2p_peer_left"] == [{"game_id": gid, "peer": 1, "final": False}]
            # ann's new page on the other server, her old one still open on the game's.
            ann = Page(two, "ann", ann.secret)
            pages.append(ann)
            assert ann.joined["scene"]["game"]["game_id"] == gid
            assert eventually(lambda: bob.events["p2p_peer_back"]) == [{"game_id": gid, "peer": 0}]
            assert bob.events["p2p_peer_left"] == [{"game_id": gid, "peer": 0, "final": False}]
            bob.send("p2p_signal", {"game_id": gid, "to": 0, "signal": {"kind": "restart", "data": None}})
            eventually(lambda: ann.events["p2p_signal"])

            def recorded(kind: str) -> list[str]:
                events = load_results(one.data_dir / "p2p-cluster").events
                return sorted(events[events["kind"] == kind]["participant_id"])

            eventually(lambda: recorded("p2p_peer_back") == ["ann", "bob"])
            assert recorded("p2p_peer_away") == ["ann", "bob"]
        finally:
            for page in pages:
                page.close()
