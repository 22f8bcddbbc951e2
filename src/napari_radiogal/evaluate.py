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
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import EvaluationError, EvaluationWarning

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
Backend = Literal["pycocotools", "faster-coco-eval", "auto"]
PROTOCOLS: tuple[str, ...] = ("predicted", "oracle")
BACKENDS: tuple[str, ...] = ("pycocotools", "faster-coco-eval", "auto")

#: The authors' keypoint sigma (``kpt_oks_sigmas = [0.5]``).
OKS_SIGMA = 0.5
#: A host passes at OKS 0.5 when its offset is at most ``OKS_TOLERANCE * sqrt(area)`` pixels.
OKS_TOLERANCE = math.sqrt(2.0 * math.log(2.0))
#: COCO's IoU grid for AP50:95.
_COCO_IOUS = np.linspace(0.5, 0.95, 10)
_PROTOCOL_TEXT = {
    "predicted": "predicted classes (each prediction keeps the model's class)",
    "oracle": "ORACLE classes (the paper's protocol: each prediction takes its image's "
    "ground-truth class)",
}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassMetrics:
    """The numbers of one class (or of the mean column). Percentages are 0-100.

    ``nan`` marks a metric that is undefined for this class (no ground truth of it, no
    source with a host, no detected source with both hosts).
    """

    name: str
    n_gt: int
    n_pred: int
    mask_ap50: float
    host_ap50: float
    box_ap50: float
    mask_ap: float  # AP50:95
    tp: int
    fp: int
    fn: int
    tp_rate: float
    fp_rate: float
    fn_rate: float
    host_median_arcsec: float
    host_p90_arcsec: float
    n_host_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN -> ``None``)."""
        return {k: _json_number(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` measured. Print :meth:`table`; store :meth:`to_dict`.

    Attributes
    ----------
    protocol : str
        ``"predicted"`` or ``"oracle"``.
    iou_threshold : float
        IoU for TP/FP/FN and classification (AP50 always uses 0.5).
    classes : tuple of ClassMetrics
        One per class in the scheme's display order.
    mean : ClassMetrics
        NaN-mean of the class values (counts are totals; host offsets over all sources).
    confusion : int array (K + 1, K + 1)
        Rows: true class (display order) then "none" (predictions matching no source);
        columns: predicted class (display order) then "missed".
    accuracy : float
        Correctly classified / detected sources, in %.
    n_images, n_gt, n_pred : int
        Ground-truth images, sources, and predictions evaluated.
    pixel_scales : dict
        How many images took their pixel scale from ``radio_wcs`` and how many the default.
    backend : str
        ``"pycocotools"`` or ``"faster-coco-eval"``.
    """

    protocol: str
    iou_threshold: float
    scheme: ClassScheme
    classes: tuple[ClassMetrics, ...]
    mean: ClassMetrics
    confusion: np.ndarray
    accuracy: float
    n_detected: int
    n_images: int
    n_gt: int
    n_pred: int
    pixel_scales: Mapping[str, Any]
    backend: str
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> ClassMetrics:
        """The metrics of a class by name (``result["FR-II"]``) or ``"mean"``."""
        if name == "mean":
            return self.mean
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(f"no class {name!r}; classes are {[c.name for c in self.classes]}")

    @property
    def confusion_labels(self) -> tuple[list[str], list[str]]:
        """Row and column labels of :attr:`confusion`."""
        names = list(self.scheme.display_order)
        return names + ["none"], names + ["missed"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of everything (NaN -> ``None``)."""
        rows, cols = self.confusion_labels
        return {
            "protocol": self.protocol,
            "protocol_description": _PROTOCOL_TEXT[self.protocol],
            "iou_threshold": self.iou_threshold,
            "backend": self.backend,
            "n_images": self.n_images,
            "n_gt": self.n_gt,
            "n_pred": self.n_pred,
            "classes": {c.name: c.to_dict() for c in self.classes},
            "mean": self.mean.to_dict(),
            "classification": {
                "accuracy": _json_number(self.accuracy),
                "n_detected": self.n_detected,
                "rows": rows,
                "columns": cols,
                "confusion": self.confusion.tolist(),
            },
            "oks": {
                "sigma": OKS_SIGMA,
                "tolerance_factor": OKS_TOLERANCE,
                "area": "ground-truth mask area in px^2",
            },
            "pixel_scales": dict(self.pixel_scales),
            "notes": list(self.notes),
            "scheme": self.scheme.to_dict(),
        }

    def table(self) -> str:
        """A plain-text table like the paper's Table 1, then the confusion matrix."""
        cols = [c.name for c in self.classes] + ["mean"]
        metrics = list(self.classes) + [self.mean]
        width = max(8, *(len(c) + 2 for c in cols))
        thr = f"{self.iou_threshold:.2f}"
        rows: list[tuple[str, str, bool]] = [
            ("sources (truth)", "n_gt", True),
            ("predictions", "n_pred", True),
            ("mask AP50", "mask_ap50", False),
            ("host AP50 (OKS)", "host_ap50", False),
            ("box AP50", "box_ap50", False),
            ("mask AP50:95", "mask_ap", False),
            (f"TP % (IoU>={thr})", "tp_rate", False),
            ("FP % (per source)", "fp_rate", False),
            ("FN %", "fn_rate", False),
            ('host offset median "', "host_median_arcsec", False),
            ('host offset p90 "', "host_p90_arcsec", False),
        ]
        label_w = max(len(r[0]) for r in rows) + 2
        lines = [
            f"Protocol: {_PROTOCOL_TEXT[self.protocol]}",
            f"{self.n_images} images, {self.n_gt} true sources, {self.n_pred} predictions "
            f"(all detections, no image skipped; {self.backend})",
            "",
            " " * label_w + "".join(f"{c:>{width}}" for c in cols),
        ]
        for label, attr, is_count in rows:
            cells = []
            for m in metrics:
                v = getattr(m, attr)
                cells.append(f"{v:>{width}d}" if is_count else f"{_fmt(v):>{width}}")
            lines.append(f"{label:<{label_w}}" + "".join(cells))
        lines += [
            "",
            f"Classification at IoU >= {thr} (the model's own classes; rows: truth, "
            "columns: prediction)",
        ]
        row_labels, col_labels = self.confusion_labels
        cw = max(8, *(len(c) + 2 for c in col_labels))
        lines.append(" " * label_w + "".join(f"{c:>{cw}}" for c in col_labels))
        k = len(self.classes)
        for i, rl in enumerate(row_labels):
            cells = [
                "-" if (i == k and j == k) else str(int(self.confusion[i, j])) for j in range(k + 1)
            ]
            lines.append(f"{rl:<{label_w}}" + "".join(f"{c:>{cw}}" for c in cells))
        lines.append(
            f"accuracy {_fmt(self.accuracy)} % of {self.n_detected} detected sources "
            f"({self.n_detected} of {self.n_gt} detected)"
        )
        scales = self.pixel_scales
        lines += [
            "",
            "mean: NaN-mean over classes with ground truth (counts: totals; host offsets: all "
            "sources). n/a: undefined.",
            f"host AP50: OKS = exp(-d^2 / (2 A)), A = true mask area (px^2); a host passes when "
            f"d <= {OKS_TOLERANCE:.3f} sqrt(A) px. Predictions without a host match nothing.",
            f"host offsets: {self.mean.n_host_pairs} detected sources with both hosts; pixel "
            f"scale from radio_wcs for {scales.get('from_wcs', 0)} images, default "
            f'{scales.get("default_arcsec")}"/px for {scales.get("from_default", 0)}.',
        ]
        lines += list(self.notes)
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _json_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


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
    import json

    from napari_radiogal.errors import CocoFormatError
    from napari_radiogal.io.coco import dataset_from_dict, dataset_to_dict

    if isinstance(source, CocoDataset):
        return _load_dataset(source, "pred")
    path = Path(source)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CocoFormatError("no such file; check the path.", path=path) from None
    except json.JSONDecodeError as exc:
        raise CocoFormatError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}).", path=path
        ) from exc
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
    backend_name = _resolve_backend(backend)
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
        im.id: _iou_matrix(pred_by_image.get(im.id, []), gt_by_image.get(im.id, []))
        for im in images
    }
    pred_cats = {id(a): a.category_id for a in pred_ds.instances}
    if protocol == "oracle":
        pred_cats = _oracle_categories(images, gt_by_image, pred_by_image, ious, scheme)
    max_det = max([100] + [len(v) for v in pred_by_image.values()])
    # COCO's own grid (AP50 is its first entry); TP/FP/FN at iou_threshold are counted below
    iou_thrs = _COCO_IOUS
    gt_dict, dt_anns = _coco_dicts(
        images, gt_ds.instances, pred_ds.instances, pred_cats, scores, scheme
    )
    cat_ids = sorted(scheme.coco_ids)
    prec_segm = _run_cocoeval(backend_name, gt_dict, dt_anns, "segm", iou_thrs, max_det, cat_ids)
    prec_bbox = _run_cocoeval(backend_name, gt_dict, dt_anns, "bbox", iou_thrs, max_det, cat_ids)
    dt_kp = [d for d in dt_anns if d["num_keypoints"] > 0]
    prec_kp = _run_cocoeval(
        backend_name, gt_dict, dt_kp, "keypoints", np.array([0.5]), max_det, cat_ids
    )
    i50 = 0  # _COCO_IOUS[0] == 0.5
    counts = _tp_fp_fn(
        images, gt_by_image, pred_by_image, ious, pred_cats, scores, iou_threshold, scheme
    )
    confusion, host_pairs, n_detected = _classify(
        images, gt_by_image, pred_by_image, ious, iou_threshold, scheme
    )
    scale_of, scale_counts = _pixel_scales(images, pixel_scale_arcsec)
    classes = []
    for name in scheme.display_order:
        cid = scheme.id_of_name(name)
        k = cat_ids.index(cid)
        n_gt = sum(1 for a in gt_ds.instances if a.category_id == cid)
        n_pred = sum(1 for a in pred_ds.instances if pred_cats[id(a)] == cid)
        tp, fp, fn = counts[cid]
        offsets = [d * scale_of[img] for c, img, d in host_pairs if c == cid]
        med, p90 = _offset_stats(offsets)
        classes.append(
            ClassMetrics(
                name=name,
                n_gt=n_gt,
                n_pred=n_pred,
                mask_ap50=_ap(prec_segm[i50, :, k]),
                host_ap50=_ap(prec_kp[0, :, k]),
                box_ap50=_ap(prec_bbox[i50, :, k]),
                mask_ap=_ap(prec_segm[:, :, k]),
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
    mean = _mean_metrics(classes, all_offsets)
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


def _resolve_backend(backend: str) -> str:
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


def _rle(a: Instance) -> dict[str, Any]:
    from napari_radiogal.io.coco import _compressed_rle

    rle = _compressed_rle(a.rle)
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def _iou_matrix(preds: Sequence[Instance], gts: Sequence[Instance]) -> np.ndarray:
    """Mask IoU, shape ``(n_pred, n_gt)`` (pycocotools, on RLE, no decoding)."""
    if not preds or not gts:
        return np.zeros((len(preds), len(gts)))
    from pycocotools import mask as mask_utils

    iou = mask_utils.iou([_rle(p) for p in preds], [_rle(g) for g in gts], [0] * len(gts))
    return np.asarray(iou, dtype=float).reshape(len(preds), len(gts))


def _oracle_categories(images, gt_by_image, pred_by_image, ious, scheme) -> dict[int, int]:
    """The paper's oracle classes (see the module docstring for the rule)."""
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


def _coco_dicts(images, gts, preds, pred_cats, scores, scheme):
    """The COCO ground-truth dictionary and detection list handed to COCOeval.

    Ids are renumbered 1.. (COCOeval uses id 0 for "unmatched").
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
                "segmentation": _rle(a),
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
                "segmentation": _rle(a),
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


def _run_cocoeval(
    backend: str,
    gt_dict: dict,
    dt_anns: list,
    iou_type: str,
    iou_thrs: np.ndarray,
    max_det: int,
    cat_ids: list[int],
) -> np.ndarray:
    """COCOeval precision ``(T, R, K)`` at area "all" and the largest maxDets (-1 = no GT)."""
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


def _ap(precision: np.ndarray) -> float:
    """Mean precision over recall points (and IoUs) in %, NaN when the class has no truth.

    Rounded to 1e-9 %: pycocotools divides by ``tp + fp + eps``, so a perfect precision is
    ``1 - 2e-16``; rounding makes a perfect result exactly 100.0.
    """
    valid = precision[precision > -1]
    return round(100.0 * float(valid.mean()), 9) if valid.size else float("nan")


def _rate(n: int, n_gt: int) -> float:
    return 100.0 * n / n_gt if n_gt else float("nan")


def _greedy_match(
    iou: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's matching: by descending score (stable), each prediction takes the unmatched
    truth with the highest IoU >= threshold (the later one on ties).

    Returns boolean ``(pred_matched (D,), gt_matched (G,))``.
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


def _tp_fp_fn(
    images, gt_by_image, pred_by_image, ious, pred_cats, scores, threshold, scheme
) -> dict[int, tuple[int, int, int]]:
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
            dm, gm = _greedy_match(sub, s, threshold)
            totals[cid][0] += int(dm.sum())
            totals[cid][1] += int((~dm).sum())
            totals[cid][2] += int((~gm).sum())
    return {cid: (t[0], t[1], t[2]) for cid, t in totals.items()}


def _classify(images, gt_by_image, pred_by_image, ious, threshold, scheme):
    """Confusion matrix (display order, + none / missed) and host pairs of detected sources."""
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


def _offset_stats(offsets: Sequence[float]) -> tuple[float, float]:
    if not offsets:
        return float("nan"), float("nan")
    arr = np.asarray(offsets, dtype=float)
    return float(np.median(arr)), float(np.percentile(arr, 90))


def _mean_metrics(classes: Sequence[ClassMetrics], all_offsets: Sequence[float]) -> ClassMetrics:
    def nanmean(attr: str) -> float:
        values = np.array([getattr(c, attr) for c in classes if c.n_gt > 0], dtype=float)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")

    med, p90 = _offset_stats(all_offsets)
    return ClassMetrics(
        name="mean",
        n_gt=sum(c.n_gt for c in classes),
        n_pred=sum(c.n_pred for c in classes),
        mask_ap50=nanmean("mask_ap50"),
        host_ap50=nanmean("host_ap50"),
        box_ap50=nanmean("box_ap50"),
        mask_ap=nanmean("mask_ap"),
        tp=sum(c.tp for c in classes),
        fp=sum(c.fp for c in classes),
        fn=sum(c.fn for c in classes),
        tp_rate=nanmean("tp_rate"),
        fp_rate=nanmean("fp_rate"),
        fn_rate=nanmean("fn_rate"),
        host_median_arcsec=med,
        host_p90_arcsec=p90,
        n_host_pairs=len(all_offsets),
    )


# --------------------------------------------------------------------------------------------
# Pixel scales
# --------------------------------------------------------------------------------------------


def _pixel_scales(
    images: Sequence[ImageRecord], default: float
) -> tuple[dict[int, float], dict[str, Any]]:
    scales: dict[int, float] = {}
    from_wcs = 0
    for im in images:
        scale = pixel_scale_from_wcs_header(im.radio_wcs) if im.radio_wcs else None
        if scale is None:
            scales[im.id] = default
        else:
            scales[im.id] = scale
            from_wcs += 1
    return scales, {"from_wcs": from_wcs, "from_default": len(images) - from_wcs}


_CARD = re.compile(r"^([A-Z0-9_-]{1,8})\s*=\s*([^/]*)")
_UNIT_ARCSEC = {"deg": 3600.0, "arcmin": 60.0, "arcsec": 1.0, "rad": 180 / math.pi * 3600}


@functools.lru_cache(maxsize=4096)
def pixel_scale_from_wcs_header(header_text: str) -> float | None:
    """Geometric-mean pixel scale in arcsec, ``sqrt(|det CD|)``, from WCS header text.

    Parses ``CDi_j``, or ``PCi_j`` x ``CDELTi`` (and ``CUNITi``) of the first two axes
    straight from the cards (fast: no astropy WCS per image); ``None`` when they are absent
    or unusable.

    Parameters
    ----------
    header_text : str
        ``WCS.to_header_string()`` (80-character cards, with or without newlines).
    """
    text = header_text.replace("\r", "")
    lines = (
        text.split("\n") if "\n" in text else [text[i : i + 80] for i in range(0, len(text), 80)]
    )
    cards: dict[str, str] = {}
    for line in lines:
        m = _CARD.match(line)
        if m:
            cards[m.group(1)] = m.group(2).strip().strip("'").strip()

    def number(key: str, default: float | None) -> float | None:
        if key not in cards:
            return default
        try:
            return float(cards[key].replace("D", "E"))
        except ValueError:
            return None

    if any(f"CD{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
        matrix = [[number(f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)]
    else:
        cdelt = [number(f"CDELT{i}", None) for i in (1, 2)]
        pc = [[number(f"PC{i}_{j}", 1.0 if i == j else 0.0) for j in (1, 2)] for i in (1, 2)]
        if None in cdelt:
            return None
        matrix = [
            [cdelt[i] * pc[i][j] if pc[i][j] is not None else None for j in (0, 1)] for i in (0, 1)
        ]
    if any(v is None for row in matrix for v in row):
        return None
    det = abs(matrix[0][0] * matrix[1][1] - matrix[0][1] * matrix[1][0])
    unit = cards.get("CUNIT1", "deg").lower() or "deg"
    factor = _UNIT_ARCSEC.get(unit)
    if not det or factor is None or not math.isfinite(det):
        return None
    return math.sqrt(det) * factor
