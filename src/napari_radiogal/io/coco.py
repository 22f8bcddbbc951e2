"""COCO JSON in and out (first cut: RLE masks, one host keypoint, our extra fields).

Pixel convention, stated once for the whole package: ``x`` is the column and ``y`` the row,
0-based, measured at pixel centres; the centre of the top-left pixel is ``(0.0, 0.0)``.
(COCO boxes ``[x, y, w, h]`` are measured from pixel *edges*, as pycocotools computes them.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import ClassScheme

__all__ = ["write_coco", "read_coco", "dataset_to_dict", "dataset_from_dict"]

_IMAGE_KEYS = ("id", "file_name", "height", "width", "radio_file", "ir_file", "radio_wcs",
               "beam", "noise_sigma")


def dataset_to_dict(dataset: CocoDataset) -> dict[str, Any]:
    """The JSON-ready COCO dictionary of a dataset (annotation ids assigned 1.. if missing)."""
    images = []
    for im in dataset.images:
        d: dict[str, Any] = {"id": int(im.id), "file_name": im.file_name,
                             "height": int(im.height), "width": int(im.width)}
        for key in ("radio_file", "ir_file", "radio_wcs", "noise_sigma"):
            value = getattr(im, key)
            if value is not None:
                d[key] = value
        if im.beam is not None:
            d["beam"] = [float(b) for b in im.beam]
        d.update(im.extra)
        images.append(d)
    annotations = []
    next_id = 1 + max((a.id or 0 for a in dataset.instances), default=0)
    for a in dataset.instances:
        ann_id = a.id
        if ann_id is None:
            ann_id, next_id = next_id, next_id + 1
        x, y, w, h = a.bbox
        d = {"id": int(ann_id), "image_id": int(a.image_id), "category_id": int(a.category_id),
             "segmentation": {"size": list(a.rle["size"]), "counts": a.rle["counts"]},
             "area": a.area, "bbox": [x, y, w, h], "iscrowd": 0}
        if a.host is None:
            d["keypoints"], d["num_keypoints"] = [0.0, 0.0, 0], 0
        else:
            d["keypoints"], d["num_keypoints"] = [float(a.host[0]), float(a.host[1]), 2], 1
        for key in ("score", "host_ra", "host_dec"):
            value = getattr(a, key)
            if value is not None:
                d[key] = float(value)
        d["reviewed"] = bool(a.reviewed)
        d.update(a.extra)
        annotations.append(d)
    return {"info": dict(dataset.info), "images": images, "annotations": annotations,
            "categories": dataset.scheme.to_coco_categories()}


def dataset_from_dict(coco: dict[str, Any]) -> CocoDataset:
    """Inverse of :func:`dataset_to_dict` (RLE segmentations only in this first cut)."""
    scheme = ClassScheme.from_coco_categories(coco.get("categories", []))
    images = []
    for d in coco.get("images", []):
        beam = d.get("beam")
        images.append(ImageRecord(
            id=int(d["id"]), file_name=d["file_name"], height=int(d["height"]),
            width=int(d["width"]), radio_file=d.get("radio_file"), ir_file=d.get("ir_file"),
            radio_wcs=d.get("radio_wcs"), beam=None if beam is None else tuple(beam),
            noise_sigma=d.get("noise_sigma"),
            extra={k: v for k, v in d.items() if k not in _IMAGE_KEYS}))
    known = {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd",
             "keypoints", "num_keypoints", "score", "host_ra", "host_dec", "reviewed"}
    instances = []
    for d in coco.get("annotations", []):
        kp = d.get("keypoints") or [0, 0, 0]
        host = (float(kp[0]), float(kp[1])) if len(kp) >= 3 and kp[2] > 0 else None
        instances.append(Instance(
            image_id=int(d["image_id"]), category_id=int(d["category_id"]),
            rle=dict(d["segmentation"]), host=host, score=d.get("score"),
            host_ra=d.get("host_ra"), host_dec=d.get("host_dec"),
            reviewed=bool(d.get("reviewed", False)), id=d.get("id"),
            extra={k: v for k, v in d.items() if k not in known}))
    return CocoDataset(images=images, instances=instances, scheme=scheme,
                       info=dict(coco.get("info", {})))


def write_coco(path: str | os.PathLike, dataset: CocoDataset) -> Path:
    """Write a dataset as COCO JSON atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dataset_to_dict(dataset), indent=1, sort_keys=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_coco(path: str | os.PathLike) -> CocoDataset:
    """Read a COCO JSON file written by :func:`write_coco` (or any RLE COCO file)."""
    with open(path, encoding="utf-8") as fh:
        return dataset_from_dict(json.load(fh))
