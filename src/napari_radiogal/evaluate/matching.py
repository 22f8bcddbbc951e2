"""Matching predictions to ground truth, image by image, on mask IoU.

One IoU matrix per image (:func:`iou_matrix`) serves the oracle classes
(:func:`oracle_categories`), the TP / FP / FN counts (:func:`tp_fp_fn`, with COCOeval's
greedy score-ordered matching, :func:`greedy_match`) and the classification confusion
matrix with the host offsets of detected sources (:func:`classify`, :func:`offset_stats`).
The rules are those of :mod:`napari_radiogal.evaluate` (its module docstring).

The per-image arguments share one layout: ``images`` the evaluated
:class:`~napari_radiogal.annotations.ImageRecord` s, ``gt_by_image`` and ``pred_by_image``
lists of instances by image id, ``ious`` the ``(n_pred, n_gt)`` IoU matrix by image id, and
predictions' categories and scores keyed by ``id(instance)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.evaluate.cocoeval import pycocotools_rle

__all__ = [
    "iou_matrix",
    "oracle_categories",
    "greedy_match",
    "tp_fp_fn",
    "classify",
    "offset_stats",
]

ByImage = Mapping[int, Sequence[Instance]]


def iou_matrix(preds: Sequence[Instance], gts: Sequence[Instance]) -> np.ndarray:
    """Mask IoU of every prediction with every truth (pycocotools, on RLE, no decoding).

    Parameters
    ----------
    preds, gts : sequence of Instance
        Predictions and ground truth of one image.

    Returns
    -------
    float array (n_pred, n_gt)
        IoU in [0, 1]; empty when either side is.
    """
    if not preds or not gts:
        return np.zeros((len(preds), len(gts)))
    from pycocotools import mask as mask_utils

    iou = mask_utils.iou(
        [pycocotools_rle(p) for p in preds], [pycocotools_rle(g) for g in gts], [0] * len(gts)
    )
    return np.asarray(iou, dtype=float).reshape(len(preds), len(gts))


def oracle_categories(
    images: Sequence[ImageRecord],
    gt_by_image: ByImage,
    pred_by_image: ByImage,
    ious: Mapping[int, np.ndarray],
    scheme: ClassScheme,
) -> dict[int, int]:
    """The paper's oracle classes (rule in the :mod:`napari_radiogal.evaluate` docstring).

    Returns
    -------
    dict of int to int
        Category id of each prediction, keyed by ``id(instance)``: its image's ground-truth
        class (the one it overlaps most when there are several); predictions on images
        without ground truth keep their own.
    """
    order = {cid: i for i, cid in enumerate(scheme.id_of_name(n) for n in scheme.display_order)}
    cats: dict[int, int] = {}
    for im in images:
        preds, gts = pred_by_image.get(im.id, []), gt_by_image.get(im.id, [])
        if not gts:
            cats.update({id(p): p.category_id for p in preds})
            continue
        freq = Counter(g.category_id for g in gts)
        majority = min(freq, key=lambda c: (-freq[c], order[c]))
        iou = ious[im.id]
        for j, p in enumerate(preds):
            if len(freq) == 1 or iou[j].max() <= 0:
                cats[id(p)] = majority
            else:
                cats[id(p)] = gts[int(np.argmax(iou[j]))].category_id
    return cats


def greedy_match(
    iou: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's matching: by descending score (stable), each prediction takes the unmatched
    truth with the highest IoU >= threshold (the later one on ties).

    Parameters
    ----------
    iou : float array (D, G)
        IoU of each prediction with each truth.
    scores : float array (D,)
        Prediction scores.
    threshold : float
        Minimum IoU of a match.

    Returns
    -------
    pred_matched : bool array (D,)
    gt_matched : bool array (G,)

    Examples
    --------
    >>> iou = np.array([[0.9, 0.6], [0.7, 0.0]])
    >>> greedy_match(iou, np.array([0.5, 0.9]), 0.5)
    (array([ True,  True]), array([ True,  True]))
    """
    n_dt, n_gt = iou.shape
    dt_matched = np.zeros(n_dt, dtype=bool)
    gt_matched = np.zeros(n_gt, dtype=bool)
    for d in np.argsort(-scores, kind="mergesort"):
        best, best_iou = -1, min(threshold, 1 - 1e-10)
        for g in range(n_gt):
            if gt_matched[g] or iou[d, g] < best_iou:
                continue
            best, best_iou = g, iou[d, g]
        if best >= 0:
            dt_matched[d] = gt_matched[best] = True
    return dt_matched, gt_matched


