"""From a radio (and infrared) image to instances: masks, classes, scores and hosts.

The public API, imported lazily with :func:`lazy_loader.attach` (``import
napari_radiogal.inference`` loads no torch):

=============================  ========================================================
:func:`segment`                one image -> :class:`Prediction`
:func:`segment_batch`          many images, one loaded model, batched network passes
:func:`segment_at`             the one source at a clicked position -> :class:`ClickResult`
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
:class:`MemoryBudgetError`     an image over ``InferenceConfig.memory_budget_gb``
:class:`StageTimer`            wall-clock and CPU time per stage (``timer=``)
:func:`network_outputs`        the network stage alone (``network_step=``)
=============================  ========================================================
"""

from __future__ import annotations

import lazy_loader

# eager: it lives in the torch-free errors module, so there is nothing to defer
from napari_radiogal.errors import InferenceCancelled as InferenceCancelled

__getattr__, _, _lazy_all = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["InferenceConfig", "config_fields"],
        "device": ["resolve_device", "available_devices"],
        "model": [
            "load_model",
            "clear_model_cache",
            "LoadedModel",
            "ModelChoice",
            "choose_bundled_model",
        ],
        "inputs": ["ImageInput", "inputs_from_coco"],
        "network": ["network_outputs"],
        "pipeline": ["segment", "segment_batch", "STAGES"],
        "click": ["segment_at", "ClickResult"],
        "resolution": ["MemoryBudgetError"],
        "timing": ["StageTimer"],
        "prediction": [
            "Prediction",
            "catalogue",
            "predictions_to_dataset",
            "CATALOGUE_COLUMNS",
        ],
    },
)

__all__ = sorted([*_lazy_all, "InferenceCancelled"])


def __dir__() -> list[str]:
    return list(__all__)
