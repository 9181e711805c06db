"""Options of a game scene's sprite assets: the images, sprite sheets, texture atlases and
animations ``Surface.sprite(texture=...)`` draws.

``GymScene.assets(...)`` (``preload_specs`` / ``assets_to_preload`` / ``animation_configs`` of the
system MUG replaces) declares them by key. Everything is checked here, when the scene is defined,
so a study never starts with a missing or broken file: each file must exist and be a PNG, JPEG,
GIF or WebP image (read from its header, which also gives its size); frames must fit the image;
an atlas's JSON must be TexturePacker's (hash or array) format; keys are unique across kinds;
animations name frames that exist. The server serves each declared file under
``assets/<scene id>/<key>`` (mug.server.web.assets) and nothing else; the page preloads them
before the game starts and the renderer (mug/client/src/render) draws frames from them.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mug.scenes._options import check_number, fail

__all__ = ["AssetOptions", "ImageFile", "Texture", "assets_options", "check_sprites", "image_file"]

KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
KINDS = ("images", "spritesheets", "atlases", "animations")
#: Content types of the image formats browsers decode everywhere.
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
MAX_SIDE = 16384  # browsers refuse canvases (and textures) larger than this


@dataclass(frozen=True)
class ImageFile:
    """An image file on disk, read at definition: its format and size in pixels."""

    path: Path
    format: str  # a key of CONTENT_TYPES
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class Texture:
    """One declared texture: a plain image, a sprite sheet (a grid of frames) or an atlas (named frames)."""

    key: str
    kind: str  # "image" | "spritesheet" | "atlas"
    image: ImageFile
    #: The frames in order, as (name, x, y, w, h); a sprite sheet's names are their indices.
    frames: tuple[tuple[str | int, int, int, int, int], ...] = ()
    sheet: dict[str, int] | None = None  # a sprite sheet's frame_width, frame_height, margin, spacing

    def frame_names(self) -> list[str | int]:
        return [f[0] for f in self.frames]


@dataclass
class AssetOptions:
    """A scene's declared textures and animations (see ``GymScene.assets``)."""

    assets_dir: Path | None = None
    textures: dict[str, Texture] = field(default_factory=dict)
    #: key -> {"texture", "frames" (names or indices), "frame_rate", "repeat"}
    animations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The textures of each kind, and the animations as given: a later call replaces a kind, keeps the others.
    by_kind: dict[str, dict[str, Texture]] = field(default_factory=dict)
    animations_given: Any = None

    def keys(self) -> list[str]:
        """Every key a sprite may name: the textures and the animations."""
        return [*self.textures, *self.animations]

    def files(self, scene_id: str) -> dict[str, ImageFile]:
        """URL path (``assets/<scene id>/<key>``) -> image file, for the server."""
        return {f"assets/{scene_id}/{key}": t.image for key, t in self.textures.items()}

    def client_spec(self, scene_id: str) -> dict[str, Any]:
        """What the page preloads and the renderer registers (URLs relative to the page)."""
        textures = []
        for key, t in self.textures.items():
            entry: dict[str, Any] = {
                "key": key, "kind": t.kind, "url": f"assets/{quote(scene_id)}/{quote(key)}",
                "width": t.image.width, "height": t.image.height,
            }  # fmt: skip
            if t.kind == "spritesheet":
                entry["sheet"] = {**(t.sheet or {}), "count": len(t.frames)}
            elif t.kind == "atlas":
                entry["frames"] = [list(f) for f in t.frames]
            textures.append(entry)
        return {"textures": textures, "animations": {k: dict(v) for k, v in self.animations.items()}}

    def to_json(self) -> dict[str, Any]:
        """For the saved config: the page's spec with each image's absolute path (a replay draws
        the sprites from the files, when they are still there)."""
        spec = self.client_spec("")
        for entry in spec["textures"]:
            entry["path"] = str(self.textures[entry["key"]].image.path.resolve())
            entry.pop("url")
        return spec

    def sprite_problem(self, texture: Any, frame: Any) -> str | None:
        """Why ``Surface.sprite(texture=texture, frame=frame)`` cannot be drawn, or None."""
        if texture in self.animations:
            return None
        t = self.textures.get(texture)
        if t is None:
            declared = ", ".join(repr(k) for k in self.keys()) or "none"
            return f"sprite texture {texture!r} was not declared in GymScene.assets() (declared: {declared})"
        if frame is None or t.kind == "image":
            return None
        names = t.frame_names()
        if isinstance(frame, int) and not isinstance(frame, bool):
            if 0 <= frame < len(names):
                return None
            return f"sprite frame {frame} of {texture!r} does not exist: it has frames 0 to {len(names) - 1}"
        if frame in names:
            return None
        if t.kind == "spritesheet":
            return f"sprite frame {frame!r} of sprite sheet {texture!r}: its frames are numbered 0 to {len(names) - 1}"
        return f"sprite frame {frame!r} is not in atlas {texture!r} (it has {_some(names)})"


