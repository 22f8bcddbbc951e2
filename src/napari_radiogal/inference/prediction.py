"""The result of inference on one image, and its conversions to COCO, a catalogue and regions.

* :meth:`Prediction.to_dataset`: a :class:`~napari_radiogal.annotations.CocoDataset`
  (written by :func:`napari_radiogal.io.coco.write_coco`, read by ``radiogal evaluate``).
* :meth:`Prediction.to_table`: an astropy :class:`~astropy.table.Table`, one row per
  instance, with units, UCDs and source names (:mod:`napari_radiogal.io.catalogue`).
* :meth:`Prediction.to_regions`: :class:`regions.Regions` for DS9 / CARTA: one polygon per
  connected part of each mask (sky coordinates when the image has a WCS) and a point per host.
* :meth:`Prediction.write`: the output set (COCO, ECSV, FITS table, VOTable, DS9, CRTF),
  written as one (:func:`napari_radiogal.io.export.write_outputs`).

:func:`catalogue` and :func:`predictions_to_dataset` merge many predictions (a survey run).
Pixel positions are ``(x, y)`` = ``(col, row)``, 0-based, at pixel centres.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import DISPLAY_COLORS, RADIOGALAXYNET, ClassScheme
from napari_radiogal.io.catalogue import (
    COLUMNS,
    DEFAULT_NAME_PREFIX,
    PREDICTION_COLUMNS,
    catalogue_table,
)
from napari_radiogal.io.masks import decode_rle_box
from napari_radiogal.io.paths import fits_stem
from napari_radiogal.stats import brightness_centroid

__all__ = [
    "Prediction",
    "CATALOGUE_COLUMNS",
    "catalogue",
    "region_label",
    "predictions_to_dataset",
    "predictions_regions",
    "instance_properties",
]

log = logging.getLogger(__name__)

#: Catalogue columns: name -> (unit or None, description) (the definitions, with UCDs, are
#: :data:`napari_radiogal.io.catalogue.COLUMNS`).
CATALOGUE_COLUMNS: dict[str, tuple[str | None, str]] = {
    name: (COLUMNS[name].unit, COLUMNS[name].description) for name in PREDICTION_COLUMNS
}

_NAN = float("nan")


@dataclass
class Prediction:
    """Instances found on one radio image, with everything needed to export them.

    Attributes
    ----------
    image : ImageRecord
        The image (id, size, files, WCS header text, beam, noise, class probabilities in
        ``extra``).
    instances : list of Instance
        Best score first; masks are whole per (class, cluster) (disjoint lobes = one instance);
        ``extra`` holds ``host_from``, ``found_by`` (``"class map"`` or ``"radio island"``),
        ``class_probability``, ``n_components``, ``centre``.
    scheme : ClassScheme
        The model's classes.
    class_probabilities : ndarray, shape (K,)
        Image-level class probabilities in ``scheme.names`` order (NaN when not run): the
        CAM classifier's sigmoid, or the image classifier's softmax when the model has one.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the radio image.
    beam : (bmaj, bmin, bpa) in degrees, or None
    pixel_scale_arcsec : float or None
    radio : ndarray, shape (H, W), or None
        The radio image in ``radio_unit`` (for fluxes).
    radio_unit : str
    provenance : dict
        Software version, model name and sha256, inference and pre-processing parameters,
        device, input files with sha256 (the COCO ``info`` block).
    timings : dict
        Milliseconds per pipeline stage (a batch's time shared by its images).
    maps : dict of ndarray
        Stride-4 grid products for display: ``cams`` (K, h, w) max-normalised,
        ``boundary`` (h, w), ``clusters`` (h, w).
    """

    image: ImageRecord
    instances: list[Instance] = field(default_factory=list)
    scheme: ClassScheme = RADIOGALAXYNET
    class_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wcs: Any = None
    beam: tuple[float, float, float] | None = None
    pixel_scale_arcsec: float | None = None
    radio: np.ndarray | None = None
    radio_unit: str = "Jy/beam"
    provenance: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.instances)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for a in self.instances:
            name = self.scheme.name_of_id(a.category_id)
            counts[name] = counts.get(name, 0) + 1
        what = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no instances"
        return (
            f"Prediction(image {self.image.id} '{self.image.file_name}' "
            f"{self.image.height}x{self.image.width}: {what})"
        )

    # ---- conversions ------------------------------------------------------------------
    def label_image(self) -> np.ndarray:
        """``(H, W)`` int32 labels: 0 = background, ``i + 1`` = ``instances[i]``."""
        labels = np.zeros((self.image.height, self.image.width), dtype=np.int32)
        for i, a in enumerate(self.instances, start=1):
            labels[a.mask & (labels == 0)] = i
        return labels

    def to_dataset(self) -> CocoDataset:
        """This prediction as a one-image :class:`CocoDataset` (``info`` = provenance)."""
        return predictions_to_dataset([self])

    def to_table(self, *, name_prefix: str = DEFAULT_NAME_PREFIX) -> Any:
        """The catalogue of this image: one row per instance (see :func:`catalogue`).

        Parameters
        ----------
        name_prefix : str
            Prefix of the source names (``RG Jhhmmss.s+ddmmss``).

        Returns
        -------
        astropy.table.Table
            ``meta["provenance"]`` holds :attr:`provenance`.
        """
        return catalogue([self], name_prefix=name_prefix)

    def to_regions(self) -> Any:
        """DS9-ready regions: a polygon per connected part of each mask and a point per host.

        Sky regions when the image has a WCS (in its frame: ICRS or FK5 as its ``RADESYS``
        says), pixel regions otherwise. Each mask polygon carries ``meta["text"] = "CLASS
        SCORE"`` (``"CLASS drawn"`` for an instance drawn by hand, which has no score) on its
        first part and the class colour; hosts are points with ``visual["marker"] = "x"``
        (DS9 ``point=x``).

        Returns
        -------
        regions.Regions
        """
        from regions import (
            PixCoord,
            PointPixelRegion,
            PointSkyRegion,
            PolygonPixelRegion,
            PolygonSkyRegion,
            Regions,
        )

        out = []
        for a in self.instances:
            name = self.scheme.name_of_id(a.category_id)
            color = DISPLAY_COLORS.get(name, "#00ff00ff")[:7]
            tag = [f"id{a.id}", name]
            for part_index, ring in enumerate(_outer_rings(a.mask)):
                meta = {"tag": tag}
                if part_index == 0:
                    meta["text"] = region_label(name, a.score)
                visual = {"color": color}
                xs, ys = ring[:, 1], ring[:, 0]
                if self.wcs is not None:
                    sky = self.wcs.pixel_to_world(xs, ys)
                    out.append(PolygonSkyRegion(vertices=sky, meta=meta, visual=visual))
                else:
                    out.append(
                        PolygonPixelRegion(vertices=PixCoord(xs, ys), meta=meta, visual=visual)
                    )
            if a.host is not None:
                meta = {"tag": tag, "text": f"host {a.id}"}
                visual = {"color": color, "marker": "x"}
                if self.wcs is not None:
                    sky = self.wcs.pixel_to_world(a.host[0], a.host[1])
                    out.append(PointSkyRegion(center=sky, meta=meta, visual=visual))
                else:
                    out.append(PointPixelRegion(center=PixCoord(*a.host), meta=meta, visual=visual))
        return Regions(out)

    def write(
        self,
        out_dir: str | os.PathLike,
        stem: str | None = None,
        *,
        formats: Sequence[str] | None = None,
        name_prefix: str = DEFAULT_NAME_PREFIX,
    ) -> dict[str, Path]:
        """Write the output set ``STEM.json`` (COCO), ``STEM.ecsv`` / ``.cat.fits`` / ``.vot``
        (catalogue) and ``STEM.reg`` / ``.crtf`` (regions), as one.

        The set is staged and published together (see
        :func:`napari_radiogal.io.export.write_outputs`): a crash never leaves a mix of two
        runs, and a set it replaces is kept as ``NAME.bak``.

        Parameters
        ----------
        out_dir : path-like
            Created if needed.
        stem : str, optional
            Default: the image file name without its suffixes.
        formats : sequence of str, optional
            Keys of :data:`~napari_radiogal.io.export.OUTPUT_FORMATS` (default: all).
        name_prefix : str
            Prefix of the catalogue's source names.

        Returns
        -------
        dict
            ``{format name: Path}``.
        """
        from napari_radiogal.io.export import DEFAULT_FORMATS, write_outputs

        out = Path(out_dir)
        stem = stem or output_stem(self.image.file_name)
        formats = tuple(DEFAULT_FORMATS if formats is None else formats)
        paths = write_outputs(
            out,
            stem,
            dataset=self.to_dataset(),
            catalogue=self.to_table(name_prefix=name_prefix),
            regions=self.to_regions(),
            formats=formats,
        )
        log.info(
            "wrote %d instances of %s to %s (%s)",
            len(self.instances),
            self.image.file_name,
            out,
            ", ".join(p.name for p in paths.values()),
        )
        return paths


def region_label(class_name: str, score: float | None) -> str:
    """The text of a mask's region: ``"CLASS 0.53"``, or ``"CLASS drawn"`` without a score.

    Examples
    --------
    >>> region_label("FR-II", 0.534), region_label("FR-II", None)
    ('FR-II 0.53', 'FR-II drawn')
    """
    if score is None or not math.isfinite(score):
        return f"{class_name} drawn"
    return f"{class_name} {score:.2f}"


# --------------------------------------------------------------------------------------
# Merging many predictions
# --------------------------------------------------------------------------------------
def predictions_to_dataset(
    predictions: Iterable[Prediction], *, info: dict[str, Any] | None = None
) -> CocoDataset:
    """One :class:`CocoDataset` with the images and instances of many predictions.

    Annotation ids are renumbered 1..N across images (the instances are copied, the
    predictions are not changed). ``info`` defaults to the first prediction's provenance with
    every image's input files listed.
    """
    predictions = list(predictions)
    scheme = predictions[0].scheme if predictions else RADIOGALAXYNET
    images, instances = [], []
    next_id = 1
    input_files: list[dict[str, Any]] = []
    for p in predictions:
        if p.scheme != scheme:
            raise ValueError(
                f"predictions use different class schemes ({list(scheme.names)} vs "
                f"{list(p.scheme.names)}); merge predictions of one model only."
            )
        images.append(p.image)
        for a in p.instances:
            instances.append(replace(a, id=next_id, extra=dict(a.extra)))
            next_id += 1
        input_files.extend(_input_files(p))
    if info is None:
        info = dict(predictions[0].provenance) if predictions else {}
        info["input_files"] = input_files
    return CocoDataset(images=images, instances=instances, scheme=scheme, info=info)


def predictions_regions(predictions: Iterable[Prediction]) -> Any:
    """The sky regions of many predictions in one :class:`regions.Regions`.

    Images without a WCS are left out (their pixel regions would mean nothing beside
    other images'); each image's regions also carry the tag ``image{ID}``.
    """
    from regions import Regions

    out, skipped = [], 0
    for p in predictions:
        if p.wcs is None:
            skipped += 1
            continue
        for region in p.to_regions():
            region.meta["tag"] = [*region.meta.get("tag", []), f"image{p.image.id}"]
            out.append(region)
    if skipped:
        log.info("%d images without a WCS have no regions in the combined region files", skipped)
    return Regions(out)


def _input_files(p: Prediction) -> list[dict[str, Any]]:
    files = p.provenance.get("input_files")
    if files is not None:
        return list(files)
    return []


def catalogue(
    predictions: Iterable[Prediction],
    *,
    name_prefix: str = DEFAULT_NAME_PREFIX,
    columns: Sequence[str] = PREDICTION_COLUMNS,
) -> Any:
    """The instance catalogue of many predictions (one row per instance).

    Parameters
    ----------
    predictions : iterable of Prediction
    name_prefix : str
        Prefix of the IAU-style source names (``RG Jhhmmss.s+ddmmss``).
    columns : sequence of str
        Keys of :data:`napari_radiogal.io.catalogue.COLUMNS` (default: the prediction's).

    Returns
    -------
    astropy.table.Table
        The columns with units, descriptions and UCDs; ``meta["provenance"]`` is the first
        prediction's provenance (without per-image inputs).
    """
    predictions = list(predictions)
    rows = [_row(p, a) for p in predictions for a in p.instances]
    meta = {}
    if predictions:
        provenance = {k: v for k, v in predictions[0].provenance.items() if k != "input_files"}
        meta["provenance"] = provenance
    return catalogue_table(rows, columns, name_prefix=name_prefix, meta=meta)


def _row(p: Prediction, a: Instance) -> dict[str, Any]:
    # measured on the mask's box only: on a 12000² mosaic the whole-image mask of each
    # source would cost seconds to decode and to label
    sub, r0, c0 = decode_rle_box(a.rle)
    radio = None
    if p.radio is not None:
        radio = np.asarray(p.radio)[r0 : r0 + sub.shape[0], c0 : c0 + sub.shape[1]]
    props = instance_properties(
        sub, radio, beam=p.beam, pixel_scale_arcsec=p.pixel_scale_arcsec, unit=p.radio_unit
    )
    x, y = props["x"] + c0, props["y"] + r0
    ra = dec = _NAN
    if p.wcs is not None and np.isfinite(x):
        ra, dec = (float(v) for v in p.wcs.pixel_to_world_values(x, y))
        ra %= 360.0
    bx, by, bw, bh = a.bbox
    host = a.host if a.host is not None else (_NAN, _NAN)
    return {
        "image_id": int(p.image.id),
        "file_name": str(p.image.file_name),
        "id": int(a.id or 0),
        "class": p.scheme.name_of_id(a.category_id),
        "category_id": int(a.category_id),
        "score": _float(a.score),
        "class_probability": _float(a.extra.get("class_probability")),
        "x": x,
        "y": y,
        "ra": ra,
        "dec": dec,
        "host_x": float(host[0]),
        "host_y": float(host[1]),
        "host_ra": _float(a.host_ra),
        "host_dec": _float(a.host_dec),
        "host_from": str(a.extra.get("host_from") or "none"),
        "found_by": str(a.extra.get("found_by") or "none"),
        "flux": props["flux"],
        "peak_flux": props["peak_flux"],
        "las": props["las"],
        "las_pix": props["las_pix"],
        "area": int(props["area"]),
        "bbox_x": int(bx),
        "bbox_y": int(by),
        "bbox_w": int(bw),
        "bbox_h": int(bh),
        "n_components": int(props["n_components"]),
        "reviewed": bool(a.reviewed),
        "drawn": a.score is None,
    }


def _float(value: Any) -> float:
    return _NAN if value is None else float(value)


def instance_properties(
    mask: np.ndarray,
    radio: np.ndarray | None,
    *,
    beam: Sequence[float] | None = None,
    pixel_scale_arcsec: float | None = None,
    unit: str = "Jy/beam",
) -> dict[str, float]:
    """Photometry and size of one mask on a radio image.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    radio : ndarray, shape (H, W), or None
        Surface brightness in ``unit``; NaN pixels are skipped.
    beam : (bmaj, bmin, bpa) in degrees, optional
    pixel_scale_arcsec : float, optional
    unit : str
        Fluxes are computed only for ``"Jy/beam"`` (NaN otherwise).

    Returns
    -------
    dict
        ``flux`` (Jy): sum of the mask's Jy/beam divided by the beam area in pixels
        ``pi * bmaj * bmin / (4 ln 2) / pixel**2`` (NaN without beam or pixel scale);
        ``peak_flux`` (Jy/beam); ``x``, ``y``: centroid weighted by the positive brightness
        (geometric centroid without radio); ``las_pix``: the longest distance between two
        mask pixel centres (from the convex hull of the mask's boundary pixels); ``las``
        (arcsec); ``area`` (pixels); ``n_components`` (8-connected parts).

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[2, 2:7] = True
    >>> props = instance_properties(m, np.ones((10, 10)), beam=(4/3600, 2/3600, 0),
    ...                             pixel_scale_arcsec=1.0)
    >>> round(props["flux"], 4), props["las_pix"], props["n_components"]
    (0.5516, 4.0, 1)
    """
    mask = np.asarray(mask, dtype=bool)
    area = int(mask.sum())
    out = {
        "flux": _NAN,
        "peak_flux": _NAN,
        "x": _NAN,
        "y": _NAN,
        "las": _NAN,
        "las_pix": _NAN,
        "area": area,
        "n_components": 0,
    }
    if area == 0:
        return out
    _, n_parts = ndimage.label(mask, structure=np.ones((3, 3), bool))
    out["n_components"] = int(n_parts)
    rows, cols = np.nonzero(mask)
    if radio is not None:
        values = np.asarray(radio, dtype=np.float64)[rows, cols]
        finite = np.isfinite(values)
        if finite.any() and unit == "Jy/beam":
            out["peak_flux"] = float(values[finite].max())
            if beam is not None and pixel_scale_arcsec:
                bmaj, bmin = float(beam[0]) * 3600.0, float(beam[1]) * 3600.0
                beam_pixels = math.pi * bmaj * bmin / (4.0 * math.log(2.0)) / pixel_scale_arcsec**2
                if beam_pixels > 0:
                    out["flux"] = float(values[finite].sum() / beam_pixels)
    out["x"], out["y"] = brightness_centroid(radio, mask)
    las_pix = _largest_extent(mask)
    out["las_pix"] = las_pix
    if pixel_scale_arcsec:
        out["las"] = las_pix * float(pixel_scale_arcsec)
    return out


def _largest_extent(mask: np.ndarray) -> float:
    """Longest distance between two mask pixel centres (pixels)."""
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import pdist

    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    points = np.argwhere(edge).astype(np.float64)
    if len(points) < 2:
        return 0.0
    if len(points) > 3:
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # collinear points: all of them are extreme candidates
            pass
    return float(pdist(points).max())


def _outer_rings(mask: np.ndarray) -> list[np.ndarray]:
    """One outline ``(n, 2)`` of (row, col) vertices per 8-connected part of a mask.

    Outlines trace the pixel edges (half a pixel outside the mask pixel centres, via
    marching squares at 0.5 on the hole-filled part), simplified to within 0.5 pixel.
    """
    from skimage.measure import approximate_polygon, find_contours

    parts, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    rings = []
    for i, slc in enumerate(ndimage.find_objects(parts), start=1):
        if slc is None:
            continue
        part = ndimage.binary_fill_holes(parts[slc] == i)
        padded = np.pad(part, 1).astype(np.float32)
        contours = find_contours(padded, 0.5)
        if not contours:
            continue
        ring = max(contours, key=len)
        ring = approximate_polygon(ring, tolerance=0.5)
        if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]  # regions closes polygons itself
        if len(ring) < 3:
            continue
        ring = ring - 1.0 + np.array([slc[0].start, slc[1].start])
        rings.append(ring)
    return rings


def output_stem(file_name: str | os.PathLike) -> str:
    """The stem of the output files of an image: its FITS stem, ``"prediction"`` if empty.

    Examples
    --------
    >>> output_stem("radio/J0101-30.fits.gz"), output_stem("cutout.png"), output_stem("")
    ('J0101-30', 'cutout', 'prediction')
    """
    return fits_stem(file_name) or "prediction"
