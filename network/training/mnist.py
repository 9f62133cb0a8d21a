"""MNIST in its original IDX format, minibatches, and the small subset the app ships.

IDX is a tiny big-endian format: a magic number (0x0803 images, 0x0801 labels),
the dimensions, then raw uint8 bytes. We read ``.gz`` or raw files and check every
header field against the file's length, so a truncated download or a wrong file
fails with a clear message instead of a silent misread.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..durable import atomic_write_bytes
from ..pretrained import SUBSET

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """A data folder or IDX file that is missing, truncated or of the wrong kind."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path} is not a valid gzip file ({exc})") from None
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (.gz or raw) into a uint8 array of the shape its header states."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DataError(f"{path} has magic number 0x{magic:08x}; expected 0x{IMAGES_MAGIC:08x} "
                        f"(images) or 0x{LABELS_MAGIC:08x} (labels)")
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    need = int(np.prod(shape))
    if len(data) - header_len != need:
        raise DataError(f"{path} is truncated or padded: header says {need} bytes of data "
                        f"{shape}, file has {len(data) - header_len}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    # accept the canonical names, their .gz forms, and the dotted variant (t10k-images.idx3-ubyte)
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                 stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]: is it an MNIST folder?")


def load_mnist(folder: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of the 'train' or 'test' split."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    if split not in FILES:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    image_stem, label_stem = FILES[split]
    images, labels = read_idx(_find(folder, image_stem)), read_idx(_find(folder, label_stem))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{split} images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{split}: {len(images)} images but labels of shape {labels.shape}")
    if labels.max(initial=0) > 9:
        raise DataError(f"{split} labels hold values above 9")
    return images, labels


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None):
    """Yield index arrays covering range(n) in batches, shuffled when rng is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@dataclass(frozen=True)
class Subset:
    """The digits shipped with the app (uint8 images, uint8 labels).

    heldout: MNIST test digits never trained on, for the live held-out accuracy.
    anchor: MNIST training digits mixed into every teach so the model does not forget.
    drawn, nondigit: the guard's fixed sets (``network.training.guardsets``); empty in
    a subset made before they existed.
    """

    heldout_x: np.ndarray
    heldout_y: np.ndarray
    anchor_x: np.ndarray
    anchor_y: np.ndarray
    drawn_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))
    drawn_y: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    nondigit_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))


def _balanced(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = []
    for d in range(10):
        have = np.flatnonzero(labels == d)
        if len(have) < per_class:
            raise DataError(f"only {len(have)} digits of class {d}, need {per_class}")
        picks.append(rng.choice(have, per_class, replace=False))
    return np.sort(np.concatenate(picks))


def make_subset(folder: str | os.PathLike, out: str | os.PathLike = SUBSET,
                heldout_per_class: int = 100, anchors_per_class: int = 200,
                drawn_per_class: int = 50, nondigits: int = 500, seed: int = 0) -> Subset:
    """Pick class-balanced held-out (test) and anchor (train) digits, draw the guard's
    sets from the held-out digits, and save them all."""
    from .guardsets import drawn_digits
    from .guardsets import nondigits as draw_nondigits

    rng = np.random.default_rng(seed)
    test_x, test_y = load_mnist(folder, "test")
    train_x, train_y = load_mnist(folder, "train")
    h = _balanced(test_y, heldout_per_class, rng)
    a = _balanced(train_y, anchors_per_class, rng)
    # The guard's drawn digits: some of the held-out digits re-drawn, as many styled.
    picks = np.sort(np.concatenate([np.flatnonzero(test_y[h] == d)[:drawn_per_class]
                                    for d in range(10)]))
    drawn_x, drawn_y = drawn_digits(test_x[h][picks], test_y[h][picks], rng)
    subset = Subset(test_x[h], test_y[h], train_x[a], train_y[a], drawn_x, drawn_y,
                    draw_nondigits(nondigits, rng))
    buf = io.BytesIO()
    np.savez_compressed(buf, heldout_x=subset.heldout_x, heldout_y=subset.heldout_y,
                        anchor_x=subset.anchor_x, anchor_y=subset.anchor_y,
                        drawn_x=subset.drawn_x, drawn_y=subset.drawn_y,
                        nondigit_x=subset.nondigit_x,
                        heldout_test_index=h.astype(np.int32),
                        anchor_train_index=a.astype(np.int32))
    atomic_write_bytes(out, buf.getvalue())
    return subset


def load_subset(path: str | os.PathLike = SUBSET) -> Subset:
    """The shipped subset (MNIST, LeCun, Cortes & Burges, CC BY-SA 3.0, and drawings of it)."""
    with np.load(path, allow_pickle=False) as z:
        extra = {k: z[k] for k in ("drawn_x", "drawn_y", "nondigit_x") if k in z.files}
        return Subset(z["heldout_x"], z["heldout_y"], z["anchor_x"], z["anchor_y"], **extra)
