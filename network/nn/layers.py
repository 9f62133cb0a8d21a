"""Layers of a feed-forward network, each with its forward and backward pass side by side.

Every layer maps a batch to a batch. Images travel channels-last, ``(N, H, W, C)``,
because that makes the im2col matrix of a convolution a free reshape of its output
and keeps every hot loop inside one matrix product (BLAS) instead of Python.

A layer caches what its backward pass needs during ``forward(x, training=True)``, and
only then: inference (``training=False``) leaves no state behind, so one model can serve
predictions from many threads at once and keeps no large batch alive.
``backward(grad_out)`` returns ``grad_in`` and fills ``self.grads`` with the gradient
of the loss for every array in ``self.params`` (same keys, same shapes).

Everything is float32: twice the speed of float64 and plenty for a 99% digit reader.
"""

from __future__ import annotations

import numpy as np

DTYPE = np.float32


class Layer:
    """A differentiable function of a batch with optional parameters."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (without its weights)."""
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output given one sample's input shape."""
        return input_shape

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def he_normal(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    """He initialisation: variance 2/fan_in keeps ReLU activations at a steady scale."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(DTYPE)


def xavier_normal(
    rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...]
) -> np.ndarray:
    """Xavier/Glorot initialisation: variance 2/(fan_in+fan_out), suited to sigmoid."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(DTYPE)


def _init_weights(rng, init, fan_in, fan_out, shape):
    if rng is None:
        return np.zeros(shape, DTYPE)
    if init == "he":
        return he_normal(rng, fan_in, shape)
    if init == "xavier":
        return xavier_normal(rng, fan_in, fan_out, shape)
    raise ValueError(f"unknown initialisation {init!r} (use 'he' or 'xavier')")


class Dense(Layer):
    """Fully connected layer ``z = x W + b``.

    x: (N, n_in) -> z: (N, n_out); W: (n_in, n_out); b: (n_out,).
    """

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator | None = None,
                 init: str = "he") -> None:
        super().__init__()
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init
        self.params["W"] = _init_weights(rng, init, n_in, n_out, (n_in, n_out))
        self.params["b"] = np.zeros(n_out, DTYPE)

    def forward(self, x, training=False):
        if training:
            self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out):
        # dL/dW = x^T dL/dz, dL/db = sum over the batch, dL/dx = dL/dz W^T
        self.grads["W"] = self.x.T @ grad_out
        self.grads["b"] = grad_out.sum(axis=0)
        return grad_out @ self.params["W"].T

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.n_in,):
            raise ValueError(f"{self!r} needs inputs of shape ({self.n_in},), gets {input_shape}")
        return (self.n_out,)


