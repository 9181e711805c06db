"""Per-participant scene orders over the real protocol: balanced conditions, repeats (games too), a restart."""

from __future__ import annotations

from collections import Counter

import socketio
from envs import walk_scene
from helpers import eventually

from mug import EndScene, Experiment, RandomizeOrder, RepeatScene, StartScene, StaticScene


def _experiment(tmp_path) -> Experiment:
    conditions = [StaticScene().scene(f"cond_{name}") for name in "abc"]
    return Experiment(
        "flow",
        [
            StartScene().scene("welcome"),
            RandomizeOrder(conditions, keep_n=1, balanced=True),
            RepeatScene(StaticScene().scene("round"), 2),
            EndScene().scene("bye"),
        ],
        data_dir=tmp_path,
    )


class Participant:
    """A participant's page reduced to its protocol: joins (keeping its session secret) and continues."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.secret = "s" * 40 + name[-3:].rjust(3, "_")  # a page makes its own secret before joining
        self.client: socketio.Client | None = None

    def join(self, server) -> dict:
        self.client = socketio.Client(reconnection=False)
        self.client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        reply = self.client.call("join", {"query": {"participant": self.name}, "secret": self.secret})
        assert reply["ok"], reply
        return reply["scene"]

    def advance(self, scene_id: str) -> dict:
        assert self.client is not None
        reply = self.client.call("advance", {"scene_id": scene_id})
        assert reply["ok"], reply
        return reply["scene"]

    def leave(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None


def test_balanced_conditions_give_three_participants_each_across_a_server_restart(tmp_path) -> None:
    people = [Participant(f"p{i}") for i in range(9)]
    got: dict[str, str] = {}
    exp = _experiment(tmp_path)
    with exp.serve() as server:
        for person in people[:4]:
            first = person.join(server)
            assert first["scene_id"] == "welcome"
            got[person.name] = person.advance("welcome")["scene_id"]
            person.leave()
    # A new server on the same data: the assignments so far count, and a returning participant
    # is where they were, in the condition they had.
    exp = _experiment(tmp_path)
    with exp.serve() as server:
        back = people[0]
        assert back.join(server)["scene_id"] == got[back.name]
        after = back.advance(got[back.name])
        assert (after["scene_id"], after["index"], after["count"]) == ("round.1", 2, 5)
        back.leave()
        for person in people[4:]:
            person.join(server)
            got[person.name] = person.advance("welcome")["scene_id"]
            person.leave()
    assert Counter(got.values()) == {"cond_a": 3, "cond_b": 3, "cond_c": 3}
    participants = exp.results().participants.set_index("participant_id")
    for person in people:
        order = participants.loc[person.name, "data.scene_order"]
        assert order == ["welcome", got[person.name], "round.1", "round.2", "bye"]


def test_a_participant_goes_through_their_own_order_and_the_visits_say_so(tmp_path) -> None:
    games = [StaticScene().scene(name) for name in ("x", "y", "z")]
    exp = Experiment("orders", [RandomizeOrder(games), EndScene().scene("end")], data_dir=tmp_path)
    person = Participant("solo")
    with exp.serve() as server:
        # The first scene is randomized: the order is drawn at the first join.
        seen = [person.join(server)["scene_id"]]
        while True:
            scene = person.advance(seen[-1])
            seen.append(scene["scene_id"])
            if scene["scene_type"] == "end":
                break
        person.leave()
    assert sorted(seen[:3]) == ["x", "y", "z"] and seen[3] == "end"
    results = exp.results()
    assert results.participants.iloc[0]["data.scene_order"] == seen
    visits = results.scene_visits
    assert list(visits["scene_id"]) == seen and list(visits["scene_index"]) == [0, 1, 2, 3]


def test_an_experiment_without_randomize_order_stores_no_order(tmp_path) -> None:
    exp = Experiment(
        "plain", [StartScene().scene("a"), RepeatScene(StaticScene().scene("b"), 2), EndScene()], data_dir=tmp_path
    )
    person = Participant("plain")
    with exp.serve() as server:
        person.join(server)
        assert person.advance("a")["scene_id"] == "b.1"
        assert person.advance("b.1")["scene_id"] == "b.2"
        assert person.advance("b.2")["scene_type"] == "end"
        person.leave()
    assert "data.scene_order" not in exp.results().participants.columns



def test_a_repeated_game_scene_plays_and_records_each_repetition_apart(tmp_path) -> None:
    exp = Experiment("repeat", [RepeatScene(walk_scene(length=5), 2), EndScene().scene("end")], data_dir=tmp_path)
    person = Participant("player")
    with exp.serve() as server:
        assert person.join(server)["scene_id"] == "walk.1"
        assert person.client is not None
        pushed: list[str] = []
        person.client.on("scene", lambda spec: pushed.append(spec["scene_id"]))
        for repetition in ("walk.1", "walk.2"):
            reply = person.client.call("start_game", {"scene_id": repetition})
            assert reply["ok"], reply
            # The game ends by itself after 5 steps and the server moves the participant on.
            eventually(lambda repetition=repetition: pushed and pushed[-1] != repetition and pushed[-1])
        assert pushed == ["walk.2", "end"]
        person.leave()
    results = exp.results()
    assert sorted(results.games["scene_id"]) == ["walk.1", "walk.2"]
    assert results.steps.groupby("scene_id").size().to_dict() == {"walk.1": 5, "walk.2": 5}
