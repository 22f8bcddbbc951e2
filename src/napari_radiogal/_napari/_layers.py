"""Annotations <-> napari layer data, without a viewer.

One annotated image is shown as

* a **Labels** layer: ``int32 (H, W)``, label ``k`` = instance ``k`` (all components of a
  multi-component source share the label, so disjoint FR-II lobes stay one galaxy); its
  ``features`` table has one row per instance (``index`` = label) with the columns of
  :data:`INSTANCE_COLUMNS`;
* a **Points** layer: one host per instance at ``(row, col)``, ``features`` with the same
  columns plus ``orphan`` (a host whose instance no longer exists);
* optionally a **Shapes** layer of radio contours at ``n x sigma`` (paths).

All of them carry the north-up transform of :func:`~._display.layer_transform` and an
:class:`ImageContext` under ``metadata["radiogal"]``. The functions here build napari
*layer-data tuples* ``(data, kwargs, layer_type)`` and read plain arrays and data frames
back, so they are tested without Qt; the only napari import is for the label colormap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import DISPLAY_COLORS, RADIOGALAXYNET, ClassScheme
from napari_radiogal.errors import CocoFormatError, CocoFormatWarning

from ._display import layer_transform

log = logging.getLogger(__name__)

__all__ = [
    "INSTANCE_COLUMNS",
    "HOST_COLUMNS",
    "CONTOUR_RGB",
    "ImageContext",
    "class_color",
    "data_fingerprint",
    "pixel_to_sky",
    "measure_instances",
    "instance_features",
    "host_features",
    "dataset_to_layer_data",
    "layers_to_dataset",
    "contour_layer_data",
    "META_KEY",
    "KIND_KEY",
]

#: Columns of the instance features table (Labels) in display order.
INSTANCE_COLUMNS = (
    "instance_id",
    "class",
    "score",
    "host_ra",
    "host_dec",
    "flux_jy",
    "size_arcsec",
    "reviewed",
)
#: Columns of the host features table (Points).
HOST_COLUMNS = (*INSTANCE_COLUMNS, "orphan")

#: ``layer.metadata`` key holding the :class:`ImageContext`.
META_KEY = "radiogal"
#: ``layer.metadata`` key saying what a layer is: "radio", "infrared", "instances",
#: "hosts" or "contours".
KIND_KEY = "radiogal_kind"

#: Colour (RGB, 0-1) of the radio contours: cyan, away from every class colour.
CONTOUR_RGB = (0.35, 0.95, 1.0)

#: Colour of hosts without an instance and of labels painted with an unknown id.
ORPHAN_COLOR = "#9e9e9eff"
UNKNOWN_LABEL_COLOR = "#ffffffff"


@dataclass
class ImageContext:
    """What the layers of one annotated image need to know about that image.

    Parameters
    ----------
    record : ImageRecord
        The COCO image entry (id, file name, size, WCS text, beam, noise).
    scheme : ClassScheme
        Classes of the model or file the annotations came from.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the radio grid (host RA/Dec); ``None`` in pixel-only mode.
    pixel_scale_arcsec : float or None
        Radio pixel size, for angular sizes and the layer transform.
    radio : ndarray or None
        ``(H, W)`` radio image in Jy/beam, for integrated fluxes.
    radio_path : Path or None
        The radio FITS file (autosave sidecar goes next to it).
    info : dict
        Provenance copied into every export (model, hash, thresholds, version, checksums).
    instance_extra : dict
        Per-instance extra COCO keys (``{instance_id: {...}}``) kept through a round trip.
    session : str
        Identifier shared by the Labels, Points and Shapes layers of this annotation.
    radio_key : str, optional
        Which radio layer the annotation was made on (its file path).
    layer_name : str, optional
        That layer's name (the annotation layers are named after it).
    """

    record: ImageRecord
    scheme: ClassScheme = RADIOGALAXYNET
    wcs: Any = None
    pixel_scale_arcsec: float | None = None
    radio: np.ndarray | None = None
    radio_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    instance_extra: dict[int, dict[str, Any]] = field(default_factory=dict)
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    radio_key: str | None = None
    layer_name: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the radio grid."""
        return (int(self.record.height), int(self.record.width))

    @property
    def beam(self) -> tuple[float, float, float] | None:
        """``(bmaj, bmin, bpa)`` in degrees, or ``None``."""
        return None if self.record.beam is None else tuple(self.record.beam)

    def transform(self) -> dict[str, Any]:
        """The north-up layer transform of this image."""
        return layer_transform(self.shape, self.pixel_scale_arcsec)

    def __deepcopy__(self, memo: dict) -> ImageContext:
        # napari deep-copies layer state (e.g. layer duplication): share the big radio
        # array and the WCS instead of copying them.
        return dataclasses.replace(
            self,
            record=dataclasses.replace(self.record, extra=dict(self.record.extra)),
            info=dict(self.info),
            instance_extra={k: dict(v) for k, v in self.instance_extra.items()},
        )


