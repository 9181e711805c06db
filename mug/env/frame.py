"""``RGBFrame``: a packed RGB image for pure-Python envs (no numpy needed).

An env with ``render_mode="rgb_array"`` normally returns a numpy ``uint8``
array. Envs that must also run inside Pyodide without numpy can return an
``RGBFrame`` instead: it has the same ``shape``/``dtype``/``tobytes()``/
``tolist()`` surface the MUG adapter and PNG encoder use, and converts to a
numpy array with ``numpy.asarray(frame)`` when numpy is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["RGBFrame"]


def _rgb(color: Sequence[int] | str) -> bytes:
    if isinstance(color, str):
        text = color.lstrip("#")
        if len(text) != 6:
            raise ValueError(f"RGBFrame: color must be '#rrggbb' or (r, g, b), got {color!r}")
        return bytes.fromhex(text)
    values = bytes(int(c) for c in color)
    if len(values) != 3:
        raise ValueError(f"RGBFrame: color must be '#rrggbb' or (r, g, b), got {color!r}")
    return values


class RGBFrame:
    """A height × width × 3 ``uint8`` image stored as one ``bytearray`` (row-major RGB).

    Drawing helpers work in pixel coordinates and clip to the frame.

    Args:
        width: width in pixels.
        height: height in pixels.
        background: initial colour of every pixel, ``"#rrggbb"`` or ``(r, g, b)``.
    """

    dtype = "uint8"

    def __init__(self, width: int, height: int, background: Sequence[int] | str = (0, 0, 0)) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"RGBFrame: width and height must be > 0, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self.data = bytearray(_rgb(background) * (self.width * self.height))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, 3)``, like a numpy image."""
        return (self.height, self.width, 3)

    def tobytes(self) -> bytes:
        """The pixels as packed row-major RGB bytes."""
        return bytes(self.data)

    def tolist(self) -> list[list[list[int]]]:
        """The pixels as nested lists ``[row][col][channel]``."""
        d, w = self.data, self.width
        return [
            [list(d[(y * w + x) * 3 : (y * w + x) * 3 + 3]) for x in range(w)]
            for y in range(self.height)
        ]

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy  # lazy: only when the caller already uses numpy

        array = numpy.frombuffer(bytes(self.data), dtype=numpy.uint8).reshape(self.shape)
        return array if dtype is None else array.astype(dtype)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The ``(r, g, b)`` colour at pixel column ``x``, row ``y``."""
        i = (y * self.width + x) * 3
        return (self.data[i], self.data[i + 1], self.data[i + 2])

    def fill_rect(self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int] | str) -> None:
        """Fill the pixels with ``x0 <= x < x1`` and ``y0 <= y < y1`` (clipped to the frame)."""
        left, right = max(0, round(x0)), min(self.width, round(x1))
        top, bottom = max(0, round(y0)), min(self.height, round(y1))
        if left >= right or top >= bottom:
            return
        span = _rgb(color) * (right - left)
        for y in range(top, bottom):
            start = (y * self.width + left) * 3
            self.data[start : start + len(span)] = span

    def fill_circle(self, cx: float, cy: float, radius: float, color: Sequence[int] | str) -> None:
        """Fill the pixels whose centres lie within ``radius`` of ``(cx, cy)``."""
        rgb = _rgb(color)
        top = max(0, int(cy - radius))
        bottom = min(self.height - 1, int(cy + radius) + 1)
        for y in range(top, bottom + 1):
            dy = y + 0.5 - cy
            if dy * dy > radius * radius:
                continue
            half = (radius * radius - dy * dy) ** 0.5
            left = max(0, round(cx - half))
            right = min(self.width, round(cx + half))
            if left < right:
                start = (y * self.width + left) * 3
                self.data[start : start + (right - left) * 3] = rgb * (right - left)
