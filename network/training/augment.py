"""Augmentation that makes MNIST look like digits drawn on a canvas, in NumPy.

People draw slanted, rotated, off-centre, big or small, thick or thin. We teach the
network that none of this changes the digit by showing it each training image
under a fresh random warp every epoch:

- an affine map (rotation, scale, shear, shift),
- an elastic distortion (Simard et al. 2003): a random displacement field smoothed
  by a Gaussian, so strokes wobble the way a hand does,
- a stroke width change: grayscale dilation (thicker) or erosion (thinner).

Warps are applied by inverse mapping: for every output pixel we compute where it
comes from in the input and sample there bilinearly. The whole batch is one set of
array operations; no Python loop over images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SIZE = 28
CENTRE = (SIZE - 1) / 2.0


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random warps (angles in degrees, shifts in pixels)."""

    rotation: float = 12.0
    scale: tuple[float, float] = (0.85, 1.12)
    shear: float = 0.25
    shift: float = 2.5
    elastic_alpha: float = 2.2
    elastic_sigma: float = 4.0
    width_p: float = 0.5
    keep_p: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def _gaussian_matrix(sigma: float, n: int = SIZE) -> np.ndarray:
    """(n, n) matrix K with K @ f = f blurred by a Gaussian (zero outside)."""
    i = np.arange(n)
    k = np.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return (k / k.sum(axis=1, keepdims=True)).astype(np.float32)


def bilinear_sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """images (N, H, W) sampled at fractional (rows, cols) (N, H, W); zero outside."""
    n, h, w = images.shape
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = (rows - r0).astype(np.float32), (cols - c0).astype(np.float32)
    padded = np.pad(images, ((0, 0), (1, 2), (1, 2)))  # corners outside read zeros
    r0 = np.clip(r0 + 1, 0, h + 1)
    c0 = np.clip(c0 + 1, 0, w + 1)
    b = np.arange(n)[:, None, None]
    top = padded[b, r0, c0] * (1 - fc) + padded[b, r0, c0 + 1] * fc
    bottom = padded[b, r0 + 1, c0] * (1 - fc) + padded[b, r0 + 1, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def random_warp(images: np.ndarray, rng: np.random.Generator,
                cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Affine + elastic warp of a batch (N, 28, 28) float32, each image its own draw."""
    n = len(images)
    theta = np.deg2rad(rng.uniform(-cfg.rotation, cfg.rotation, n))
    scale = np.exp(rng.uniform(*np.log(cfg.scale), n))
    shear = rng.uniform(-cfg.shear, cfg.shear, n)
    shift = rng.uniform(-cfg.shift, cfg.shift, (n, 2))
    cos, sin = np.cos(theta), np.sin(theta)
    # forward map A = R(theta) @ Shear @ S(scale); we need its inverse for sampling
    a = np.empty((n, 2, 2))
    a[:, 0, 0] = scale * cos
    a[:, 0, 1] = scale * (cos * shear - sin)
    a[:, 1, 0] = scale * sin
    a[:, 1, 1] = scale * (sin * shear + cos)
    inv = np.linalg.inv(a)
    grid = np.arange(SIZE) - CENTRE
    ys, xs = np.meshgrid(grid, grid, indexing="ij")           # output coordinates
    ys = ys[None] - shift[:, 1, None, None]
    xs = xs[None] - shift[:, 0, None, None]
    src_x = inv[:, 0, 0, None, None] * xs + inv[:, 0, 1, None, None] * ys + CENTRE
    src_y = inv[:, 1, 0, None, None] * xs + inv[:, 1, 1, None, None] * ys + CENTRE
    if cfg.elastic_alpha > 0:
        k = _gaussian_matrix(cfg.elastic_sigma)
        field = rng.uniform(-1, 1, (2, n, SIZE, SIZE)).astype(np.float32)
        field = k @ field @ k.T                                 # smooth each field
        field /= np.abs(field).max(axis=(2, 3), keepdims=True) + 1e-6
        src_x = src_x + cfg.elastic_alpha * field[0]
        src_y = src_y + cfg.elastic_alpha * field[1]
    return bilinear_sample(images, src_y, src_x).astype(np.float32)


def _neighbourhood(images: np.ndarray, reduce) -> np.ndarray:
    """Max or min over each pixel's 4-neighbourhood cross (a round, 1-px brush)."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    stack = [p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
    return reduce(np.stack(stack), axis=0)


def random_stroke_width(images: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Thicken (dilate) or thin (erode) a random share p of the batch by up to one pixel."""
    n = len(images)
    amount = rng.uniform(0.3, 1.0, n).astype(np.float32)[:, None, None]
    choice = rng.random(n)
    thick = choice < p / 2
    thin = (choice >= p / 2) & (choice < p)
    out = images.copy()
    if thick.any():
        d = _neighbourhood(images[thick], np.max)
        out[thick] = images[thick] + amount[thick] * (d - images[thick])
    if thin.any():
        e = _neighbourhood(images[thin], np.min)
        out[thin] = images[thin] + amount[thin] * (e - images[thin])
    return out


def augment_batch(images: np.ndarray, rng: np.random.Generator,
                  cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """A fresh random variant of each image (N, 28, 28) float32 in [0, 1].

    A share ``keep_p`` of images passes through unchanged so the network still
    sees clean MNIST.
    """
    out = random_warp(images, rng, cfg)
    out = random_stroke_width(out, rng, cfg.width_p)
    keep = rng.random(len(images)) < cfg.keep_p
    out[keep] = images[keep]
    return np.clip(out, 0.0, 1.0)
