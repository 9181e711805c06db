"""GymScene.assets(): every file and frame is checked when the scene is defined; errors name the
scene, the option and the problem. Also the HUD text fields and hud_score_carry_over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mug import GymScene, SceneConfigError
from mug.scenes.assets import image_size
from mug.scenes.hud import format_hud, format_score, hud_score
from tests.sprites import BLUE, GREEN, RED, YELLOW, atlas_json, solid_cells


@pytest.fixture
def art(tmp_path: Path) -> Path:
    solid_cells(tmp_path / "sheet.png", [RED, GREEN, BLUE, YELLOW], cell=8, columns=2)  # 16x16, 4 frames
    solid_cells(tmp_path / "one.png", [RED], cell=4)
    atlas_json(tmp_path / "atlas.json", {"red": (0, 0, 8, 8), "green": (8, 0, 8, 8), "blue": (0, 8, 8, 8)})
    return tmp_path


def scene() -> GymScene:
    return GymScene().scene("kitchen")


def test_declares_images_sheets_atlases_and_animations(art: Path) -> None:
    s = scene().assets(
        assets_dir=art,
        images={"chef": "one.png"},
        spritesheets={"tiles": {"path": "sheet.png", "frame_width": 8, "frame_height": 8}},
        atlases={"kitchen": {"image": "sheet.png", "json": "atlas.json"}},
        animations={"blink": {"texture": "tiles", "frames": [0, 3], "frame_rate": 4}},
    )
    opts = s.asset_options
    assert opts is not None
    assert opts.keys() == ["chef", "tiles", "kitchen", "blink"]
    assert opts.textures["tiles"].frames == ((0, 0, 0, 8, 8), (1, 8, 0, 8, 8), (2, 0, 8, 8, 8), (3, 8, 8, 8, 8))
    spec = s.client_spec()["assets"]
    assert [t["url"] for t in spec["textures"]] == [
        "assets/kitchen/chef",
        "assets/kitchen/tiles",
        "assets/kitchen/kitchen",
    ]
    assert spec["textures"][1]["sheet"] == {"frame_width": 8, "frame_height": 8, "margin": 0, "spacing": 0, "count": 4}
    assert spec["textures"][2]["frames"][1] == ["green", 8, 0, 8, 8]
    assert spec["animations"]["blink"] == {"texture": "tiles", "frames": [0, 3], "frame_rate": 4.0, "repeat": True}
    json.dumps(s.config())  # the saved config says what was declared
    saved = {t["key"]: t for t in s.config()["assets"]["textures"]}
    assert saved["tiles"]["path"] == str((art / "sheet.png").resolve()) and saved["tiles"]["sheet"]["count"] == 4
    # what a sprite may draw
    assert opts.sprite_problem("tiles", 3) is None and opts.sprite_problem("kitchen", "blue") is None
    assert opts.sprite_problem("kitchen", 2) is None and opts.sprite_problem("blink", None) is None
    assert "was not declared in GymScene.assets() (declared: 'chef', 'tiles', 'kitchen', 'blink')" in str(
        opts.sprite_problem("cook", None)
    )
    assert "frames 0 to 3" in str(opts.sprite_problem("tiles", 4))
    assert "is not in atlas 'kitchen'" in str(opts.sprite_problem("kitchen", "pink"))


def test_a_later_call_replaces_one_kind_and_keeps_the_others(art: Path) -> None:
    s = scene().assets(
        images={"a": art / "one.png"},
        spritesheets={"t": {"path": art / "sheet.png", "frame_width": 8, "frame_height": 8}},
    )
    s.assets(images={"b": art / "one.png"})
    assert s.asset_options is not None and s.asset_options.keys() == ["b", "t"]


def _bad_files(art: Path) -> None:
    (art / "notes.txt").write_text("not an image")
    (art / "empty.png").write_bytes(b"")
    (art / "cut.png").write_bytes((art / "one.png").read_bytes()[:20])
    (art / "broken.json").write_text("{frames: ")
    (art / "nolist.json").write_text(json.dumps({"textures": []}))
    atlas_json(art / "outside.json", {"red": (0, 0, 8, 8), "far": (12, 12, 8, 8)})
    (art / "rotated.json").write_text(
        json.dumps({"frames": {"r": {"frame": {"x": 0, "y": 0, "w": 4, "h": 4}, "rotated": True}}})
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"images": {"chef": "missing.png"}},
            r"GymScene\('kitchen'\).assets\(\): option \"images\['chef'\]\" '.*missing.png' does not exist",
        ),
        ({"images": {"chef": "."}}, r"images\['chef'\].*is not a file"),
        (
            {"images": {"chef": "notes.txt"}},
            r"notes.txt' is not a PNG, JPEG, GIF or WebP image \(it starts with b'not an i'\)",
        ),
        ({"images": {"chef": "empty.png"}}, r"empty.png' is not a PNG, JPEG, GIF or WebP image"),
        ({"images": {"chef": "cut.png"}}, r"cut.png' is a truncated PNG file"),
        ({"images": {"chef": 3}}, r"images\['chef'\]\" must be a file path, got int 3"),
        ({"images": {"a b": "one.png"}}, r"'images' keys must be 1-64 letters"),
        ({"images": ["one.png"]}, r"'images' must be a dict of key -> "),
        (
            {"spritesheets": {"t": {"path": "sheet.png", "frame_width": 32, "frame_height": 8}}},
            r"spritesheets\['t'\]\" frames of 32x8 pixels \(margin 0\) do not fit its image '.*sheet.png' "
            r"of 16x16 pixels",
        ),
        (
            {"spritesheets": {"t": {"path": "sheet.png", "frame_width": 0, "frame_height": 8}}},
            r"spritesheets\['t'\]\['frame_width'\]\" must be an int >= 1, got 0",
        ),
        (
            {"spritesheets": {"t": {"path": "sheet.png", "frame_width": 8}}},
            r"spritesheets\['t'\]\" needs 'frame_height'",
        ),
        (
            {"spritesheets": {"t": {"path": "sheet.png", "frame_width": 8, "frame_height": 8, "frameWidth": 8}}},
            r"has unknown field\(s\) 'frameWidth'; allowed: path, frame_width, frame_height, margin, spacing",
        ),
        (
            {"atlases": {"k": {"image": "sheet.png", "json": "missing.json"}}},
            r"atlases\['k'\]\['json'\]\" '.*missing.json' cannot be read",
        ),
        ({"atlases": {"k": {"image": "sheet.png", "json": "broken.json"}}}, r"broken.json' is not valid JSON"),
        (
            {"atlases": {"k": {"image": "sheet.png", "json": "nolist.json"}}},
            r"nolist.json' is not a texture atlas: it needs 'frames'",
        ),
        (
            {"atlases": {"k": {"image": "sheet.png", "json": "outside.json"}}},
            r"frame 'far' \(12, 12, 8x8\) lies outside its image '.*sheet.png' of 16x16 pixels",
        ),
        ({"atlases": {"k": {"image": "sheet.png", "json": "rotated.json"}}}, r"frame 'r' is rotated"),
        (
            {"atlases": {"k": {"image": "notes.txt", "json": "atlas.json"}}},
            r"atlases\['k'\]\['image'\]\" '.*notes.txt' is not a PNG",
        ),
        (
            {"images": {"k": "one.png"}, "atlases": {"k": {"image": "sheet.png", "json": "atlas.json"}}},
            r"option 'atlases' key 'k' is also a key of another kind; keys must be unique",
        ),
        (
            {"images": {"k": "one.png"}, "animations": {"k": {"texture": "k", "frames": [0]}}},
            r"must name a sprite sheet or atlas declared in assets\(\), got 'k' \(declared: none\)",
        ),
        (
            {
                "spritesheets": {"t": {"path": "sheet.png", "frame_width": 8, "frame_height": 8}},
                "animations": {"t": {"texture": "t", "frames": [0]}},
            },
            r"option 'animations' key 't' is also a texture key",
        ),
        (
            {
                "spritesheets": {"t": {"path": "sheet.png", "frame_width": 8, "frame_height": 8}},
                "animations": {"w": {"texture": "t", "frames": [0, 4]}},
            },
            r"animations\['w'\]\['frames'\]\" has 4, which is not a frame of 't' \(it has 0, 1, 2, 3\)",
        ),
        (
            {
                "atlases": {"k": {"image": "sheet.png", "json": "atlas.json"}},
                "animations": {"w": {"texture": "k", "frames": ["red", "pink"]}},
            },
            r"has 'pink', which is not a frame of 'k' \(it has 'red', 'green', 'blue'; indices 0 to 2\)",
        ),
        (
            {
                "atlases": {"k": {"image": "sheet.png", "json": "atlas.json"}},
                "animations": {"w": {"texture": "k", "frames": []}},
            },
            r"\['frames'\]\" must be a non-empty list",
        ),
        (
            {
                "atlases": {"k": {"image": "sheet.png", "json": "atlas.json"}},
                "animations": {"w": {"texture": "k", "frames": [0], "frame_rate": 0}},
            },
            r"\['frame_rate'\]\" must be between 0.1 and 120",
        ),
        (
            {
                "atlases": {"k": {"image": "sheet.png", "json": "atlas.json"}},
                "animations": {"w": {"texture": "k", "frames": [0], "repeat": 1}},
            },
            r"\['repeat'\]\" must be True \(loop\) or False",
        ),
        ({"assets_dir": "nowhere"}, r"option 'assets_dir' must be a folder"),
        (
            {"sprites": {}},
            r"unknown option\(s\) sprites; allowed: images, spritesheets, atlases, animations, assets_dir",
        ),
    ],
)
def test_bad_assets_are_refused_at_definition(
    art: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict, message: str
) -> None:
    _bad_files(art)
    monkeypatch.chdir(art)  # relative paths are relative to the working directory
    with pytest.raises(SceneConfigError, match=message):
        scene().assets(**kwargs)


def test_image_headers_give_format_and_size(art: Path) -> None:
    assert image_size((art / "sheet.png").read_bytes()) == ("png", 16, 16)
    assert image_size(b"GIF89a\x05\x00\x07\x00" + b"\x00" * 8) == ("gif", 5, 7)
    jpeg = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08\x00\x09\x00\x0c\x03" + b"\x00" * 12
    assert image_size(jpeg) == ("jpeg", 12, 9)
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + ((20 - 1) | ((30 - 1) << 14)).to_bytes(4, "little")
    assert image_size(vp8l) == ("webp", 20, 30)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert image_size(vp8x) == ("webp", 100, 50)


def test_hud_text_fields_and_carry_over_option() -> None:
    s = scene().rendering(hud="Score {score} · round {episode}/{num_episodes} {{x}}", hud_score_carry_over=True)
    assert s.hud_score_carry_over is True and s.config()["hud_score_carry_over"] is True
    assert s.runtime_spec() is None
    with pytest.raises(SceneConfigError, match=r"option 'hud' names \{points\}; a HUD text may show \{score\}"):
        scene().rendering(hud="Points {points}")
    with pytest.raises(SceneConfigError, match=r"option 'hud' names \{score:.1f\}"):
        scene().rendering(hud="{score:.1f}")
    with pytest.raises(SceneConfigError, match=r"option 'hud' is not a valid HUD text"):
        scene().rendering(hud="Score {score")
    with pytest.raises(SceneConfigError, match=r"'hud_score_carry_over' must be True or False, got 1"):
        scene().rendering(hud_score_carry_over=1)
    text = format_hud("S {score} E {episode}/{num_episodes} {step}/{max_steps} {{x}}", score=2.5, episode=2,
                      num_episodes=3, step=4, max_steps=9)  # fmt: skip
    assert text == "S 2.5 E 2/3 4/9 {x}"
    assert [format_score(v) for v in (3.0, -1.5, 0.25, 1 / 3, 2.999)] == ["3", "-1.5", "0.25", "0.33", "3"]
    assert hud_score({"human": 2.0, "bot": 5.0}, ["human"]) == 2.0
    assert hud_score({"a": 2.0, "b": 5.0}, []) == 7.0


def test_check_sprites_names_an_undeclared_texture_or_frame(art: Path) -> None:
    from mug.env import Surface
    from mug.scenes.assets import check_sprites

    s = scene().assets(spritesheets={"tiles": {"path": art / "sheet.png", "frame_width": 8, "frame_height": 8}})
    surface = Surface()
    surface.sprite(0, 0, 1, 1, texture="tiles", frame=3)
    check_sprites(s, surface.commit())
    surface.sprite(0, 0, 1, 1, texture="tiles", frame=9)
    with pytest.raises(ValueError, match=r"scene 'kitchen' cannot draw: sprite frame 9 of 'tiles' does not exist"):
        check_sprites(s, surface.commit())
    surface.sprite(0, 0, 1, 1, texture="cook")
    with pytest.raises(ValueError, match=r"'cook' was not declared in GymScene.assets\(\) \(declared: 'tiles'\)"):
        check_sprites(s, surface.commit())
    with pytest.raises(ValueError, match=r"\(declared: none\)"):
        check_sprites(scene(), {"objects": [{"type": "sprite", "texture": "cook", "frame": None}]})
