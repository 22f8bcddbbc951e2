"""COCO JSON in and out: RLE and polygon masks, one host keypoint, our extra fields, provenance.

The same files carry ground truth from the simulator, predictions from the model, corrections
made in napari, and what training consumes, so this module is strict on reading (every
problem is a :class:`~napari_radiogal.errors.CocoFormatError` naming the file and the field)
and careful on writing (atomic, with a ``.bak`` of the file it replaces).

Pixel convention (stated once for the whole package)
----------------------------------------------------
Arrays are ``(row, col)`` = ``(y, x)``, 0-based. A *point* (a host keypoint, ``Instance.host``)
is ``x = col``, ``y = row`` measured at **pixel centres**: the centre of the top-left pixel is
``(0.0, 0.0)`` and pixel ``(row=r, col=c)`` is at ``(x=c, y=r)``.
COCO *boxes* ``[x, y, w, h]`` and *polygon* vertices are measured from **pixel edges**, as
pycocotools computes and rasterises them: pixel ``(r, c)`` covers ``c <= x < c + 1`` and
``r <= y < r + 1``, so a one-pixel mask at ``(r, c)`` has ``bbox = [c, r, 1, 1]``.

Masks
-----
Masks are written as **compressed COCO RLE** (``{"size": [H, W], "counts": "..."}``); an
instance is one mask however many parts it has (the two lobes of an FR-II are one instance),
and holes are kept. On reading, every segmentation becomes compressed RLE without decoding
any mask (reading a 100k-annotation file is fast and light; :attr:`Instance.mask` decodes on
demand):

* compressed RLE is kept as is (its run lengths are checked against the image size in one
  vectorised pass);
* uncompressed RLE (``counts`` a list) is compressed;
* polygons (a list of ``[x0, y0, x1, y1, ...]`` parts) are rasterised with pycocotools
  ``frPyObjects`` and the parts are merged (union), exactly as pycocotools' own ``annToRLE``
  does, so every COCO tool sees the same pixels. At pixel level, pycocotools walks each edge
  on a grid five times finer than the pixels and fills every pixel column between
  successive crossings (even-odd within one part, union across parts). For edges that run
  along pixel edges (integer, axis-aligned) this is exact: pixel ``(r, c)`` is in when the
  square ``[c, c+1] x [r, r+1]`` is inside the polygon, so a polygon traced along pixel
  edges (what :func:`mask_to_polygons` writes) gives back its mask pixel for pixel. For
  slanted edges it approximates "the pixel centre ``(c + 0.5, r + 0.5)`` is inside": for
  random triangles about 4 % of the pixels (along the edges) come out the other way. A free-hand
  polygon is therefore rasterised once, on reading, and from then on the RLE is the truth.

Writing polygons (``segmentation="polygon"``) is optional and **exact**: each mask is traced
along pixel edges (one polygon per 8-connected part, holes joined to their outer ring by a
doubled zero-area bridge), rasterised back with ``frPyObjects`` and compared with the
original RLE; a mask that would not survive pixel-identically is written as RLE instead,
with a :class:`~napari_radiogal.errors.CocoFormatWarning`.

Paths and the data set root
---------------------------
``file_name``, ``radio_file`` and ``ir_file`` in ``images[]`` are relative to the **data set
root**: the parent of the folder holding the JSON when that folder is called
``annotations`` (``root/annotations/test.json`` -> ``root``; the simulator's and
RadioGalaxyNET's layout), otherwise the JSON's own folder. Absolute paths are used as they
are. :func:`resolve_image_path` applies this rule (see there for the one fallback).

Provenance
----------
``info`` holds the software version, the model name and sha256, the parameters, and the
sha256 of every input file; build it with :func:`provenance_info` (and :func:`file_sha256`).

Where the code is
-----------------
This module reads, validates and writes COCO files. The masks (RLE, polygons) are in
:mod:`napari_radiogal.io.masks`, the paths in :mod:`napari_radiogal.io.paths`, the
provenance in :mod:`napari_radiogal.io.provenance`; their public functions are importable
from here too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import CocoFormatError, CocoFormatWarning
from napari_radiogal.io.atomic import atomic_copy, atomic_write_text
from napari_radiogal.io.masks import (
    check_rle_counts,
    compressed_rle,
    exact_polygons,
    list_counts_to_rle,
    mask_to_polygons,
    polygons_to_rle,
)
from napari_radiogal.io.paths import dataset_root, resolve_image_path
from napari_radiogal.io.provenance import file_sha256, jsonable, provenance_info

__all__ = [
    "write_coco",
    "read_coco",
    "read_coco_json",
    "dataset_to_dict",
    "dataset_from_dict",
    "validate_dataset",
    "dataset_root",
    "resolve_image_path",
    "file_sha256",
    "provenance_info",
    "mask_to_polygons",
    "polygons_to_rle",
]

log = logging.getLogger(__name__)

#: Keys of ``images[]`` entries that map onto :class:`ImageRecord` fields.
_IMAGE_KEYS = frozenset(
    (
        "id",
        "file_name",
        "height",
        "width",
        "radio_file",
        "ir_file",
        "radio_wcs",
        "beam",
        "noise_sigma",
    )
)
#: Keys of ``annotations[]`` entries that map onto :class:`Instance` fields (or are recomputed).
_ANNOTATION_KEYS = frozenset(
    (
        "id",
        "image_id",
        "category_id",
        "segmentation",
        "area",
        "bbox",
        "iscrowd",
        "keypoints",
        "num_keypoints",
        "score",
        "host_ra",
        "host_dec",
        "reviewed",
    )
)

SegmentationFormat = Literal["rle", "polygon"]

#: The largest image side a COCO file may give (2**31 - 1 pixels).
_MAX_SIDE = 2**31 - 1


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def dataset_to_dict(
    dataset: CocoDataset, *, segmentation: SegmentationFormat = "rle", validate: bool = True
) -> dict[str, Any]:
    """The JSON-ready COCO dictionary of a dataset.

    Parameters
    ----------
    dataset : CocoDataset
        What to write. Annotation ids that are ``None`` are assigned after the largest
        existing id; ``area`` and ``bbox`` are computed from the RLE (no mask is decoded).
    segmentation : {"rle", "polygon"}
        ``"rle"`` (default): compressed RLE. ``"polygon"``: exact pixel-edge polygons (see
        the module docstring); masks are decoded for this, so it is slower.
    validate : bool
        Check the dataset first (:func:`validate_dataset`) so an invalid file is never
        written.

    Returns
    -------
    dict
        ``{"info", "images", "annotations", "categories"}``.

    Raises
    ------
    CocoFormatError
        When ``validate`` and the dataset breaks the schema (duplicate ids, unknown image or
        category ids, masks whose size disagrees with their image...).
    """
    if segmentation not in ("rle", "polygon"):
        raise ValueError(f"segmentation must be 'rle' or 'polygon', got {segmentation!r}")
    if validate:
        validate_dataset(dataset)
    images = [_image_to_dict(im) for im in dataset.images]
    annotations = []
    next_id = 1 + max((int(a.id) for a in dataset.instances if a.id is not None), default=0)
    lossy = 0
    for a in dataset.instances:
        ann_id = a.id
        if ann_id is None:
            ann_id, next_id = next_id, next_id + 1
        d = _instance_to_dict(a, int(ann_id))
        if segmentation == "polygon":
            polygons = exact_polygons(a.rle)
            if polygons is None:
                lossy += 1
            else:
                d["segmentation"] = polygons
        annotations.append(d)
    if lossy:
        warnings.warn(
            f"{lossy} mask(s) could not be written as exact polygons and were written as "
            "RLE instead (nothing was lost).",
            CocoFormatWarning,
            stacklevel=2,
        )
    return {
        "info": jsonable(dict(dataset.info)),
        "images": images,
        "annotations": annotations,
        "categories": dataset.scheme.to_coco_categories(),
    }


def _image_to_dict(im: ImageRecord) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": int(im.id),
        "file_name": str(im.file_name),
        "height": int(im.height),
        "width": int(im.width),
    }
    for key in ("radio_file", "ir_file", "radio_wcs"):
        value = getattr(im, key)
        if value is not None:
            d[key] = str(value)
    if im.beam is not None:
        d["beam"] = [float(b) for b in im.beam]
    if im.noise_sigma is not None:
        d["noise_sigma"] = _finite_or_none(im.noise_sigma)
    d.update(jsonable(im.extra))
    return d


def _instance_to_dict(a: Instance, ann_id: int) -> dict[str, Any]:
    rle = compressed_rle(a.rle)
    x, y, w, h = a.bbox
    d: dict[str, Any] = {
        "id": ann_id,
        "image_id": int(a.image_id),
        "category_id": int(a.category_id),
        "segmentation": rle,
        "area": int(a.area),
        "bbox": [float(x), float(y), float(w), float(h)],
        "iscrowd": 0,
    }
    if a.host is None:
        d["keypoints"], d["num_keypoints"] = [0.0, 0.0, 0], 0
    else:
        d["keypoints"], d["num_keypoints"] = [float(a.host[0]), float(a.host[1]), 2], 1
    for key in ("score", "host_ra", "host_dec"):
        value = getattr(a, key)
        if value is not None:
            d[key] = _finite_or_none(value)
    d["reviewed"] = bool(a.reviewed)
    d.update(jsonable(a.extra))
    return d


def write_coco(
    path: str | os.PathLike,
    dataset: CocoDataset,
    *,
    backup: bool = True,
    segmentation: SegmentationFormat = "rle",
    indent: int | None = 1,
) -> Path:
    """Write a dataset as COCO JSON, atomically.

    The JSON goes to a temporary file in the same folder, is flushed to disk, and then
    replaces ``path`` in one ``os.replace``: a crash never leaves a half-written file.

    Parameters
    ----------
    path : path-like
        Destination (folders are created).
    dataset : CocoDataset
        What to write (validated first; see :func:`dataset_to_dict`).
    backup : bool
        When ``path`` already exists, keep its previous content as ``NAME.json.bak``
        (replacing an older ``.bak``), so an edit made by hand is never lost to an overwrite.
    segmentation : {"rle", "polygon"}
        Mask format (see :func:`dataset_to_dict`).
    indent : int or None
        JSON indentation; ``None`` writes the most compact file.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    coco = dataset_to_dict(dataset, segmentation=segmentation)
    try:
        text = json.dumps(coco, indent=indent, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CocoFormatError(
            f"the dataset holds a value JSON cannot store ({exc}); extra fields must be "
            "str, int, finite float, bool, None, lists or dicts of those.",
            path=path,
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    if backup and path.exists():
        bak = path.with_name(path.name + ".bak")
        atomic_copy(path, bak)
        log.info("kept the previous %s as %s", path.name, bak.name)
    atomic_write_text(path, text)
    log.info(
        "wrote %d images, %d annotations to %s", len(coco["images"]), len(coco["annotations"]), path
    )
    return path


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------


def read_coco(path: str | os.PathLike) -> CocoDataset:
    """Read and validate a COCO JSON file (ours, RadioGalaxyNET's, or any COCO instances file).

    No mask is decoded: every segmentation becomes compressed RLE (see the module docstring).

    Parameters
    ----------
    path : path-like
        The JSON file.

    Returns
    -------
    CocoDataset
        Images and instances in file order, the class scheme from ``categories``, ``info``.

    Raises
    ------
    CocoFormatError
        The file is missing or not JSON, or breaks the schema; ``.field`` says where, e.g.
        ``annotations[12].segmentation``.
    """
    path = Path(path)
    return dataset_from_dict(read_coco_json(path), path=path)


def read_coco_json(path: str | os.PathLike) -> Any:
    """The parsed JSON of a COCO file (an object, or a results list), schema unchecked.

    Raises
    ------
    CocoFormatError
        The path is missing or a folder, or the file is not UTF-8 JSON text (e.g. binary).
    """
    path = Path(path)
    if path.is_dir():
        raise CocoFormatError("is a folder, not a COCO JSON file; name the file.", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CocoFormatError("no such file; check the path.", path=path) from None
    except UnicodeDecodeError:
        raise CocoFormatError(
            "not UTF-8 text (a binary file?); give the COCO JSON file.", path=path
        ) from None
    except OSError as exc:
        raise CocoFormatError(f"cannot read the file ({exc.strerror}).", path=path) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CocoFormatError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); a COCO "
            "file is one JSON object with 'images', 'annotations' and 'categories'.",
            path=path,
        ) from exc
    except (ValueError, RecursionError) as exc:  # a number of > 4300 digits, deep nesting
        raise CocoFormatError(f"cannot be read as JSON ({exc}).", path=path) from None


def dataset_from_dict(
    coco: Mapping[str, Any], *, path: str | os.PathLike | None = None
) -> CocoDataset:
    """Build and validate a :class:`CocoDataset` from a COCO dictionary.

    Parameters
    ----------
    coco : mapping
        ``{"images": [...], "annotations": [...], "categories": [...], "info": {...}}``;
        ``annotations`` may be absent (an image list without sources) and ``info`` too.
    path : path-like, optional
        The file it came from, named in error messages.

    Raises
    ------
    CocoFormatError
        See :func:`read_coco`.
    """
    if not isinstance(coco, Mapping):
        raise CocoFormatError(
            f"expected a JSON object with 'images', 'annotations' and 'categories', got a "
            f"{type(coco).__name__}. (A bare list is a COCO *results* file: evaluate it with "
            "`radiogal evaluate`, which takes the images from the ground truth.)",
            path=path,
        )
    for key in ("images", "categories"):
        if key not in coco:
            raise CocoFormatError(
                f"missing top-level key {key!r}; a COCO file needs 'images', 'annotations' "
                "and 'categories'.",
                path=path,
                field=key,
            )
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key, []), list):
            raise CocoFormatError(
                f"{key!r} must be a list, got {type(coco[key]).__name__}.", path=path, field=key
            )
    try:
        scheme = ClassScheme.from_coco_categories(coco["categories"])
    except CocoFormatError as exc:
        raise CocoFormatError(str(exc), path=path, field="categories") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an infinite id, keypoints: 5
        raise CocoFormatError(f"invalid categories: {exc}", path=path, field="categories") from exc
    images = [_image_from_dict(d, i, path) for i, d in enumerate(coco["images"])]
    sizes = {im.id: (im.height, im.width) for im in images}
    _check_unique([im.id for im in images], "images", path)
    n_kp = 3 * len(scheme.keypoints)
    instances = []
    polygon_count = 0
    for i, d in enumerate(coco.get("annotations", [])):
        inst, was_polygon = _instance_from_dict(d, i, path, sizes, scheme, n_kp)
        polygon_count += was_polygon
        instances.append(inst)
    _check_unique([a.id for a in instances if a.id is not None], "annotations", path)
    check_rle_counts(instances, path)
    info = coco.get("info", {})
    if not isinstance(info, Mapping):
        raise CocoFormatError(
            f"'info' must be an object, got {type(info).__name__}.", path=path, field="info"
        )
    if polygon_count:
        log.debug("converted %d polygon segmentations to RLE", polygon_count)
    return CocoDataset(images=images, instances=instances, scheme=scheme, info=dict(info))


