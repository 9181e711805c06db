"""RandomizeOrder and RepeatScene: every bad argument is refused at definition, naming it; orders are drawn as asked."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mug import EndScene, Experiment, GymScene, RandomizeOrder, RepeatScene, SceneConfigError, StartScene, StaticScene


def pages(*names: str) -> list[StaticScene]:
    return [StaticScene().scene(name) for name in names]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RandomizeOrder(StaticScene()), "scenes must be a list of scenes, got a single StaticScene"),
        (lambda: RandomizeOrder([]), "scenes must be a non-empty list"),
        (lambda: RandomizeOrder(pages("a", "b"), keep_n=0), "keep_n must be between 1 and 2"),
        (lambda: RandomizeOrder(pages("a", "b"), keep_n=3), "keep_n must be between 1 and 2"),
        (lambda: RandomizeOrder(pages("a", "b"), keep_n=True), "keep_n must be an int or None"),
        (lambda: RandomizeOrder(pages("a", "b"), balanced="yes"), "balanced must be True or False"),
        (lambda: RandomizeOrder([StaticScene(), "intro"]), "scenes[1] is str 'intro', not a scene"),
        (lambda: RandomizeOrder([StaticScene(), []]), "scenes[1] is an empty block"),
        (lambda: RandomizeOrder([StaticScene(), EndScene().scene("end")]), "scenes[1] is the end scene 'end'"),
        (lambda: RandomizeOrder(pages(*"abcdefgh"), balanced=True), "have 40320 orders (at most 5040)"),
        (lambda: RepeatScene(StaticScene(), 0), "n must be between 1 and 1000, got 0"),
        (lambda: RepeatScene(StaticScene(), 2.0), "n must be an int, got float"),
        (lambda: RepeatScene("game", 2), "scene is str 'game', not a scene"),
    ],
)
def test_bad_flow_arguments_are_refused_when_defined(make, message) -> None:
    with pytest.raises(SceneConfigError) as err:
        make()
    assert message in str(err.value)


def test_experiment_level_flow_mistakes_are_named() -> None:
    same = StaticScene().scene("same")
    with pytest.raises(SceneConfigError, match="the same StaticScene object \\('same'\\) appears twice"):
        Experiment("e", [same, RandomizeOrder([same, StaticScene()])])
    with pytest.raises(SceneConfigError, match=r"two scenes share the scene_id 'r\.1'"):
        Experiment("e", [StaticScene().scene("r.1"), RepeatScene(StaticScene().scene("r"), 2)])
    game = (
        GymScene()
        .scene("g")
        .environment(env_creator=lambda: None)
        .gameplay(action_mapping={"a": 1}, default_action=0)
        .policies(policy_mapping={"left": "human", "right": "human"})
        .multiplayer()
        .waitroom(timeout_scene_id="b")
    )
    with pytest.raises(SceneConfigError, match="timeout_scene_id 'b', which is inside a RandomizeOrder"):
        Experiment("e", [game, RandomizeOrder(pages("a", "b"))])
    with pytest.raises(SceneConfigError, match="scenes\\[1\\] is str"):
        Experiment("e", [StartScene(), "oops"])


def test_the_flow_lists_every_scene_and_names_repetitions() -> None:
    exp = Experiment(
        "e",
        [
            StartScene().scene("s"),
            RepeatScene([StaticScene().scene("inst"), StaticScene().scene("play")], 2),
            RandomizeOrder([pages("a1", "a2"), StaticScene().scene("b")], keep_n=1),
            EndScene(),
        ],
    )
    ids = [s.scene_id for s in exp.scenes]
    assert ids == ["s", "inst.1", "play.1", "inst.2", "play.2", "a1", "a2", "b", "end_6"]
    flow = exp.flow
    assert (flow.prefix, flow.min_length, flow.max_length) == (5, 7, 8)
    # A block stays together in its order.
    for seed in range(20):
        order = flow.realize(rng=random.Random(seed))
        assert order[:5] == ids[:5] and order[-1] == "end_6"
        assert order[5:-1] in (["a1", "a2"], ["b"])
    assert exp.config()["flow"][2] == {"randomize": [["a1", "a2"], "b"], "keep_n": 1, "balanced": False}


def test_balanced_assignment_gives_each_condition_and_each_order_in_turn() -> None:
    conditions = RandomizeOrder(pages("a", "b", "c"), keep_n=1, balanced=True)
    flow = Experiment("e", [StartScene().scene("s"), conditions]).flow
    orders: list[list[str]] = []
    for _ in range(9):
        orders.append(flow.realize(orders))
    assert Counter(order[1] for order in orders) == {"a": 3, "b": 3, "c": 3}
    full = Experiment("f", [RandomizeOrder(pages("x", "y", "z"), balanced=True)]).flow
    orders = []
    for _ in range(12):
        orders.append(full.realize(orders))
    assert set(Counter(map(tuple, orders)).values()) == {2}  # all 6 orders, twice each


def test_balanced_groups_nested_in_another_count_only_those_who_reached_them() -> None:
    inner = RandomizeOrder(pages("p", "q"), keep_n=1, balanced=True)
    outer = RandomizeOrder([[StaticScene().scene("left"), inner], StaticScene().scene("right")], keep_n=1)
    flow = Experiment("e", [outer]).flow
    orders: list[list[str]] = []
    for seed in range(40):
        orders.append(flow.realize(orders, random.Random(seed)))
    inner_got = Counter(order[1] for order in orders if order[0] == "left")
    assert abs(inner_got["p"] - inner_got["q"]) <= 1
