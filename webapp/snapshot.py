"""A model version in memory with its facts: what a worker serves, never mutated.

The hub makes one snapshot live at a time (``ModelHub._adopt``); a prediction reads the
live snapshot without a lock, and ``GET /api/model`` answers with its ``facts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from network.nn.model import Sequential

from .store import TeachRecord, VersionInfo


@dataclass(frozen=True)
class Snapshot:
    """One version in memory with its facts (the body of GET /api/model); never mutated."""

    model: Sequential
    version: int
    facts: dict[str, Any]


def describe_architecture(model: Sequential) -> str:
    """Return a short readable architecture, e.g. 'Conv2D 1->32 3x3 | ... | Dense 128->10'."""
    parts = []
    for layer in model.layers:
        config, name = layer.config(), type(layer).__name__
        if name == "Conv2D":
            parts.append(f"Conv2D {config['c_in']}->{config['c_out']} "
                         f"{config['kernel']}x{config['kernel']}")
        elif name == "Dense":
            parts.append(f"Dense {config['n_in']}->{config['n_out']}")
        elif name in ("ReLU", "Sigmoid", "MaxPool2D", "Flatten", "Dropout"):
            parts.append(name)
    return " | ".join(parts)


def snapshot(model: Sequential, info: VersionInfo, taught: float | None, samples: int) -> Snapshot:
    """The snapshot of a version, its facts computed once."""
    facts = {"version": info.version, "architecture": describe_architecture(model),
             "parameters": model.n_parameters,
             "accuracy": {"heldout": info.heldout, "taught": taught}, "samples": samples,
             "temperature": model.temperature, "created": info.created,
             "parent": info.parent, "layers": model.architecture()}
    return Snapshot(model, info.version, facts)


def taught_snapshot(model: Sequential, record: TeachRecord) -> Snapshot:
    """The snapshot of the version an accepted teach just made."""
    info = VersionInfo(record.version, record.created, {}, record.heldout,
                       record.base_version, record.checks)
    return snapshot(model, info, record.taught, record.samples)
