"""Catalogue table and DS9 regions of an annotated image (GUI-free).

These are thin adapters: when :mod:`napari_radiogal.inference` provides
``Prediction.to_table`` / ``Prediction.to_regions`` for a dataset, they are used, so the
CLI's ``radiogal predict`` and the plugin's Export write the same columns. Until then (and
for annotations that never were a prediction) the table is built here from the same
measurements the instance table shows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset

from ._layers import class_color, measure_instances, pixel_to_sky

log = logging.getLogger(__name__)

__all__ = ["catalogue_table", "dataset_regions"]


def catalogue_table(dataset: CocoDataset, *, wcs: Any = None, ctx=None):
    """An astropy ``Table``: one row per instance, with units and provenance in ``meta``.

    Columns: ``instance_id, image_id, class, score, reviewed, host_x, host_y`` (pixels,
    0-based, x = col), ``host_ra, host_dec`` (deg), ``ra, dec`` (deg, flux-weighted radio
    centroid, unweighted without radio data), ``flux_jy`` (Jy), ``size_arcsec``, ``area_px``.
    """
    from astropy import units as u
    from astropy.table import Table

    rows = []
    radio = None if ctx is None else ctx.radio
    for a in dataset.instances:
        mask = a.mask
        measures = measure_instances(
            mask.astype(np.int32),
            [1],
            radio=radio,
            beam=None if ctx is None else ctx.beam,
            pixel_scale_arcsec=None if ctx is None else ctx.pixel_scale_arcsec,
        )[1]
        rr, cc = np.nonzero(mask)
        weights = np.ones(rr.size)
        if radio is not None:
            w = np.nan_to_num(np.asarray(radio)[rr, cc])
            if np.sum(np.clip(w, 0, None)) > 0:
                weights = np.clip(w, 0, None)
        cy, cx = (np.average(rr, weights=weights), np.average(cc, weights=weights)) if rr.size else (np.nan, np.nan)
        ra, dec = pixel_to_sky(wcs, [cx], [cy])
        hx, hy = a.host if a.host is not None else (np.nan, np.nan)
        rows.append(
            {
                "instance_id": int(a.id or 0),
                "image_id": int(a.image_id),
                "class": dataset.scheme.name_of_id(a.category_id),
                "score": np.nan if a.score is None else float(a.score),
                "reviewed": bool(a.reviewed),
                "host_x": float(hx),
                "host_y": float(hy),
                "host_ra": np.nan if a.host_ra is None else float(a.host_ra),
                "host_dec": np.nan if a.host_dec is None else float(a.host_dec),
                "ra": float(ra[0]),
                "dec": float(dec[0]),
                "flux_jy": measures["flux_jy"],
                "size_arcsec": measures["size_arcsec"],
                "area_px": int(measures["area_px"]),
            }
        )
    names = [
        "instance_id", "image_id", "class", "score", "reviewed", "host_x", "host_y",
        "host_ra", "host_dec", "ra", "dec", "flux_jy", "size_arcsec", "area_px",
    ]
    table = Table(rows=rows, names=names) if rows else Table(names=names, dtype=[
        int, int, str, float, bool, float, float, float, float, float, float, float, float, int])
    for col, unit in (("host_ra", u.deg), ("host_dec", u.deg), ("ra", u.deg), ("dec", u.deg),
                      ("flux_jy", u.Jy), ("size_arcsec", u.arcsec), ("host_x", u.pix),
                      ("host_y", u.pix), ("area_px", u.pix**2)):
        table[col].unit = unit
    table.meta["provenance"] = dict(dataset.info)
    table.meta["classes"] = dataset.scheme.to_dict()
    table.meta["pixel_convention"] = "x = column, y = row, 0-based, pixel centres"
    return table


def _outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Closed outlines ``(M, 2)`` ``(row, col)`` of every part of a mask (pixel edges)."""
    from skimage.measure import find_contours

    padded = np.pad(mask.astype(np.float32), 1)
    return [c - 1.0 for c in find_contours(padded, 0.5) if len(c) >= 4]


def dataset_regions(dataset: CocoDataset, *, wcs: Any = None):
    """``regions.Regions``: an outline polygon per instance part and a point per host.

    Sky regions (ICRS) when a WCS is given, else pixel regions. Each region carries the
    class colour and ``text = "<class> #<id>"`` so DS9 shows which galaxy it belongs to.
    """
    from astropy.coordinates import SkyCoord
    from regions import (
        PixCoord,
        PointPixelRegion,
        PointSkyRegion,
        PolygonPixelRegion,
        PolygonSkyRegion,
        RegionMeta,
        Regions,
        RegionVisual,
    )

    out = []
    for a in dataset.instances:
        name = dataset.scheme.name_of_id(a.category_id)
        color = class_color(name)[:7]
        text = f"{name} #{a.id}"
        for outline in _outlines(a.mask):
            x, y = outline[:, 1], outline[:, 0]
            visual = RegionVisual(color=color)
            meta = RegionMeta(text=text)
            if wcs is not None:
                ra, dec = pixel_to_sky(wcs, x, y)
                out.append(PolygonSkyRegion(SkyCoord(ra, dec, unit="deg"), meta=meta, visual=visual))
            else:
                out.append(PolygonPixelRegion(PixCoord(x, y), meta=meta, visual=visual))
        if a.host is not None:
            visual = RegionVisual(color=color, symbol="x")
            meta = RegionMeta(text=f"host {text}")
            if wcs is not None:
                ra, dec = pixel_to_sky(wcs, [a.host[0]], [a.host[1]])
                out.append(PointSkyRegion(SkyCoord(ra[0], dec[0], unit="deg"), meta=meta, visual=visual))
            else:
                out.append(PointPixelRegion(PixCoord(*a.host), meta=meta, visual=visual))
    return Regions(out)
