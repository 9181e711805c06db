"""Surface: every object type's output, argument errors, commit semantics."""

from __future__ import annotations

import inspect
import json

import pytest

from mug.env import OBJECT_TYPES, Surface, validate_render_state
from mug.env.schema import DEFAULTS, OBJECT_FIELDS

TINY_PNG_PIXELS = [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]]


def draw_one_of_each(s: Surface) -> None:
    s.rect(0.1, 0.2, 0.3, 0.4, fill="#FF0000", stroke="#00ff0080", stroke_width=2, angle=45, id="r")
    s.circle(0.5, 0.5, 0.05, fill=None, stroke="#123456", stroke_width=1.5, depth=3, alpha=0.5)
    s.ellipse(0.5, 0.5, 0.2, 0.1, fill="#abcdef")
    s.arc(0.5, 0.5, 0.1, -90, 180, fill=None, stroke="#000000", stroke_width=4, id="ring")
    s.line([(0, 0), (0.5, 0.5), [1, 0]], color="#ffffff", width=3)
    s.polygon([(0, 0), (1, 0), (0.5, 1)], fill="#00000080")
    s.text(0.5, 0.02, "Score 3", size=24, color="#112233", font="monospace", align="center", id="score")
    s.sprite(0.1, 0.1, 0.2, 0.2, texture="hero", frame="walk_2", angle=-10, id="hero")
    s.image(TINY_PNG_PIXELS, x=0.5, y=0.5, w=0.25, h=0.25, id="minimap")


def test_every_type_has_exact_fields_and_is_valid() -> None:
    s = Surface()
    draw_one_of_each(s)
    state = s.commit()
    validate_render_state(state)
    json.dumps(state)  # JSON-ready
    assert state["removed"] == []
    objects = state["objects"]
    assert [o["type"] for o in objects] == list(OBJECT_TYPES)
    for obj in objects:
        expected = {"type", "id", "depth", "alpha", *OBJECT_FIELDS[obj["type"]]}
        assert set(obj) == expected, obj["type"]


def test_field_values_are_normalised() -> None:
    s = Surface()
    draw_one_of_each(s)
    rect, circle, ellipse, arc, line, polygon, text, sprite, image = s.commit()["objects"]
    assert rect == {
        "type": "rect",
        "id": "r",
        "depth": 0,
        "alpha": 1.0,
        "x": 0.1,
        "y": 0.2,
        "w": 0.3,
        "h": 0.4,
        "fill": "#ff0000",
        "stroke": "#00ff0080",
        "stroke_width": 2.0,
        "angle": 45.0,
    }
    assert circle["fill"] is None and circle["radius"] == 0.05 and circle["depth"] == 3
    assert circle["alpha"] == 0.5 and circle["id"] is None
    assert (ellipse["w"], ellipse["h"]) == (0.2, 0.1)
    assert (arc["start_angle"], arc["end_angle"], arc["stroke_width"]) == (-90.0, 180.0, 4.0)
    assert line["points"] == [[0.0, 0.0], [0.5, 0.5], [1.0, 0.0]] and line["width"] == 3.0
    assert polygon["points"] == [[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]]
    assert text["text"] == "Score 3" and text["align"] == "center" and text["font"] == "monospace"
    assert text["size"] == 24.0 and text["color"] == "#112233"
    assert sprite["texture"] == "hero" and sprite["frame"] == "walk_2" and sprite["angle"] == -10.0
    assert image["src"].startswith("data:image/png;base64,")
    assert (image["x"], image["y"], image["w"], image["h"]) == (0.5, 0.5, 0.25, 0.25)


def test_surface_signature_defaults_match_schema_defaults() -> None:
    for kind in OBJECT_TYPES:
        params = inspect.signature(getattr(Surface, kind)).parameters
        assert params["id"].default is None and params["depth"].default == 0
        assert params["alpha"].default == 1.0
        for name, default in DEFAULTS[kind].items():
            assert params[name].default == default, (kind, name)
        for name in OBJECT_FIELDS[kind]:
            assert name in params or (kind == "image" and name == "src"), (kind, name)


def test_defaults_produce_black_unstroked_shapes() -> None:
    s = Surface()
    s.rect(0, 0, 1, 1)
    s.line([(0, 0), (1, 1)])
    s.text(0, 0, "hi")
    s.sprite(0, 0, 1, 1, texture="t")
    rect, line, text, sprite = s.commit()["objects"]
    assert (rect["fill"], rect["stroke"], rect["stroke_width"], rect["angle"]) == ("#000000", None, 0, 0)
    assert (line["color"], line["width"]) == ("#000000", 1)
    assert (text["size"], text["color"], text["font"], text["align"]) == (16, "#000000", "sans-serif", "left")
    assert sprite["frame"] is None


