"""Self-describing, atomically written training checkpoints.

A checkpoint is a ``dict`` saved with :func:`torch.save`::

    {"model", "optimizer", "scheduler", "scaler", "config", "stage", "epoch",
     "step_in_epoch", "global_step", "best_val", "rng", "version", "format"}

and read back with ``torch.load(weights_only=True)``: only tensors and plain Python
containers are allowed, nothing is unpickled (the RNG states are converted to lists/tuples of
ints for that reason). Files are written to a temporary name and renamed, so an interrupted
write never leaves a broken checkpoint behind.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_radiogal._version import __version__
from napari_radiogal.errors import ConfigError
from napari_radiogal.io.atomic import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


def rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch RNG states in a ``weights_only``-safe form."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` (plus ``version``/``format``) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(checkpoint, version=__version__, format=CHECKPOINT_FORMAT)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"checkpoint {path} not found; run the earlier stage first (radiogal train "
            "--stage ...) or drop --resume."
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, OSError, EOFError) as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ConfigError(f"{path} is not a radiogal training checkpoint.")
    return ckpt
