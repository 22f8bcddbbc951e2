"""``radiogal train``: the weakly supervised ReCAM + IRNet recipe from image-level labels."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

NAME = "train"
HELP = "train the CAM, ReCAM and IRNet stages from image-level labels and export weights"
DESCRIPTION = """\
Train a model from a COCO file (simulator output, napari exports or the RadioGalaxyNET
layout). Only the image-level classes are used: masks and hosts in the file are ignored.
Stages: cam (classifier, CAMs), recam (ReCAM fine-tuning), irn (pseudo-labels, then IRNet's
boundary and displacement heads on the frozen backbone); 'all' runs them in order and writes
OUT/model.safetensors + OUT/model.json. Checkpoints are saved every epoch; --resume
continues exactly where a run stopped (with the run's recipe). An OUT that holds a run is
refused unless --resume or --overwrite-run is given. Multi-GPU / multi-node: launch with torchrun
(see training/README.md).

examples:
  radiogal train --data sim/annotations/train.json --val sim/annotations/val.json \\
      --out runs/r18 --config cpu
  radiogal train --init default --config finetune --data mine/annotations/train.json \\
      wide/annotations/train.json --val mine/annotations/val.json --out runs/mine
  torchrun --nproc-per-node 4 -m napari_radiogal train --data ... --out ... --config paper
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        nargs="+",
        metavar="COCO",
        help="training COCO JSON file(s); several files are one training set (e.g. two "
        "simulated skies, or a sky plus your napari exports). A firstgalaxydata split is "
        "named firstgalaxydata:SPLIT (the installed package) or PATH:SPLIT (PATH = "
        "galaxy_data.zip or its folder; SPLIT = train, valid or test)",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="run folder (checkpoints, logs, exported weights)"
    )
    parser.add_argument(
        "--val",
        type=Path,
        nargs="+",
        default=None,
        metavar="COCO",
        help="validation COCO JSON file(s) or firstgalaxydata spec(s), e.g. "
        "firstgalaxydata:valid (select the CAM checkpoint; never the test split)",
    )
    parser.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="fine-tune: start every stage from a trained model, a NAME.safetensors or a "
        "bundled model's name (e.g. 'default'); classes and channels are matched by name, "
        "new ones start fresh. Use with a short recipe: --config finetune (config: init)",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="YAML recipe: a path, or the name of a shipped recipe (paper, cpu, finetune, first); "
        "default: the paper's schedule",
    )
    parser.add_argument(
        "--stage",
        default="all",
        choices=["cam", "recam", "irn", "host", "classify", "all"],
        help="which stage(s) to run; host (the optional host head, trained on the annotated "
        "hosts of the images --masks selects) and classify (the optional image classifier, "
        "trained when classify.epochs > 0) alone need --init MODEL, the model they are "
        "added to",
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/<stage>/last.pt (finished stages are skipped); the recipe "
        "must be the run's (OUT/config.yaml) apart from --allow-change keys",
    )
    again.add_argument(
        "--overwrite-run",
        action="store_true",
        help="train into an OUT that holds a run, from the start: its checkpoints of the "
        "stages run (and later ones), pseudo-labels and model are replaced. Without this "
        "or --resume such an OUT is refused",
    )
    parser.add_argument(
        "--allow-change",
        action="append",
        default=[],
        metavar="KEYS",
        help="with --resume: recipe keys or sections that may differ from the run's, "
        "comma-separated, e.g. cam.epochs,irn.epochs (repeatable)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=None, help="random seed (config: seed)")
    parser.add_argument(
        "--deterministic", action="store_true", help="deterministic torch kernels (slower on GPU)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs of every stage run (use --set cam.epochs=N for one)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="batch size per process of every stage run"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader worker processes (config: num_workers)",
    )
    parser.add_argument(
        "--masks",
        choices=("none", "all", "reviewed"),
        default=None,
        help="mixed supervision: images whose IRNet labels come from their annotated masks "
        "instead of the CAMs: every image with masks, or those whose instances are all "
        "marked reviewed in napari (config: pseudo_labels.masks; default none, the paper)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set irn.radius=12 (repeatable)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="pre-processing cache folder (default OUT/cache)",
    )
    parser.add_argument("--name", default=None, help="model name written in the weights card")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_config_path(value: str | None) -> Path | None:
    """A recipe path, or the name of a recipe shipped with the package
    (``napari_radiogal/training/configs/<value>.yaml``: paper, cpu, finetune, first)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path
    from napari_radiogal.training.config import RECIPES_DIR

    candidate = RECIPES_DIR / f"{value.removesuffix('.yaml')}.yaml"
    if candidate.is_file():
        return candidate
    from napari_radiogal.errors import ConfigError

    names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    raise ConfigError(
        f"--config {value!r}: no such file, and no shipped recipe of that name (shipped: "
        f"{', '.join(names)}); give the path of a YAML recipe."
    )


def build_config(args: argparse.Namespace):
    """The TrainConfig of a parsed command line (recipe, --set, then shortcut options)."""
    import dataclasses

    from napari_radiogal.training.config import STAGES, load_config

    config = load_config(resolve_config_path(args.config)).with_overrides(args.overrides)
    # --epochs with --stage all leaves the optional stages (their schedules are of another
    # scale) as the recipe has them
    optional = ("host", "classify")
    stages = [s for s in STAGES if s not in optional] if args.stage == "all" else [args.stage]
    config = config.replace_stage(stages, epochs=args.epochs, batch_size=args.batch_size)
    if args.masks is not None:
        config = dataclasses.replace(
            config, pseudo_labels=dataclasses.replace(config.pseudo_labels, masks=args.masks)
        )
    changes = {"seed": args.seed, "num_workers": args.workers, "init": args.init}
    if args.deterministic:
        changes["deterministic"] = True
    changes = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(config, **changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from napari_radiogal.training.pipeline import train

    config = build_config(args)
    path = train(
        config,
        data=args.data,
        out=args.out,
        val=args.val,
        stage=args.stage,
        resume=args.resume,
        overwrite=args.overwrite_run,
        allow_change=args.allow_change,
        device=args.device,
        cache_dir=args.cache_dir,
        command=["radiogal", *sys.argv[1:]] if sys.argv else None,
        name=args.name,
        progress=not args.no_progress,
    )
    if path is not None:
        log.info("weights written to %s", path)
    return 0
