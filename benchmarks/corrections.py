"""The correction loop's learning curve: fine-tune on N corrected cut-outs, evaluate on test.

The simulator's true masks and hosts of N training cut-outs stand in for a user's corrections
made in napari (marked reviewed). For each N the bundled model (or ``--model``) is fine-tuned
with ``radiogal train --init MODEL --config finetune --masks reviewed`` and evaluated on the
test split of the benchmark (``benchmarks/accuracy.py``'s definition; never used for any
choice)::

    python benchmarks/corrections.py                       # N = 0 10 30 100 300
    python benchmarks/corrections.py --n 0 100 --mixed     # + all 1,500 weak images
    python benchmarks/corrections.py --plot docs/images/corrections.png

The N images are the first N of one seeded permutation of the training split, so the sets are
nested (the 10 are among the 30). ``--mixed`` trains on the N corrected images plus every
other training image with its class only (one run: masks where there are corrections, CAM
pseudo-labels elsewhere); without it, on the N images alone. ``--stage irn`` refits only the
IRNet heads on the corrections (the classifier kept), ``--stage host`` only adds a host head
learned from the corrected hosts (masks and classes stay the parent's); the default runs
every stage, the host head included.

Runs are resumable: a finished run folder is reused, so an interrupted curve continues where
it stopped. Results land in ``OUT/corrections.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from napari_radiogal.io.coco import read_coco, write_coco
from napari_radiogal.io.paths import resolve_image_path

ROOT = Path(__file__).resolve().parents[1]


def subset_files(train: Path, n: int, seed: int, out: Path) -> tuple[Path, Path | None]:
    """COCO files of the first ``n`` images of a seeded permutation (reviewed) and of the rest.

    Image paths are made absolute so the files can live outside the data set root.

    Returns
    -------
    (corrected, weak) : paths; ``weak`` is None when every image is corrected.
    """
    dataset = read_coco(train)
    order = np.random.default_rng(seed).permutation(len(dataset.images))
    chosen = {dataset.images[i].id for i in order[:n]}
    images = [
        dataclasses.replace(
            im,
            radio_file=str(resolve_image_path(train, im, "radio_file")),
            ir_file=str(resolve_image_path(train, im, "ir_file")) if im.ir_file else None,
            file_name=str(resolve_image_path(train, im, "radio_file")),
        )
        for im in dataset.images
    ]
    instances = [dataclasses.replace(a, reviewed=a.image_id in chosen) for a in dataset.instances]
    full = dataclasses.replace(dataset, images=images, instances=instances)
    out.mkdir(parents=True, exist_ok=True)
    corrected = write_coco(out / "corrected.json", _subset(full, chosen), backup=False)
    rest = {im.id for im in images} - chosen
    weak = write_coco(out / "weak.json", _subset(full, rest), backup=False) if rest else None
    return corrected, weak


def _subset(dataset, ids: set[int]):
    """The images ``ids`` of a CocoDataset with their instances."""
    return dataclasses.replace(
        dataset,
        images=[im for im in dataset.images if im.id in ids],
        instances=[a for a in dataset.instances if a.image_id in ids],
    )


def fine_tune(args, n: int, corrected: Path, weak: Path | None, run: Path) -> float:
    """Run (or reuse) one fine-tuning; its wall-clock seconds (0 when reused)."""
    if (run / "model.safetensors").is_file():
        return 0.0
    data = [str(corrected)] + ([str(weak)] if args.mixed and weak is not None else [])
    command = [
        sys.executable, "-m", "napari_radiogal", "train",
        "--init", args.model, "--config", "finetune", "--masks", "reviewed",
        "--data", *data, "--val", str(args.val), "--out", str(run),
        "--name", f"corrections-n{n}", "--cache-dir", str(args.out / "cache"),
        "--stage", args.stage, "--no-progress",
        # a full batch of the recipe's 16 needs 16 images; a few corrections take smaller ones
        "--batch-size", str(min(16, max(2, n // 2))),
    ]  # fmt: skip
    if run.exists():
        command.append("--resume")
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def evaluate_model(weights: str, test: Path, out: Path) -> dict:
    """Mask / host AP50 and accuracy of ``weights`` on ``test`` (predicted classes)."""
    from napari_radiogal.errors import RadiogalWarning
    from napari_radiogal.evaluate import evaluate
    from napari_radiogal.inference import inputs_from_coco, predictions_to_dataset, segment_batch

    kept = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RadiogalWarning)
        for p in segment_batch(inputs_from_coco(test), model=weights):
            p.radio, p.maps = None, {}
            kept.append(p)
    path = write_coco(out / "predictions.json", predictions_to_dataset(kept), backup=False)
    result = evaluate(test, path).to_dict()
    return {
        "mask_ap50": result["mean"]["mask_ap50"],
        "host_ap50": result["mean"]["host_ap50"],
        "accuracy": result["classification"]["accuracy"] or 0.0,  # per cent
    }


def plot(rows: list[dict], path: Path) -> None:
    """The curve: mask and host AP50 against the number of corrected cut-outs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [max(r["n"], 1) for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    ax.plot(ns, [r["mask_ap50"] for r in rows], "o-", label="mask AP50")
    ax.plot(ns, [r["host_ap50"] for r in rows], "s-", label="host AP50")
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(r["n"]) for r in rows])
    ax.set_xlabel("corrected cut-outs (0 = the parent model)")
    ax.set_ylabel("test split, %")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench = ROOT / "data" / "bench" / "annotations"
    parser.add_argument("--train", type=Path, default=bench / "train.json")
    parser.add_argument("--val", type=Path, default=bench / "val.json")
    parser.add_argument("--test", type=Path, default=bench / "test.json")
    parser.add_argument("--model", default="default", help="parent weights or bundled name")
    parser.add_argument("--n", type=int, nargs="+", default=[0, 10, 30, 100, 300])
    parser.add_argument("--mixed", action="store_true", help="also train on the weak rest")
    parser.add_argument(
        "--stage",
        choices=("all", "irn", "host"),
        default="all",
        help="all: every stage (+ the host head); irn: the IRNet heads only; host: only a "
        "host head added to the parent (its masks and classes unchanged)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the image permutation")
    parser.add_argument("--out", type=Path, default=Path("runs/corrections"))
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the curve")
    args = parser.parse_args(argv)
    for path in (args.train, args.val, args.test):
        if not path.is_file():
            parser.error(f"{path} does not exist; make it with benchmarks/accuracy.py")
    rows = []
    for n in sorted(set(args.n)):
        tag = (
            f"n{n}"
            + ("_mixed" if args.mixed else "")
            + ("" if args.stage == "all" else f"_{args.stage}")
        )
        folder = args.out / tag
        if n == 0 and not args.mixed:
            weights, seconds = args.model, 0.0
        else:
            corrected, weak = subset_files(args.train, n, args.seed, folder / "data")
            seconds = fine_tune(args, n, corrected, weak, folder / "run")
            weights = str(folder / "run" / "model.safetensors")
        row = {"n": n, "seconds": round(seconds, 1), **evaluate_model(weights, args.test, folder)}
        rows.append(row)
        print(
            f"# N={n}: mask AP50 {row['mask_ap50']:.1f}, host AP50 {row['host_ap50']:.1f}, "
            f"accuracy {row['accuracy']:.1f} % (fine-tuning {seconds:.0f} s)",
            file=sys.stderr,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "corrections.json").write_text(json.dumps(rows, indent=1))
    print("| corrected cut-outs | mask AP50 | host AP50 | accuracy % | fine-tuning |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['mask_ap50']:.1f} | {r['host_ap50']:.1f} | {r['accuracy']:.1f} | "
            f"{r['seconds'] / 60:.1f} min |"
        )
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
