"""Augmentation: shapes and range, determinism, identities, and warps that move ink as told."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from network.training.augment import (
    AugmentConfig,
    augment_batch,
    bilinear_sample,
    random_stroke_width,
    random_warp,
)

STILL = AugmentConfig(rotation=0.0, scale=(1.0, 1.0), shear=0.0, shift=0.0,
                      elastic_alpha=0.0, width_p=0.0, keep_p=0.0)


@pytest.fixture
def digits():
    """Eight blocky 'digits': a bar and a blob, away from the border so warps keep them."""
    rng = np.random.default_rng(0)
    x = np.zeros((8, 28, 28), np.float32)
    for i in range(8):
        r, c = 8 + rng.integers(0, 4), 8 + rng.integers(0, 4)
        x[i, r:r + 10, c:c + 3] = 1.0
        x[i, r + 2:r + 6, c + 3:c + 8] = 0.7
    return x


def centre_of_mass(images):
    """(N, 2) ink-weighted mean (row, col) of each image."""
    grid = np.arange(28, dtype=np.float64)
    mass = images.sum(axis=(1, 2))
    rows = (images.sum(axis=2) * grid).sum(axis=1) / mass
    cols = (images.sum(axis=1) * grid).sum(axis=1) / mass
    return np.stack([rows, cols], axis=1)


def test_shape_dtype_and_range(digits):
    out = augment_batch(digits, np.random.default_rng(1))
    assert out.shape == digits.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, digits)


def test_deterministic_for_a_seed(digits):
    a = augment_batch(digits, np.random.default_rng(5))
    b = augment_batch(digits, np.random.default_rng(5))
    c = augment_batch(digits, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_each_image_gets_its_own_warp(digits):
    same = np.repeat(digits[:1], 6, axis=0)
    out = augment_batch(same, np.random.default_rng(2), AugmentConfig(keep_p=0.0))
    assert len({o.tobytes() for o in out}) == 6


def test_keep_p_one_is_identity(digits):
    out = augment_batch(digits, np.random.default_rng(3), AugmentConfig(keep_p=1.0))
    np.testing.assert_array_equal(out, digits)


def test_warp_with_zero_ranges_is_identity(digits):
    np.testing.assert_allclose(random_warp(digits, np.random.default_rng(0), STILL), digits,
                               atol=1e-6)


def test_bilinear_sample_interpolates_and_reads_zero_outside():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10, 10], img[0, 10, 11] = 1.0, 3.0

    def at(r, c):
        return bilinear_sample(img, np.full((1, 28, 28), r), np.full((1, 28, 28), c))

    assert at(10.0, 10.5)[0, 0, 0] == pytest.approx(2.0)
    assert at(10.25, 10.0)[0, 0, 0] == pytest.approx(0.75)
    assert at(-5.0, 40.0)[0, 0, 0] == 0.0


def test_shift_moves_the_centre_of_mass_by_the_drawn_shift(digits):
    out = random_warp(digits, np.random.default_rng(11), replace(STILL, shift=4.0))
    # replay the generator: angles, scales and shears come first, then the (dx, dy) shifts
    replay = np.random.default_rng(11)
    n = len(digits)
    replay.uniform(size=n), replay.uniform(size=n), replay.uniform(size=n)
    shift = replay.uniform(-4.0, 4.0, (n, 2))
    moved = centre_of_mass(out) - centre_of_mass(digits)
    assert np.abs(shift).max() > 1.0                        # the test would see a real move
    np.testing.assert_allclose(moved[:, 0], shift[:, 1], atol=0.05)   # rows follow dy
    np.testing.assert_allclose(moved[:, 1], shift[:, 0], atol=0.05)   # columns follow dx
    np.testing.assert_allclose(out.sum(axis=(1, 2)), digits.sum(axis=(1, 2)), rtol=1e-5)


def test_scale_changes_the_ink_area(digits):
    big = random_warp(digits, np.random.default_rng(0), replace(STILL, scale=(1.2, 1.2)))
    small = random_warp(digits, np.random.default_rng(0), replace(STILL, scale=(0.8, 0.8)))
    mass = digits.sum(axis=(1, 2))
    np.testing.assert_allclose(big.sum(axis=(1, 2)) / mass, 1.2 ** 2, rtol=0.05)
    np.testing.assert_allclose(small.sum(axis=(1, 2)) / mass, 0.8 ** 2, rtol=0.05)


def test_rotation_keeps_ink_and_turns_a_bar():
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 6:22, 13:15] = 1.0                               # vertical bar through the centre
    cfg = replace(STILL, rotation=90.0)
    # the angle is the generator's first draw: pick a seed that turns the bar by over 70 degrees
    seed = next(s for s in range(100) if abs(np.random.default_rng(s).uniform(-90, 90)) > 70)
    out = random_warp(bar, np.random.default_rng(seed), cfg)
    rows, cols = np.nonzero(out[0] > 0.5)
    assert np.ptp(cols) > 2 * np.ptp(rows)                  # now much wider than tall
    assert out.sum() == pytest.approx(bar.sum(), rel=0.05)


def test_elastic_distortion_moves_ink_a_little(digits):
    cfg = replace(STILL, elastic_alpha=2.2, elastic_sigma=4.0)
    out = random_warp(digits, np.random.default_rng(4), cfg)
    change = np.abs(out - digits).sum(axis=(1, 2)) / digits.sum(axis=(1, 2))
    assert (change > 0.05).all()                           # visibly wobbled...
    moved = np.abs(centre_of_mass(out) - centre_of_mass(digits))
    assert moved.max() < 2.3                               # ...but by at most about alpha


def test_stroke_width_changes_ink_in_the_drawn_direction(digits):
    out = random_stroke_width(digits, np.random.default_rng(8), p=1.0)
    replay = np.random.default_rng(8)
    replay.uniform(size=len(digits))                       # the amounts come first
    thick = replay.random(len(digits)) < 0.5
    assert thick.any() and (~thick).any()
    ink_before, ink_after = digits.sum(axis=(1, 2)), out.sum(axis=(1, 2))
    assert (ink_after[thick] > ink_before[thick] * 1.05).all()
    assert (ink_after[~thick] < ink_before[~thick] * 0.95).all()
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_stroke_width_with_p_zero_is_identity(digits):
    out = random_stroke_width(digits, np.random.default_rng(0), p=0.0)
    np.testing.assert_array_equal(out, digits)
    assert out is not digits
