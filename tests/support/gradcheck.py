"""Finite-difference gradient checks for the engine's layers and models.

Backpropagation is checked the way micrograd checks its engine: against a reference
computed another way. Here the reference is the central difference
``(f(x + eps) - f(x - eps)) / 2 eps`` of a scalar function of the inputs, in float64
so that rounding (about 1e-16 relative) stays far below the truncation error (eps^2).

The trade-off: central differences cost two forward passes per coordinate, so large
arrays are checked on a random sample of coordinates rather than all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = 1e-6


def to_float64(layers) -> None:
    """Cast every parameter of the given layers to float64 in place (layers keep input dtype)."""
    for layer in layers:
        for name, w in layer.params.items():
            layer.params[name] = np.ascontiguousarray(w, dtype=np.float64)


def sample_indices(size: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """All flat indices of an array of ``size`` elements, or ``k`` of them at random."""
    if size <= k:
        return np.arange(size)
    return np.sort(rng.choice(size, k, replace=False))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, indices: np.ndarray,
                       eps: float = EPS) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x.flat[indices]``.

    ``x`` is perturbed in place (it must be the very array ``f`` reads) and restored.
    """
    flat = x.reshape(-1)
    assert np.shares_memory(flat, x), "x must be contiguous so that the perturbation reaches f"
    grad = np.empty(len(indices))
    for j, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad[j] = (f_plus - f_minus) / (2 * eps)
    return grad


def assert_close(analytic: np.ndarray, numeric: np.ndarray, what: str,
                 rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Fail with the worst coordinate if |analytic - numeric| > atol + rtol |numeric|."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    err = np.abs(analytic - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if bad.any():
        i = int(np.argmax(err - rtol * np.abs(numeric)))
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} coordinates differ; worst "
                             f"analytic {analytic[i]:.10g} vs numeric {numeric[i]:.10g}")


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, max_coords: int = 60,
                before_forward: Callable[[], None] | None = None) -> None:
    """Check dL/dx and every dL/dparam of one layer, with L = sum(forward(x) * G).

    G is a fixed random upstream gradient, so every output element matters.
    ``before_forward`` runs before each forward pass (e.g. to re-seed a dropout mask).
    """
    to_float64([layer])
    x = np.ascontiguousarray(x, dtype=np.float64)
    prepare = before_forward or (lambda: None)
    prepare()
    out = layer.forward(x, training=True)
    assert out.dtype == np.float64, f"{layer!r} turned float64 input into {out.dtype}"
    upstream = rng.standard_normal(out.shape)

    def f() -> float:
        prepare()
        return float(np.sum(layer.forward(x, training=True) * upstream))

    f()  # the caches of the unperturbed input, for backward
    dx = layer.backward(upstream)
    assert dx.shape == x.shape, f"{layer!r}: grad_in {dx.shape} != input {x.shape}"
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    assert analytic.keys() == layer.params.keys(), f"{layer!r}: grads {list(analytic)}"

    idx = sample_indices(x.size, max_coords, rng)
    assert_close(dx.reshape(-1)[idx], numerical_gradient(f, x, idx), f"{layer!r} dL/dx")
    for name, w in layer.params.items():
        assert analytic[name].shape == w.shape, f"{layer!r}: grad {name} shape"
        idx = sample_indices(w.size, max_coords, rng)
        assert_close(analytic[name].reshape(-1)[idx], numerical_gradient(f, w, idx),
                     f"{layer!r} dL/d{name}")


def check_model(model, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                max_coords: int = 12) -> None:
    """Check a whole Sequential model through softmax cross-entropy, input and parameters."""
    from network.nn.losses import softmax_cross_entropy

    to_float64(model.layers)
    x = np.ascontiguousarray(x, dtype=np.float64)

    def f() -> float:
        return softmax_cross_entropy(model.forward(x, training=True), y)[0]

    logits = model.forward(x, training=True)
    assert logits.dtype == np.float64
    _, dlogits = softmax_cross_entropy(logits, y)
    dx = model.backward(dlogits)
    analytic = [(layer, name, layer.grads[name].copy()) for layer, name in model.parameters()]

    idx = sample_indices(x.size, 3 * max_coords, rng)
    assert_close(dx.reshape(-1)[idx], numerical_gradient(f, x, idx), "model dL/dx")
    for i, (layer, name, grad) in enumerate(analytic):
        w = layer.params[name]
        idx = sample_indices(w.size, max_coords, rng)
        assert_close(grad.reshape(-1)[idx], numerical_gradient(f, w, idx),
                     f"layer {i} {layer!r} dL/d{name}")
