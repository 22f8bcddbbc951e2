"""The survey's output objects: the catalogue table, the regions, the COCO file of windows.

Each function turns consolidated sources (:class:`~napari_radiogal.inference.windows.
WindowDetection` in mosaic pixels) into the data-model object that
:mod:`napari_radiogal.io.export` writes; none writes a file itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_radiogal.inference.windows import WindowDetection
from napari_radiogal.io.catalogue import COLUMNS, DEFAULT_NAME_PREFIX
from napari_radiogal.io.catalogue import SURVEY_COLUMNS as SURVEY_COLUMN_NAMES
from napari_radiogal.io.catalogue import catalogue_table as make_table
from napari_radiogal.io.geometry import Window

__all__ = ["SURVEY_COLUMNS", "catalogue_table", "source_regions", "windows_dataset"]

#: Catalogue columns: name -> (unit, description) (the definitions, with UCDs, are
#: :data:`napari_radiogal.io.catalogue.COLUMNS`).
SURVEY_COLUMNS: dict[str, tuple[str | None, str]] = {
    name: (COLUMNS[name].unit, COLUMNS[name].description) for name in SURVEY_COLUMN_NAMES
}


def _source_row(
    det: WindowDetection, cut: bool, absorbed: np.ndarray, plan: Any, radio: Any
) -> dict[str, Any]:
    """One source measured on the mosaic (only its box is read)."""
    from napari_radiogal.inference.prediction import instance_properties
    from napari_radiogal.survey.windows import window_image

    r0, c0, r1, c1 = det.mask.box
    piece = window_image(radio, Window(r0, c0, r1 - r0, c1 - c0))
    beam = plan.geometry.beam
    props = instance_properties(
        det.mask.mask,
        piece.data,
        beam=beam,
        pixel_scale_arcsec=radio.pixel_scale_arcsec,
        unit=piece.unit,
    )
    x, y = props["x"] + c0, props["y"] + r0
    ra, dec = (float(v) for v in radio.wcs.pixel_to_world_values(x, y))
    host = det.host if det.host is not None else (np.nan, np.nan)
    host_ra = host_dec = np.nan
    if det.host is not None:
        host_ra, host_dec = (float(v) for v in radio.wcs.pixel_to_world_values(*host))
    ids = plan.components.ids[absorbed].tolist() if plan.components is not None else []
    n_components = len(ids) if plan.components is not None else int(props["n_components"])
    win = det.window
    return {
        "ra": ra % 360.0,
        "dec": dec,
        "class": plan.model.scheme.name_of_id(det.category_id),
        "category_id": int(det.category_id),
        "score": float(det.score),
        "class_probability": float(det.extra.get("class_probability", np.nan)),
        "host_ra": host_ra % 360.0,
        "host_dec": host_dec,
        "host_from": str(det.extra.get("host_from") or "none"),
        "found_by": str(det.extra.get("found_by") or "none"),
        "flux": props["flux"],
        "peak_flux": props["peak_flux"],
        "las": props["las"],
        "area": int(props["area"]),
        "n_components": n_components,
        "component_ids": " ".join(ids),
        "x": x,
        "y": y,
        "host_x": float(host[0]),
        "host_y": float(host[1]),
        "bbox_x": c0,
        "bbox_y": r0,
        "bbox_w": c1 - c0,
        "bbox_h": r1 - r0,
        "window": int(det.extra["window_number"]),
        "window_row0": win.row0,
        "window_col0": win.col0,
        "cut": bool(cut),
        "merged_parts": int(det.extra.get("merged_parts", 1)),
    }


def catalogue_table(
    sources: Sequence[WindowDetection],
    cut: Sequence[bool],
    absorbed: Sequence[np.ndarray],
    plan: Any,
    radio: Any,
    provenance: dict[str, Any],
    *,
    name_prefix: str = DEFAULT_NAME_PREFIX,
) -> tuple[Any, np.ndarray]:
    """The survey catalogue: one row per source, sorted by RA then Dec.

    Parameters
    ----------
    sources : sequence of WindowDetection
        Consolidated, disjoint masks in mosaic pixels; ``extra["window_number"]`` set.
    cut : sequence of bool
        Per source, whether it touches an inner edge of its window.
    absorbed : sequence of ndarray of int
        Per source, the component indices it absorbed.
    plan : SurveyPlan
    radio : RadioImage
        The (lazy) mosaic, for fluxes, centroids and sky positions.
    provenance : dict
        Stored in ``meta["provenance"]`` (no time stamp: identical runs give identical files).
    name_prefix : str
        Prefix of the IAU-style source names.

    Returns
    -------
    table : astropy.table.Table
        Columns of :data:`napari_radiogal.io.catalogue.SURVEY_COLUMNS` with units, UCDs and
        descriptions.
    order : ndarray of int
        ``table[k]`` is ``sources[order[k]]``.
    """
    from napari_radiogal.survey.windows import RELEASE_EVERY, release_pages

    rows = []
    for k, (d, c, a) in enumerate(zip(sources, cut, absorbed, strict=True), start=1):
        rows.append(_source_row(d, c, a, plan, radio))
        if k % RELEASE_EVERY == 0:
            release_pages(radio)
    release_pages(radio)
    ra = np.array([r["ra"] for r in rows], dtype=np.float64)
    dec = np.array([r["dec"] for r in rows], dtype=np.float64)
    order = np.lexsort((np.arange(len(rows)), dec, ra)) if rows else np.zeros(0, np.int64)
    ordered = [dict(rows[i], source_id=k) for k, i in enumerate(order, start=1)]
    meta = {
        "provenance": provenance,
        "model": plan.model.name,
        "model_sha256": plan.model.sha256,
    }
    table = make_table(ordered, SURVEY_COLUMN_NAMES, name_prefix=name_prefix, meta=meta)
    return table, order


def source_regions(sources: Sequence[WindowDetection], table: Any, wcs: Any, scheme: Any) -> Any:
    """Sky regions of the catalogue: the outline of every mask part and an ``x`` per host.

    Parameters
    ----------
    sources : sequence of WindowDetection
        In catalogue order (``sources[k]`` is ``table[k]``).
    table : astropy.table.Table
        From :func:`catalogue_table`.
    wcs : astropy.wcs.WCS
        The mosaic's.
    scheme : ClassScheme

    Returns
    -------
    regions.Regions
        Polygons in the mosaic's frame (tagged ``id{source_id}`` and the class, text on the
        first part) and host points (``marker`` ``x``), for the DS9 and CRTF writers.
    """
    from regions import PointSkyRegion, PolygonSkyRegion, Regions

    from napari_radiogal.classes import DISPLAY_COLORS
    from napari_radiogal.inference.prediction import region_label
    from napari_radiogal.io.masks import mask_to_polygons

    out = []
    for det, row in zip(sources, table, strict=True):
        name = str(row["class"])
        color = DISPLAY_COLORS.get(name, "#00ff00ff")[:7]
        tag = [f"id{int(row['source_id'])}", name]
        r0, c0 = det.mask.row0, det.mask.col0
        for k, flat in enumerate(mask_to_polygons(det.mask.mask)):
            xy = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
            # polygons run along pixel edges; pixel centres are at integer positions
            sky = wcs.pixel_to_world(xy[:, 0] + c0 - 0.5, xy[:, 1] + r0 - 0.5)
            meta = {"tag": tag}
            if k == 0:
                meta["text"] = region_label(name, float(row["score"]))
            out.append(PolygonSkyRegion(vertices=sky, meta=meta, visual={"color": color}))
        if det.host is not None:
            sky = wcs.pixel_to_world(*det.host)
            meta = {"tag": tag, "text": f"host {int(row['source_id'])}"}
            out.append(
                PointSkyRegion(center=sky, meta=meta, visual={"color": color, "marker": "x"})
            )
    return Regions(out)


def windows_dataset(
    sources: Sequence[WindowDetection], table: Any, plan: Any, provenance: dict[str, Any]
) -> Any:
    """A COCO data set of the windows the catalogue's sources came from, for review.

    Parameters
    ----------
    sources : sequence of WindowDetection
        In catalogue order.
    table : astropy.table.Table
    plan : SurveyPlan
    provenance : dict
        The ``info`` block.

    Returns
    -------
    CocoDataset
        One image per window that gave a source (id = window number + 1, ``extra["window"]
        = [row0, col0, height, width]`` in mosaic pixels, ``radio_file`` the mosaic); its
        sources with masks clipped to the window, hosts in window pixels and
        ``extra["source_id"]`` the catalogue row.
    """
    from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
    from napari_radiogal.survey.work import window_file_name

    images: dict[int, ImageRecord] = {}
    instances = []
    for det, row in zip(sources, table, strict=True):
        number = int(row["window"])
        win = det.window
        if number not in images:
            images[number] = ImageRecord(
                id=number + 1,
                file_name=window_file_name(number),
                height=win.height,
                width=win.width,
                radio_file=str(plan.mosaic),
                ir_file=None if plan.infrared is None else str(plan.infrared),
                beam=tuple(plan.geometry.beam),
                extra={"window": [win.row0, win.col0, win.height, win.width]},
            )
        local = np.zeros((win.height, win.width), dtype=bool)
        r0, c0, r1, c1 = det.mask.box
        top, left = max(r0, win.row0), max(c0, win.col0)
        bottom, right = min(r1, win.row0 + win.height), min(c1, win.col0 + win.width)
        if top < bottom and left < right:
            local[top - win.row0 : bottom - win.row0, left - win.col0 : right - win.col0] = (
                det.mask.mask[top - r0 : bottom - r0, left - c0 : right - c0]
            )
        if not local.any():
            continue  # the whole of a joined giant lies outside its first window
        host = None
        if det.host is not None:
            host = (float(det.host[0]) - win.col0, float(det.host[1]) - win.row0)
        instances.append(
            Instance.from_mask(
                local,
                image_id=number + 1,
                category_id=int(det.category_id),
                score=float(det.score),
                host=host,
                host_ra=None if not np.isfinite(row["host_ra"]) else float(row["host_ra"]),
                host_dec=None if not np.isfinite(row["host_dec"]) else float(row["host_dec"]),
                extra={"source_id": int(row["source_id"])},
            )
        )
    ordered = [images[k] for k in sorted(images)]
    instances.sort(key=lambda a: (a.image_id, a.extra["source_id"]))
    for i, a in enumerate(instances, start=1):
        a.id = i
    return CocoDataset(
        images=ordered, instances=instances, scheme=plan.model.scheme, info=provenance
    )
