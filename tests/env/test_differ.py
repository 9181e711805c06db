"""RenderDiffer: persistent objects only when changed, removals, reset gives a full frame."""

from __future__ import annotations

from mug.env import RenderDiffer, Surface, validate_render_state


def frame(ball_x: float, *, with_label: bool = True, score: int = 0) -> dict:
    s = Surface()
    s.rect(0, 0, 1, 1, fill="#ffffff", id="bg")
    s.circle(ball_x, 0.5, 0.05, id="ball")
    if with_label:
        s.text(0.5, 0.1, f"Score {score}", id="label")
    s.circle(0.9, 0.9, 0.01)  # no id: sent every frame
    return s.commit()


def ids(delta: dict) -> list:
    return [o["id"] for o in delta["objects"]]


def test_first_diff_is_the_full_frame() -> None:
    differ = RenderDiffer()
    full = frame(0.1)
    delta = differ.diff(full)
    assert delta == {"objects": full["objects"], "removed": []}
    validate_render_state(delta)


def test_unchanged_persistent_objects_are_not_resent() -> None:
    differ = RenderDiffer()
    differ.diff(frame(0.1))
    delta = differ.diff(frame(0.2))
    assert ids(delta) == ["ball", None]
    assert delta["objects"][0]["x"] == 0.2
    assert delta["removed"] == []
    assert ids(differ.diff(frame(0.2))) == [None]  # nothing changed: only the id-less object
    assert ids(differ.diff(frame(0.2, score=1))) == ["label", None]


def test_removed_ids_are_reported_once_and_readded_objects_are_sent() -> None:
    differ = RenderDiffer()
    differ.diff(frame(0.1))
    delta = differ.diff(frame(0.1, with_label=False))
    assert delta["removed"] == ["label"] and ids(delta) == [None]
    assert differ.diff(frame(0.1, with_label=False))["removed"] == []
    delta = differ.diff(frame(0.1, with_label=True))
    assert ids(delta) == ["label", None] and delta["removed"] == []
    assert differ.known_ids == {"bg", "ball", "label"}


def test_reset_makes_the_next_diff_full() -> None:
    differ = RenderDiffer()
    differ.diff(frame(0.1))
    differ.diff(frame(0.1))
    differ.reset()
    assert differ.known_ids == frozenset()
    delta = differ.diff(frame(0.1))
    assert ids(delta) == ["bg", "ball", "label", None] and delta["removed"] == []


def test_connections_are_independent() -> None:
    a, b = RenderDiffer(), RenderDiffer()
    a.diff(frame(0.1))
    assert ids(a.diff(frame(0.1))) == [None]
    assert ids(b.diff(frame(0.1))) == ["bg", "ball", "label", None]


def test_in_place_mutation_by_the_env_is_detected() -> None:
    differ = RenderDiffer()
    obj = {
        "type": "line",
        "id": "path",
        "depth": 0,
        "alpha": 1.0,
        "points": [[0, 0], [1, 1]],
        "color": "#000000",
        "width": 1,
    }
    differ.diff({"objects": [obj], "removed": []})
    obj["points"][1][0] = 0.5  # env reuses and mutates its dict
    assert ids(differ.diff({"objects": [obj], "removed": []})) == ["path"]


def test_tuples_and_lists_compare_equal() -> None:
    differ = RenderDiffer()
    obj = {
        "type": "line",
        "id": "p",
        "depth": 0,
        "alpha": 1.0,
        "points": [[0, 0], [1, 1]],
        "color": "#000000",
        "width": 1,
    }
    differ.diff({"objects": [obj], "removed": []})
    same = dict(obj, points=((0, 0), (1, 1)))
    assert differ.diff({"objects": [same], "removed": []})["objects"] == []


def test_type_change_under_same_id_is_sent() -> None:
    differ = RenderDiffer()
    s = Surface()
    s.rect(0, 0, 0.1, 0.1, id="thing")
    differ.diff(s.commit())
    s.circle(0, 0, 0.1, id="thing")
    delta = differ.diff(s.commit())
    assert [o["type"] for o in delta["objects"]] == ["circle"] and delta["removed"] == []
