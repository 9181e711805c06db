"""A server-run game's frame delta (`FrameDiffer`) is exactly `RenderDiffer`'s: what a page is sent
does not change with the faster path, whatever the env draws."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from mug.env import RenderDiffer, Surface
from mug.server.games.delta import FrameDiffer
from mug.server.games.players import Player


class _View(Mapping[str, Any]):
    """A read-only mapping that is not a dict (an env may draw objects as any Mapping)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _random_object(rng: random.Random, object_id: str | None) -> Any:
    kind = rng.choice(["flat", "flat", "flat", "points_list", "points_tuple", "nested", "numpy", "mapping"])
    obj: dict[str, Any] = {"type": "circle", "id": object_id, "depth": rng.choice([0, 1]), "alpha": 1.0}
    obj["x"] = rng.choice([0.25, 0.5, 0.5, 0.5])  # often unchanged
    obj["fill"] = rng.choice(["#ff0000", "#ff0000", None])
    obj["visible"] = rng.choice([True, True, False])
    if kind in ("points_list", "points_tuple"):
        points = [(0.0, 0.0), (rng.choice([0.5, 1.0]), 1.0)]
        obj["points"] = points if kind == "points_tuple" else [list(p) for p in points]
    elif kind == "nested":
        obj["meta"] = {"n": rng.choice([1, 2]), "tags": rng.choice([["a"], ("a",), ["b"]])}
    elif kind == "numpy":
        obj["x"] = np.float64(obj["x"])
    elif kind == "mapping":
        return _View(obj)
    return obj


def _random_state(rng: random.Random) -> dict[str, Any]:
    ids = [f"o{i}" for i in range(8)]
    chosen = [i for i in ids if rng.random() < 0.8]
    rng.shuffle(chosen)
    objects: list[Any] = [_random_object(rng, i) for i in chosen]
    for _ in range(rng.choice([0, 0, 1, 2])):  # objects without an id are always sent
        objects.insert(rng.randrange(len(objects) + 1), _random_object(rng, None))
    if rng.random() < 0.05:
        objects.append("not a mapping")  # passed on as it is, like any object without an id
    return {"objects": objects, "removed": []}


def test_every_delta_matches_the_render_differs_over_random_frames() -> None:
    rng = random.Random(20261206)
    for _ in range(50):
        reference, fast = RenderDiffer(), FrameDiffer()
        for tick in range(60):
            state = _random_state(rng)
            if rng.random() < 0.05:  # a rejoining page: the next frame is full
                reference.reset()
                fast.reset()
            expected, got = reference.diff(state), fast.diff(state)
            assert got == expected, f"tick {tick}"
            assert [type(o) for o in got["objects"]] == [type(o) for o in expected["objects"]]
            assert fast.known_ids == reference.known_ids


def test_a_drawn_object_changed_in_place_after_it_was_sent_is_sent_again() -> None:
    """The differ keeps a copy, so an env that edits (and redraws) the same dict is still seen to change."""
    fast = FrameDiffer()
    flat = {"type": "rect", "id": "a", "x": 0.1}
    line = {"type": "line", "id": "b", "points": [[0.0, 0.0], [1.0, 1.0]]}
    assert fast.diff({"objects": [flat, line]})["objects"] == [flat, line]
    flat["x"] = 0.2
    line["points"][1][0] = 0.5
    assert fast.diff({"objects": [flat, line]})["objects"] == [flat, line]
    assert fast.diff({"objects": [flat, line]})["objects"] == []
    line["points"] = [(0.0, 0.0), (0.5, 1.0)]  # the same points as a tuple: not a change
    assert fast.diff({"objects": [flat, line]}) == {"objects": [], "removed": []}
    assert fast.diff({"objects": [line]}) == {"objects": [], "removed": ["a"]}


def test_a_surfaces_frames_give_the_same_deltas_and_players_use_the_fast_differ() -> None:
    surface = Surface(400, 200)
    reference, fast = RenderDiffer(), Player("left", "p1", None).differ
    assert isinstance(fast, FrameDiffer)
    for t in range(40):
        surface.rect(0, 0, 1, 1, fill="#eef2ff", id="bg")
        surface.circle(0.3 + 0.01 * (t // 3), 0.4, 0.03, fill="#d03030", id="left")
        if t % 10 < 5:
            surface.polygon([(0.1, 0.1), (0.2, 0.1 + 0.01 * (t % 2)), (0.15, 0.2)], id="flag")
        surface.text(0.02, 0.02, f"t={t}", size=14, id="clock")
        surface.line([(0, 0), (1, 1)])  # no id: in every frame
        state = surface.commit()
        assert fast.diff(state) == reference.diff(state)
