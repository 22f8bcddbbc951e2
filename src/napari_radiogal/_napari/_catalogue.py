"""Catalogue and DS9 regions of an annotated image, through the inference ``Prediction``.

The plugin does not re-implement the exports of ``radiogal predict``: the (possibly
hand-corrected) annotation is wrapped in a :class:`~napari_radiogal.inference.Prediction`
(with the image's WCS, beam and radio data) and its ``to_table`` / ``to_regions`` produce
the same columns and regions as the command line. Only the ``reviewed`` flag, which a
prediction does not have, is added as a catalogue column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset

__all__ = ["prediction_of", "catalogue_table", "dataset_regions"]


def prediction_of(dataset: CocoDataset, ctx) -> Any:
    """A :class:`~napari_radiogal.inference.prediction.Prediction` of a one-image dataset."""
    from napari_radiogal.inference.prediction import Prediction

    record = dataset.images[0]
    return Prediction(
        image=record,
        instances=list(dataset.instances_of(record.id)),
        scheme=dataset.scheme,
        wcs=ctx.wcs,
        beam=ctx.beam,
        pixel_scale_arcsec=ctx.pixel_scale_arcsec,
        radio=ctx.radio,
        provenance=dict(dataset.info),
    )


def catalogue_table(dataset: CocoDataset, ctx) -> Any:
    """The ECSV-ready catalogue (astropy ``Table``) with an added ``reviewed`` column."""
    table = prediction_of(dataset, ctx).to_table()
    reviewed = {int(a.id or 0): bool(a.reviewed) for a in dataset.instances}
    table["reviewed"] = np.array([reviewed.get(int(i), False) for i in table["id"]], dtype=bool)
    table["reviewed"].description = "checked (and corrected) by a human in napari"
    return table


def dataset_regions(dataset: CocoDataset, ctx) -> Any:
    """DS9 regions (``regions.Regions``): outline polygons and host points, class colours."""
    return prediction_of(dataset, ctx).to_regions()
