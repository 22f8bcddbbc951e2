"""Networks: backbone registry, CAM / ReCAM heads, IRNet heads, weights files.

Names are imported lazily, so ``from napari_radiogal.models import WeightsCard, read_card``
loads no torch (torch is imported when a network is built or tensors are read).

==========================  ====================================================
:class:`ModelConfig`        architecture (backbone, channels, classes, stride)
:func:`build_model`         a new :class:`RadioGalaxyNet`
:class:`RadioGalaxyNet`     ``forward`` (logits), ``cams``, ``irn``, ``infer``
:class:`WeightsCard`        what a weights file is (classes, inputs, training)
:func:`save_weights`        safetensors + JSON card, atomic, with sha256
:func:`load_weights`        verified load: ``(model, card)``
:func:`default_weights_path`  the bundled model's file
==========================  ====================================================
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelConfig": "napari_radiogal.models.config",
    "BACKBONE_NAMES": "napari_radiogal.models.config",
    "RadioGalaxyNet": "napari_radiogal.models.network",
    "build_model": "napari_radiogal.models.network",
    "BACKBONES": "napari_radiogal.models.backbones",
    "Taps": "napari_radiogal.models.backbones",
    "build_backbone": "napari_radiogal.models.backbones",
    "register_backbone": "napari_radiogal.models.backbones",
    "WeightsCard": "napari_radiogal.models.weights",
    "save_weights": "napari_radiogal.models.weights",
    "load_weights": "napari_radiogal.models.weights",
    "read_card": "napari_radiogal.models.weights",
    "default_weights_path": "napari_radiogal.models.weights",
    "sha256_file": "napari_radiogal.models.weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
