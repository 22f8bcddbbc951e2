"""Random walk: the authors' dense T**256 (8 squarings) against our 256 sparse steps.

On the stride-4 grid of a 210 x 210 cut-out (53 x 53 = 2,809 cells) and the same boundary
maps, instance maps and seeds, both forms must give the same propagated maps (to 1e-4) and
identical masks (argmax against the upstream relative background 0.25); the script prints
the times and their ratio (goal: >= 100x).

The dense reference (``propagate_dense_reference``) does what the authors' code does: a dense
affinity matrix on the boundary grid padded with 1.0, cropped back, raised to beta = 10,
column-normalised, squared 8 times in float32 (their GPU code is float32), then one product.

    python benchmarks/random_walk.py                 # 3 seeds x maps in {1, 4, 16}
    python benchmarks/random_walk.py --seeds 5 --large   # + ours alone on a 128 x 128 grid
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from napari_radiogal.inference.instances import label_from_scores
from napari_radiogal.inference.random_walk import propagate, propagate_dense_reference


def boundary_map(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A boundary-like map in [0, 1]: thin high ridges between smooth low regions."""
    field = ndimage.gaussian_filter(rng.normal(size=shape), 3.0)
    field /= field.std()
    ridges = np.exp(-((field / 0.35) ** 2))  # high along the zero crossings of a smooth field
    return np.clip(ridges + 0.05 * rng.random(shape), 0, 1).astype(np.float32)


def instance_maps(rng: np.random.Generator, shape: tuple[int, int], m: int) -> np.ndarray:
    """``m`` CAM-like blobs, each restricted to a random region (like one cluster)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    maps = np.zeros((m, *shape), np.float32)
    for i in range(m):
        cy, cx = rng.uniform(5, shape[0] - 5), rng.uniform(5, shape[1] - 5)
        s = rng.uniform(2, 8)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s**2))
        region = (np.abs(yy - cy) < 3 * s) & (np.abs(xx - cx) < 4 * s)
        maps[i] = blob * region
    return maps / maps.max()


def _time(fn, repeat: int):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--maps", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--size", type=int, default=53, help="grid side (53 for 210 px)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats of ours (best)")
    parser.add_argument(
        "--large",
        action="store_true",
        help="also time ours alone on a 128 x 128 grid (512 px cut-out), where "
        "the dense form needs 1 GB per matrix and ~70 TFLOP",
    )
    args = parser.parse_args()
    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; grid "
        f"{args.size} x {args.size} = {args.size**2} nodes, beta 10, 256 steps, radius 5"
    )
    print(
        f"{'seed':>4} {'maps':>4} {'dense s':>9} {'sparse ms':>10} {'ratio':>8} "
        f"{'|diff| f32':>11} {'|diff| f64':>11} {'masks vs f64':>13} {'vs f32':>12}"
    )
    ratios, worst32, worst64 = [], 0.0, 0.0
    identical64 = True
    for seed in range(args.seeds):
        for m in args.maps:
            rng = np.random.default_rng(seed)
            shape = (args.size, args.size)
            b = boundary_map(rng, shape)
            x = instance_maps(rng, shape, m)
            t_dense, dense = _time(lambda x=x, b=b: propagate_dense_reference(x, b), 1)
            t_ours, ours = _time(lambda x=x, b=b: propagate(x, b), args.repeat)
            exact = propagate_dense_reference(x, b, dtype=np.float64)  # not timed
            d32 = float(np.abs(ours - dense).max())
            d64 = float(np.abs(ours - exact).max())
            background = 0.25 * float(exact.max())
            ours_label = label_from_scores(ours, background)
            same64 = np.array_equal(ours_label, label_from_scores(exact, background))
            n32 = int((ours_label != label_from_scores(dense, background)).sum())
            identical64 &= same64
            worst32, worst64 = max(worst32, d32), max(worst64, d64)
            ratios.append(t_dense / t_ours)
            print(
                f"{seed:>4} {m:>4} {t_dense:>9.2f} {t_ours * 1e3:>10.1f} "
                f"{t_dense / t_ours:>7.0f}x {d32:>11.1e} {d64:>11.1e} "
                f"{'identical' if same64 else 'DIFFER':>13} {n32:>6} cells"
            )
    if ratios:
        print(
            f"\nspeed-up: median {np.median(ratios):.0f}x (min {min(ratios):.0f}x, goal >= 100x); "
            f"max |diff| {worst32:.1e} against the authors' float32 form (goal <= 1e-4), "
            f"{worst64:.1e} against the same matrix power in float64; masks "
            f"{'identical' if identical64 else 'NOT identical'} to the float64 form in every case "
            "('vs f32': cells whose label differs from the float32 form: near-ties within its "
            "rounding)"
        )
    if args.large:
        rng = np.random.default_rng(0)
        shape = (128, 128)
        b = boundary_map(rng, shape)
        for m in args.maps:
            x = instance_maps(rng, shape, m)
            t, _ = _time(lambda x=x, b=b: propagate(x, b), args.repeat)
            print(
                f"128 x 128 grid (16,384 nodes), {m:>2} maps: ours {t * 1e3:.0f} ms "
                "(dense: 1.07 GB per matrix, 8 x 8.8 TFLOP)"
            )


if __name__ == "__main__":
    main()
