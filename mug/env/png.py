"""A small pure-Python PNG encoder (stdlib ``zlib`` + ``struct`` only).

Used to ship RGB frames (``render_mode="rgb_array"`` envs and
:meth:`mug.env.Surface.image`) to the browser as ``data:image/png;base64,...``
URLs. It works without numpy so it also runs inside Pyodide. Numpy arrays (and
:class:`mug.env.RGBFrame`) take a fast path through ``tobytes()``; nested lists
work too, more slowly.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

__all__ = ["PNG_SIGNATURE", "encode_png", "png_data_url"]

#: The 8 bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_COLOR_TYPES = {3: 2, 4: 6}  # channels -> PNG colour type (RGB, RGBA)


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def _shape_error(what: str) -> ValueError:
    return ValueError(f"encode_png: image must be an HxWx3 or HxWx4 uint8 array; {what}")


def _raw_pixels(image: Any) -> tuple[int, int, int, bytes]:
    """Return (height, width, channels, packed row-major bytes) of an array-like image."""
    shape = getattr(image, "shape", None)
    if shape is not None and hasattr(image, "tobytes") and hasattr(image, "dtype"):
        shape = tuple(shape)
        if len(shape) != 3 or shape[2] not in _COLOR_TYPES:
            raise _shape_error(f"got an array of shape {shape}")
        if str(image.dtype) != "uint8":
            raise TypeError(
                f"encode_png: image must have dtype uint8, got {image.dtype}; "
                "convert it with .astype('uint8') after scaling to 0-255"
            )
        height, width, channels = (int(n) for n in shape)
        # numpy's tobytes() is C (row-major) order whatever the memory layout.
        return height, width, channels, image.tobytes()
    if hasattr(image, "tolist"):
        image = image.tolist()
    if isinstance(image, (str, bytes, bytearray)) or not isinstance(image, (list, tuple)):
        raise TypeError(
            "encode_png: image must be an HxWx3 or HxWx4 uint8 array "
            f"(numpy array or nested lists), got {type(image).__name__}"
        )
    height = len(image)
    if height == 0 or not isinstance(image[0], (list, tuple)) or len(image[0]) == 0:
        raise _shape_error("got no pixels")
    width = len(image[0])
    first = image[0][0]
    if not isinstance(first, (list, tuple)) or len(first) not in _COLOR_TYPES:
        raise _shape_error(f"pixel [0][0] is {first!r}")
    channels = len(first)
    out = bytearray()
    for y, row in enumerate(image):
        if not isinstance(row, (list, tuple)) or len(row) != width:
            raise _shape_error(f"row {y} does not have {width} pixels")
        if not all(isinstance(px, (list, tuple)) and len(px) == channels for px in row):
            raise _shape_error(f"row {y} has a pixel without exactly {channels} values")
        try:
            out += bytes([v for px in row for v in px])
        except (TypeError, ValueError):
            raise ValueError(
                f"encode_png: row {y} has a value that is not an int from 0 to 255"
            ) from None
    return height, width, channels, bytes(out)


def encode_png(image: Any, *, level: int = 2) -> bytes:
    """Encode an HxWx3 (RGB) or HxWx4 (RGBA) uint8 image as PNG bytes.

    Args:
        image: a numpy ``uint8`` array, an object with ``shape``/``dtype``/``tobytes()``
            such as :class:`mug.env.RGBFrame`, or nested lists ``[row][col][channel]``
            of ints 0–255.
        level: zlib compression level (1 fastest … 9 smallest). The default 2 is
            a good speed/size trade-off for per-frame streaming.

    Raises:
        TypeError / ValueError: the image is not an HxWx3/HxWx4 uint8 image.
    """
    height, width, channels, raw = _raw_pixels(image)
    if height == 0 or width == 0:
        raise _shape_error(f"got an empty image ({height}x{width})")
    stride = width * channels
    if len(raw) != stride * height:
        raise _shape_error(f"got {len(raw)} bytes of pixels for {height}x{width}x{channels}")
    # Filter type 0 (None) on every row: a zero byte before each row's pixels.
    view = memoryview(raw)
    filtered = b"".join([b"\x00" + view[i : i + stride] for i in range(0, len(raw), stride)])
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return b"".join(
        [
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(filtered, level)),
            _chunk(b"IEND", b""),
        ]
    )


def png_data_url(image: Any) -> str:
    """Return ``"data:image/png;base64,..."`` for an image array or for ready PNG bytes.

    ``image`` is anything :func:`encode_png` accepts, or ``bytes`` that already
    hold a PNG file (they are used as they are).
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("png_data_url: bytes given are not a PNG file (no PNG signature)")
    else:
        data = encode_png(image)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
