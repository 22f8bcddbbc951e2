"""Self-describing, atomically written training checkpoints.

A checkpoint is a ``dict`` saved with :func:`torch.save`::

    {"model", "optimizer", "scheduler", "scaler", "config", "stage", "epoch",
     "step_in_epoch", "global_step", "best_val", "rng", "version", "format"}

and read back with ``torch.load(weights_only=True)``: only tensors and plain Python
containers are allowed, nothing is unpickled (the RNG states are converted to lists/tuples of
ints for that reason). Files are written to a temporary name and renamed, so an interrupted
write never leaves a broken checkpoint behind. A file that is corrupt, incomplete, not ours
or of another architecture is a :class:`~napari_radiogal.errors.WeightsError` naming it.
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
from napari_radiogal.errors import ConfigError, WeightsError
from napari_radiogal.io.atomic import atomic_path

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "load_model_state",
    "restore_checkpoint",
    "rng_state",
    "set_rng_state",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_KEYS",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1

#: What every checkpoint written by :func:`save_checkpoint` holds (resume needs all of it).
CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "scheduler",
    "epoch",
    "step_in_epoch",
    "global_step",
    "rng",
)

_FIX = "delete it and train that stage again (radiogal train --overwrite-run), or check --out"


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
    """Read a checkpoint with ``torch.load(weights_only=True)`` (never unpickles code).

    Raises
    ------
    ConfigError
        The file does not exist (an earlier stage has not been run).
    WeightsError
        The file is corrupt or truncated, holds Python objects other than tensors and plain
        containers, or lacks one of :data:`CHECKPOINT_KEYS`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"checkpoint {path} not found; run the earlier stage first (radiogal train "
            "--stage ...) or drop --resume."
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise  # unreadable, not corrupt: the command line reports the system's reason
    except Exception as exc:
        # garbage makes torch's readers fail in many ways (UnpicklingError, IndexError,
        # RuntimeError from the zip reader...); their messages may advise unpickling the
        # file anyway, which is never passed on
        raise WeightsError(
            f"checkpoint {path} cannot be read: it is corrupt, truncated or not a torch file "
            f"of tensors ({type(exc).__name__}); {_FIX}."
        ) from exc
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt] if isinstance(ckpt, dict) else []
    if not isinstance(ckpt, dict) or missing:
        what = f"lacks {missing}" if missing else f"holds a {type(ckpt).__name__}"
        raise WeightsError(f"{path} is not a radiogal training checkpoint (it {what}); {_FIX}.")
    return ckpt


def load_model_state(model: torch.nn.Module, ckpt: dict[str, Any], path: str | os.PathLike) -> None:
    """Load ``ckpt["model"]`` into ``model``; a checkpoint of another architecture is our error.

    Raises
    ------
    WeightsError
        The checkpoint's tensors do not fit ``model`` (another backbone, class list or
        channel list); the message names the checkpoint's backbone.
    """
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        config = ckpt.get("config")
        backbone = config.get("backbone") if isinstance(config, dict) else None
        made = f" (made by a {backbone} run)" if backbone else ""
        raise WeightsError(
            f"checkpoint {path}{made} does not fit this run's model: its tensors have other "
            "names or shapes (another backbone, class or channel list); resume with the "
            "run's own recipe, or start again with --overwrite-run."
        ) from exc


def restore_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Resume: load a checkpoint into the model, optimiser, scheduler, AMP scaler and RNGs.

    Returns
    -------
    dict
        The checkpoint (``epoch``, ``step_in_epoch``, ``global_step``, ``best_val``,
        ``history`` are read from it by the caller).

    Raises
    ------
    ConfigError, WeightsError
        As :func:`load_checkpoint` and :func:`load_model_state`; also when the optimiser,
        scheduler or RNG states do not fit (a checkpoint of another recipe or program).
    """
    ckpt = load_checkpoint(path, map_location=map_location)
    load_model_state(model, ckpt, path)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"checkpoint {path}: its optimiser, scheduler or random-number states cannot be "
            f"restored ({type(exc).__name__}: {exc}); {_FIX}."
        ) from exc
    return ckpt
