"""Catalogue and regions of an annotated image, through the inference ``Prediction``.

The plugin does not re-implement the exports of ``radiogal predict``: the (possibly
hand-corrected) annotation is wrapped in a :class:`~napari_radiogal.inference.Prediction`
(with the image's WCS, beam and radio data) and its catalogue and ``to_regions`` produce
the same columns and regions as the command line, plus what a human did: the ``reviewed``
flag and ``drawn`` (an instance drawn by hand has no score: NaN, and "CLASS drawn" as its
region label, never "CLASS 0.00").
"""

from __future__ import annotations

from typing import Any

from napari_radiogal.annotations import CocoDataset
from napari_radiogal.io.catalogue import ANNOTATION_COLUMNS, DEFAULT_NAME_PREFIX

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


def catalogue_table(dataset: CocoDataset, ctx, *, name_prefix: str = DEFAULT_NAME_PREFIX) -> Any:
    """The catalogue (astropy ``Table``) with the ``reviewed`` and ``drawn`` columns."""
    from napari_radiogal.inference.prediction import catalogue

    return catalogue(
        [prediction_of(dataset, ctx)], name_prefix=name_prefix, columns=ANNOTATION_COLUMNS
    )


def dataset_regions(dataset: CocoDataset, ctx) -> Any:
    """Regions (``regions.Regions``): outline polygons and host points, class colours."""
    return prediction_of(dataset, ctx).to_regions()
