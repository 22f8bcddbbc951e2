"""What an evaluation measured: :class:`ClassMetrics` per class, :class:`EvaluationResult`.

:meth:`EvaluationResult.table` prints it like the paper's Table 1 followed by the
confusion matrix; :meth:`EvaluationResult.to_dict` gives the JSON-ready record (NaN ->
``None``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_radiogal.classes import ClassScheme
from napari_radiogal.evaluate.cocoeval import OKS_SIGMA, OKS_TOLERANCE
from napari_radiogal.evaluate.matching import offset_stats
from napari_radiogal.io.provenance import jsonable

__all__ = ["ClassMetrics", "EvaluationResult", "PROTOCOL_TEXT", "mean_metrics"]

#: One line per protocol, printed above the table and stored in :meth:`EvaluationResult.to_dict`.
PROTOCOL_TEXT = {
    "predicted": "predicted classes (each prediction keeps the model's class)",
    "oracle": "ORACLE classes (the paper's protocol: each prediction takes its image's "
    "ground-truth class)",
}


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
        return {k: jsonable(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`~napari_radiogal.evaluate.evaluate` measured. Print :meth:`table`; store :meth:`to_dict`.

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
            "protocol_description": PROTOCOL_TEXT[self.protocol],
            "iou_threshold": self.iou_threshold,
            "backend": self.backend,
            "n_images": self.n_images,
            "n_gt": self.n_gt,
            "n_pred": self.n_pred,
            "classes": {c.name: c.to_dict() for c in self.classes},
            "mean": self.mean.to_dict(),
            "classification": {
                "accuracy": jsonable(self.accuracy),
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
            f"Protocol: {PROTOCOL_TEXT[self.protocol]}",
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


def mean_metrics(classes: Sequence[ClassMetrics], all_offsets: Sequence[float]) -> ClassMetrics:
    """The "mean" column: NaN-mean over classes with ground truth, counts summed.

    Parameters
    ----------
    classes : sequence of ClassMetrics
        One per class.
    all_offsets : sequence of float
        Host offsets in arcsec of every detected source with both hosts (all classes).

    Returns
    -------
    ClassMetrics
        Named ``"mean"``; host median and 90th percentile over ``all_offsets``.
    """

    def nanmean(attr: str) -> float:
        values = np.array([getattr(c, attr) for c in classes if c.n_gt > 0], dtype=float)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")

    med, p90 = offset_stats(all_offsets)
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