def test_commit_clears_and_allows_reusing_ids() -> None:
    s = Surface(320, 240)
    s.rect(0, 0, 1, 1, id="bg")
    assert len(s) == 1
    first = s.commit()
    assert len(first["objects"]) == 1 and len(s) == 0
    s.rect(0, 0, 1, 1, id="bg")  # same id in the next frame is fine
    assert s.commit()["objects"][0]["id"] == "bg"
    assert s.commit() == {"objects": [], "removed": []}
    assert first["objects"][0]["id"] == "bg"  # earlier frames are not mutated


def test_clear_drops_the_frame() -> None:
    s = Surface()
    s.rect(0, 0, 1, 1, id="a")
    s.clear()
    s.rect(0, 0, 1, 1, id="a")
    assert len(s.commit()["objects"]) == 1


def test_duplicate_id_in_a_frame_is_an_error() -> None:
    s = Surface()
    s.rect(0, 0, 1, 1, id="x")
    with pytest.raises(ValueError, match=r"Surface.circle\(\): id 'x' was already drawn this frame"):
        s.circle(0, 0, 0.1, id="x")


def test_numpy_numbers_and_points_are_accepted_and_converted() -> None:
    np = pytest.importorskip("numpy")
    s = Surface()
    s.circle(np.float32(0.5), np.float64(0.25), np.float32(0.1), depth=np.int64(2))
    s.line(np.array([[0, 0], [1, 1]], dtype=np.float32))
    circle, line = s.commit()["objects"]
    assert type(circle["x"]) is float and type(circle["depth"]) is int and circle["depth"] == 2
    assert line["points"] == [[0.0, 0.0], [1.0, 1.0]]
    json.dumps([circle, line])


def test_image_accepts_numpy_and_png_bytes() -> None:
    np = pytest.importorskip("numpy")
    from mug.env import encode_png

    s = Surface()
    frame = np.zeros((4, 5, 3), dtype=np.uint8)
    s.image(frame)
    s.image(encode_png(frame))
    a, b = s.commit()["objects"]
    assert a["src"] == b["src"]
    assert (a["x"], a["y"], a["w"], a["h"]) == (0, 0, 1, 1)


