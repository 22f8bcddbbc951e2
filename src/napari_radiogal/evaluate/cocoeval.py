"""The COCOeval backend: pycocotools or faster-coco-eval, fed with dictionaries built here.

:func:`coco_dicts` turns datasets into the ground-truth dictionary and detection list that
``COCOeval`` takes (masks as RLE, one host keypoint); :func:`run_cocoeval` runs one
``iouType`` on one backend, silenced, with one area range and ``maxDets`` large enough
for every detection; :func:`average_precision` reduces its precision array to a
percentage.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import EvaluationError
from napari_radiogal.io.masks import compressed_rle

__all__ = [
    "OKS_SIGMA",
    "OKS_TOLERANCE",
    "COCO_IOUS",
    "BACKENDS",
    "resolve_backend",
    "pycocotools_rle",
    "coco_dicts",
    "run_cocoeval",
    "average_precision",
]

log = logging.getLogger(__name__)

Backend = Literal["pycocotools", "faster-coco-eval", "auto"]
BACKENDS: tuple[str, ...] = ("pycocotools", "faster-coco-eval", "auto")

#: The authors' keypoint sigma (``kpt_oks_sigmas = [0.5]``).
OKS_SIGMA = 0.5
#: A host passes at OKS 0.5 when its offset is at most ``OKS_TOLERANCE * sqrt(area)`` pixels.
OKS_TOLERANCE = math.sqrt(2.0 * math.log(2.0))
#: COCO's IoU grid for AP50:95.
COCO_IOUS = np.linspace(0.5, 0.95, 10)


def resolve_backend(backend: str) -> str:
    """The backend that will run: ``backend`` itself, or for ``"auto"`` the installed one.

    Parameters
    ----------
    backend : {"pycocotools", "faster-coco-eval", "auto"}
        ``"auto"`` takes faster-coco-eval when it is installed, else pycocotools.

    Returns
    -------
    str
        ``"pycocotools"`` or ``"faster-coco-eval"``.

    Raises
    ------
    EvaluationError
        Unknown name, or ``"faster-coco-eval"`` asked for but not installed.
    """
    if backend not in BACKENDS:
        raise EvaluationError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "pycocotools":
        return backend
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        if backend == "auto":
            return "pycocotools"
        raise EvaluationError(
            "backend 'faster-coco-eval' needs the faster-coco-eval package: "
            "pip install faster-coco-eval (or use backend='pycocotools')."
        ) from None
    return "faster-coco-eval"


def pycocotools_rle(a: Instance) -> dict[str, Any]:
    """The instance's mask as pycocotools takes it: ``{"size": [H, W], "counts": bytes}``.

    Parameters
    ----------
    a : Instance
        Any RLE spelling in ``a.rle`` (see :func:`~napari_radiogal.io.masks.compressed_rle`).
    """
    rle = compressed_rle(a.rle)
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def coco_dicts(
    images: Sequence[ImageRecord],
    gts: Sequence[Instance],
    preds: Sequence[Instance],
    pred_cats: Mapping[int, int],
    scores: Mapping[int, float],
    scheme: ClassScheme,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO ground-truth dictionary and detection list handed to COCOeval.

    Ids are renumbered 1.. (COCOeval uses id 0 for "unmatched").

    Parameters
    ----------
    images : sequence of ImageRecord
        The images evaluated.
    gts, preds : sequence of Instance
        Ground truth and predictions.
    pred_cats, scores : mapping
        Category id and score of each prediction, keyed by ``id(instance)``.
    scheme : ClassScheme
        Gives the COCO ``categories``.

    Returns
    -------
    gt_dict : dict
        ``{"images", "annotations", "categories"}``; masks as pycocotools RLE, the host as
        one keypoint ``[x, y, 2]`` (``[0, 0, 0]`` and ``num_keypoints = 0`` without one).
    dt_anns : list of dict
        The detections, in the same format plus ``score``.
    """
    image_dicts = [
        {"id": im.id, "height": im.height, "width": im.width, "file_name": im.file_name}
        for im in images
    ]
    gt_anns = []
    for i, a in enumerate(gts, start=1):
        x, y, w, h = a.bbox
        host = a.host
        gt_anns.append(
            {
                "id": i,
                "image_id": a.image_id,
                "category_id": a.category_id,
                "segmentation": pycocotools_rle(a),
                "area": float(a.area),
                "bbox": [x, y, w, h],
                "iscrowd": 0,
                "keypoints": [0.0, 0.0, 0] if host is None else [host[0], host[1], 2],
                "num_keypoints": 0 if host is None else 1,
            }
        )
    dt_anns = []
    for i, a in enumerate(preds, start=1):
        x, y, w, h = a.bbox
        host = a.host
        dt_anns.append(
            {
                "id": i,
                "image_id": a.image_id,
                "category_id": pred_cats[id(a)],
                "segmentation": pycocotools_rle(a),
                "area": float(a.area),
                "bbox": [x, y, w, h],
                "iscrowd": 0,
                "score": scores[id(a)],
                "keypoints": [0.0, 0.0, 0] if host is None else [host[0], host[1], 2],
                "num_keypoints": 0 if host is None else 1,
            }
        )
    categories = scheme.to_coco_categories()
    return {"images": image_dicts, "annotations": gt_anns, "categories": categories}, dt_anns


