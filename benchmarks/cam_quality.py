"""CAM and pseudo-label quality of a training run against the simulator's ground-truth masks.

    python benchmarks/cam_quality.py --run runs/r18 --data sim/annotations/test.json
    python benchmarks/cam_quality.py --run runs/r18 --data sim/annotations/train.json \
        --pseudo-labels --plot docs/images/loss_curves.png

Masks are read here only to *measure*; training never sees them.

* CAM mIoU (the authors' ``eval_cam``, ALGORITHM 9.1): per pixel the argmax over a 0.5
  background plane and the max-normalised multi-scale CAMs of the image's true classes; one
  confusion matrix over the split; mean IoU with background (the paper's number) and over the
  foreground classes only. Measured for ``cam/best.pt`` (after stage A) and
  ``recam/last.pt`` (after stage B).
* Pseudo-labels (``--pseudo-labels``): the stage-D labels of each refinement (``none``,
  ``islands``, ``island_vote``) at the run's thresholds: mIoU on the pixels they label, and
  the fraction of pixels labelled.
* ``--plot``: training loss curves of the run (``train_log.jsonl``) as a PNG.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from napari_radiogal.io.coco import read_coco
from napari_radiogal.models import ModelConfig, build_model
from napari_radiogal.training.checkpoint import load_checkpoint
from napari_radiogal.training.config import TrainConfig
from napari_radiogal.training.data import prepare_images
from napari_radiogal.training.metrics import (
    ConfusionMatrix,
    cam_prediction,
    semantic_ground_truth,
)
from napari_radiogal.training.pseudo_labels import make_pseudo_label, multiscale_cams


def _model(run: Path, ckpt_name: str, scheme, config: TrainConfig):
    ckpt = load_checkpoint(run / ckpt_name)
    model = build_model(
        ModelConfig(
            config.backbone,
            config.preprocess.num_channels,
            scheme.num_classes,
            config.output_stride,
        ),
        scheme=scheme,
    )
    model.load_state_dict(ckpt["model"])
    return model.eval()


def measure(
    run: Path, data: Path, checkpoints: list[str], scales: tuple[float, ...], pseudo: bool
) -> dict:
    config = TrainConfig.from_dict(load_checkpoint(run / checkpoints[0])["config"])
    dataset = read_coco(data)
    images = prepare_images(data, config.preprocess, run / "cache")
    gts = [
        semantic_ground_truth(insts, images.scheme, (im.height, im.width)) for im, insts in dataset
    ]
    names = list(images.scheme.names)
    results: dict = {"data": str(data), "images": len(images), "scales": list(scales)}
    for name in checkpoints:
        model = _model(run, name, images.scheme, config)
        cams_all = []
        conf = ConfusionMatrix(images.scheme.num_classes)
        for i in range(len(images)):
            x = torch.from_numpy(images.channels(i))
            cams = multiscale_cams(model, x, scales, flip=True).numpy()
            cams_all.append(cams)
            conf.update(gts[i], cam_prediction(cams, images.labels[i] > 0, 0.5))
        results[name] = conf.summary(names)
        if pseudo:
            for refine in ("none", "islands", "island_vote"):
                cfg = dataclasses.replace(config.pseudo_labels, refine=refine)
                pconf = ConfusionMatrix(images.scheme.num_classes)
                for i, cams in enumerate(cams_all):
                    label = make_pseudo_label(cams, images.labels[i] > 0, images.islands(i), cfg)
                    pconf.update(gts[i], label)
                results[f"{name} pseudo-labels refine={refine}"] = pconf.summary(names)
    return results


def plot_losses(run: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (run / "train_log.jsonl").open()]
    # a resumed or repeated stage appends again: keep the last record of each step
    latest = {(r["stage"], r["step"], "train_loss" in r): r for r in records}
    records = sorted(latest.values(), key=lambda r: (r["stage"], r["step"]))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, stage in zip(axes, ("cam", "recam", "irn"), strict=True):
        steps = [r for r in records if r["stage"] == stage and "loss" in r]
        epochs = [r for r in records if r["stage"] == stage and "train_loss" in r]
        if steps:
            ax.plot(
                [r["step"] for r in steps],
                [r["loss"] for r in steps],
                lw=0.8,
                alpha=0.5,
                label="loss (per logged step)",
            )
        if epochs:
            ax.plot(
                [r["step"] for r in epochs],
                [r["train_loss"] for r in epochs],
                "o-",
                label="train loss (epoch mean)",
            )
            val = [r for r in epochs if "val_loss" in r]
            if val:
                ax.plot(
                    [r["step"] for r in val],
                    [r["val_loss"] for r in val],
                    "s-",
                    label="validation loss",
                )
        if stage == "irn":
            for key in ("pos", "neg", "dp_fg", "dp_bg"):
                ax.plot([r["step"] for r in steps], [r[key] for r in steps], lw=0.8, label=key)
        ax.set_title(
            {"cam": "stage A: CAM", "recam": "stage B: ReCAM", "irn": "stage E: IRNet"}[stage]
        )
        ax.set_xlabel("optimiser step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("loss")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="COCO file with masks")
    parser.add_argument("--checkpoints", nargs="+", default=["cam/best.pt", "recam/last.pt"])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 1.5, 2.0])
    parser.add_argument("--pseudo-labels", action="store_true")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.plot:
        plot_losses(args.run, args.plot)
    res = measure(
        args.run,
        args.data,
        [c for c in args.checkpoints if (args.run / c).is_file()],
        tuple(args.scales),
        args.pseudo_labels,
    )
    print(f"# {res['data']}: {res['images']} images, CAM scales {res['scales']} + flips")
    print(f"{'what':48s} {'mIoU':>6s} {'fg mIoU':>8s} {'bg IoU':>7s} {'labelled':>8s}  per class")
    for key, s in res.items():
        if not isinstance(s, dict):
            continue
        per = " ".join(
            f"{k[4:]} {v:.3f}"
            for k, v in s.items()
            if k.startswith("iou_") and k != "iou_background"
        )
        print(
            f"{key:48s} {s['miou']:6.3f} {s['miou_fg']:8.3f} {s['iou_background']:7.3f} "
            f"{s['labelled_fraction']:8.3f}  {per}"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
