"""A Sequential model: layers applied in order, trained by backpropagation.

``forward`` runs the layers left to right and ``backward`` runs their backward
passes right to left, so the chain rule is literally the loop. The model reads
images ``(N, 28, 28)`` float32 in [0, 1] and returns logits ``(N, 10)``;
``predict_proba`` divides the logits by a fitted *temperature* before the softmax
so that a confidence of 0.94 means right about 94% of the time.

A model is stored as one ``.npz`` file: an array per parameter plus a JSON header
with the architecture, the training recipe and the metrics. Loading rebuilds the
layers from the header and refuses any array whose shape does not match.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..durable import atomic_write_bytes
from .layers import DTYPE, Layer, layer_from_config
from .losses import softmax, softmax_cross_entropy

INPUT_SHAPE = (28, 28)
N_CLASSES = 10
FORMAT = "inkling-model/1"


class ModelFileError(ValueError):
    """A model file or blob that is missing, corrupt, or does not match its architecture."""


class Sequential:
    """Layers in a row; the last one produces logits (N, 10)."""

    def __init__(self, layers: list[Layer], temperature: float = 1.0,
                 metadata: dict | None = None) -> None:
        self.layers = list(layers)
        self.temperature = float(temperature)
        self.metadata = dict(metadata or {})

    # -- the math ---------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits (N, 10) for images x (N, 28, 28)."""
        a = np.asarray(x)
        if a.dtype not in (np.float32, np.float64):  # float64 stays: gradient checks use it
            a = a.astype(DTYPE)
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Backpropagate dL/dlogits; fills every layer's grads and returns dL/dx."""
        g = dlogits
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return g

    def predict_logits(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Untempered logits (N, 10), computed in batches to bound memory."""
        x = np.asarray(x, dtype=DTYPE)
        if x.ndim == 2:
            x = x[None]
        if len(x) <= batch_size:
            return self.forward(x)
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, 10) = softmax(logits / T)."""
        return softmax(self.predict_logits(x) / DTYPE(self.temperature))

    def train_step(self, x: np.ndarray, y: np.ndarray, optimizer) -> float:
        """One minibatch of gradient descent; returns the mean cross-entropy before the step."""
        loss, dlogits = softmax_cross_entropy(self.forward(x, training=True), y)
        self.backward(dlogits)
        optimizer.step()
        return loss

    # -- bookkeeping ------------------------------------------------------------
    def parameters(self) -> list[tuple[Layer, str]]:
        """Every trainable array as a (layer, name) reference, in layer order."""
        return [(layer, name) for layer in self.layers for name in layer.params]

    @property
    def n_parameters(self) -> int:
        return int(sum(layer.params[name].size for layer, name in self.parameters()))

    def architecture(self) -> list[dict]:
        """The layer configs that rebuild this model: [{"type": "Dense", ...}, ...]."""
        return [{"type": type(layer).__name__, **layer.config()} for layer in self.layers]

    def copy(self) -> Sequential:
        """An independent deep copy (weights copied, caches not)."""
        clone = Sequential([layer_from_config(c) for c in self.architecture()],
                           self.temperature, json.loads(json.dumps(self.metadata)))
        for src, dst in zip(self.layers, clone.layers, strict=True):
            for name, w in src.params.items():
                dst.params[name] = w.copy()
        return clone

    def summary(self) -> str:
        """One line per layer with its output shape and parameter count."""
        shape, lines = INPUT_SHAPE, []
        for layer in self.layers:
            shape = layer.output_shape(shape)
            n = sum(p.size for p in layer.params.values())
            lines.append(f"{layer!r:<60} -> {shape!s:<16} {n:>9,d}")
        lines.append(f"{'total parameters':<78}{self.n_parameters:>9,d}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Sequential({len(self.layers)} layers, {self.n_parameters:,d} parameters, "
                f"T={self.temperature:.3f})")

    # -- serialisation ----------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The whole model as .npz bytes: arrays per parameter plus a JSON header."""
        header = {"format": FORMAT, "architecture": self.architecture(),
                  "temperature": self.temperature, "metadata": self.metadata}
        arrays = {f"{i}.{name}": w for i, layer in enumerate(self.layers)
                  for name, w in layer.params.items()}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sequential:
        """Rebuild a model from ``to_bytes`` output; ModelFileError if anything is off."""
        try:
            loaded = np.load(io.BytesIO(blob), allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ModelFileError("not a model file (a single array, not an .npz archive)")
            with loaded as npz:
                arrays = {k: npz[k] for k in npz.files}
        except ModelFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise ModelFileError(f"not a readable model file ({exc})") from None
        if "header" not in arrays:
            raise ModelFileError("model header is corrupt (there is none: "
                                 "not an Inkling model file)")
        try:
            header = json.loads(arrays.pop("header").tobytes().decode())
            if not isinstance(header, dict):
                raise ModelFileError("model header is not a JSON object")
            if header.get("format") != FORMAT:
                raise ModelFileError(f"unknown model format {header.get('format')!r}")
            temperature = float(header["temperature"])
            if not (np.isfinite(temperature) and temperature > 0):
                raise ModelFileError(f"temperature must be a positive number, not {temperature}")
            layers = [layer_from_config(c) for c in header["architecture"]]
            model = cls(layers, temperature, header.get("metadata") or {})
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"model header is corrupt ({exc})") from None
        model._load_arrays(arrays)
        return model

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        expected = {f"{i}.{name}": (layer, name) for i, layer in enumerate(self.layers)
                    for name in layer.params}
        missing, extra = expected.keys() - arrays.keys(), arrays.keys() - expected.keys()
        if missing or extra:
            raise ModelFileError(f"model arrays do not match the architecture "
                                 f"(missing {sorted(missing)}, unexpected {sorted(extra)})")
        for key, (layer, name) in expected.items():
            want, got = layer.params[name].shape, arrays[key].shape
            if arrays[key].dtype.kind != "f":
                raise ModelFileError(f"array {key} holds {arrays[key].dtype}, not floats")
            if want != got:
                raise ModelFileError(f"array {key} has shape {got}, the architecture needs {want}")
            w = arrays[key].astype(DTYPE)
            if not np.isfinite(w).all():
                raise ModelFileError(f"array {key} holds NaN or infinite values")
            layer.params[name] = w
        # the whole chain must map 28x28 images to 10 logits
        shape = INPUT_SHAPE
        try:
            for layer in self.layers:
                shape = layer.output_shape(shape)
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"layers do not fit together ({exc})") from None
        if shape != (N_CLASSES,):
            raise ModelFileError(f"model maps 28x28 images to {shape}, not to 10 classes")


def save_model(model: Sequential, path: str | os.PathLike) -> None:
    """Save atomically (temp file, fsync, os.replace)."""
    atomic_write_bytes(path, model.to_bytes())


def load_model(path: str | os.PathLike) -> Sequential:
    """Load and validate a model file; ModelFileError with a clear message otherwise."""
    try:
        blob = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
    try:
        return Sequential.from_bytes(blob)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