def run_cocoeval(
    backend: str,
    gt_dict: dict,
    dt_anns: list,
    iou_type: str,
    iou_thrs: np.ndarray,
    max_det: int,
    cat_ids: list[int],
) -> np.ndarray:
    """COCOeval precision ``(T, R, K)`` at area "all" and the largest maxDets (-1 = no GT).

    Parameters
    ----------
    backend : {"pycocotools", "faster-coco-eval"}
        See :func:`resolve_backend`.
    gt_dict, dt_anns
        From :func:`coco_dicts` (copied before COCOeval writes into them).
    iou_type : {"segm", "bbox", "keypoints"}
        ``keypoints`` uses ``kpt_oks_sigmas = [OKS_SIGMA]``.
    iou_thrs : float array (T,)
        IoU (or OKS) thresholds.
    max_det : int
        ``maxDets``: at least the most predictions on one image, so every one counts.
    cat_ids : list of int
        Category ids, in the order of the ``K`` axis.

    Returns
    -------
    float array (T, R, K)
        Precision at each threshold, COCO's 101 recall points and category.
    """
    dt_dict = {
        "images": gt_dict["images"],
        "categories": gt_dict["categories"],
        "annotations": dt_anns,
    }
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        if backend == "faster-coco-eval":
            from faster_coco_eval import COCO, COCOeval_faster

            coco_gt, coco_dt = COCO(_copy_dict(gt_dict)), COCO(_copy_dict(dt_dict))
            evaluator = COCOeval_faster(coco_gt, coco_dt, iou_type, kpt_oks_sigmas=[OKS_SIGMA])
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval

            coco_gt, coco_dt = COCO(), COCO()
            coco_gt.dataset, coco_dt.dataset = _copy_dict(gt_dict), _copy_dict(dt_dict)
            coco_gt.createIndex()
            coco_dt.createIndex()
            evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        p = evaluator.params
        p.imgIds = [im["id"] for im in gt_dict["images"]]
        p.catIds = list(cat_ids)
        p.iouThrs = np.asarray(iou_thrs, dtype=float)
        p.maxDets = [int(max_det)]
        p.areaRng = [[0.0, 1e10]]
        p.areaRngLbl = ["all"]
        if iou_type == "keypoints":
            p.kpt_oks_sigmas = np.array([OKS_SIGMA])
        evaluator.evaluate()
        evaluator.accumulate()
    if sink.getvalue():
        log.debug("%s COCOeval %s said: %s", backend, iou_type, sink.getvalue().strip())
    precision = np.asarray(evaluator.eval["precision"], dtype=float)
    return precision[:, :, :, 0, -1]


def _copy_dict(d: dict) -> dict:
    # COCOeval writes into annotations (ignore flags, converted segmentations): hand it copies
    return {k: ([dict(x) for x in v] if isinstance(v, list) else v) for k, v in d.items()}


def average_precision(precision: np.ndarray) -> float:
    """Mean precision over recall points (and IoUs) in %, NaN when the class has no truth.

    Rounded to 1e-9 %: pycocotools divides by ``tp + fp + eps``, so a perfect precision is
    ``1 - 2e-16``; rounding makes a perfect result exactly 100.0.

    Parameters
    ----------
    precision : float array
        Any slice of :func:`run_cocoeval`'s output; -1 entries (no ground truth) are left
        out.
    """
    valid = precision[precision > -1]
    return round(100.0 * float(valid.mean()), 9) if valid.size else float("nan")
