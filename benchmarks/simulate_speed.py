"""Seconds per simulated cut-out (goal: <= 0.1 s on one CPU core).

Times :func:`napari_radiogal.sky.simulate_cutout` alone (default 210 x 210 cut-outs, default
difficulties, or a named sky with ``--preset``) and the full writer (FITS pair + COCO) per
cut-out, in this one process. With ``--profile`` prints the 25 most expensive functions
(cProfile, cumulative time).

Usage::

    python benchmarks/simulate_speed.py            # 60 cut-outs
    python benchmarks/simulate_speed.py --preset wide
    python benchmarks/simulate_speed.py --n 200 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time

# One core: keep BLAS / FFT thread pools single-threaded before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from napari_radiogal.sky import SkyConfig, simulate_cutout, write_dataset  # noqa: E402


def time_cutouts(n: int, seed: int, config: SkyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU seconds (this process) of each of ``n`` cut-outs.

    CPU time is what "one core" means on a shared machine; wall time includes waiting for
    the core when other processes compete for it.
    """
    seeds = np.random.SeedSequence(seed).spawn(n)
    simulate_cutout(np.random.default_rng(seeds[0]), config)  # warm-up (imports, caches)
    wall, cpu = [], []
    for ss in seeds:
        t0, c0 = time.perf_counter(), time.process_time()
        simulate_cutout(np.random.default_rng(ss), config)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return np.array(wall), np.array(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=210)
    parser.add_argument("--preset", default="default", help="sky preset: default, easy, wide")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    config = SkyConfig.preset(args.preset, size=args.size)

    wall, cpu = time_cutouts(args.n, args.seed, config)
    print(
        f"simulate_cutout ({args.preset} sky, {args.size}x{args.size}, {args.n} cut-outs), "
        "seconds per cut-out:"
    )
    for name, t in (("cpu ", cpu), ("wall", wall)):
        print(
            f"  {name}: mean {t.mean():.4f}  median {np.median(t):.4f}  "
            f"p90 {np.percentile(t, 90):.4f}  max {t.max():.4f}"
        )
    print(f"  load average (1 min) during the run: {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        write_dataset(tmp, args.n, args.seed, config)
        total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"write_dataset (FITS pair + COCO): cpu {total_cpu / args.n:.4f} s, "
        f"wall {total / args.n:.4f} s per cut-out"
    )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        time_cutouts(args.n, args.seed + 1, config)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
