"""Inference speed and memory on this CPU: per-stage milliseconds, cut-outs/s, peak RSS.

Uses simulated 210 x 210 EMU + WISE cut-outs (IR on its own grid, so reprojection is part of
"prepare") and a randomly initialised network of the default architecture (ResNet-18, 2
channels, 4 classes: the bundled model's recipe, src/napari_radiogal/training/configs/cpu.yaml). Random weights
give the same network cost as trained ones; the post-processing cost depends a little on how
many instance maps the CAMs produce.

Goals (issue 7): < 0.5 s end to end for one cut-out; >= 5 cut-outs/s batched.

    python benchmarks/infer_speed.py                  # timings + peak RSS (subprocesses)
    python benchmarks/infer_speed.py --profile        # + pyinstrument profiles
    python benchmarks/infer_speed.py --scales 1 0.5 1.5 2 --flip   # the authors' scales
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _model(tmp: Path, backbone: str, weights: str | None = None):
    """The model to time: ``weights`` ("bundled" or a path), else a random ``backbone``."""
    import torch

    from napari_radiogal.classes import RADIOGALAXYNET
    from napari_radiogal.inference import load_model
    from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY
    from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights

    if weights is not None:
        # a trained model's CAMs decide how many instance maps the random walk propagates
        return load_model(None if weights == "bundled" else weights, device="cpu")

    torch.manual_seed(0)
    net = build_model(ModelConfig(backbone, in_channels=2, num_classes=4), scheme=RADIOGALAXYNET)
    card = WeightsCard(
        name=f"random-{backbone}",
        architecture=net.config,
        classes=RADIOGALAXYNET,
        geometry=EMU_PILOT_GEOMETRY,
    )
    return load_model(save_weights(net, card, tmp / "model"), device="cpu")


def _cutouts(n: int, seed: int = 0):
    from napari_radiogal.sky import simulate_cutout

    seeds = np.random.SeedSequence(seed).spawn(n)
    out = []
    for s in seeds:
        cut = simulate_cutout(np.random.default_rng(s))
        out.append((cut.radio, cut.infrared))
    return out


def _status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _config(args):
    from napari_radiogal.inference import InferenceConfig

    defaults = InferenceConfig()
    return InferenceConfig(
        device="cpu",
        scales=tuple(args.scales) if args.scales else defaults.scales,
        flip=defaults.flip if args.flip is None else args.flip,
        batch_size=args.batch_size,
    )


def run_rss(args) -> None:
    """Child process: peak RSS while segmenting ``args.rss`` cut-outs."""
    import gc

    from napari_radiogal.inference import segment_batch

    with tempfile.TemporaryDirectory() as tmp:
        model = _model(Path(tmp), args.backbone, args.model)
        images = _cutouts(args.rss)
        gc.collect()
        _reset_peak()
        before = _status_mb("VmRSS")
        n = 0
        for _ in segment_batch(images, model=model, config=_config(args)):
            n += 1
        print(json.dumps({"images": n, "baseline_mb": before, "peak_mb": _status_mb("VmHWM")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument(
        "--model",
        help="'bundled' or a weights file (default: a random network of --backbone)",
    )
    parser.add_argument(
        "--scales", type=float, nargs="+", help="CAM scales (default: InferenceConfig's)"
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mirror test-time augmentation (default: InferenceConfig's)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=10, help="single cut-out runs")
    parser.add_argument("--batch", type=int, default=64, help="cut-outs in the batched run")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--rss", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss:
        run_rss(args)
        return

    import os

    import torch

    from napari_radiogal.inference import STAGES, StageTimer, segment, segment_batch

    if args.threads:
        torch.set_num_threads(args.threads)
    config = _config(args)
    load = os.getloadavg()
    print(
        f"machine load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
        f"{os.cpu_count()} cores (other jobs inflate wall-clock times)"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.backbone}; "
        f"scales {config.scales}, flip {config.flip}, batch_size {config.batch_size}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(Path(tmp), args.backbone, args.model)
        images = _cutouts(max(args.batch, args.repeat))
        radio, ir = images[0]

        t0 = time.perf_counter()
        segment(radio, ir, model=model, config=config.replace(batch_size=1))
        cold = time.perf_counter() - t0

        totals, cpu = [], []
        stages: dict[str, list[float]] = {s: [] for s in STAGES}
        stages_cpu: dict[str, list[float]] = {s: [] for s in STAGES}
        for i in range(args.repeat):
            radio, ir = images[i]
            timer = StageTimer()
            t0, c0 = time.perf_counter(), time.process_time()
            pred = segment(radio, ir, model=model, config=config.replace(batch_size=1), timer=timer)
            totals.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            for s in STAGES:
                stages[s].append(pred.timings[s])
                stages_cpu[s].append(timer.cpu_ms.get(s, 0.0))
        print(
            f"\none 210 x 210 cut-out (median of {args.repeat}; first call {cold * 1e3:.0f} ms "
            "incl. one-off set-up):    wall ms   CPU ms"
        )
        for s in STAGES:
            print(
                f"  {s:<16} {statistics.median(stages[s]):8.1f} "
                f"{statistics.median(stages_cpu[s]):8.1f}"
            )
        one = statistics.median(totals)
        print(
            f"  {'end to end':<16} {one * 1e3:8.1f} {statistics.median(cpu) * 1e3:8.1f}   "
            f"(goal < 500 ms wall: {'met' if one < 0.5 else 'MISSED'})"
        )

        batch = images[: args.batch]
        list(segment_batch(batch[: config.batch_size], model=model, config=config))  # warm
        timer = StageTimer()
        t0, c0 = time.perf_counter(), time.process_time()
        preds = list(segment_batch(batch, model=model, config=config, timer=timer))
        elapsed, cpu_batch = time.perf_counter() - t0, time.process_time() - c0
        rate = len(preds) / elapsed
        print(
            f"\nbatched: {len(preds)} cut-outs in {elapsed:.2f} s = {rate:.2f} cut-outs/s "
            f"(goal >= 5: {'met' if rate >= 5 else 'MISSED'}); CPU {cpu_batch:.1f} s "
            f"= {len(preds) / cpu_batch:.2f} cut-outs per CPU-second"
        )
        print("  per cut-out:      wall ms   CPU ms")
        for s in STAGES:
            wall = statistics.mean(p.timings[s] for p in preds)
            print(f"  {s:<16} {wall:8.1f} {timer.cpu_ms.get(s, 0.0) / len(preds):8.1f}")
        n_inst = [len(p.instances) for p in preds]
        print(f"instances per cut-out: mean {np.mean(n_inst):.1f}")

        if args.profile:
            from pyinstrument import Profiler

            for label, fn in [
                (
                    "one cut-out",
                    lambda: segment(radio, ir, model=model, config=config.replace(batch_size=1)),
                ),
                (
                    f"batch of {len(batch)}",
                    lambda: list(segment_batch(batch, model=model, config=config)),
                ),
            ]:
                profiler = Profiler(interval=0.002)
                profiler.start()
                fn()
                profiler.stop()
                print(f"\n---- profile: {label} ----")
                print(profiler.output_text(unicode=False, color=False, short_mode=True))

    if not args.no_rss:
        print(
            "\npeak RSS while segmenting (fresh process each; baseline = RSS after imports, "
            "model load and making the inputs; the peak counter is reset there):"
        )
        for n, batch_size in ((1, 1), (args.batch, args.batch_size), (args.batch, args.batch)):
            cmd = [
                sys.executable,
                __file__,
                "--rss",
                str(n),
                "--backbone",
                args.backbone,
                *(["--model", args.model] if args.model else []),
                "--batch-size",
                str(batch_size),
            ]
            cmd += ["--scales", *[str(s) for s in args.scales]] if args.scales else []
            cmd += [] if args.flip is None else ["--flip" if args.flip else "--no-flip"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            info = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {n:>3} cut-out(s), batch_size {batch_size:>3}: peak {info['peak_mb']:.0f} MB "
                f"(baseline {info['baseline_mb']:.0f} MB, "
                f"+{info['peak_mb'] - info['baseline_mb']:.0f} MB)"
            )


if __name__ == "__main__":
    main()
