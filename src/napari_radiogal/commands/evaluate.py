"""``radiogal evaluate``: compare predictions with ground truth, like the paper's Table 1."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

NAME = "evaluate"
HELP = "score predictions against ground truth (mask/host/box AP50 per class, like Table 1)"
DESCRIPTION = """\
Compare a prediction COCO file with a ground-truth COCO file (images matched by id) and
print, per class (FR-I, FR-II, FR-X, R) and their mean: mask AP50, host keypoint AP50
(OKS with sigma 0.5: a host passes within 1.177 sqrt(area) px), box AP50, mask AP50:95,
TP/FP/FN rates at the IoU threshold, host offsets in arcsec, and the classification
confusion matrix. All detections are used and no image is skipped.

--protocol predicted keeps the model's classes (the honest number); oracle replaces each
prediction's class by its image's ground-truth class (the paper's protocol); both prints both.
Example: radiogal evaluate --gt data/annotations/test.json --pred out/predictions.json
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``radiogal evaluate``."""
    parser.add_argument(
        "--gt", required=True, type=Path, metavar="GT.json", help="ground-truth COCO file"
    )
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        metavar="PRED.json",
        help="predictions: a COCO file, or a COCO results list",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT.json",
        help="also write every number to this JSON file",
    )
    parser.add_argument(
        "--protocol",
        choices=("predicted", "oracle", "both"),
        default="predicted",
        help="predicted classes, the paper's oracle classes, or both",
    )
    parser.add_argument(
        "--iou-threshold",
        type=float,
        default=0.5,
        help="mask IoU for TP/FP/FN and classification (AP50 is always at 0.5)",
    )
    parser.add_argument(
        "--pixel-scale",
        type=float,
        default=2.0,
        metavar="ARCSEC",
        help="pixel scale (arcsec/px) for host offsets on images without radio_wcs",
    )
    parser.add_argument(
        "--backend",
        choices=("pycocotools", "faster-coco-eval", "auto"),
        default="pycocotools",
        help="who runs COCOeval (identical numbers; faster-coco-eval is faster)",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, optionally write JSON; returns the exit code."""
    from napari_radiogal import __version__
    from napari_radiogal.evaluate import evaluate, load_predictions
    from napari_radiogal.io.atomic import atomic_write_text
    from napari_radiogal.io.coco import read_coco

    gt = read_coco(args.gt)
    pred = load_predictions(args.pred, gt)
    protocols = ("predicted", "oracle") if args.protocol == "both" else (args.protocol,)
    results = {}
    for protocol in protocols:
        results[protocol] = evaluate(
            gt,
            pred,
            protocol=protocol,
            iou_threshold=args.iou_threshold,
            pixel_scale_arcsec=args.pixel_scale,
            backend=args.backend,
        )
    print(f"ground truth: {args.gt}\npredictions:  {args.pred}\n")
    print("\n\n".join(r.table() for r in results.values()))
    if args.json is not None:
        payload = {
            "software": {"name": "napari-radiogal", "version": __version__},
            "gt": str(args.gt),
            "pred": str(args.pred),
            "results": {name: r.to_dict() for name, r in results.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(payload, indent=1, allow_nan=False))
        log.info("wrote %s", args.json)
    return 0
