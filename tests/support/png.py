"""A minimal grayscale PNG writer, so benchmarks can show images without a plotting library.

A PNG is a signature followed by chunks (length, type, data, CRC); an 8-bit grayscale
image needs only IHDR (size and format), IDAT (the zlib-compressed rows, each prefixed
by a filter byte) and IEND.  We always use filter 0 (none): files are a little larger
than an encoder that tries every filter would make, and the code stays a dozen lines.
``grid`` tiles many small images into one, with optional short captions drawn in a
built-in 3x5 pixel font.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from network.durable import atomic_write_bytes

_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 3x5 glyphs, one string of 15 bits per character, rows top to bottom.
_FONT = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001010010010",
    "8": "111101111101111",
    "9": "111101111001111",
    " ": "000000000000000",
    "-": "000000111000000",
    ".": "000000000000010",
    ":": "000010000010000",
    "/": "001001010100100",
    ">": "100010001010100",
    "?": "111001011000010",
    "%": "101001010100101",
}


def encode(image: np.ndarray) -> bytes:
    """Return the PNG file bytes of a (H, W) uint8 grayscale image (0 black, 255 white)."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or 0 in image.shape:
        raise ValueError(f"expected a non-empty (H, W) uint8 image, got {image.dtype}{image.shape}")
    height, width = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image], axis=1)  # filter byte 0
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def write(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a (H, W) uint8 image as a PNG file durably (temporary file, fsync, rename)."""
    atomic_write_bytes(path, encode(image))


def grid(
    images: np.ndarray,
    labels: list[str] | None = None,
    *,
    columns: int = 10,
    scale: int = 3,
) -> np.ndarray:
    """Tile (N, h, w) images (float in [0, 1] or uint8) into one uint8 picture, ink white
    on black, each magnified ``scale`` times, with an optional caption under each."""
    images = np.asarray(images)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected a non-empty (N, h, w) stack of images, got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    size = max(1, scale // 2)  # the font's magnification
    caption = 5 * size + 2 if labels is not None else 0  # the font plus a line above and below
    cell_h, cell_w = h * scale + caption + 2, w * scale + 2
    picture = np.full((rows * cell_h, columns * cell_w), 64, dtype=np.uint8)  # grey gutters
    for i, image in enumerate(images):
        top, left = (i // columns) * cell_h + 1, (i % columns) * cell_w + 1
        picture[top : top + h * scale, left : left + w * scale] = np.kron(
            image, np.ones((scale, scale), dtype=np.uint8)
        )
        if labels is not None:
            text = np.kron(_text(str(labels[i])), np.ones((size, size), np.uint8))
            text = text[:, : w * scale]
            y = top + h * scale + 1
            picture[y : y + text.shape[0], left : left + text.shape[1]] = text
    return picture


def _text(text: str) -> np.ndarray:
    """Render text in the 3x5 font as a (5, 4 * len) uint8 image; unknown characters as '?'."""
    glyphs = []
    for character in text:
        bits = _FONT.get(character, _FONT["?"])
        glyph = np.array([int(b) for b in bits], dtype=np.uint8).reshape(5, 3) * 255
        glyphs.append(np.concatenate([glyph, np.zeros((5, 1), np.uint8)], axis=1))
    return np.concatenate(glyphs, axis=1) if glyphs else np.zeros((5, 0), np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    """Return one PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
