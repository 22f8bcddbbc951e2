"""npe2 writers (File > Save Selected Layers): COCO JSON, ECSV catalogue, DS9 regions.

Select an instance Labels layer (with or without its hosts Points layer and the images) and
save with the ``.json``, ``.ecsv`` or ``.reg`` extension. The writers read the layer-data
tuples napari hands them, so they never touch the viewer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset
from napari_radiogal.io.export import OUTPUT_FORMATS, write_output

from ._layers import KIND_KEY, META_KEY, host_features, layers_to_dataset

__all__ = [
    "write_coco_layers",
    "write_catalogue_layers",
    "write_regions_layers",
    "dataset_of_layer_data",
]

LayerData = tuple[Any, dict[str, Any], str]


def dataset_of_layer_data(layer_data: list[LayerData]) -> tuple[CocoDataset, Any]:
    """The dataset (and image context) of the first instance Labels layer among the tuples.

    Raises
    ------
    ValueError
        When no instance Labels layer of this plugin is among them.
    """
    labels = next(
        (
            t
            for t in layer_data
            if t[2] == "labels" and t[1].get("metadata", {}).get(KIND_KEY) == "instances"
        ),
        None,
    )
    if labels is None:
        raise ValueError(
            "select the 'instances' Labels layer made by napari-radiogal (and, optionally, its "
            "'hosts' Points layer) before saving as radio galaxy annotations"
        )
    ctx = labels[1]["metadata"][META_KEY]
    points = next(
        (
            t
            for t in layer_data
            if t[2] == "points"
            and getattr(t[1].get("metadata", {}).get(META_KEY), "session", None) == ctx.session
        ),
        None,
    )
    if points is None:
        pdata, pfeatures = np.zeros((0, 2)), host_features([])
    else:
        pdata, pfeatures = points[0], points[1]["features"]
    dataset = layers_to_dataset(labels[0], labels[1]["features"], pdata, pfeatures, ctx)
    return dataset, ctx


def write_coco_layers(path: str, layer_data: list[LayerData]) -> list[str]:
    """Write the annotations of the selected layers as COCO JSON (atomic, with ``.bak``)."""
    from ._autosave import record_for_json

    dataset, _ = dataset_of_layer_data(layer_data)
    out = _with_suffix(path, "coco")
    write_output(out, "coco", record_for_json(dataset, out), backup=True)
    return [str(out)]


def write_catalogue_layers(path: str, layer_data: list[LayerData]) -> list[str]:
    """Write the catalogue (one row per radio galaxy) of the selected layers as ECSV."""
    from ._catalogue import catalogue_table

    dataset, ctx = dataset_of_layer_data(layer_data)
    out = _with_suffix(path, "catalogue")
    write_output(out, "catalogue", catalogue_table(dataset, ctx))
    return [str(out)]


def write_regions_layers(path: str, layer_data: list[LayerData]) -> list[str]:
    """Write outlines and hosts of the selected layers as a DS9 region file."""
    from ._catalogue import dataset_regions

    dataset, ctx = dataset_of_layer_data(layer_data)
    out = _with_suffix(path, "regions")
    write_output(out, "regions", dataset_regions(dataset, ctx))
    return [str(out)]


def _with_suffix(path: str | os.PathLike, format_name: str) -> Path:
    """``path``, with the format's suffix appended unless it already ends with it (any case)."""
    p, suffix = str(path), OUTPUT_FORMATS[format_name].suffix
    return Path(p if p.lower().endswith(suffix) else p + suffix)
