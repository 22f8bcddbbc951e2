"""Networks: backbone registry, CAM / ReCAM heads, IRNet heads, weights files.

Names are imported lazily (:func:`lazy_loader.attach`), so ``from napari_radiogal.models
import WeightsCard, read_card`` loads no torch (torch is imported when a network is built or
tensors are read).

==========================  ====================================================
:class:`ModelConfig`        architecture (backbone, channels, classes, stride)
:func:`build_model`         a new :class:`RadioGalaxyNet`
:class:`RadioGalaxyNet`     ``forward`` (logits), ``cams``, ``irn``, ``infer``
:class:`WeightsCard`        what a weights file is (classes, inputs, training)
:func:`save_weights`        safetensors + JSON card, atomic, with sha256
:func:`load_weights`        verified load: ``(model, card)``
:func:`default_weights_path`  the bundled model's file
:func:`find_weights`        a weights path or a bundled model's name -> file
:func:`init_from_weights`   start a new network from a trained model (fine-tuning)
:func:`multiscale_flip_cams`  CAMs summed over scales and mirrors (training and inference)
==========================  ====================================================
"""

from __future__ import annotations

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["ModelConfig", "BACKBONE_NAMES"],
        "network": ["RadioGalaxyNet", "build_model"],
        "cams": ["multiscale_flip_cams", "cams_to_image_grid"],
        "backbones": ["BACKBONES", "Taps", "build_backbone", "register_backbone"],
        "weights": [
            "WeightsCard",
            "save_weights",
            "load_weights",
            "read_card",
            "default_weights_path",
            "bundled_models",
            "find_weights",
            "init_from_weights",
        ],
    },
)
