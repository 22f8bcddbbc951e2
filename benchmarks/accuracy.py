"""Accuracy of the bundled model on the synthetic benchmark, like the paper's Table 1.

Regenerates the benchmark (if missing), predicts the test split with the model (what
``radiogal predict --data`` runs, in-process so that the CAM mIoU comes from the same pass)
and with the non-learned baseline, evaluates both with pycocotools, prints the tables and
draws the model's worst cases::

    python benchmarks/accuracy.py              # ~45 s on 2 CPU cores (+2.5 min to simulate)
    python benchmarks/accuracy.py --quick      # 60 test cut-outs
    python benchmarks/accuracy.py --record-in-card   # also write the numbers into the card

The benchmark is fixed here: train, val and test are drawn with *different* seeds, and the
test split is never used for any choice (training reads train, model selection reads val).
Numbers land in ``OUT/accuracy.json`` and the printed Markdown goes into the README.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from napari_radiogal.cli import main as radiogal

sys.path.insert(0, str(Path(__file__).parent))  # worst_cases.py beside this file

#: The benchmark definition: (split, number of cut-outs, seed). Changing it changes every
#: number in the README; the bundled model was trained on train/val of this definition.
BENCHMARK = {
    "train": (1500, 1),
    "val": (200, 2),
    "test": (300, 3),
}
QUICK_TEST = (60, 3)

#: The paper's Table 1 (test, AP50 %, real EMU-PS data, oracle classes), for reference only.
PAPER_TABLE1_TEST = {
    "mask AP50": {"FR-I": 73.8, "FR-II": 77.1, "FR-X": 87.1, "R": 32.0, "mean": 67.5},
    "host AP50": {"FR-I": 93.7, "FR-II": 84.3, "FR-X": 87.1, "R": 42.2, "mean": 76.8},
}


def simulate(root: Path, splits: dict[str, tuple[int, int]]) -> None:
    """Write each split with its own seed unless its JSON is already there."""
    for split, (n, seed) in splits.items():
        if (root / "annotations" / f"{split}.json").exists():
            continue
        code = radiogal(
            [
                "-q",
                "simulate",
                "--n",
                str(n),
                "--seed",
                str(seed),
                "--only-split",
                split,
                "--out",
                str(root),
                "--no-progress",
            ]
        )
        if code:
            sys.exit(f"simulate {split} failed with exit code {code}")


def predict_baseline(test_json: Path, out: Path) -> Path:
    """Run the non-learned baseline over a data set; write its COCO predictions."""
    from napari_radiogal.baseline import predict_dataset
    from napari_radiogal.io.coco import write_coco

    pred = predict_dataset(test_json)
    return write_coco(out / "predictions.json", pred, backup=False)


def predict_model(test_json: Path, out: Path, model: str | None) -> tuple[Path, dict]:
    """Predict a data set with the model (what ``radiogal predict --data`` runs).

    Returns the predictions file and the CAM mIoU of the same pass (the authors' eval_cam:
    argmax over a 0.5 background and the max-normalised multi-scale CAMs of each image's
    *true* classes, one confusion matrix over the split).
    """
    import warnings

    from napari_radiogal.errors import RadiogalWarning
    from napari_radiogal.inference import inputs_from_coco, predictions_to_dataset, segment_batch
    from napari_radiogal.inference.grid import upsample4  # the pipeline's aligned x4
    from napari_radiogal.io.coco import read_coco, write_coco
    from napari_radiogal.training.metrics import (
        ConfusionMatrix,
        cam_prediction,
        semantic_ground_truth,
    )

    gt = read_coco(test_json)
    truth = {im.id: insts for im, insts in gt}
    present = {im.id: row > 0 for im, row in zip(gt.images, gt.image_labels(), strict=True)}
    confusion = ConfusionMatrix(gt.scheme.num_classes)
    kept = []
    with warnings.catch_warnings():  # partial IR coverage is reported once per image
        warnings.simplefilter("ignore", RadiogalWarning)
        for p in segment_batch(inputs_from_coco(test_json, gt), model=model):
            shape = p.radio.shape
            cams = upsample4(p.maps["cams"], shape)
            confusion.update(
                semantic_ground_truth(truth[p.image.id], gt.scheme, shape),
                cam_prediction(cams, present[p.image.id]),
            )
            p.radio = None  # keep the pixels of 300 cut-outs out of memory
            p.maps = {}
            kept.append(p)
    path = write_coco(out / "predictions.json", predictions_to_dataset(kept), backup=False)
    return path, confusion.summary(list(gt.scheme.names))


def predict(test_json: Path, out: Path, *, method: str, model: str | None):
    """Predict ``test_json`` with the model or the baseline; (predictions path, CAM mIoU)."""
    start = time.perf_counter()
    cam = None
    if method == "baseline":
        path = predict_baseline(test_json, out)
    else:
        path, cam = predict_model(test_json, out, model)
    print(f"# {method}: predicted in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path, cam


def record_in_card(weights: str | None, results: dict, test_json: Path) -> Path:
    """Write the headline test numbers into the weights card's ``metrics["benchmark"]``.

    The card travels with the weights, so ``radiogal predict`` provenance and the napari
    widget can say how good the model is on the benchmark. Only the JSON card changes; the
    safetensors file (whose sha256 the card holds) is untouched.
    """
    from napari_radiogal.io.atomic import atomic_write_text
    from napari_radiogal.models.weights import default_weights_path, weights_paths

    _, card_path = weights_paths(weights or default_weights_path())
    card = json.loads(card_path.read_text())
    model = results["model"]
    from napari_radiogal.inference import load_model

    headline = {
        "data": f"{test_json} ({BENCHMARK['test'][0]} cut-outs, seed {BENCHMARK['test'][1]})",
        "command": "python benchmarks/accuracy.py",
        # the numbers hold for these settings: the library defaults with the card's
        # recommendation, what segment_batch ran with (predict_model passes no config)
        "inference": load_model(weights).config().to_dict(),
    }
    for protocol in ("predicted", "oracle"):
        headline[f"{protocol}_mask_ap50"] = model[protocol]["mean"]["mask_ap50"]
        headline[f"{protocol}_host_ap50"] = model[protocol]["mean"]["host_ap50"]
    headline["accuracy"] = model["predicted"]["accuracy"]
    if "cam_miou" in model:
        headline["cam_miou"] = model["cam_miou"]["miou"]
        headline["cam_miou_fg"] = model["cam_miou"]["miou_fg"]
    if "baseline" in results:
        headline["baseline_predicted_mask_ap50"] = results["baseline"]["predicted"]["mean"][
            "mask_ap50"
        ]
    card.setdefault("metrics", {})["benchmark"] = headline
    return atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")


def summary_rows(results: dict[str, dict]) -> list[str]:
    """Markdown rows: per method and protocol, per class mask AP50 / host AP50, accuracy."""
    from napari_radiogal.classes import RADIOGALAXYNET

    classes = list(RADIOGALAXYNET.display_order) + ["mean"]
    head = "| method | protocol | metric | " + " | ".join(classes) + " |"
    rows = [head, "|" + "---|" * (3 + len(classes))]
    for method, by_protocol in results.items():
        for protocol, res in by_protocol.items():
            if protocol not in ("predicted", "oracle"):
                continue
            for metric, key in (("mask AP50", "mask_ap50"), ("host AP50", "host_ap50")):
                values = [res.get(c, {}).get(key) for c in classes]
                cells = " | ".join("n/a" if v is None else f"{v:.1f}" for v in values)
                rows.append(f"| {method} | {protocol} | {metric} | {cells} |")
            rows.append(
                f"| {method} | {protocol} | classification accuracy | "
                + " | ".join([""] * (len(classes) - 1))
                + f" | {res['accuracy']:.1f} |"
            )
    for metric, values in PAPER_TABLE1_TEST.items():
        cells = " | ".join(f"{values[c]:.1f}" for c in classes)
        rows.append(f"| paper (real EMU-PS) | oracle | {metric} | {cells} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 test cut-outs only")
    parser.add_argument(
        "--data", type=Path, default=Path("data/bench"), help="benchmark root (created if missing)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/accuracy"))
    parser.add_argument("--model", help="weights file (default: the bundled model)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--record-in-card",
        action="store_true",
        help="write the headline numbers into the weights card (metrics.benchmark); "
        "full benchmark only",
    )
    parser.add_argument(
        "--worst-cases",
        type=Path,
        default=Path("runs/accuracy/worst_cases.png"),
        help="PNG of the model's worst test cut-outs (docs/images/worst_cases.png in the README)",
    )
    args = parser.parse_args(argv)
    if args.record_in_card and args.quick:
        parser.error("--record-in-card records the full benchmark only (drop --quick)")

    from napari_radiogal.evaluate import evaluate

    root = args.data / "quick" if args.quick else args.data
    splits = {"test": QUICK_TEST} if args.quick else BENCHMARK
    simulate(root, splits)
    test_json = root / "annotations" / "test.json"
    methods = ["model"] + ([] if args.no_baseline else ["baseline"])
    results: dict[str, dict] = {}
    for method in methods:
        pred, cam = predict(test_json, args.out / method, method=method, model=args.model)
        results[method] = {}
        for protocol in ("predicted", "oracle"):
            res = evaluate(test_json, pred, protocol=protocol)
            print(f"\n## {method}, {protocol} classes\n")
            print(res.table())
            d = res.to_dict()
            flat = dict(d["classes"])
            flat["mean"] = d["mean"]
            flat["accuracy"] = d["classification"]["accuracy"] or 0.0
            results[method][protocol] = flat
        if cam is not None:
            results[method]["cam_miou"] = cam
            per_class = ", ".join(
                f"{k[4:]} {v:.3f}" for k, v in cam.items() if k.startswith("iou_")
            )
            print(
                f"\nCAM mIoU ({method}, true classes, background 0.5): "
                f"{cam['miou']:.3f} with background, {cam['miou_fg']:.3f} foreground only "
                f"({per_class})"
            )
    if args.worst_cases and "model" in results:
        from worst_cases import main as worst_cases

        worst_cases(
            [
                "--gt", str(test_json),
                "--pred", str(args.out / "model" / "predictions.json"),
                "--out", str(args.worst_cases),
            ]
        )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.json").write_text(json.dumps(results, indent=1))
    print("\n" + "\n".join(summary_rows(results)))
    if args.record_in_card:
        print(f"recorded in {record_in_card(args.model, results, test_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
