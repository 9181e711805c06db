"""Small sprite art for the asset tests, made in the test (no files from elsewhere).

Sprite sheets and atlases of solid-coloured cells, so a test can read a canvas pixel back and
know which frame was drawn.
"""

from __future__ import annotations

import json
from pathlib import Path

from mug.env.png import encode_png

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def solid_cells(path: Path, colors: list[tuple[int, int, int]], cell: int = 8, columns: int | None = None) -> Path:
    """A PNG of square cells of `cell` pixels, left to right then top to bottom, one colour each."""
    columns = columns or len(colors)
    rows = -(-len(colors) // columns)
    pixels = [[(0, 0, 0)] * (columns * cell) for _ in range(rows * cell)]
    for i, color in enumerate(colors):
        r, c = divmod(i, columns)
        for y in range(r * cell, (r + 1) * cell):
            for x in range(c * cell, (c + 1) * cell):
                pixels[y][x] = color
    path.write_bytes(encode_png(pixels))
    return path


def atlas_json(path: Path, frames: dict[str, tuple[int, int, int, int]]) -> Path:
    """A TexturePacker JSON hash atlas: frame name -> (x, y, w, h)."""
    data = {
        "frames": {
            name: {"frame": {"x": x, "y": y, "w": w, "h": h}, "rotated": False} for name, (x, y, w, h) in frames.items()
        },
        "meta": {"app": "mug tests", "scale": "1"},
    }
    path.write_text(json.dumps(data))
    return path
