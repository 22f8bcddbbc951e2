"""Evaluation like the paper's Table 1, done once and consistently.

One call, :func:`evaluate`, compares a ground-truth COCO file with a prediction file and
returns an :class:`EvaluationResult` whose :meth:`~EvaluationResult.table` reads like the
paper's Table 1 (classes as columns in the scheme's display order, FR-I, FR-II, FR-X, R,
then the mean). Every number comes from the same set of detections: **all** predictions,
no image skipped, no per-image "detection 0" (the authors' scripts differ on all three;
ALGORITHM.md §9 and §11.12).

Metrics (percentages)
---------------------
mask AP50, box AP50, mask AP50:95
    pycocotools ``COCOeval`` (``segm`` / ``bbox``), one area range (all), ``maxDets`` at
    least the largest number of predictions on one image (so every detection counts), COCO's
    101-point interpolated precision. Per class ``k``: the mean of
    ``eval["precision"][iou, :, k, area=all, maxDets=-1]``; a class without ground truth gives
    NaN (pycocotools' -1), and the *mean* is the NaN-mean over classes.
host AP50
    ``COCOeval`` ``keypoints`` with ``kpt_oks_sigmas = [0.5]``, as the authors do. pycocotools'
    OKS is ``exp(-d^2 / (2 A (2 sigma)^2))`` with ``A`` the ground-truth mask area in px^2, so
    with sigma = 0.5 it is ``OKS = exp(-d^2 / (2 A))``, and OKS >= 0.5 exactly when
    ``d <= sqrt(2 ln 2) * sqrt(A) = 1.177 sqrt(A)`` pixels (A = 1000 px^2: 37 px, lenient for
    big sources). A ground-truth source without a host is ignored (pycocotools ignores
    ``num_keypoints == 0``); a prediction without a host makes no host claim: it can match
    nothing (so the host of the source it outlines is missed) and is not a false positive.
TP / FP / FN rates at IoU >= ``iou_threshold`` (0.5)
    Like the paper's appendix: per class, the same greedy score-ordered matching COCOeval
    does (a prediction takes the unmatched ground truth of its class with the highest IoU),
    normalised by the number of ground-truth sources of the class; TP + FN = 100 %, and FP
    is false detections per 100 true sources. An FR-II whose two lobes are predicted as two
    instances is one FN and two FPs.
classification
    Each ground-truth source is matched to the prediction of *any* class with the highest
    mask IoU; at IoU >= ``iou_threshold`` it is "detected" and counted in the confusion
    matrix under the predicted class, otherwise under "missed". Predictions chosen by no
    source are in the "none" row. Accuracy = correct / detected. Always on the model's own
    classes, whatever the protocol.
host offsets
    For detected sources where both truth and prediction have a host: the distance in
    arcsec (pixels times the image's pixel scale, read from ``radio_wcs``, else
    ``pixel_scale_arcsec``, 2"/px by default); median and 90th percentile.

Protocols
---------
``"predicted"`` (default): every prediction keeps its own class: the honest number.
``"oracle"``: the paper's protocol, where the classes come from the ground truth (the CAMs
are computed for the image's true label): each prediction's class is replaced by its image's
ground-truth class. When an image holds sources of several classes, a prediction takes the
class of the source it overlaps most (highest IoU), and one that overlaps none takes the
image's most common class (ties: the first in display order). Predictions on images without
ground truth keep their class. This measures localisation given the true class, not
classification.

pycocotools prints to stdout; it is silenced here. The optional ``backend=
"faster-coco-eval"`` runs the same evaluation with the faster-coco-eval package (identical
numbers, tested).

The package is split in :mod:`~napari_radiogal.evaluate.results` (what is returned and
printed), :mod:`~napari_radiogal.evaluate.cocoeval` (the COCOeval backends) and
:mod:`~napari_radiogal.evaluate.matching` (IoU matching, oracle classes, classification);
everything public is importable from here.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from napari_radiogal.annotations import CocoDataset, Instance
from napari_radiogal.errors import EvaluationError, EvaluationWarning
from napari_radiogal.evaluate.cocoeval import (
    BACKENDS,
    COCO_IOUS,
    OKS_SIGMA,
    OKS_TOLERANCE,
    Backend,
    average_precision,
    coco_dicts,
    resolve_backend,
    run_cocoeval,
)
from napari_radiogal.evaluate.matching import (
    classify,
    iou_matrix,
    offset_stats,
    oracle_categories,
    tp_fp_fn,
)
from napari_radiogal.evaluate.results import ClassMetrics, EvaluationResult, mean_metrics
from napari_radiogal.io.fits.wcs import image_pixel_scales, pixel_scale_from_wcs_header

__all__ = [
    "evaluate",
    "EvaluationResult",
    "ClassMetrics",
    "load_predictions",
    "pixel_scale_from_wcs_header",
    "OKS_SIGMA",
    "OKS_TOLERANCE",
    "PROTOCOLS",
    "BACKENDS",
]

log = logging.getLogger(__name__)

Protocol = Literal["predicted", "oracle"]
PROTOCOLS: tuple[str, ...] = ("predicted", "oracle")


def _load_dataset(source: CocoDataset | str | os.PathLike, what: str) -> CocoDataset:
    from napari_radiogal.io.coco import read_coco, validate_dataset

    if isinstance(source, CocoDataset):
        validate_dataset(source)
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_coco(source)
    raise TypeError(
        f"{what} must be a CocoDataset or a path to a COCO JSON file, got {type(source).__name__}"
    )


def load_predictions(source: CocoDataset | str | os.PathLike, gt: CocoDataset) -> CocoDataset:
    """Read predictions: a COCO file like ours, or a COCO *results* list.

    A results list (``[{"image_id", "category_id", "segmentation", "score", ...}, ...]``, what
    detectron2 and mmdetection write) has no ``images`` or ``categories``; they are taken from
    the ground truth ``gt``.

    Raises
    ------
    CocoFormatError
        The file breaks the COCO schema.
    EvaluationError
        A results list names images that are not in the ground truth.
    """
    from napari_radiogal.io.coco import dataset_from_dict, dataset_to_dict, read_coco_json

    if isinstance(source, CocoDataset):
        return _load_dataset(source, "pred")
    path = Path(source)
    raw = read_coco_json(path)
    if not isinstance(raw, list):
        return dataset_from_dict(raw, path=path)
    known = {im.id for im in gt.images}
    unknown = sorted({d.get("image_id") for d in raw if isinstance(d, Mapping)} - known, key=str)
    if unknown:
        raise EvaluationError(
            f"{path}: the results list has predictions for images {unknown[:10]} that are not "
            "in the ground truth; evaluate against the ground truth of the same images."
        )
    skeleton = dataset_to_dict(CocoDataset(images=gt.images, scheme=gt.scheme), validate=False)
    skeleton["annotations"] = raw
    return dataset_from_dict(skeleton, path=path)


def _check_compatible(gt: CocoDataset, pred: CocoDataset) -> None:
    gt_cats = dict(zip(gt.scheme.coco_ids, gt.scheme.names, strict=True))
    pred_cats = dict(zip(pred.scheme.coco_ids, pred.scheme.names, strict=True))
    if gt_cats != pred_cats:
        raise EvaluationError(
            f"the ground truth and the predictions use different categories: truth "
            f"{gt_cats}, predictions {pred_cats}. Predict with a model trained on the ground "
            "truth's classes (or map the category ids) before evaluating."
        )
    if not gt.instances:
        raise EvaluationError(
            "the ground truth has no sources (no annotations); there is nothing to evaluate "
            "against."
        )
    gt_images = {im.id: im for im in gt.images}
    extra = sorted({a.image_id for a in pred.instances} - set(gt_images))
    if extra:
        raise EvaluationError(
            f"predictions for images {extra[:10]}{' ...' if len(extra) > 10 else ''} that are "
            f"not in the ground truth ({len(gt_images)} images); evaluate predictions made on "
            "the ground truth's images (matched by image id)."
        )
    for im in pred.images:
        ref = gt_images.get(im.id)
        if ref is None:
            continue
        if (im.height, im.width) != (ref.height, ref.width):
            raise EvaluationError(
                f"image {im.id} is {ref.height}x{ref.width} (rows x columns) in the ground "
                f"truth but {im.height}x{im.width} in the predictions; predictions must be on "
                "the ground truth's pixel grid."
            )
        if Path(im.file_name).name != Path(ref.file_name).name:
            warnings.warn(
                f"image {im.id} is {ref.file_name!r} in the ground truth but {im.file_name!r} in "
                "the predictions; matched by id anyway. Check that both files describe the "
                "same images.",
                EvaluationWarning,
                stacklevel=3,
            )


# --------------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------------


def evaluate(
    gt: CocoDataset | str | os.PathLike,
    pred: CocoDataset | str | os.PathLike,
    *,
    protocol: Protocol = "predicted",
    iou_threshold: float = 0.5,
    pixel_scale_arcsec: float = 2.0,
    backend: Backend = "pycocotools",
) -> EvaluationResult:
    """Evaluate predictions against ground truth like the paper's Table 1.

    See the module docstring for every metric's exact definition.

    Parameters
    ----------
    gt, pred : CocoDataset or path-like
        Ground truth and predictions (COCO files; ``pred`` may also be a COCO results list).
        Images are matched by id.
    protocol : {"predicted", "oracle"}
        Keep the predicted classes, or replace them with the image's ground-truth class
        (the paper's protocol).
    iou_threshold : float
        Mask IoU for TP/FP/FN and for classification matching (AP50 is always at 0.5).
    pixel_scale_arcsec : float
        Pixel scale for host offsets on images without ``radio_wcs``.
    backend : {"pycocotools", "faster-coco-eval", "auto"}
        Who runs COCOeval (``auto``: faster-coco-eval if installed).

    Returns
    -------
    EvaluationResult

    Raises
    ------
    CocoFormatError
        A file (or dataset) breaks the COCO schema.
    EvaluationError
        Ground truth and predictions cannot be compared (different categories, predictions
        for unknown images, different image sizes, no ground truth).

    Warns
    -----
    EvaluationWarning
        No predictions at all (every metric is 0), or only some predictions have a score.
    """
    if protocol not in PROTOCOLS:
        raise EvaluationError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if not 0.0 < iou_threshold <= 1.0:
        raise EvaluationError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not (pixel_scale_arcsec > 0 and math.isfinite(pixel_scale_arcsec)):
        raise EvaluationError(f"pixel_scale_arcsec must be > 0, got {pixel_scale_arcsec}")
    backend_name = resolve_backend(backend)
    gt_ds = _load_dataset(gt, "gt")
    pred_ds = load_predictions(pred, gt_ds)
    _check_compatible(gt_ds, pred_ds)
    notes = []
    if not pred_ds.instances:
        warnings.warn(
            "the predictions are empty (no annotations): every AP and TP rate is 0 and every "
            "source is missed.",
            EvaluationWarning,
            stacklevel=2,
        )
        notes.append("WARNING: no predictions at all.")
    scores = _scores(pred_ds.instances)
    scheme = gt_ds.scheme
    images = sorted(gt_ds.images, key=lambda im: im.id)
    gt_by_image = _by_image(gt_ds.instances)
    pred_by_image = _by_image(pred_ds.instances)
    # one IoU matrix per image serves the oracle classes, TP/FP/FN and classification
    ious = {
        im.id: iou_matrix(pred_by_image.get(im.id, []), gt_by_image.get(im.id, [])) for im in images
    }
    pred_cats = {id(a): a.category_id for a in pred_ds.instances}
    if protocol == "oracle":
        pred_cats = oracle_categories(images, gt_by_image, pred_by_image, ious, scheme)
    max_det = max([100] + [len(v) for v in pred_by_image.values()])
    # COCO's own grid (AP50 is its first entry); TP/FP/FN at iou_threshold are counted below
    iou_thrs = COCO_IOUS
    gt_dict, dt_anns = coco_dicts(
        images, gt_ds.instances, pred_ds.instances, pred_cats, scores, scheme
    )
    cat_ids = sorted(scheme.coco_ids)
    prec_segm = run_cocoeval(backend_name, gt_dict, dt_anns, "segm", iou_thrs, max_det, cat_ids)
    prec_bbox = run_cocoeval(backend_name, gt_dict, dt_anns, "bbox", iou_thrs, max_det, cat_ids)
    dt_kp = [d for d in dt_anns if d["num_keypoints"] > 0]
    prec_kp = run_cocoeval(
        backend_name, gt_dict, dt_kp, "keypoints", np.array([0.5]), max_det, cat_ids
    )
    i50 = 0  # COCO_IOUS[0] == 0.5
    counts = tp_fp_fn(
        images, gt_by_image, pred_by_image, ious, pred_cats, scores, iou_threshold, scheme
    )
    confusion, host_pairs, n_detected = classify(
        images, gt_by_image, pred_by_image, ious, iou_threshold, scheme
    )
    scale_of, scale_counts = image_pixel_scales(images, pixel_scale_arcsec)
    classes = []
    for name in scheme.display_order:
        cid = scheme.id_of_name(name)
        k = cat_ids.index(cid)
        n_gt = sum(1 for a in gt_ds.instances if a.category_id == cid)
        n_pred = sum(1 for a in pred_ds.instances if pred_cats[id(a)] == cid)
        tp, fp, fn = counts[cid]
        offsets = [d * scale_of[img] for c, img, d in host_pairs if c == cid]
        med, p90 = offset_stats(offsets)
        classes.append(
            ClassMetrics(
                name=name,
                n_gt=n_gt,
                n_pred=n_pred,
                mask_ap50=average_precision(prec_segm[i50, :, k]),
                host_ap50=average_precision(prec_kp[0, :, k]),
                box_ap50=average_precision(prec_bbox[i50, :, k]),
                mask_ap=average_precision(prec_segm[:, :, k]),
                tp=tp,
                fp=fp,
                fn=fn,
                tp_rate=_rate(tp, n_gt),
                fp_rate=_rate(fp, n_gt),
                fn_rate=_rate(fn, n_gt),
                host_median_arcsec=med,
                host_p90_arcsec=p90,
                n_host_pairs=len(offsets),
            )
        )
    all_offsets = [d * scale_of[img] for _, img, d in host_pairs]
    mean = mean_metrics(classes, all_offsets)
    k = scheme.num_classes
    detected = confusion[:k, :k].sum()
    accuracy = 100.0 * np.trace(confusion[:k, :k]) / detected if detected else float("nan")
    scale_counts["default_arcsec"] = pixel_scale_arcsec
    return EvaluationResult(
        protocol=protocol,
        iou_threshold=float(iou_threshold),
        scheme=scheme,
        classes=tuple(classes),
        mean=mean,
        confusion=confusion,
        accuracy=float(accuracy),
        n_detected=int(n_detected),
        n_images=len(images),
        n_gt=len(gt_ds.instances),
        n_pred=len(pred_ds.instances),
        pixel_scales=scale_counts,
        backend=backend_name,
        notes=tuple(notes),
    )


def _by_image(instances: Sequence[Instance]) -> dict[int, list[Instance]]:
    out: dict[int, list[Instance]] = {}
    for a in instances:
        out.setdefault(a.image_id, []).append(a)
    return out


def _scores(instances: Sequence[Instance]) -> dict[int, float]:
    """Scores by ``id(instance)``; a missing score ranks as 1.0 (ties keep file order)."""
    missing = sum(1 for a in instances if a.score is None)
    if missing and missing < len(instances):
        warnings.warn(
            f"{missing} of {len(instances)} predictions have no score; they are ranked as "
            "score 1.0. Give every prediction a score for a meaningful AP.",
            EvaluationWarning,
            stacklevel=3,
        )
    elif missing:
        log.info("no prediction has a score: detections are ranked in file order")
    return {id(a): 1.0 if a.score is None else float(a.score) for a in instances}


def _rate(n: int, n_gt: int) -> float:
    return 100.0 * n / n_gt if n_gt else float("nan")