def tp_fp_fn(
    images: Sequence[ImageRecord],
    gt_by_image: ByImage,
    pred_by_image: ByImage,
    ious: Mapping[int, np.ndarray],
    pred_cats: Mapping[int, int],
    scores: Mapping[int, float],
    threshold: float,
    scheme: ClassScheme,
) -> dict[int, tuple[int, int, int]]:
    """True positives, false positives and false negatives per class at IoU ``threshold``.

    Within each image and class, predictions (of class ``pred_cats``) are matched to truth
    with :func:`greedy_match`.

    Returns
    -------
    dict of int to (tp, fp, fn)
        Counts by category id, summed over the images.
    """
    totals = {cid: [0, 0, 0] for cid in scheme.coco_ids}
    for im in images:
        preds, gts = pred_by_image.get(im.id, []), gt_by_image.get(im.id, [])
        iou = ious[im.id]
        for cid in scheme.coco_ids:
            d_idx = [j for j, p in enumerate(preds) if pred_cats[id(p)] == cid]
            g_idx = [i for i, g in enumerate(gts) if g.category_id == cid]
            if not d_idx and not g_idx:
                continue
            sub = (
                iou[np.ix_(d_idx, g_idx)] if d_idx and g_idx else np.zeros((len(d_idx), len(g_idx)))
            )
            s = np.array([scores[id(preds[j])] for j in d_idx])
            dm, gm = greedy_match(sub, s, threshold)
            totals[cid][0] += int(dm.sum())
            totals[cid][1] += int((~dm).sum())
            totals[cid][2] += int((~gm).sum())
    return {cid: (t[0], t[1], t[2]) for cid, t in totals.items()}


def classify(
    images: Sequence[ImageRecord],
    gt_by_image: ByImage,
    pred_by_image: ByImage,
    ious: Mapping[int, np.ndarray],
    threshold: float,
    scheme: ClassScheme,
) -> tuple[np.ndarray, list[tuple[int, int, float]], int]:
    """Confusion matrix and host pairs: each truth takes the prediction of highest IoU.

    Returns
    -------
    confusion : int64 array (K + 1, K + 1)
        Rows: true class in display order, then "none" (predictions chosen by no source);
        columns: predicted class, then "missed" (best IoU below ``threshold``).
    host_pairs : list of (category_id, image_id, offset_px)
        Detected sources where truth and prediction both have a host: the true class, the
        image, and the host offset in pixels.
    n_detected : int
        Sources matched at IoU >= ``threshold``.
    """
    names = list(scheme.display_order)
    index = {scheme.id_of_name(n): i for i, n in enumerate(names)}
    k = len(names)
    confusion = np.zeros((k + 1, k + 1), dtype=np.int64)
    host_pairs: list[tuple[int, int, float]] = []  # (true class id, image id, offset px)
    n_detected = 0
    for im in images:
        preds, gts = pred_by_image.get(im.id, []), gt_by_image.get(im.id, [])
        iou = ious[im.id]
        chosen = set()
        for i, g in enumerate(gts):
            j = int(np.argmax(iou[:, i])) if preds else -1
            if j < 0 or iou[j, i] < threshold:
                confusion[index[g.category_id], k] += 1
                continue
            n_detected += 1
            chosen.add(j)
            p = preds[j]
            confusion[index[g.category_id], index[p.category_id]] += 1
            if g.host is not None and p.host is not None:
                d = math.hypot(p.host[0] - g.host[0], p.host[1] - g.host[1])
                host_pairs.append((g.category_id, im.id, d))
        for j, p in enumerate(preds):
            if j not in chosen:
                confusion[k, index[p.category_id]] += 1
    return confusion, host_pairs, n_detected


def offset_stats(offsets: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile of host offsets (any unit); NaN, NaN when there are none.

    Examples
    --------
    >>> offset_stats([1.0, 2.0, 3.0])
    (2.0, 2.8)
    """
    if not offsets:
        return float("nan"), float("nan")
    arr = np.asarray(offsets, dtype=float)
    return float(np.median(arr)), float(np.percentile(arr, 90))
