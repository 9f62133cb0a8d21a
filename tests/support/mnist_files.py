"""MNIST for tests: IDX files we write ourselves, and where the real MNIST lives.

Generating tiny IDX folders keeps the data and CLI tests fast and independent of the
real data set, which is only used when it sits beside the repository.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"     # ../shared/data/mnist from the repo
NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def find_mnist() -> Path | None:
    """The real MNIST folder beside the repo, or None when it is absent."""
    files = [MNIST_DIR / f"{stem}.gz" for pair in NAMES.values() for stem in pair]
    return MNIST_DIR if all(f.is_file() for f in files) else None


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file's bytes: magic (0x0803 images, 0x0801 labels), big-endian dims, uint8 data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False, magic: int | None = None,
              cut: int = 0, tail: bytes = b"") -> Path:
    """Write an IDX file, optionally gzipped, with ``cut`` bytes dropped or ``tail`` appended."""
    data = idx_bytes(array, magic)
    data = (data[:-cut] if cut else data) + tail
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def synthetic_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 28x28 images of 10 easy classes: class d is an ink block in cell d of a 2x5 grid."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)          # faint noise
    for i, d in enumerate(labels):
        r = 4 + 12 * (d // 5) + rng.integers(-1, 2)
        c = 2 + 5 * (d % 5) + rng.integers(-1, 2)
        images[i, max(r, 0):r + 8, max(c, 0):c + 4] = rng.integers(200, 256)
    return images, labels


def write_mnist_folder(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0,
                       gz: bool = True) -> Path:
    """A folder laid out like MNIST (the four IDX files) holding synthetic digits."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = synthetic_digits(n, rng)
        image_name, label_name = NAMES[split]
        suffix = ".gz" if gz else ""
        write_idx(folder / (image_name + suffix), images, gz=gz)
        write_idx(folder / (label_name + suffix), labels, gz=gz)
    return folder
