"""Speed of `evaluate` with pycocotools vs faster-coco-eval, and of COCO reading/writing.

Synthetic 210x210 cut-outs (the paper's size) with 1-3 sources each (discs and two-lobe
FR-IIs) and imperfect predictions (shifted masks, some wrong classes, spurious detections).
Prints wall-clock seconds; checks that both backends give identical numbers.

    python benchmarks/evaluate_speed.py --images 500
    python benchmarks/evaluate_speed.py --read-annotations 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.evaluate import evaluate
from napari_radiogal.io.coco import read_coco, write_coco

SIZE = 210


def _disk(r, c, radius):
    yy, xx = np.ogrid[:SIZE, :SIZE]
    return (yy - r) ** 2 + (xx - c) ** 2 <= radius**2


def synthetic(n_images: int, seed: int = 0) -> tuple[CocoDataset, CocoDataset]:
    rng = np.random.default_rng(seed)
    images = [ImageRecord(i, f"radio/{i:06d}.fits", SIZE, SIZE) for i in range(1, n_images + 1)]
    gts, preds = [], []
    for im in images:
        for _ in range(int(rng.integers(1, 4))):
            r, c = (int(v) for v in rng.integers(30, 180, 2))
            radius = int(rng.integers(4, 20))
            cat = int(rng.integers(1, 5))
            mask = _disk(r, c, radius)
            if cat == 1:  # FR-II: add a second lobe
                mask |= _disk(r, min(c + 3 * radius, 205), radius // 2 + 1)
            host = (float(c), float(r))
            gts.append(Instance.from_mask(mask, image_id=im.id, category_id=cat, host=host))
            shift = rng.integers(-3, 4, 2)
            pmask = np.roll(mask, tuple(int(s) for s in shift), axis=(0, 1))
            pcat = cat if rng.random() < 0.8 else int(rng.integers(1, 5))
            phost = (host[0] + rng.normal(0, 2), host[1] + rng.normal(0, 2))
            preds.append(
                Instance.from_mask(
                    pmask, image_id=im.id, category_id=pcat, host=phost, score=float(rng.random())
                )
            )
        if rng.random() < 0.3:
            preds.append(
                Instance.from_mask(
                    _disk(20, 20, 5),
                    image_id=im.id,
                    category_id=int(rng.integers(1, 5)),
                    score=float(rng.random()),
                )
            )
    return CocoDataset(images, gts), CocoDataset(images, preds)


def bench_evaluate(n_images: int) -> None:
    gt, pred = synthetic(n_images)
    print(f"{n_images} images, {len(gt.instances)} true sources, {len(pred.instances)} predictions")
    results = {}
    for backend in ("pycocotools", "faster-coco-eval"):
        try:
            t0 = time.perf_counter()
            results[backend] = evaluate(gt, pred, backend=backend)
            print(f"  evaluate(backend={backend!r}): {time.perf_counter() - t0:.2f} s")
        except Exception as exc:
            print(f"  {backend}: {exc}")
    if len(results) == 2:
        a, b = (r.to_dict() for r in results.values())
        a.pop("backend"), b.pop("backend")
        print(f"  identical numbers: {a == b}")
    print(next(iter(results.values())).table())


def bench_read(n_annotations: int) -> None:
    rng = np.random.default_rng(0)
    n_images = max(1, n_annotations // 2)
    images = [ImageRecord(i, f"radio/{i:06d}.fits", SIZE, SIZE) for i in range(n_images)]
    masks = [
        _disk(int(rng.integers(30, 180)), int(rng.integers(30, 180)), int(rng.integers(4, 20)))
        for _ in range(64)
    ]
    rles = [Instance.from_mask(m, image_id=0, category_id=1).rle for m in masks]
    instances = [
        Instance(
            image_id=i % n_images,
            category_id=1 + i % 4,
            rle=rles[i % 64],
            host=(100.0, 100.0),
            score=0.5,
        )
        for i in range(n_annotations)
    ]
    ds = CocoDataset(images, instances)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        t0 = time.perf_counter()
        write_coco(path, ds, indent=None)
        t1 = time.perf_counter()
        back = read_coco(path)
        t2 = time.perf_counter()
        size = path.stat().st_size / 1e6
    assert len(back.instances) == n_annotations
    print(
        f"{n_annotations} annotations ({size:.0f} MB JSON): write_coco {t1 - t0:.2f} s, "
        f"read_coco {t2 - t1:.2f} s (validated, no mask decoded)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--read-annotations", type=int, default=0)
    args = parser.parse_args()
    if args.read_annotations:
        bench_read(args.read_annotations)
    else:
        bench_evaluate(args.images)
