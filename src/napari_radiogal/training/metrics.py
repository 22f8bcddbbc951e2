"""Measurements of CAMs and pseudo-labels against ground-truth masks (never used to train).

The CAM mIoU follows the authors' ``eval_cam`` (ALGORITHM 9.1): per pixel, the argmax over a
constant background plane (0.5) and the max-normalised CAMs of the image's classes; one
confusion matrix accumulated over the whole split; IoU per class; the mean with background
(the paper's number) and without it (foreground only, the more telling one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_radiogal.annotations import Instance

__all__ = ["semantic_ground_truth", "ConfusionMatrix", "cam_prediction"]


def semantic_ground_truth(instances: list[Instance], scheme, shape: tuple[int, int]) -> np.ndarray:
    """Label map ``(H, W)`` int: 0 background, ``k + 1`` for class index ``k`` (later wins)."""
    out = np.zeros(shape, np.int64)
    for inst in instances:
        out[inst.mask] = scheme.index_of_id(inst.category_id) + 1
    return out


def cam_prediction(cams: np.ndarray, present: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Argmax over [background = ``threshold``, CAMs of the ``present`` classes]: ``(H, W)`` int."""
    classes = np.flatnonzero(present)
    if classes.size == 0:
        return np.zeros(cams.shape[1:], np.int64)
    sub = cams[classes]
    best = sub.argmax(axis=0)
    fg = sub.max(axis=0) > threshold
    return np.where(fg, classes[best] + 1, 0)


@dataclass
class ConfusionMatrix:
    """Pixel confusion matrix over ``num_classes + 1`` labels (0 = background).

    Predictions equal to 255 (ignore) are counted separately as ``ignored``.
    """

    num_classes: int
    matrix: np.ndarray = field(init=False)
    ignored: int = 0
    total: int = 0

    def __post_init__(self) -> None:
        n = self.num_classes + 1
        self.matrix = np.zeros((n, n), np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one image (``gt`` and ``pred`` label maps of equal shape)."""
        n = self.num_classes + 1
        gt = np.asarray(gt).ravel().astype(np.int64)
        pred = np.asarray(pred).ravel().astype(np.int64)
        keep = pred < n
        self.total += gt.size
        self.ignored += int((~keep).sum())
        self.matrix += np.bincount(gt[keep] * n + pred[keep], minlength=n * n).reshape(n, n)

    def iou(self) -> np.ndarray:
        """IoU per label (background first); NaN for a label absent from both."""
        tp = np.diag(self.matrix).astype(float)
        denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)

    def summary(self, names: list[str] | tuple[str, ...]) -> dict[str, float]:
        """``miou`` (with background), ``miou_fg``, ``iou_<name>``, ``labelled_fraction``."""
        iou = self.iou()
        out = {"miou": float(np.nanmean(iou)), "miou_fg": float(np.nanmean(iou[1:]))}
        out["iou_background"] = float(iou[0])
        for name, v in zip(names, iou[1:], strict=True):
            out[f"iou_{name}"] = float(v)
        out["labelled_fraction"] = 1.0 - self.ignored / max(self.total, 1)
        return out
