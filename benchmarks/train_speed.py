"""Training speed per stage and backbone: images/s and ms per image of one optimiser step.

    python benchmarks/train_speed.py                    # all backbones, 210 x 210, batch 8
    python benchmarks/train_speed.py --backbones resnet18 --size 160 --batch 16 --steps 5

Each stage's loss module runs forward + backward + SGD step on random pre-processed-like
inputs (two channels, sparse islands in [0, 1]); ``cam`` is stage A, ``recam`` stage B (the
class-wise features add little), ``irn`` stage E on the frozen backbone (canvas = ``--size``
rounded to the IRN canvas). The first ``--warmup`` steps are not timed. Prints one line per
(backbone, stage); numbers are for this machine's threads (``torch.get_num_threads()``).
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_radiogal.classes import RADIOGALAXYNET
from napari_radiogal.models import ModelConfig, build_model
from napari_radiogal.training.config import CamStageConfig, IrnStageConfig, RecamStageConfig
from napari_radiogal.training.stages import (
    CamLoss,
    IrnLoss,
    RecamLoss,
    StagePlan,
    set_trainable,
)


def _inputs(batch: int, size: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.rand(batch, 2, size, size, generator=gen)
    return torch.where(x > 0.9, x, torch.zeros_like(x))


def _bench(stage: str, backbone: str, size: int, batch: int, steps: int, warmup: int) -> float:
    gen = torch.Generator().manual_seed(0)
    model = build_model(ModelConfig(backbone, 2, 4), scheme=RADIOGALAXYNET)
    if stage == "cam":
        set_trainable(model, ("backbone", "classifier"), freeze_stem=False)
        module, plan = CamLoss(model), StagePlan.cam(CamStageConfig())
    elif stage == "recam":
        set_trainable(model, ("backbone", "classifier", "recam"), freeze_stem=False)
        module, plan = RecamLoss(model, 0.5), StagePlan.recam(RecamStageConfig())
    else:
        set_trainable(model, ("boundary", "displacement"), freeze_stem=True)
        module, plan = IrnLoss(model, 10), StagePlan.irn(IrnStageConfig())
    model.train()
    if stage == "irn":
        model.backbone.eval()
    opt = torch.optim.SGD(plan.param_groups(model), lr=1e-3, momentum=0.9)
    x = _inputs(batch, size, gen)
    if stage == "irn":
        g = (size + 3) // 4
        target = torch.randint(0, 3, (batch, g, g), generator=gen)
    else:
        target = torch.zeros(batch, 4)
        target[:, 0] = 1
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss, _ = module(x, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet34", "resnet50"])
    parser.add_argument("--stages", nargs="+", default=["cam", "recam", "irn"])
    parser.add_argument("--size", type=int, default=210)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import os

    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}, input "
        f"{args.size}x{args.size}, batch {args.batch}, {args.steps} timed steps"
    )
    print(f"{'backbone':10s} {'stage':6s} {'ms/img':>8s} {'img/s':>7s}")
    for backbone in args.backbones:
        for stage in args.stages:
            sec = _bench(stage, backbone, args.size, args.batch, args.steps, args.warmup)
            print(f"{backbone:10s} {stage:6s} {1000 * sec:8.1f} {1 / sec:7.2f}", flush=True)


if __name__ == "__main__":
    main()