def test_aspect() -> None:
    assert Surface(600, 400).aspect == 1.5


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (
            lambda s: s.rect("a", 0, 1, 1),
            TypeError,
            r"Surface.rect\(\): argument 'x' must be a finite number",
        ),
        (lambda s: s.rect(0, float("nan"), 1, 1), ValueError, r"argument 'y' must be a finite number"),
        (
            lambda s: s.rect(0, 0, -1, 1),
            ValueError,
            r"Surface.rect\(\): argument 'w' must be a finite number >= 0",
        ),
        (
            lambda s: s.rect(0, 0, 1, 1, fill="red"),
            ValueError,
            r"argument 'fill' must be a CSS hex color '#rrggbb' or '#rrggbbaa' or None, got 'red'",
        ),
        (lambda s: s.rect(0, 0, 1, 1, fill="#fff"), ValueError, r"argument 'fill'"),
        (lambda s: s.rect(0, 0, 1, 1, stroke=(1, 2, 3)), TypeError, r"argument 'stroke'"),
        (lambda s: s.rect(0, 0, 1, 1, stroke_width=-2), ValueError, r"argument 'stroke_width'"),
        (lambda s: s.rect(0, 0, 1, 1, angle=True), TypeError, r"argument 'angle' must be a finite number"),
        (
            lambda s: s.circle(0, 0, 0.1, id=5),
            TypeError,
            r"Surface.circle\(\): argument 'id' must be a non-empty",
        ),
        (lambda s: s.circle(0, 0, 0.1, id=""), ValueError, r"argument 'id'"),
        (lambda s: s.circle(0, 0, 0.1, depth=1.5), TypeError, r"argument 'depth' must be an int"),
        (
            lambda s: s.circle(0, 0, 0.1, alpha=2),
            ValueError,
            r"argument 'alpha' must be a number from 0 to 1",
        ),
        (lambda s: s.circle(0, 0, float("inf")), ValueError, r"argument 'radius'"),
        (lambda s: s.ellipse(0, 0, 1, None), TypeError, r"Surface.ellipse\(\): argument 'h'"),
        (lambda s: s.arc(0, 0, 0.1, 0, "90"), TypeError, r"Surface.arc\(\): argument 'end_angle'"),
        (
            lambda s: s.line([(0, 0)]),
            ValueError,
            r"Surface.line\(\): argument 'points' must be a list of at least 2 \(x, y\) points, got 1",
        ),
        (
            lambda s: s.line([(0, 0), (1, 1, 1)]),
            TypeError,
            r"argument 'points' point 1 must be an \(x, y\) pair",
        ),
        (lambda s: s.line([(0, 0), (1, "a")]), TypeError, r"argument 'points' point 1: coordinate must be"),
        (lambda s: s.line("0011"), TypeError, r"argument 'points' must be a list"),
        (
            lambda s: s.line([(0, 0), (1, 1)], color=None),
            TypeError,
            r"argument 'color' must be a CSS hex color",
        ),
        (
            lambda s: s.line([(0, 0), (1, 1)], width=0),
            ValueError,
            r"argument 'width' must be a finite number > 0",
        ),
        (
            lambda s: s.polygon([(0, 0), (1, 1)]),
            ValueError,
            r"Surface.polygon\(\): argument 'points'.*at least 3",
        ),
        (lambda s: s.text(0, 0, 42), TypeError, r"Surface.text\(\): argument 'text' must be a str"),
        (
            lambda s: s.text(0, 0, "a", align="middle"),
            ValueError,
            r"argument 'align' must be one of 'left', 'center', 'right', got 'middle'",
        ),
        (lambda s: s.text(0, 0, "a", size=0), ValueError, r"argument 'size' must be a finite number > 0"),
        (lambda s: s.text(0, 0, "a", font=""), ValueError, r"argument 'font' must be a non-empty str"),
        (lambda s: s.sprite(0, 0, 1, 1, texture=""), ValueError, r"Surface.sprite\(\): argument 'texture'"),
        (
            lambda s: s.sprite(0, 0, 1, 1, texture="t", frame=1.5),
            TypeError,
            r"argument 'frame' must be a str",
        ),
        (
            lambda s: s.image(b"not a png"),
            ValueError,
            r"Surface.image\(\): argument 'data' is not a valid image",
        ),
        (lambda s: s.image([[1, 2, 3]]), ValueError, r"Surface.image\(\): argument 'data'"),
        (lambda s: s.image([[[0, 0, 300]]]), ValueError, r"not an int from 0 to 255"),
        (lambda s: s.image(TINY_PNG_PIXELS, w=-1), ValueError, r"Surface.image\(\): argument 'w'"),
    ],
)
def test_bad_arguments_name_method_argument_and_what_is_allowed(call, exc, pattern) -> None:
    s = Surface()
    with pytest.raises(exc, match=pattern):
        call(s)
    assert len(s) == 0  # nothing half-drawn


def test_bad_surface_size() -> None:
    with pytest.raises(ValueError, match="argument 'width' must be an int > 0"):
        Surface(0, 10)
    with pytest.raises(TypeError, match="argument 'height'"):
        Surface(10, 2.5)


def test_colours_seen_before_are_normalised_alike_and_bad_ones_still_refused() -> None:
    s = Surface()
    for _ in range(3):  # later frames take the remembered path
        s.rect(0, 0, 1, 1, fill="#AaBbCc", stroke="#00FF0080", id="r")
        s.line([(0, 0), (1, 1)], color="#ABCDEF", id="l")
        objects = s.commit()["objects"]
        assert (objects[0]["fill"], objects[0]["stroke"], objects[1]["color"]) == ("#aabbcc", "#00ff0080", "#abcdef")
    with pytest.raises(ValueError, match=r"argument 'fill' must be a CSS hex color"):
        s.rect(0, 0, 1, 1, fill="#AaBbC")
    with pytest.raises(TypeError, match=r"argument 'color' must be a CSS hex color"):
        s.line([(0, 0), (1, 1)], color=["#abcdef"])


def test_an_env_inventing_colours_does_not_grow_memory_without_bound() -> None:
    from mug.env import schema

    s = Surface()
    for i in range(schema._KNOWN_COLORS_MAX + 500):
        s.circle(0.5, 0.5, 0.1, fill=f"#{i:06x}")
        assert s.commit()["objects"][0]["fill"] == f"#{i:06x}"
    assert len(schema._KNOWN_COLORS) <= schema._KNOWN_COLORS_MAX