class Conv2D(Layer):
    """2-D convolution (cross-correlation) by im2col: one matrix product per batch.

    x: (N, H, W, C_in) -> z: (N, H_out, W_out, C_out), with
    H_out = (H + 2 pad - k) // stride + 1.
    Kernel W: (k, k, C_in, C_out); bias b: (C_out,).
    The im2col matrix ``cols`` is (N H_out W_out, k k C_in): every receptive field as a row.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, pad: int = 0,
                 rng: np.random.Generator | None = None, init: str = "he") -> None:
        super().__init__()
        self.c_in, self.c_out, self.kernel = int(c_in), int(c_out), int(kernel)
        self.stride, self.pad, self.init = int(stride), int(pad), init
        fan_in, fan_out = kernel * kernel * c_in, kernel * kernel * c_out
        self.params["W"] = _init_weights(rng, init, fan_in, fan_out,
                                         (kernel, kernel, c_in, c_out))
        self.params["b"] = np.zeros(c_out, DTYPE)

    def _out_hw(self, h, w):
        k, s, p = self.kernel, self.stride, self.pad
        return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def forward(self, x, training=False):
        k, s, p = self.kernel, self.stride, self.pad
        n, h, w, c = x.shape
        h_out, w_out = self._out_hw(h, w)
        if p:
            xp = np.zeros((n, h + 2 * p, w + 2 * p, c), x.dtype)
            xp[:, p:p + h, p:p + w, :] = x
        else:
            xp = x
        # im2col: every kernel offset (i, j) copies its shifted view of the input into its
        # slot of the row (the mirror image of col2im in backward); nine slice copies are
        # several times faster than gathering 6-D sliding windows.
        cols = np.empty((n, h_out, w_out, k * k * c), x.dtype)
        for i in range(k):
            for j in range(k):
                slot = (i * k + j) * c
                cols[..., slot:slot + c] = xp[:, i:i + s * h_out:s, j:j + s * w_out:s, :]
        cols = cols.reshape(n * h_out * w_out, k * k * c)
        z = cols @ self.params["W"].reshape(k * k * c, self.c_out) + self.params["b"]
        if training:
            self.cols, self.x_shape = cols, x.shape
        return z.reshape(n, h_out, w_out, self.c_out)

    def backward(self, grad_out):
        k, s, p = self.kernel, self.stride, self.pad
        n, h, w, c = self.x_shape
        _, h_out, w_out, _ = grad_out.shape
        g = grad_out.reshape(-1, self.c_out)                      # (N H_out W_out, C_out)
        self.grads["W"] = (self.cols.T @ g).reshape(self.params["W"].shape)
        self.grads["b"] = g.sum(axis=0)
        dcols = g @ self.params["W"].reshape(k * k * c, self.c_out).T
        dcols = dcols.reshape(n, h_out, w_out, k, k, c)
        # col2im: every kernel offset (i, j) adds its slice back where it was read from
        dxp = np.zeros((n, h + 2 * p, w + 2 * p, c), grad_out.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, i:i + s * h_out:s, j:j + s * w_out:s, :] += dcols[:, :, :, i, j, :]
        return dxp[:, p:p + h, p:p + w, :] if p else dxp

    def config(self):
        return {"c_in": self.c_in, "c_out": self.c_out, "kernel": self.kernel,
                "stride": self.stride, "pad": self.pad, "init": self.init}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.c_in:
            raise ValueError(f"{self!r} needs (H, W, {self.c_in}) inputs, gets {input_shape}")
        h, w, _ = input_shape
        return (*self._out_hw(h, w), self.c_out)


class MaxPool2D(Layer):
    """Non-overlapping max pooling over size x size tiles.

    x: (N, H, W, C) -> (N, H // size, W // size, C). The gradient flows to the maximum
    of each tile; on an exact tie it is shared equally among the tied entries (a valid
    subgradient; ties of positive values are rare, and tied zeros are cut by the ReLU).
    """

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = int(size)

    def forward(self, x, training=False):
        n, h, w, c = x.shape
        s = self.size
        if h % s or w % s:
            raise ValueError(f"MaxPool2D({s}) needs H and W divisible by {s}, got {h}x{w}")
        if not training:
            # the maximum of the s*s strided views: no reshaping, no temporary tiles
            out = x[:, ::s, ::s, :].copy()
            for i in range(s):
                for j in range(s):
                    if i or j:
                        np.maximum(out, x[:, i::s, j::s, :], out=out)
            return out
        tiles = x.reshape(n, h // s, s, w // s, s, c)           # a view, no copy
        out = tiles.max(axis=(2, 4))
        mask = (tiles == out[:, :, None, :, None, :]).astype(x.dtype)
        self.mask = mask / mask.sum(axis=(2, 4), keepdims=True)
        return out

    def backward(self, grad_out):
        g = self.mask * grad_out[:, :, None, :, None, :]
        n, hs, s, ws, _, c = g.shape
        return g.reshape(n, hs * s, ws * s, c)

    def config(self):
        return {"size": self.size}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] % self.size or input_shape[1] % self.size:
            raise ValueError(f"{self!r} needs (H, W, C) inputs divisible by {self.size}, "
                             f"gets {input_shape}")
        h, w, c = input_shape
        return (h // self.size, w // self.size, c)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 d2 ...)."""

    def forward(self, x, training=False):
        if training:
            self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out):
        return grad_out.reshape(self.x_shape)

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


class Reshape(Layer):
    """(N, ...) -> (N, *shape); e.g. images (N, 28, 28) -> (N, 28, 28, 1) for a Conv2D."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def forward(self, x, training=False):
        if training:
            self.x_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, grad_out):
        return grad_out.reshape(self.x_shape)

    def config(self):
        return {"shape": list(self.shape)}

    def output_shape(self, input_shape):
        if int(np.prod(input_shape)) != int(np.prod(self.shape)):
            raise ValueError(f"{self!r} cannot reshape {input_shape}")
        return self.shape


class ReLU(Layer):
    """a = max(0, z); da/dz = 1 where z > 0, else 0."""

    def forward(self, x, training=False):
        if training:
            self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self.mask


class Sigmoid(Layer):
    """a = 1 / (1 + e^-z); da/dz = a (1 - a)."""

    def forward(self, x, training=False):
        # split by sign so exp never overflows
        e = np.exp(-np.abs(x))
        a = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        if training:
            self.a = a
        return a

    def backward(self, grad_out):
        return grad_out * self.a * (1.0 - self.a)


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability 1-p and scale by 1/(1-p).

    At inference it is the identity, so predictions need no rescaling.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x, training=False):
        if not training or self.p == 0.0:
            return x  # nothing recorded: inference stays stateless
        keep = self.rng.random(x.shape, dtype=DTYPE) >= self.p
        self.mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * self.mask

    def backward(self, grad_out):
        return grad_out if self.p == 0.0 else grad_out * self.mask

    def config(self):
        return {"p": self.p}


LAYER_TYPES = {cls.__name__: cls for cls in
               (Dense, Conv2D, MaxPool2D, Flatten, Reshape, ReLU, Sigmoid, Dropout)}


def layer_from_config(config: dict) -> Layer:
    """Rebuild a layer (with zero weights) from ``{"type": name, **config()}``."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}")
    return LAYER_TYPES[kind](**config)