def class_color(name: str) -> str:
    """RGBA hex colour of a class name (grey for classes without a display colour)."""
    return DISPLAY_COLORS.get(name, ORPHAN_COLOR)


def data_fingerprint(data: np.ndarray) -> str:
    """A cheap content hash of an array (shape, dtype and bytes), to detect changed inputs."""
    arr = np.ascontiguousarray(np.asarray(data))
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def pixel_to_sky(wcs: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec in degrees of 0-based pixel positions ``x`` = col, ``y`` = row.

    Returns NaN arrays when ``wcs`` is ``None``.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if wcs is None or x.size == 0:
        return np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    ra, dec = wcs.pixel_to_world_values(x, y)
    return np.asarray(ra, dtype=float) % 360.0, np.asarray(dec, dtype=float)


def measure_instances(
    labels: np.ndarray,
    ids: Iterable[int],
    *,
    radio: np.ndarray | None,
    beam: tuple[float, float, float] | None,
    pixel_scale_arcsec: float | None,
) -> dict[int, dict[str, float]]:
    """Integrated flux, angular size and area of labelled instances.

    The numbers are those of the catalogue that ``radiogal predict`` and Export write
    (:func:`napari_radiogal.inference.prediction.instance_properties`), so the table and the
    files agree.

    Parameters
    ----------
    labels : ndarray
        ``int (H, W)`` label image (0 = background).
    ids : iterable of int
        Labels to measure (absent labels get zero area and NaN flux/size).
    radio : ndarray or None
        ``(H, W)`` radio image in Jy/beam (NaN pixels are skipped).
    beam : tuple or None
        ``(bmaj, bmin, bpa)`` in degrees.
    pixel_scale_arcsec : float or None
        Pixel size in arcsec.

    Returns
    -------
    dict
        ``{id: {"flux_jy", "size_arcsec", "area_px"}}``: flux in Jy (sum of Jy/beam over the
        mask / beam area in pixels; NaN without a beam), size = largest angular size in
        arcsec (longest distance between two mask pixel centres; NaN without a pixel scale).
    """
    from scipy import ndimage

    from napari_radiogal.inference.prediction import instance_properties

    ids = [int(i) for i in ids]
    labels = np.asarray(labels)
    out = {i: {"flux_jy": np.nan, "size_arcsec": np.nan, "area_px": 0.0} for i in ids}
    wanted = set(ids)
    # one bounding box per label, so each instance is measured on its own small crop
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or i not in wanted:
            continue
        crop = labels[box] == i
        props = instance_properties(
            crop,
            None if radio is None else np.asarray(radio)[box],
            beam=beam,
            pixel_scale_arcsec=pixel_scale_arcsec,
        )
        out[i] = {
            "flux_jy": float(props["flux"]),
            "size_arcsec": float(props["las"]),
            "area_px": float(props["area"]),
        }
    return out


def instance_features(rows: list[dict[str, Any]]):
    """The Labels ``features`` DataFrame (``index`` = label) from per-instance dicts."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["index", *INSTANCE_COLUMNS])
    return _typed(frame, ["index"])


def host_features(rows: list[dict[str, Any]]):
    """The Points ``features`` DataFrame from per-host dicts."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(HOST_COLUMNS))
    return _typed(frame, [])


def _typed(frame, extra_int: list[str]):
    for col in ("instance_id", *extra_int):
        frame[col] = frame[col].astype(np.int64)
    for col in ("score", "host_ra", "host_dec", "flux_jy", "size_arcsec"):
        frame[col] = frame[col].astype(np.float64)
    frame["class"] = frame["class"].astype(object)
    frame["reviewed"] = frame["reviewed"].astype(bool)
    if "orphan" in frame:
        frame["orphan"] = frame["orphan"].astype(bool)
    return frame


def label_colormap(features, scheme: ClassScheme) -> dict[Any, str]:
    """``{label: colour}`` by class, transparent background, white for unknown labels."""
    colors: dict[Any, str] = {None: UNKNOWN_LABEL_COLOR, 0: "transparent"}
    for label, name in zip(features["index"], features["class"], strict=True):
        colors[int(label)] = class_color(str(name))
    return colors


def host_color_cycle(scheme: ClassScheme) -> dict[str, str]:
    """``{class name: colour}`` for the Points ``face_color`` mapping, orphans grey."""
    cycle = {name: class_color(name) for name in scheme.names}
    cycle[""] = ORPHAN_COLOR
    return cycle


def _assign_labels(instances: list[Instance]) -> list[int]:
    """Label value of each instance: its COCO id when ids are unique and positive, else 1..N."""
    ids = [a.id for a in instances]
    if all(isinstance(i, int | np.integer) and i > 0 for i in ids) and len(set(ids)) == len(ids):
        return [int(i) for i in ids]
    return list(range(1, len(instances) + 1))


def dataset_to_layer_data(
    dataset: CocoDataset,
    ctx: ImageContext,
    *,
    name: str = "radio",
    image_id: int | None = None,
) -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """Labels and Points layer-data tuples of one image's instances.

    Parameters
    ----------
    dataset : CocoDataset
        Predictions or annotations (one image is used).
    ctx : ImageContext
        The image they belong to (its record's size must match the masks).
    name : str
        Base name of the layers (``"<name> instances"``, ``"<name> hosts"``).
    image_id : int, optional
        Which image of ``dataset``; defaults to ``ctx.record.id``, or the only image.

    Returns
    -------
    list of tuple
        ``[(labels int32 (H, W), kwargs, "labels"), (points (N, 2) (row, col), kwargs, "points")]``.

    Warns
    -----
    CocoFormatWarning
        When masks overlap (overlapping pixels go to the higher-scoring instance) or a
        mask's size differs from the image (those instances are skipped).
    """
    if image_id is None:
        ids = {im.id for im in dataset.images}
        image_id = ctx.record.id if ctx.record.id in ids or not ids else next(iter(ids))
        if len(ids) > 1 and ctx.record.id not in ids:
            raise CocoFormatError(
                f"the file has {len(ids)} images and none has id {ctx.record.id}; "
                "choose one with image_id=",
                field="images",
            )
    instances = dataset.instances_of(image_id)
    h, w = ctx.shape
    good = []
    for a in instances:
        size = tuple(int(s) for s in a.rle["size"])
        if size != (h, w):
            warnings.warn(
                f"skipped instance {a.id}: its mask is {size} but the image is {(h, w)}",
                CocoFormatWarning,
                stacklevel=2,
            )
            continue
        good.append(a)
    labels_of = _assign_labels(good)
    labels = np.zeros((h, w), dtype=np.int32)
    # paint least confident first so that on overlap the more confident instance wins
    order = sorted(range(len(good)), key=lambda k: _score_key(good[k].score))
    overlap = 0
    for k in order:
        mask = good[k].mask
        overlap += int(np.count_nonzero(labels[mask]))
        labels[mask] = labels_of[k]
    if overlap:
        warnings.warn(
            f"{overlap} pixels belonged to two instances; each went to the more confident one",
            CocoFormatWarning,
            stacklevel=2,
        )
    ctx.instance_extra = {
        lab: dict(a.extra) for lab, a in zip(labels_of, good, strict=True) if a.extra
    }
    measures = measure_instances(
        labels,
        labels_of,
        radio=ctx.radio,
        beam=ctx.beam,
        pixel_scale_arcsec=ctx.pixel_scale_arcsec,
    )
    rows, host_rows, host_pos = [], [], []
    for lab, a in zip(labels_of, good, strict=True):
        cls_name = dataset.scheme.name_of_id(a.category_id)
        ra = dec = np.nan
        if a.host is not None:
            ra, dec = (float(v[0]) for v in pixel_to_sky(ctx.wcs, [a.host[0]], [a.host[1]]))
            if not np.isfinite(ra) and a.host_ra is not None:
                ra, dec = float(a.host_ra), float(a.host_dec)
        row = {
            "index": lab,
            "instance_id": lab,
            "class": cls_name,
            "score": np.nan if a.score is None else float(a.score),
            "host_ra": ra,
            "host_dec": dec,
            "flux_jy": measures[lab]["flux_jy"],
            "size_arcsec": measures[lab]["size_arcsec"],
            "reviewed": bool(a.reviewed),
        }
        rows.append(row)
        if a.host is not None:
            host_rows.append({**{k: row[k] for k in INSTANCE_COLUMNS}, "orphan": False})
            host_pos.append((float(a.host[1]), float(a.host[0])))
    for x, y in ctx.record.extra.get("radiogal_orphan_hosts", []):
        ra, dec = (float(v[0]) for v in pixel_to_sky(ctx.wcs, [x], [y]))
        host_rows.append(_orphan_row(ra, dec))
        host_pos.append((float(y), float(x)))
    if dataset.scheme != ctx.scheme:
        ctx.scheme = dataset.scheme
    if dataset.info and not ctx.info:
        ctx.info = dict(dataset.info)
    features = instance_features(rows)
    points = np.asarray(host_pos, dtype=float).reshape(-1, 2)
    return [
        (labels, labels_kwargs(features, ctx, name), "labels"),
        (points, points_kwargs(host_features(host_rows), ctx, name), "points"),
    ]


def _orphan_row(ra: float, dec: float) -> dict[str, Any]:
    return {
        "instance_id": 0,
        "class": "",
        "score": np.nan,
        "host_ra": ra,
        "host_dec": dec,
        "flux_jy": np.nan,
        "size_arcsec": np.nan,
        "reviewed": False,
        "orphan": True,
    }


def _score_key(score: float | None) -> float:
    # human-made instances (no score) are the most trusted
    return np.inf if score is None or not np.isfinite(score) else float(score)


def labels_kwargs(features, ctx: ImageContext, name: str) -> dict[str, Any]:
    """Keyword arguments of the instance Labels layer."""
    return {
        "name": f"{name} instances",
        "features": features,
        "colormap": label_colormap(features, ctx.scheme),
        "opacity": 0.45,
        "metadata": {META_KEY: ctx, KIND_KEY: "instances"},
        **ctx.transform(),
    }


def points_kwargs(features, ctx: ImageContext, name: str) -> dict[str, Any]:
    """Keyword arguments of the host Points layer (face colour by class, orphans grey)."""
    step = ctx.pixel_scale_arcsec or 1.0
    return {
        "name": f"{name} hosts",
        "features": features,
        "face_color": "class",
        "face_color_cycle": host_color_cycle(ctx.scheme),
        "border_color": "white",
        "border_width": 0.15,
        "symbol": "star",
        # size is in world units (arcsec): ~4 pixels on screen at zoom 1
        "size": 4.0 * step,
        "feature_defaults": host_features([_orphan_row(np.nan, np.nan)]),
        "metadata": {META_KEY: ctx, KIND_KEY: "hosts"},
        **ctx.transform(),
    }


def layers_to_dataset(
    labels: np.ndarray,
    features,
    points: np.ndarray,
    point_features,
    ctx: ImageContext,
) -> CocoDataset:
    """One-image :class:`CocoDataset` from instance Labels and host Points data.

    Parameters
    ----------
    labels : ndarray
        ``int (H, W)`` label image.
    features : DataFrame
        The Labels features table (``index``, class, score, reviewed, ...). Labels painted
        in ``labels`` without a row get the scheme's first class and no score.
    points : ndarray
        ``(N, 2)`` host positions ``(row, col)``.
    point_features : DataFrame
        The Points features (``instance_id`` links a host to its instance, ``orphan``).
    ctx : ImageContext
        The image: record, scheme, WCS, provenance.

    Returns
    -------
    CocoDataset
        Instances with ``id`` = label, ``host`` = ``(x, y)`` = ``(col, row)``, RA/Dec from the
        WCS, ``reviewed`` and ``score``; orphan hosts are kept in the image record's
        ``extra["radiogal_orphan_hosts"]`` as ``[[x, y], ...]`` so nothing is lost.
    """
    labels = np.asarray(labels)
    present = np.unique(labels)
    present = [int(v) for v in present if v != 0]
    by_label = {int(i): k for k, i in enumerate(features["index"])} if len(features) else {}
    hosts: dict[int, tuple[float, float]] = {}
    orphans: list[list[float]] = []
    for (row, col), iid, orphan in zip(
        np.asarray(points, dtype=float).reshape(-1, 2),
        np.asarray(point_features["instance_id"]) if len(point_features) else [],
        np.asarray(point_features["orphan"]) if len(point_features) else [],
        strict=True,
    ):
        iid = int(iid)
        if orphan or iid not in present or iid in hosts:
            orphans.append([float(col), float(row)])
        else:
            hosts[iid] = (float(col), float(row))
    default_class = ctx.scheme.names[0]
    instances = []
    for lab in present:
        k = by_label.get(lab)
        cls_name = str(features["class"].iloc[k]) if k is not None else default_class
        score = float(features["score"].iloc[k]) if k is not None else np.nan
        reviewed = bool(features["reviewed"].iloc[k]) if k is not None else True
        host = hosts.get(lab)
        ra = dec = None
        if host is not None:
            r, d = pixel_to_sky(ctx.wcs, [host[0]], [host[1]])
            if np.isfinite(r[0]):
                ra, dec = float(r[0]), float(d[0])
        instances.append(
            Instance.from_mask(
                labels == lab,
                image_id=ctx.record.id,
                category_id=ctx.scheme.id_of_name(cls_name),
                host=host,
                score=None if not np.isfinite(score) else score,
                host_ra=ra,
                host_dec=dec,
                reviewed=reviewed,
                id=lab,
                extra=dict(ctx.instance_extra.get(lab, {})),
            )
        )
    record = dataclasses.replace(ctx.record, extra=dict(ctx.record.extra))
    record.extra.pop("radiogal_orphan_hosts", None)
    if orphans:
        record.extra["radiogal_orphan_hosts"] = orphans
    return CocoDataset(images=[record], instances=instances, scheme=ctx.scheme, info=dict(ctx.info))


def _polygon_area(vertices: np.ndarray) -> float:
    """Area enclosed by a closed ``(M, 2)`` polygon (shoelace formula), in pixels."""
    y, x = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def contour_layer_data(
    radio: np.ndarray,
    noise_sigma: float,
    ctx_transform: Mapping[str, Any],
    *,
    name: str = "radio",
    start: float = 3.0,
    factor: float = 2.0,
    min_vertices: int = 6,
    min_area_px: float = 10.0,
    metadata: dict[str, Any] | None = None,
) -> tuple[list[np.ndarray], dict[str, Any], str]:
    """Radio contours at ``start * factor**k`` sigma as a Shapes ``path`` layer-data tuple.

    Paths (sub-pixel, from :func:`skimage.measure.find_contours`) look like the contours of
    DS9 or CARTA; faint levels are drawn thin and transparent, bright ones opaque.

    Parameters
    ----------
    radio : ndarray
        ``(H, W)`` radio image in Jy/beam (NaN blank).
    noise_sigma : float
        Image RMS in Jy/beam.
    ctx_transform : mapping
        The layer transform of the image (:func:`~._display.layer_transform`).
    min_vertices : int
        Contours with fewer vertices are dropped.
    min_area_px : float
        Closed contours enclosing fewer pixels are dropped: noise peaks smaller than the
        beam are not sources (pass the beam area in pixels).

    Returns
    -------
    tuple
        ``(list of (M, 2) (row, col) arrays, kwargs, "shapes")``.
    """
    from skimage.measure import find_contours

    from ._display import contour_levels

    data = np.asarray(radio, dtype=np.float64)
    finite = np.isfinite(data)
    peak = float(np.max(data[finite])) if finite.any() else np.nan
    levels = contour_levels(peak, noise_sigma, start=start, factor=factor)
    # NaN blanks would break the contours: fill them below the lowest level
    filled = np.where(finite, data, -abs(levels[0]) if levels.size else 0.0)
    paths, level_of = [], []
    for k, level in enumerate(levels):
        for c in find_contours(filled, level):
            closed = np.allclose(c[0], c[-1])
            if len(c) >= min_vertices and (not closed or _polygon_area(c) >= min_area_px):
                paths.append(c)
                level_of.append(k)
    n = max(len(levels), 1)
    alphas = np.linspace(0.55, 1.0, n)
    colors = np.array([[*CONTOUR_RGB, alphas[k]] for k in level_of]).reshape(-1, 4)
    sigmas = [float(start * factor**k) for k in level_of]
    step = abs(float(ctx_transform["scale"][1]))
    kwargs = {
        "name": f"{name} contours",
        "shape_type": "path",
        "edge_color": colors if len(paths) else "cyan",
        "edge_width": 0.6 * step,
        "face_color": "transparent",
        "features": {"level_sigma": np.asarray(sigmas, dtype=float)},
        "metadata": {
            **(metadata or {}),
            KIND_KEY: "contours",
            "levels_jy_beam": levels.tolist(),
            "noise_sigma": float(noise_sigma),
        },
        "blending": "translucent",
        **dict(ctx_transform),
    }
    return paths, kwargs, "shapes"
