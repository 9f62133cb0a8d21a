"""Softmax and the fused softmax cross-entropy: values, gradient, numerical stability."""

from __future__ import annotations

import numpy as np
import pytest
from support.gradcheck import assert_close, numerical_gradient

from network.nn.losses import log_softmax, softmax, softmax_cross_entropy


def reference_loss(logits, labels):
    """Cross-entropy the textbook way, in float64 (fine for moderate logits)."""
    z = np.asarray(logits, np.float64)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(labels)), labels]))


def test_softmax_rows_sum_to_one_and_keep_order():
    z = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32) * 5
    p = softmax(z)
    assert p.dtype == np.float32 and p.shape == (50, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert (p > 0).all()
    np.testing.assert_array_equal(p.argmax(axis=1), z.argmax(axis=1))


def test_softmax_is_shift_invariant():
    z = np.random.default_rng(1).standard_normal((4, 10))
    np.testing.assert_allclose(softmax(z), softmax(z + 123.0), rtol=1e-12)


def test_loss_matches_textbook_formula():
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((8, 10)) * 3, rng.integers(0, 10, 8)
    loss, _ = softmax_cross_entropy(z, y)
    assert isinstance(loss, float)
    assert loss == pytest.approx(reference_loss(z, y), rel=1e-12)


def test_uniform_logits_give_log_ten():
    loss, grad = softmax_cross_entropy(np.zeros((3, 10), np.float32), np.array([0, 5, 9]))
    assert loss == pytest.approx(np.log(10), rel=1e-6)
    np.testing.assert_allclose(grad[0], (np.full(10, 0.1) - np.eye(10)[0]) / 3, atol=1e-7)


def test_gradient_is_p_minus_onehot_over_n():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    _, grad = softmax_cross_entropy(z, y)
    np.testing.assert_allclose(grad, (softmax(z) - np.eye(10)[y]) / 6, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)   # each row: sum p - 1 = 0


def test_gradient_against_finite_differences():
    rng = np.random.default_rng(4)
    z, y = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
    _, grad = softmax_cross_entropy(z, y)
    idx = np.arange(z.size)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(z, y)[0], z, idx)
    assert_close(grad.reshape(-1), numeric, "dL/dlogits")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite_without_warnings(dtype):
    # pytest runs with filterwarnings=error, so an overflow or log(0) would fail here too
    z = np.array([[1e4, -1e4, 0, 0, 0, 0, 0, 0, 0, 0],
                  [-1e4, 1e4, 0, 0, 0, 0, 0, 0, 0, 0],
                  [1e4, 1e4, -1e4, 0, 0, 0, 0, 0, 0, 0]], dtype)
    y = np.array([0, 0, 2])
    loss, grad = softmax_cross_entropy(z, y)
    p = softmax(z)
    assert np.isfinite(loss) and np.isfinite(grad).all() and np.isfinite(p).all()
    assert grad.dtype == dtype
    # row 0 is right and sure: loss 0; row 1 is wrong by 2e4; row 2 wrong by 2e4 + log 2
    assert loss == pytest.approx((0 + 2e4 + 2e4 + np.log(2)) / 3, rel=1e-6)
    np.testing.assert_allclose(p[2, :2], 0.5)
    np.testing.assert_allclose(grad[1, :2], [-1 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(log_softmax(z)[0, 0], 0.0, atol=1e-6)


def test_accepts_uint8_labels():
    z = np.random.default_rng(5).standard_normal((4, 10)).astype(np.float32)
    y = np.array([1, 2, 3, 4], np.uint8)
    assert softmax_cross_entropy(z, y)[0] == pytest.approx(
        softmax_cross_entropy(z, y.astype(np.int64))[0])
