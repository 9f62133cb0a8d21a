"""The trunk and its features: what online learning keeps fixed, computed once and cached.

A model splits at its first Dense layer into a *trunk* (the convolutions, which
offline training made generic stroke detectors) and a *head* (the dense layers, where
a person's style is told apart).  Online learning trains only the head, so the trunk's
features of a fixed set of images never change while the trunk does not: they are
computed once per trunk and kept in a small cache keyed by fingerprints of the trunk's
weights and of the images.

The cache is module-level on purpose: several apps in one process (tests, reloads)
read the same immutable arrays, and recomputing them costs about as much as a teach
hundred times over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np

from ..nn.layers import DTYPE, Dense, Layer
from ..nn.model import Sequential

FEATURE_BATCH = 32
"""Trunk images per forward pass: the im2col matrix of larger batches spills the cache."""

CACHE_ENTRIES = 8
"""Feature arrays kept at once (held-out, anchors and their Gram matrix, per trunk)."""

_feature_cache: dict[tuple[str, ...], np.ndarray] = {}


def head_start(model: Sequential) -> int:
    """Return the index of the first Dense layer: layers before it are the fixed trunk."""
    for index, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            return index
    raise ValueError("the model has no Dense layer, so it has no head to train")


def trunk_fingerprint(model: Sequential) -> str:
    """Return a hash of the trunk's architecture and weights (the feature cache's key)."""
    start = head_start(model)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(model.architecture()[:start]).encode())
    for layer in model.layers[:start]:
        for name in sorted(layer.params):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(layer.params[name]).tobytes())
    return digest.hexdigest()


def data_fingerprint(images: np.ndarray) -> str:
    """Return a hash of an image array's bytes (the other half of a cache key)."""
    return hashlib.blake2b(np.ascontiguousarray(images).tobytes(), digest_size=16).hexdigest()


def forward(layers: list[Layer], a: np.ndarray, training: bool = False) -> np.ndarray:
    """Run layers (a list slice of a model); training=True keeps what backward needs."""
    for layer in layers:
        a = layer.forward(a, training)
    return a


def trunk_features(model: Sequential, x: np.ndarray) -> np.ndarray:
    """Trunk features (N, D) of float images x (N, 28, 28), in batches of FEATURE_BATCH."""
    trunk = model.layers[:head_start(model)]
    if len(x) == 0:
        return forward(trunk, np.zeros((1, 28, 28), DTYPE))[:0]
    return np.concatenate([forward(trunk, x[i:i + FEATURE_BATCH])
                           for i in range(0, len(x), FEATURE_BATCH)])


def cached(key: tuple[str, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the read-only array cached under key, computing it on a miss; the oldest
    entries go beyond CACHE_ENTRIES.

    No lock (the engine knows nothing of the web layer's threads): every step is one
    dict operation, atomic under the interpreter lock, and two threads that miss the
    same key at once compute the same array twice, which costs time, never correctness.
    """
    value = _feature_cache.get(key)
    if value is not None:
        return value
    value = compute()
    value.setflags(write=False)
    _feature_cache[key] = value
    while len(_feature_cache) > CACHE_ENTRIES:
        try:
            _feature_cache.pop(next(iter(_feature_cache)), None)
        except (StopIteration, RuntimeError):  # emptied or changed by another thread
            break
    return value
