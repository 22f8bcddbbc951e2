"""What the model gets wrong: a PNG of the worst cut-outs of a prediction file.

Every true source is scored by how badly it was handled: missed (no prediction of any class
overlaps it at IoU >= 0.5), then wrongly classified, then host outside the OKS-0.5 radius,
ordered within each group by IoU. Each panel shows the radio cut-out (asinh stretch, north
up) with the true mask outline (white, dashed) and host (white x), every prediction's
outline and host (+) in its class colour, and a title with truth vs prediction::

    python benchmarks/worst_cases.py --gt data/bench/annotations/test.json \\
        --pred runs/accuracy/model/predictions.json --out docs/images/worst_cases.png
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from napari_radiogal.classes import DISPLAY_COLORS
from napari_radiogal.evaluate import OKS_TOLERANCE


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def rank_failures(gt, pred) -> list[dict]:
    """One record per true source, worst first.

    Returns
    -------
    list of dict
        ``image_id``, ``truth`` (Instance), ``match`` (best-IoU prediction or None), ``iou``,
        ``failure`` in {"missed", "class", "host", "ok"} and a sort key.
    """
    by_image: dict[int, list] = {}
    for p in pred.instances:
        by_image.setdefault(p.image_id, []).append(p)
    records = []
    for t in gt.instances:
        candidates = by_image.get(t.image_id, [])
        ious = [_iou(t.mask, p.mask) for p in candidates]
        best = int(np.argmax(ious)) if ious else None
        iou = ious[best] if ious else 0.0
        match = candidates[best] if best is not None else None
        if iou < 0.5:
            failure = "missed"
        elif match.category_id != t.category_id:
            failure = "class"
        elif (
            t.host is None
            or match.host is None
            or math.dist(t.host, match.host) > OKS_TOLERANCE * math.sqrt(t.area)
        ):
            failure = "host"
        else:
            failure = "ok"
        order = {"missed": 0, "class": 1, "host": 2, "ok": 3}[failure]
        records.append(
            {
                "image_id": t.image_id,
                "truth": t,
                "match": match,
                "iou": iou,
                "failure": failure,
                "key": (order, iou),
            }
        )
    records.sort(key=lambda r: r["key"])
    return records


def _outline(ax, mask: np.ndarray, color, style="solid") -> None:
    if mask.any():
        ax.contour(
            mask.astype(float), levels=[0.5], colors=[color], linewidths=1.0, linestyles=style
        )


def draw(ax, gt_json: Path, gt, pred, record) -> None:
    from napari_radiogal.io.coco import resolve_image_path
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.stats import clipped_noise

    image = gt.image(record["image_id"])
    radio = read_radio(resolve_image_path(gt_json, image, "radio_file")).data
    sigma = clipped_noise(radio[np.isfinite(radio)])
    ax.imshow(
        np.arcsinh(np.clip(radio, -3 * sigma, None) / (3 * sigma)), origin="lower", cmap="gray"
    )
    truth = record["truth"]
    names = gt.scheme
    _outline(ax, truth.mask, "white", "dashed")
    if truth.host is not None:
        ax.plot(*truth.host, "x", color="white", ms=7, mew=1.5)
    for p in pred.instances:
        if p.image_id != truth.image_id:
            continue
        color = DISPLAY_COLORS.get(names.name_of_id(p.category_id), "yellow")
        _outline(ax, p.mask, color)
        if p.host is not None:
            ax.plot(*p.host, "+", color=color, ms=9, mew=1.5)
    match = record["match"]
    said = (
        "nothing"
        if match is None
        else f"{names.name_of_id(match.category_id)} {match.score or 0:.2f}"
    )
    ax.set_title(
        f"#{truth.image_id} {names.name_of_id(truth.category_id)} -> {said}\n"
        f"{record['failure']}, IoU {record['iou']:.2f}",
        fontsize=8,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--pred", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/images/worst_cases.png"))
    parser.add_argument("--n", type=int, default=12, help="panels")
    parser.add_argument(
        "--per-failure",
        type=int,
        default=3,
        help="at most this many panels of each failure kind and class",
    )
    args = parser.parse_args(argv)

    from napari_radiogal.evaluate import load_predictions
    from napari_radiogal.io.atomic import atomic_path
    from napari_radiogal.io.coco import read_coco

    gt = read_coco(args.gt)
    pred = load_predictions(args.pred, gt)
    records = rank_failures(gt, pred)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["failure"]] = counts.get(r["failure"], 0) + 1
    print("failures over", len(records), "true sources:", counts)
    # spread the panels over failure kinds and classes instead of 12 missed FR-IIs
    chosen, seen = [], {}
    for r in records:
        if r["failure"] == "ok":
            break
        key = (r["failure"], r["truth"].category_id)
        if seen.get(key, 0) < args.per_failure:
            chosen.append(r)
            seen[key] = seen.get(key, 0) + 1
        if len(chosen) == args.n:
            break
    cols = 4
    rows = max(1, -(-len(chosen) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, record in zip(axes.ravel(), chosen, strict=False):
        ax.axis("on")
        draw(ax, args.gt, gt, pred, record)
    fig.suptitle(
        "Worst cases: truth dashed white (x host); predictions in class colours (+ host)",
        fontsize=9,
    )
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    print(f"wrote {args.out} ({len(chosen)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
