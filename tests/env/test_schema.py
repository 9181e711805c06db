"""validate_render_state: accepts what Surface makes, rejects bad states with precise messages."""

from __future__ import annotations

import copy

import pytest

from mug.env import RenderStateError, Surface, validate_render_state
from mug.env.schema import complete_object


def good_state() -> dict:
    s = Surface()
    s.rect(0, 0, 1, 1, fill="#ffffff", id="bg", depth=-1)
    s.circle(0.5, 0.5, 0.1, id="ball")
    s.line([(0, 0), (1, 1)])
    s.text(0.1, 0.1, "hello", id="label")
    return s.commit()


def test_good_state_passes() -> None:
    validate_render_state(good_state())
    validate_render_state({"objects": [], "removed": ["old"]})
    validate_render_state({"objects": (), "removed": ()})


def test_render_state_error_is_a_value_error() -> None:
    assert issubclass(RenderStateError, ValueError)


def mutate(path: tuple, value=None, delete: bool = False) -> dict:
    state = copy.deepcopy(good_state())
    target = state
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return state


@pytest.mark.parametrize(
    ("state", "pattern"),
    [
        (None, r"must be a dict with 'objects' and 'removed'"),
        ([], r"must be a dict"),
        ({"objects": []}, r"missing the key 'removed'"),
        ({"objects": [], "removed": [], "extra": 1}, r"unknown key\(s\) \['extra'\]"),
        ({"objects": {}, "removed": []}, r"'objects' must be a list"),
        ({"objects": [], "removed": "bg"}, r"'removed' must be a list"),
        ({"objects": [], "removed": [3]}, r"removed\[0\] must be a non-empty str id"),
        ({"objects": [5], "removed": []}, r"objects\[0\] must be a dict, got 5"),
        ({"objects": [{"id": "a"}], "removed": []}, r"objects\[0\] \(id 'a'\): missing field 'type'"),
        (
            mutate(("objects", 1, "type"), "square"),
            r"objects\[1\] \(id 'ball', type 'square'\): unknown type 'square'; allowed types: rect, circle",
        ),
        (
            mutate(("objects", 1, "color"), "#ffffff"),
            r"objects\[1\] \(id 'ball', type 'circle'\): unknown field 'color'; circle fields are",
        ),
        (mutate(("objects", 1, "radius"), delete=True), r"objects\[1\] .*: missing field 'radius'"),
        (mutate(("objects", 1, "alpha"), delete=True), r"missing field 'alpha'"),
        (
            mutate(("objects", 1, "x"), "0.5"),
            r"objects\[1\] \(id 'ball', type 'circle'\): field 'x' must be a finite",
        ),
        (mutate(("objects", 1, "x"), float("nan")), r"field 'x' must be a finite number"),
        (mutate(("objects", 1, "y"), float("inf")), r"field 'y' must be a finite number"),
        (mutate(("objects", 1, "x"), True), r"field 'x' must be a finite number"),
        (mutate(("objects", 1, "radius"), -0.1), r"field 'radius' must be a finite number >= 0"),
        (
            mutate(("objects", 0, "fill"), "white"),
            r"objects\[0\] \(id 'bg', type 'rect'\): field 'fill' must be a CSS",
        ),
        (mutate(("objects", 0, "depth"), 0.5), r"field 'depth' must be an int"),
        (mutate(("objects", 0, "alpha"), 1.5), r"field 'alpha' must be a number from 0 to 1"),
        (
            mutate(("objects", 0, "id"), 7),
            r"objects\[0\] \(type 'rect'\): field 'id' must be a non-empty str",
        ),
        (
            mutate(("objects", 2, "points"), [[0, 0]]),
            r"objects\[2\] \(type 'line'\): field 'points' must be a list",
        ),
        (mutate(("objects", 2, "points"), [[0, 0], [1, None]]), r"field 'points' point 1: coordinate"),
        (
            mutate(("objects", 2, "points"), [[0, 0], "ab"]),
            r"field 'points' point 1 must be an \(x, y\) pair",
        ),
        (
            mutate(("objects", 3, "text"), 5),
            r"objects\[3\] \(id 'label', type 'text'\): field 'text' must be a str",
        ),
        (
            mutate(("objects", 3, "align"), "justify"),
            r"field 'align' must be one of 'left', 'center', 'right'",
        ),
        (mutate(("objects", 1, "id"), "bg"), r"objects\[1\] \(id 'bg', type 'circle'\): duplicate id 'bg'"),
        (mutate(("removed",), ["ball"]), r"removed\[0\]: id 'ball' is also drawn by objects\[1\]"),
    ],
)
def test_bad_states_are_rejected_with_location(state, pattern) -> None:
    with pytest.raises(RenderStateError, match=pattern):
        validate_render_state(state)


def test_numpy_numbers_are_not_json_ready() -> None:
    np = pytest.importorskip("numpy")
    state = mutate(("objects", 1, "x"), np.float32(0.5))
    with pytest.raises(RenderStateError, match=r"field 'x' must be a finite number"):
        validate_render_state(state)


def test_image_src_must_be_a_data_url() -> None:
    obj = {
        "type": "image",
        "id": None,
        "depth": 0,
        "alpha": 1.0,
        "src": "http://x/y.png",
        "x": 0,
        "y": 0,
        "w": 1,
        "h": 1,
    }
    with pytest.raises(RenderStateError, match=r"field 'src' must be a data URL"):
        validate_render_state({"objects": [obj], "removed": []})


def test_sprite_frame_may_be_str_int_or_none() -> None:
    for frame in ("idle", 3, None):
        obj = complete_object(
            {"type": "sprite", "x": 0, "y": 0, "w": 1, "h": 1, "texture": "t", "frame": frame}
        )
        validate_render_state({"objects": [obj], "removed": []})
    bad = complete_object({"type": "sprite", "x": 0, "y": 0, "w": 1, "h": 1, "texture": "t", "frame": [1]})
    with pytest.raises(RenderStateError, match="field 'frame'"):
        validate_render_state({"objects": [bad], "removed": []})


def test_complete_object_fills_surface_defaults_only() -> None:
    obj = complete_object({"type": "circle", "x": 0.5, "y": 0.5, "radius": 0.1})
    assert obj == {
        "type": "circle",
        "x": 0.5,
        "y": 0.5,
        "radius": 0.1,
        "id": None,
        "depth": 0,
        "alpha": 1.0,
        "fill": "#000000",
        "stroke": None,
        "stroke_width": 0,
    }
    validate_render_state({"objects": [obj], "removed": []})
    # required geometry is not invented
    with pytest.raises(RenderStateError, match="missing field 'radius'"):
        validate_render_state(
            {"objects": [complete_object({"type": "circle", "x": 0, "y": 0})], "removed": []}
        )
    assert complete_object({"type": "blob"}) == {"type": "blob"}