def _field_error(path: Any, field: str, message: str) -> CocoFormatError:
    return CocoFormatError(message, path=path, field=field)


def _image_from_dict(d: Any, i: int, path: Any) -> ImageRecord:
    where = f"images[{i}]"
    if not isinstance(d, Mapping):
        raise _field_error(path, where, f"each image must be an object, got {d!r}.")
    for key in ("id", "file_name", "height", "width"):
        if key not in d:
            raise _field_error(
                path,
                f"{where}.{key}",
                f"missing {key!r}; every image needs 'id', 'file_name', 'height' and 'width'.",
            )
    image_id = _as_int(d["id"], path, f"{where}.id")
    height = _as_int(d["height"], path, f"{where}.height")
    width = _as_int(d["width"], path, f"{where}.width")
    if height <= 0 or width <= 0:
        raise _field_error(path, where, f"image size must be positive, got {height}x{width}.")
    if max(height, width) > _MAX_SIDE:  # pycocotools' sizes are C integers
        raise _field_error(
            path, where, f"image size {height}x{width} exceeds {_MAX_SIDE} pixels a side."
        )
    beam = d.get("beam")
    if beam is not None:
        if not (isinstance(beam, (list, tuple)) and len(beam) == 3):
            raise _field_error(
                path, f"{where}.beam", f"beam must be [bmaj, bmin, bpa] in degrees, got {beam!r}."
            )
        beam = tuple(_as_float(b, path, f"{where}.beam") for b in beam)
    noise = d.get("noise_sigma")
    return ImageRecord(
        id=image_id,
        file_name=str(d["file_name"]),
        height=height,
        width=width,
        radio_file=d.get("radio_file"),
        ir_file=d.get("ir_file"),
        radio_wcs=d.get("radio_wcs"),
        beam=beam,
        noise_sigma=None if noise is None else _as_float(noise, path, f"{where}.noise_sigma"),
        extra={k: v for k, v in d.items() if k not in _IMAGE_KEYS},
    )


