"""encode_png / png_data_url / RGBFrame: output decodes back to the same pixels."""

from __future__ import annotations

import base64
import struct
import time
import zlib

import pytest

from mug.env import RGBFrame, encode_png, png_data_url
from mug.env.png import PNG_SIGNATURE


def decode_png(data: bytes) -> tuple[int, int, int, list[list[list[int]]]]:
    """Minimal decoder for what encode_png writes (8-bit RGB/RGBA, filter 0); checks CRCs."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.append((tag, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0)
    channels = {2: 3, 6: 4}[color_type]
    raw = zlib.decompress(b"".join(body for tag, body in chunks if tag == b"IDAT"))
    stride = width * channels
    assert len(raw) == height * (stride + 1)
    pixels = []
    for y in range(height):
        row = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        assert row[0] == 0  # filter type None
        pixels.append([list(row[1 + x * channels : 1 + (x + 1) * channels]) for x in range(width)])
    return width, height, channels, pixels


def test_nested_lists_round_trip_rgb_and_rgba() -> None:
    rgb = [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[1, 2, 3], [4, 5, 6], [250, 251, 252]]]
    assert decode_png(encode_png(rgb)) == (3, 2, 3, rgb)
    rgba = [[[255, 0, 0, 128]], [[0, 0, 0, 0]]]
    assert decode_png(encode_png(rgba)) == (1, 2, 4, rgba)
    assert decode_png(encode_png(tuple(tuple(tuple(p) for p in row) for row in rgb)))[3] == rgb


def test_known_one_pixel_png_bytes() -> None:
    # IHDR for a 1x1 RGB image, independent of the compressor.
    data = encode_png([[[0, 0, 0]]])
    assert data[8:33] == (
        b"\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
        + struct.pack(
            ">I", zlib.crc32(b"IHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00") & 0xFFFFFFFF
        )
    )


def test_numpy_fast_path_matches_list_path() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert decode_png(encode_png(image))[3] == image.tolist()
    assert encode_png(image) == encode_png(image.tolist())
    # non-contiguous views are encoded in logical (row-major) order
    flipped = image[::-1, ::2]
    assert decode_png(encode_png(flipped))[3] == flipped.tolist()
    rgba = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    assert decode_png(encode_png(rgba))[2:] == (4, rgba.tolist())


def test_numpy_errors() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match="dtype uint8, got float64"):
        encode_png(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"got an array of shape \(2, 2\)"):
        encode_png(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)"):
        encode_png(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty image"):
        encode_png(np.zeros((0, 2, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("image", "exc", "pattern"),
    [
        ("abc", TypeError, "got str"),
        (42, TypeError, "got int"),
        ([], ValueError, "no pixels"),
        ([[[0, 0]]], ValueError, r"pixel \[0\]\[0\]"),
        ([[[0, 0, 0], [0, 0, 0]], [[0, 0, 0]]], ValueError, "row 1 does not have 2 pixels"),
        ([[[0, 0, 0], [0, 0, 0, 0]]], ValueError, "row 0 has a pixel without exactly 3 values"),
        ([[[0, 0, 256]]], ValueError, "not an int from 0 to 255"),
        ([[[0, 0, 0.5]]], ValueError, "not an int from 0 to 255"),
    ],
)
def test_bad_images(image, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        encode_png(image)


def test_data_url() -> None:
    pixels = [[[10, 20, 30]]]
    url = png_data_url(pixels)
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert decode_png(png)[3] == pixels
    assert png_data_url(png) == url  # PNG bytes pass through
    with pytest.raises(ValueError, match="not a PNG file"):
        png_data_url(b"GIF89a")


def test_rgb_frame_drawing_and_interop() -> None:
    frame = RGBFrame(4, 3, "#102030")
    assert frame.shape == (3, 4, 3) and frame.dtype == "uint8"
    frame.fill_rect(1, 1, 3, 2, (255, 0, 0))
    frame.fill_rect(-5, -5, 1, 1, "#00ff00")  # clipped
    frame.fill_rect(10, 10, 20, 20, "#00ff00")  # fully outside: no-op
    assert frame.pixel(0, 0) == (0, 255, 0)
    assert frame.pixel(1, 1) == (255, 0, 0) and frame.pixel(2, 1) == (255, 0, 0)
    assert frame.pixel(3, 1) == (16, 32, 48) and frame.pixel(1, 2) == (16, 32, 48)
    assert decode_png(encode_png(frame))[3] == frame.tolist()
    circle = RGBFrame(9, 9)
    circle.fill_circle(4.5, 4.5, 3, "#ffffff")
    assert circle.pixel(4, 4) == (255, 255, 255) and circle.pixel(0, 0) == (0, 0, 0)
    np = pytest.importorskip("numpy")
    array = np.asarray(frame)
    assert array.shape == (3, 4, 3) and array.dtype == np.uint8 and array.tolist() == frame.tolist()
    with pytest.raises(ValueError, match="width and height must be > 0"):
        RGBFrame(0, 1)


def test_encoding_is_fast_enough_for_30_fps() -> None:
    """A 200x200 RGB frame must encode in well under a 33 ms frame (measured ~0.2-2 ms)."""
    np = pytest.importorskip("numpy")
    image = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)  # worst case: noise
    encode_png(image)
    started = time.perf_counter()
    for _ in range(10):
        encode_png(image)
    assert (time.perf_counter() - started) / 10 < 0.020