def check_sprites(scene: Any, state: Any) -> None:
    """Raise ValueError naming the first sprite of a render state that `scene` cannot draw: a texture
    it did not declare in ``assets()`` or a frame its texture lacks (a server-run game checks the
    first frame of each episode, so the researcher reads it in the env error, not as a blank)."""
    objects = state.get("objects") if isinstance(state, dict) else None
    sprites = [o for o in objects or () if isinstance(o, dict) and o.get("type") == "sprite"]
    if not sprites:
        return
    opts = getattr(scene, "asset_options", None) or AssetOptions()
    for obj in sprites:
        problem = opts.sprite_problem(obj.get("texture"), obj.get("frame"))
        if problem is not None:
            where = f"scene {getattr(scene, 'scene_id', None)!r}"
            raise ValueError(f"env.render() drew a sprite that {where} cannot draw: {problem}")


def _some(names: list[Any], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- reading image headers ----------------------------------------------------------------------


def image_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of a PNG, JPEG, GIF or WebP file's bytes; ValueError if it is none."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("is a truncated PNG file (no IHDR header)")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 10:
            raise ValueError("is a truncated GIF file")
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:3] == b"\xff\xd8\xff":
        return ("jpeg", *_jpeg_size(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("webp", *_webp_size(data))
    raise ValueError(f"is not a PNG, JPEG, GIF or WebP image (it starts with {data[:8]!r})")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("is a damaged JPEG file (bad marker)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise ValueError("is a truncated JPEG file (no frame header)")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise ValueError("is a truncated or unknown WebP file")


def image_file(path: Path) -> ImageFile:
    """Read an image file's header; OSError or ValueError (saying what is wrong) if it is not one."""
    if not path.is_file():
        raise ValueError("does not exist" if not path.exists() else "is not a file")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    fmt, width, height = image_size(head)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"is {width}x{height} pixels; images must be 1 to {MAX_SIDE} pixels a side")
    return ImageFile(path, fmt, width, height)


# -- validation -----------------------------------------------------------------------------------


class _Check:
    """Validation of one ``assets()`` call, naming the scene and option in every error."""

    def __init__(self, scene: Any, base: Path | None) -> None:
        self.scene = scene
        self.base = base

    def fail(self, option: str, problem: str) -> Exception:
        return fail(self.scene, "assets", option, problem)

    def key(self, option: str, key: Any) -> str:
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise self.fail(option, f"keys must be 1-64 letters, digits, '_', '-' or '.', got {key!r}")
        return key

    def path(self, option: str, value: Any) -> Path:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise self.fail(option, f"must be a file path, got {type(value).__name__} {value!r}")
        path = Path(value)
        return path if path.is_absolute() or self.base is None else self.base / path

    def image(self, option: str, value: Any) -> ImageFile:
        path = self.path(option, value)
        try:
            return image_file(path)
        except (OSError, ValueError) as exc:
            raise self.fail(option, f"{str(path)!r} {exc}") from None

    def spec(self, option: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(option, f"must be a dict with {', '.join(map(repr, required))}, got {value!r}")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            raise self.fail(option, f"has unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"allowed: {', '.join(required + optional)}")  # fmt: skip
        missing = [k for k in required if k not in value]
        if missing:
            raise self.fail(option, f"needs {', '.join(map(repr, missing))}")
        return value

    def count(self, option: str, value: Any, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(option, f"must be an int >= {minimum}, got {value!r}")
        return value

    # -- kinds --

    def images(self, given: Any) -> dict[str, Texture]:
        out = {}
        for key, path in self.mapping("images", given).items():
            option = f"images[{key!r}]"
            out[key] = Texture(self.key("images", key), "image", self.image(option, path))
        return out

    def spritesheets(self, given: Any) -> dict[str, Texture]:
        out = {}
        for key, value in self.mapping("spritesheets", given).items():
            self.key("spritesheets", key)
            option = f"spritesheets[{key!r}]"
            spec = self.spec(option, value, ("path", "frame_width", "frame_height"), ("margin", "spacing"))
            image = self.image(f"{option}['path']", spec["path"])
            fw = self.count(f"{option}['frame_width']", spec["frame_width"], 1)
            fh = self.count(f"{option}['frame_height']", spec["frame_height"], 1)
            margin = self.count(f"{option}['margin']", spec.get("margin", 0), 0)
            spacing = self.count(f"{option}['spacing']", spec.get("spacing", 0), 0)
            cols = (image.width - 2 * margin + spacing) // (fw + spacing)
            rows = (image.height - 2 * margin + spacing) // (fh + spacing)
            if cols < 1 or rows < 1:
                raise self.fail(
                    option,
                    f"frames of {fw}x{fh} pixels (margin {margin}) do not fit its image "
                    f"{str(image.path)!r} of {image.width}x{image.height} pixels",
                )
            frames = tuple(
                (r * cols + c, margin + c * (fw + spacing), margin + r * (fh + spacing), fw, fh)
                for r in range(rows) for c in range(cols)
            )  # fmt: skip
            sheet = {"frame_width": fw, "frame_height": fh, "margin": margin, "spacing": spacing}
            out[key] = Texture(key, "spritesheet", image, frames, sheet)
        return out

    def atlases(self, given: Any) -> dict[str, Texture]:
        out = {}
        for key, value in self.mapping("atlases", given).items():
            self.key("atlases", key)
            option = f"atlases[{key!r}]"
            spec = self.spec(option, value, ("image", "json"), ())
            image = self.image(f"{option}['image']", spec["image"])
            json_path = self.path(f"{option}['json']", spec["json"])
            try:
                data = json.loads(json_path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise self.fail(f"{option}['json']", f"{str(json_path)!r} cannot be read: {exc.strerror}") from None
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise self.fail(f"{option}['json']", f"{str(json_path)!r} is not valid JSON: {exc}") from None
            frames = self.atlas_frames(f"{option}['json']", json_path, data, image)
            out[key] = Texture(key, "atlas", image, frames)
        return out

    def atlas_frames(self, option: str, path: Path, data: Any, image: ImageFile) -> tuple[Any, ...]:
        where = repr(str(path))
        raw = data.get("frames") if isinstance(data, dict) else None
        if isinstance(raw, dict):
            entries = list(raw.items())
        elif isinstance(raw, list):
            entries = []
            for i, item in enumerate(raw):
                name = item.get("filename") if isinstance(item, dict) else None
                if not isinstance(name, str):
                    raise self.fail(option, f"{where}: frames[{i}] has no 'filename' string")
                entries.append((name, item))
        else:
            raise self.fail(
                option,
                f"{where} is not a texture atlas: it needs 'frames', a dict of name -> "
                "{'frame': {'x', 'y', 'w', 'h'}} or a list of {'filename', 'frame'} (TexturePacker's JSON hash "
                "or array)",
            )
        if not entries:
            raise self.fail(option, f"{where} has no frames")
        frames, seen = [], set()
        for name, item in entries:
            rect = item.get("frame") if isinstance(item, dict) else None
            box = [rect.get(k) if isinstance(rect, dict) else None for k in ("x", "y", "w", "h")]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
                raise self.fail(
                    option, f"{where}: frame {name!r} needs 'frame': {{'x', 'y', 'w', 'h'}} in whole pixels"
                )
            x, y, w, h = box
            if item.get("rotated"):
                raise self.fail(option, f"{where}: frame {name!r} is rotated; export the atlas without rotation")
            if name in seen:
                raise self.fail(option, f"{where}: frame {name!r} is listed twice")
            if w < 1 or h < 1 or x < 0 or y < 0 or x + w > image.width or y + h > image.height:
                raise self.fail(
                    option,
                    f"{where}: frame {name!r} ({x}, {y}, {w}x{h}) lies outside its image "
                    f"{str(image.path)!r} of {image.width}x{image.height} pixels",
                )
            seen.add(name)
            frames.append((name, x, y, w, h))
        return tuple(frames)

    def animations(self, given: Any, textures: dict[str, Texture]) -> dict[str, dict[str, Any]]:
        out = {}
        for key, value in self.mapping("animations", given).items():
            self.key("animations", key)
            option = f"animations[{key!r}]"
            spec = self.spec(option, value, ("texture", "frames"), ("frame_rate", "repeat"))
            texture = textures.get(spec["texture"]) if isinstance(spec["texture"], str) else None
            if texture is None or texture.kind == "image":
                sheets = [k for k, t in textures.items() if t.kind != "image"]
                raise self.fail(
                    f"{option}['texture']",
                    f"must name a sprite sheet or atlas declared in assets(), got {spec['texture']!r} "
                    f"(declared: {', '.join(map(repr, sheets)) or 'none'})",
                )
            frames = spec["frames"]
            if not isinstance(frames, (list, tuple)) or not frames:
                raise self.fail(
                    f"{option}['frames']", f"must be a non-empty list of frame names or indices, got {frames!r}"
                )
            names = texture.frame_names()
            for frame in frames:
                ok = (isinstance(frame, int) and not isinstance(frame, bool) and 0 <= frame < len(names)) or (
                    isinstance(frame, str) and frame in names
                )
                if not ok:
                    raise self.fail(
                        f"{option}['frames']",
                        f"has {frame!r}, which is not a frame of {texture.key!r} (it has {_some(names)}"
                        + (f"; indices 0 to {len(names) - 1}" if texture.kind == "atlas" else "")
                        + ")",
                    )
            rate = check_number(self.scene, "assets", f"{option}['frame_rate']", spec.get("frame_rate", 10),
                                minimum=0.1, maximum=120)  # fmt: skip
            repeat = spec.get("repeat", True)
            if not isinstance(repeat, bool):
                raise self.fail(
                    f"{option}['repeat']", f"must be True (loop) or False (stop at the last frame), got {repeat!r}"
                )
            out[key] = {"texture": texture.key, "frames": list(frames), "frame_rate": rate, "repeat": repeat}
        return out

    def mapping(self, option: str, value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise self.fail(option, f"must be a dict of key -> ..., got {type(value).__name__} {value!r}")
        return value


def assets_options(scene: Any, current: AssetOptions | None, given: dict[str, Any]) -> AssetOptions:
    """Validate ``GymScene.assets(**given)`` on top of the current options: each kind given replaces
    that kind; ``assets_dir`` applies to the paths of this call and later ones."""
    opts = current or AssetOptions()
    base = opts.assets_dir
    if given.get("assets_dir") is not None:
        folder = given["assets_dir"]
        if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
            raise fail(scene, "assets", "assets_dir", f"must be a folder, got {folder!r}")
        base = Path(folder)
    check = _Check(scene, base)
    by_kind = dict(opts.by_kind)
    for kind in ("images", "spritesheets", "atlases"):
        if given.get(kind) is not None:
            by_kind[kind] = getattr(check, kind)(given[kind])
    textures: dict[str, Texture] = {}
    for kind, found in by_kind.items():
        for key in found:
            if key in textures:
                raise fail(scene, "assets", kind, f"key {key!r} is also a key of another kind; keys must be unique")
        textures.update(found)
    animations_given = given["animations"] if given.get("animations") is not None else opts.animations_given
    animations = check.animations(animations_given, textures) if animations_given is not None else {}
    for key in animations:
        if key in textures:
            raise fail(scene, "assets", "animations", f"key {key!r} is also a texture key; keys must be unique")
    return AssetOptions(base, textures, animations, by_kind, animations_given)
