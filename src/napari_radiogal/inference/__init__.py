"""From a radio (and infrared) image to instances: masks, classes, scores and hosts.

The public API, imported lazily (``import napari_radiogal.inference`` loads no torch):

=============================  ========================================================
:func:`segment`                one image -> :class:`Prediction`
:func:`segment_batch`          many images, one loaded model, batched network passes
:class:`ImageInput`            an image plus its id / file names / oracle classes
:func:`inputs_from_coco`       the images of a COCO file as ImageInputs, read lazily
:class:`InferenceConfig`       every setting, with help text and ranges per field
:func:`config_fields`          the fields as dicts (to build a form)
:func:`load_model`             verified weights on a device, cached per process
:class:`LoadedModel`           network + card + device
:func:`resolve_device`         ``"auto"`` -> CUDA, then MPS, then CPU
:func:`available_devices`
:class:`Prediction`            to_dataset / to_table / to_regions / write
:func:`catalogue`              one table for many predictions
:func:`predictions_to_dataset` one COCO data set for many predictions
:class:`InferenceCancelled`    raised when ``cancel()`` says so
=============================  ========================================================
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InferenceConfig": "napari_radiogal.inference.config",
    "config_fields": "napari_radiogal.inference.config",
    "resolve_device": "napari_radiogal.inference.device",
    "available_devices": "napari_radiogal.inference.device",
    "segment": "napari_radiogal.inference.pipeline",
    "segment_batch": "napari_radiogal.inference.pipeline",
    "ImageInput": "napari_radiogal.inference.pipeline",
    "inputs_from_coco": "napari_radiogal.inference.pipeline",
    "load_model": "napari_radiogal.inference.pipeline",
    "clear_model_cache": "napari_radiogal.inference.pipeline",
    "LoadedModel": "napari_radiogal.inference.pipeline",
    "InferenceCancelled": "napari_radiogal.inference.pipeline",
    "STAGES": "napari_radiogal.inference.pipeline",
    "Prediction": "napari_radiogal.inference.prediction",
    "catalogue": "napari_radiogal.inference.prediction",
    "predictions_to_dataset": "napari_radiogal.inference.prediction",
    "CATALOGUE_COLUMNS": "napari_radiogal.inference.prediction",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