def _instance_from_dict(
    d: Any,
    i: int,
    path: Any,
    sizes: Mapping[int, tuple[int, int]],
    scheme: ClassScheme,
    n_kp: int,
) -> tuple[Instance, bool]:
    where = f"annotations[{i}]"
    if not isinstance(d, Mapping):
        raise _field_error(path, where, f"each annotation must be an object, got {d!r}.")
    for key in ("image_id", "category_id"):
        if key not in d:
            raise _field_error(path, f"{where}.{key}", f"missing {key!r}.")
    image_id = _as_int(d["image_id"], path, f"{where}.image_id")
    if image_id not in sizes:
        raise _field_error(
            path,
            f"{where}.image_id",
            f"image_id {image_id} is not in images[]; add the image or drop the annotation.",
        )
    category_id = _as_int(d["category_id"], path, f"{where}.category_id")
    if category_id not in scheme.coco_ids:
        raise _field_error(
            path,
            f"{where}.category_id",
            f"category_id {category_id} is not one of the file's categories "
            f"{dict(zip(scheme.coco_ids, scheme.names, strict=True))}; fix the id or add the category.",
        )
    if d.get("segmentation") is None:
        raise _field_error(
            path,
            f"{where}.segmentation",
            "missing 'segmentation'; every source needs a mask (RLE {'size', 'counts'} or "
            "polygons [[x0, y0, x1, y1, ...], ...]).",
        )
    height, width = sizes[image_id]
    rle, was_polygon = _segmentation_to_rle(
        d["segmentation"], height, width, path, f"{where}.segmentation"
    )
    host = _host_from_keypoints(d.get("keypoints"), n_kp, path, f"{where}.keypoints")
    ann_id = d.get("id")
    if ann_id is not None:
        ann_id = _as_int(ann_id, path, f"{where}.id")
    score = d.get("score")
    if score is not None and not isinstance(score, (int, float)):
        raise _field_error(path, f"{where}.score", f"score must be a number, got {score!r}.")
    extra = {k: v for k, v in d.items() if k not in _ANNOTATION_KEYS}
    if d.get("iscrowd"):
        extra["iscrowd"] = _as_int(d["iscrowd"], path, f"{where}.iscrowd")
    instance = Instance(
        image_id=image_id,
        category_id=category_id,
        rle=rle,
        host=host,
        score=None if score is None else _as_float(score, path, f"{where}.score"),
        host_ra=_optional_float(d, "host_ra", path, where),
        host_dec=_optional_float(d, "host_dec", path, where),
        reviewed=bool(d.get("reviewed", False)),
        id=ann_id,
        extra=extra,
    )
    return instance, was_polygon


