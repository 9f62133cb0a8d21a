"""The PNG writer of the benchmarks' image grids: round trips through a decoder."""

import struct
import zlib

import numpy as np
import pytest
from support import png

from network.ink import render as ink
from network.ink.pixels import to_uint8

SEVEN = [[[10, 10], [60, 10], [30, 90]], [[20, 50], [50, 50]]]


def circle(n=200):
    t = np.linspace(0, 2 * np.pi, n)
    return np.stack([100 + 50 * np.cos(t), 100 + 70 * np.sin(t)], 1)


def decode_png(data):
    """Return the (H, W) uint8 image of a filter-0 grayscale PNG, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


def test_png_round_trips_through_a_decoder(tmp_path):
    image = (np.arange(6 * 7).reshape(6, 7) * 6).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(png.encode(image)), image)
    png.write(tmp_path / "out" / "x.png", image)
    np.testing.assert_array_equal(decode_png((tmp_path / "out" / "x.png").read_bytes()), image)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.png"]  # no temporary left


def test_png_grid_tiles_images_with_captions():
    images = np.stack([ink.render(SEVEN), ink.render([circle()]), np.zeros((28, 28))])
    picture = png.grid(images, ["7/1", "0", "?"], columns=2, scale=2)
    cell_h, cell_w = 28 * 2 + 7 + 2, 28 * 2 + 2
    assert picture.shape == (2 * cell_h, 2 * cell_w) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[1 : 1 + 56 : 2, 1 : 1 + 56 : 2], to_uint8(images[0]))
    caption = picture[57:62, 1:13]
    assert caption.any()  # the caption's glyphs are drawn
    assert not picture[cell_h + 1 : cell_h + 57, 1:57].any()  # the blank image
    assert (picture[cell_h + 1 : cell_h + 57, cell_w + 1 : cell_w + 57] == 64).all()  # no image
    decode_png(png.encode(picture))


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), np.uint8), np.zeros((0, 3), np.uint8)])
def test_png_refuses_what_it_cannot_encode(bad):
    with pytest.raises(ValueError):
        png.encode(bad)
