"""Draws the Overcooked examples' sprites: one texture atlas, kitchen.png + kitchen.json.

The art is this project's own, drawn here from circles and rectangles so anyone can change it
and rebuild it: ``python examples/overcooked_art/make_art.py``. Each frame is a 32 × 32 tile; the
atlas JSON uses the common "hash" layout (``{"frames": {name: {"frame": {x, y, w, h}}}}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mug.env.png import encode_png

TILE = 32
HERE = Path(__file__).resolve().parent

Image = np.ndarray


def _blank() -> Image:
    return np.zeros((TILE, TILE, 4), dtype=np.uint8)


def _hex(color: str) -> tuple[int, int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), 255


def _rect(img: Image, x0: int, y0: int, x1: int, y1: int, color: str) -> None:
    img[y0:y1, x0:x1] = _hex(color)


def _disc(img: Image, cx: float, cy: float, r: float, color: str) -> None:
    ys, xs = np.mgrid[0:TILE, 0:TILE]
    img[(xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r] = _hex(color)


def _ring(img: Image, cx: float, cy: float, r: float, width: float, color: str) -> None:
    ys, xs = np.mgrid[0:TILE, 0:TILE]
    d = np.sqrt((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2)
    img[(d <= r) & (d >= r - width)] = _hex(color)


def floor() -> Image:
    img = _blank()
    _rect(img, 0, 0, TILE, TILE, "#d9c9a8")
    _rect(img, 0, 0, TILE, 1, "#c8b790")
    _rect(img, 0, 0, 1, TILE, "#c8b790")
    return img


def counter() -> Image:
    img = _blank()
    _rect(img, 0, 0, TILE, TILE, "#8a5a35")
    _rect(img, 2, 2, TILE - 2, TILE - 2, "#a87445")
    _rect(img, 2, 2, TILE - 2, 5, "#bf8a58")
    return img


def onion(img: Image | None = None, cx: float = 16, cy: float = 17, r: float = 7) -> Image:
    img = _blank() if img is None else img
    _disc(img, cx, cy, r, "#d9a531")
    _disc(img, cx - r * 0.3, cy - r * 0.3, r * 0.35, "#f0cd6a")
    _rect(img, int(cx) - 1, int(cy - r) - 4, int(cx) + 1, int(cy - r) + 1, "#4f8a2c")
    return img


def plate(img: Image | None = None) -> Image:
    img = _blank() if img is None else img
    _disc(img, 16, 16, 11, "#e9eef2")
    _ring(img, 16, 16, 11, 1.5, "#9aa7b0")
    _ring(img, 16, 16, 7, 1, "#c9d2d8")
    return img


def soup() -> Image:
    img = plate()
    _disc(img, 16, 16, 7, "#e08a2e")
    _disc(img, 14, 14, 2, "#f5b968")
    return img


def stack(item: Callable[..., Image]) -> Image:
    img = counter()
    if item is onion:
        for cx, cy in ((11, 20), (21, 20), (16, 13)):
            onion(img, cx, cy, 5.5)
    else:
        _rect(img, 5, 19, 27, 23, "#9aa7b0")
        _rect(img, 5, 14, 27, 18, "#c9d2d8")
        _rect(img, 5, 9, 27, 13, "#e9eef2")
    return img


def pot(onions: int, cooking: float | None) -> Image:
    """A pot seen from above with 0-3 onions in; ``cooking`` 0..1 draws a progress bar, 1 = done."""
    img = counter()
    _disc(img, 16, 15, 12, "#3d4247")
    _disc(img, 16, 15, 10, "#5b6268" if cooking is None else "#c76d1e")
    for cx, cy in ((12, 13), (20, 13), (16, 19))[:onions] if cooking is None else ():
        onion(img, cx, cy, 3.5)
    if cooking is not None:
        _rect(img, 4, 27, 28, 30, "#2b2b2b")
        _rect(img, 4, 27, 4 + round(24 * cooking), 30, "#5bbf3a" if cooking >= 1 else "#f0c419")
    return img


def delivery() -> Image:
    img = counter()
    _rect(img, 4, 4, TILE - 4, TILE - 4, "#2f7d4f")
    _rect(img, 14, 14, 18, 25, "#e9f5ec")  # an arrow pointing up: serve here
    for row in range(8):
        _rect(img, 15 - row, 7 + row, 17 + row, 8 + row, "#e9f5ec")
    return img


def chef(color: str, direction: str) -> Image:
    """A chef seen from above, facing ``direction`` (a hat, a body, hands in front)."""
    img = _blank()
    _disc(img, 16, 16, 11, color)
    _disc(img, 16, 16, 6, "#fafafa")  # the hat
    dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[direction]
    for side in (-1, 1):  # the hands, in front, either side of the facing line
        _disc(img, 16 + dx * 10 - dy * side * 6, 16 + dy * 10 + dx * side * 6, 3, "#f1c9a5")
    return img


def frames() -> dict[str, Image]:
    out: dict[str, Image] = {
        "floor": floor(), "counter": counter(), "onion": onion(), "plate": plate(), "soup": soup(),
        "onion_stack": stack(onion), "plate_stack": stack(plate), "delivery": delivery(),
    }  # fmt: skip
    for n in range(4):
        out[f"pot_{n}"] = pot(n, None)
    for k in range(5):
        out[f"pot_cooking_{k}"] = pot(3, k / 4 if k < 4 else 0.95)
    out["pot_done"] = pot(3, 1.0)
    for who, color in (("blue", "#2f62c9"), ("green", "#2e9a53")):
        for d in ("up", "down", "left", "right"):
            out[f"chef_{who}_{d}"] = chef(color, d)
    return out


def build(folder: Path = HERE) -> tuple[Path, Path]:
    """Write kitchen.png and kitchen.json into ``folder``; returns their paths."""
    tiles = frames()
    columns = 8
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * TILE, columns * TILE, 4), dtype=np.uint8)
    index: dict[str, dict[str, dict[str, int]]] = {}
    for i, (name, img) in enumerate(tiles.items()):
        x, y = (i % columns) * TILE, (i // columns) * TILE
        sheet[y : y + TILE, x : x + TILE] = img
        index[name] = {"frame": {"x": x, "y": y, "w": TILE, "h": TILE}}
    png, meta = folder / "kitchen.png", folder / "kitchen.json"
    png.write_bytes(encode_png(sheet, level=9))
    meta.write_text(
        json.dumps(
            {"frames": index, "meta": {"image": "kitchen.png", "size": {"w": sheet.shape[1], "h": sheet.shape[0]}}},
            indent=1,
        )
        + "\n"
    )
    return png, meta


if __name__ == "__main__":
    for path in build():
        print("wrote", path)