def _as_int(value: Any, path: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _field_error(path, field, f"expected an integer, got {value!r}.")
    if isinstance(value, int):
        return value  # exact, however large (no float holds 10**400)
    try:
        as_float = float(value)
    except ValueError:
        raise _field_error(path, field, f"expected an integer, got {value!r}.") from None
    if not as_float.is_integer():
        raise _field_error(path, field, f"expected an integer, got {value!r}.")
    return int(as_float)


def _as_float(value: Any, path: Any, field: str) -> float:
    """A number of the file (a numeric string too), or the field's error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _field_error(path, field, f"expected a number, got {value!r}.")
    try:
        return float(value)
    except (ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise _field_error(path, field, f"expected a number, got {value!r}.") from None


def _optional_float(d: Mapping[str, Any], key: str, path: Any, where: str) -> float | None:
    value = d.get(key)
    return None if value is None else _as_float(value, path, f"{where}.{key}")


def _host_from_keypoints(kp: Any, n_kp: int, path: Any, field: str) -> tuple[float, float] | None:
    """``[x, y, v]`` -> ``(x, y)``, or ``None`` when absent, empty or ``v == 0``."""
    if kp is None or (isinstance(kp, list) and len(kp) == 0):
        return None
    if not isinstance(kp, list) or len(kp) != n_kp:
        raise _field_error(
            path,
            field,
            f"keypoints must be a list of {n_kp} numbers ([x, y, v] per keypoint; v = 0 means "
            f"no host), got {kp!r}.",
        )
    try:
        x, y, v = (float(k) for k in kp[:3])
    except (TypeError, ValueError, OverflowError):
        raise _field_error(path, field, f"keypoints must be numbers, got {kp!r}.") from None
    if v <= 0:
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _field_error(path, field, f"a visible host needs finite x and y, got {kp!r}.")
    return (x, y)


def _segmentation_to_rle(
    seg: Any, height: int, width: int, path: Any, field: str
) -> tuple[dict[str, Any], bool]:
    """Any COCO segmentation -> compressed RLE ``{"size", "counts": str}`` (no decoding)."""
    if isinstance(seg, Mapping):
        if "size" not in seg or "counts" not in seg:
            raise _field_error(path, field, "an RLE needs 'size' [H, W] and 'counts'.")
        size = seg["size"]
        if (
            not isinstance(size, (list, tuple))
            or len(size) != 2
            or [_as_int(s, path, field + ".size") for s in size] != [height, width]
        ):
            raise _field_error(
                path,
                field + ".size",
                f"RLE size {size!r} does not match the image's [height, width] = "
                f"[{height}, {width}]; the mask must be on the image's pixel grid.",
            )
        counts = seg["counts"]
        if isinstance(counts, list):
            return list_counts_to_rle(counts, height, width, path, field), False
        if isinstance(counts, bytes):
            counts = counts.decode("ascii", errors="replace")
        if not isinstance(counts, str):
            raise _field_error(
                path,
                field + ".counts",
                f"RLE counts must be a string or a list of ints, got {counts!r}.",
            )
        return {"size": [height, width], "counts": counts}, False
    if isinstance(seg, list):
        return polygons_to_rle(seg, height, width, path=path, field=field), True
    raise _field_error(
        path,
        field,
        f"segmentation must be RLE {{'size', 'counts'}} or a list of polygons, got {seg!r}.",
    )


def _check_unique(ids: list[Any], what: str, path: Any) -> None:
    if len(set(ids)) == len(ids):
        return
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    raise CocoFormatError(
        f"duplicate {what} ids {dup[:10]}{' ...' if len(dup) > 10 else ''}; ids must be "
        "unique (renumber them).",
        path=path,
        field=f"{what}[].id",
    )


def validate_dataset(dataset: CocoDataset, *, path: str | os.PathLike | None = None) -> None:
    """Check an in-memory dataset against the schema (what :func:`read_coco` checks on files).

    Checks unique image and annotation ids, that every instance's image and category exist,
    that each RLE is on its image's grid (``size == [height, width]`` and run lengths adding
    up to ``height * width``), and that hosts are finite.

    Raises
    ------
    CocoFormatError
        With ``field`` naming the first offending entry.
    """
    _check_unique([im.id for im in dataset.images], "images", path)
    _check_unique([a.id for a in dataset.instances if a.id is not None], "annotations", path)
    sizes = {im.id: (int(im.height), int(im.width)) for im in dataset.images}
    ids = set(dataset.scheme.coco_ids)
    for i, a in enumerate(dataset.instances):
        where = f"annotations[{i}]"
        if a.image_id not in sizes:
            raise _field_error(
                path,
                f"{where}.image_id",
                f"image_id {a.image_id} is not in images[]; add the image.",
            )
        if a.category_id not in ids:
            raise _field_error(
                path,
                f"{where}.category_id",
                f"category_id {a.category_id} is not one of "
                f"{dict(zip(dataset.scheme.coco_ids, dataset.scheme.names, strict=True))}.",
            )
        if not isinstance(a.rle, Mapping) or "size" not in a.rle or "counts" not in a.rle:
            raise _field_error(
                path,
                f"{where}.segmentation",
                f"the mask must be RLE {{'size', 'counts'}}, got {a.rle!r:.80}.",
            )
        if [int(s) for s in a.rle["size"]] != list(sizes[a.image_id]):
            raise _field_error(
                path,
                f"{where}.segmentation.size",
                f"mask size {list(a.rle['size'])} does not match image {a.image_id}'s "
                f"[height, width] = {list(sizes[a.image_id])}.",
            )
        if a.host is not None and not all(math.isfinite(float(v)) for v in a.host):
            raise _field_error(path, f"{where}.keypoints", f"host must be finite, got {a.host}.")
    compressed = [a for a in dataset.instances if isinstance(a.rle["counts"], (str, bytes))]
    check_rle_counts(compressed, path)
    for i, a in enumerate(dataset.instances):
        if isinstance(a.rle["counts"], list):
            h, w = sizes[a.image_id]
            list_counts_to_rle(a.rle["counts"], h, w, path, f"annotations[{i}].segmentation")
