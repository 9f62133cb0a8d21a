"""Layers: forward values against naive references, backward against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from support.gradcheck import check_layer, check_model

from network.nn.architectures import build_cnn, build_mlp
from network.nn.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    layer_from_config,
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def away_from_zero(rng, shape, low=0.1, high=1.0):
    """Values with |v| in [low, high] and random signs: no kink within eps of a ReLU."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def distinct(rng, shape):
    """Values with pairwise gaps of at least 0.01, so a max pool never sees a (near) tie."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0).astype(np.float64)


def naive_conv(x, w, b, stride, pad):
    """Cross-correlation by explicit loops over output positions: the slow, obvious reference."""
    n, h, wd, c = x.shape
    k = w.shape[0]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h_out, w_out = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, h_out, w_out, w.shape[3]))
    for i in range(h_out):
        for j in range(w_out):
            patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j, :] = np.einsum("nabc,abcd->nd", patch, w) + b
    return out


# -- forward values ---------------------------------------------------------------
def test_dense_forward_is_affine_map(rng):
    layer = Dense(5, 3, rng=rng)
    layer.params["b"] = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    expected = x.astype(np.float64) @ layer.params["W"] + layer.params["b"]
    out = layer.forward(x)
    assert out.shape == (4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stride,pad,c_in,c_out,k,hw", [
    (1, 0, 1, 2, 3, (6, 6)),
    (1, 1, 3, 4, 3, (5, 7)),
    (2, 0, 2, 3, 3, (8, 8)),     # (8 - 3) is odd: the last input row is never read
    (2, 1, 2, 2, 3, (7, 6)),
    (1, 2, 1, 3, 5, (6, 5)),
])
def test_conv2d_forward_matches_naive_loops(rng, stride, pad, c_in, c_out, k, hw):
    layer = Conv2D(c_in, c_out, kernel=k, stride=stride, pad=pad, rng=rng)
    layer.params["b"] = rng.standard_normal(c_out).astype(np.float32)
    x = rng.standard_normal((2, *hw, c_in)).astype(np.float32)
    out = layer.forward(x)
    expected = naive_conv(x.astype(np.float64), layer.params["W"].astype(np.float64),
                          layer.params["b"], stride, pad)
    assert out.shape == expected.shape == (2, *layer.output_shape((*hw, c_in)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_maxpool_forward_takes_tile_maxima(rng):
    x = distinct(rng, (2, 4, 6, 3))
    out = MaxPool2D(2).forward(x)
    assert out.shape == (2, 2, 3, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(
                out[:, i, j, :], x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :].max(axis=(1, 2)))


def test_maxpool_rejects_sizes_it_cannot_tile(rng):
    with pytest.raises(ValueError, match="divisible"):
        MaxPool2D(2).forward(np.zeros((1, 5, 4, 1)))


def test_maxpool_shares_gradient_among_exact_ties():
    x = np.zeros((1, 2, 2, 1))
    x[0, 0, 0, 0] = x[0, 1, 1, 0] = 3.0                # two tied maxima in one tile
    pool = MaxPool2D(2)
    pool.forward(x, training=True)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.5, 0.0], [0.0, 0.5]])


def test_sigmoid_matches_formula_and_saturates_without_warnings():
    x = np.array([[-1000.0, -20.0, -1.0, 0.0, 1.0, 20.0, 1000.0]], np.float32)
    a = Sigmoid().forward(x)                       # filterwarnings=error: an overflow fails
    assert a.dtype == np.float32
    moderate = x[:, 1:-1].astype(np.float64)
    np.testing.assert_allclose(a[:, 1:-1], 1.0 / (1.0 + np.exp(-moderate)), rtol=1e-6)
    assert a[0, 0] == 0.0 and a[0, -1] == 1.0 and a[0, 3] == 0.5


def test_relu_forward_and_dtype():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], np.float32)
    out = ReLU().forward(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.0, 0.5, 2.0]])


def test_dropout_is_identity_at_inference_and_inverted_in_training(rng):
    x = np.ones((200, 50), np.float32)
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    assert layer.forward(x) is x
    out = layer.forward(x, training=True)
    assert out.dtype == np.float32
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02           # 10,000 draws: 4 sigma is 0.017
    assert abs(out.mean() - 1.0) < 0.03                   # inverted: the mean is kept


def test_dropout_rejects_bad_probability():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            Dropout(p)


@pytest.mark.parametrize("layer", [Dense(3, 2, rng=np.random.default_rng(0)), ReLU(),
                                   Conv2D(1, 2, rng=np.random.default_rng(0), pad=1),
                                   MaxPool2D(2), Flatten(), Reshape((2, 3)), Sigmoid(),
                                   Dropout(0.3)])
def test_float32_in_float32_out(layer):
    shape = {"Dense": (4, 3), "Conv2D": (2, 4, 4, 1), "MaxPool2D": (2, 4, 4, 1),
             "Reshape": (2, 6)}.get(type(layer).__name__, (2, 6))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    out = layer.forward(x, training=True)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    for name, g in layer.grads.items():
        assert g.dtype == np.float32, name


def test_layers_rebuild_from_their_config():
    rng = np.random.default_rng(0)
    for layer in (Dense(4, 3, rng=rng, init="xavier"), Conv2D(2, 5, kernel=5, stride=2, pad=2),
                  MaxPool2D(2), Flatten(), Reshape((7, 4)), ReLU(), Sigmoid(), Dropout(0.4)):
        clone = layer_from_config({"type": type(layer).__name__, **layer.config()})
        assert repr(clone) == repr(layer)
        assert {k: v.shape for k, v in clone.params.items()} == \
               {k: v.shape for k, v in layer.params.items()}
    with pytest.raises(ValueError, match="unknown layer type"):
        layer_from_config({"type": "Conv3D"})


def test_initialisation_scales(rng):
    he = Dense(2000, 500, rng=rng).params["W"]
    xavier = Dense(2000, 500, rng=rng, init="xavier").params["W"]
    assert he.dtype == np.float32
    assert abs(he.std() - np.sqrt(2 / 2000)) < 0.02 * np.sqrt(2 / 2000)
    assert abs(xavier.std() - np.sqrt(2 / 2500)) < 0.02 * np.sqrt(2 / 2500)
    a = Dense(10, 10, rng=np.random.default_rng(5)).params["W"]
    b = Dense(10, 10, rng=np.random.default_rng(5)).params["W"]
    np.testing.assert_array_equal(a, b)                    # the injected rng decides
    with pytest.raises(ValueError, match="initialisation"):
        Dense(3, 3, rng=rng, init="lecun")


# -- gradients: each layer on its own --------------------------------------------
class SlightlyWrongDense(Dense):
    """A Dense whose input gradient is 1% off: the checker must notice."""

    def backward(self, grad_out):
        return 1.01 * super().backward(grad_out)


def test_the_checker_catches_a_one_percent_error(rng):
    with pytest.raises(AssertionError, match="dL/dx"):
        check_layer(SlightlyWrongDense(6, 4, rng=rng), rng.standard_normal((5, 6)), rng)


def test_dense_gradients(rng):
    check_layer(Dense(6, 4, rng=rng), rng.standard_normal((5, 6)), rng)


@pytest.mark.parametrize("stride,pad,c_in,c_out,k,hw", [
    (1, 0, 1, 3, 3, (6, 6)),
    (1, 1, 3, 4, 3, (5, 6)),
    (2, 0, 2, 3, 3, (8, 8)),
    (2, 1, 3, 2, 3, (7, 7)),
    (1, 2, 2, 2, 5, (6, 5)),
])
def test_conv2d_gradients(rng, stride, pad, c_in, c_out, k, hw):
    layer = Conv2D(c_in, c_out, kernel=k, stride=stride, pad=pad, rng=rng)
    layer.params["b"] = rng.standard_normal(c_out).astype(np.float32)
    check_layer(layer, rng.standard_normal((2, *hw, c_in)), rng)


def test_conv2d_input_gradient_is_zero_where_no_window_reads():
    # 8 wide, kernel 3, stride 2, no padding: windows start at 0, 2, 4 and never read column 7
    layer = Conv2D(1, 2, kernel=3, stride=2, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 1))
    out = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(out))
    assert np.all(dx[:, 7, :, :] == 0) and np.all(dx[:, :, 7, :] == 0)
    assert np.all(dx[:, :7, :7, :] != 0)


def test_maxpool_gradients(rng):
    check_layer(MaxPool2D(2), distinct(rng, (2, 4, 6, 3)), rng)


def test_flatten_gradients(rng):
    check_layer(Flatten(), rng.standard_normal((3, 4, 2, 2)), rng)


def test_reshape_gradients(rng):
    layer = Reshape((4, 4, 1))
    check_layer(layer, rng.standard_normal((3, 16)), rng)
    assert layer.forward(np.zeros((3, 16))).shape == (3, 4, 4, 1)


def test_relu_gradients(rng):
    check_layer(ReLU(), away_from_zero(rng, (4, 7)), rng)


def test_sigmoid_gradients(rng):
    check_layer(Sigmoid(), rng.uniform(-4, 4, (4, 7)), rng)


def test_dropout_gradients_with_a_fixed_mask(rng):
    layer = Dropout(0.4)

    def same_mask():
        layer.rng = np.random.default_rng(99)   # every forward draws the same mask

    check_layer(layer, rng.standard_normal((6, 8)), rng, before_forward=same_mask)
    # and the mask really drops something, so the check was not of the identity
    same_mask()
    out = layer.forward(np.ones((6, 8)), training=True)
    assert 0 < (out == 0).sum() < out.size


# -- gradients: whole models through softmax cross-entropy ------------------------
def test_cnn_gradient_through_the_loss(rng):
    model = build_cnn(np.random.default_rng(3), dropout=0.0)
    for layer in model.layers:   # non-zero biases so that their gradients are exercised too
        if "b" in layer.params:
            layer.params["b"] = (0.1 * rng.standard_normal(layer.params["b"].shape))
    x = rng.uniform(0, 1, (1, 28, 28))     # one image: ~100 float64 forwards stay cheap
    check_model(model, x, np.array([3]), rng, max_coords=8)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_mlp_gradient_through_the_loss(rng, activation):
    model = build_mlp(np.random.default_rng(4), hidden=16, activation=activation)
    check_model(model, rng.uniform(0, 1, (4, 28, 28)), np.array([0, 1, 9, 9]), rng,
                max_coords=20)
