"""Accuracy under distribution shift: the model and the baseline on skies they were not made for.

Each SHIFTED test set is a named sky (a preset plus :class:`~napari_radiogal.sky.SkyConfig`
overrides) that the ``wide`` training prior (:meth:`SkyConfig.wide`) does not contain, or
contains only at its edge: a geometry beyond its 2.5-8 pixels per beam, the
``double_double`` family held out of it on purpose, an IR convention it never saw, artefacts
far stronger than its own, and the narrow default sky. ``wide`` itself (new seeds) is the
in-distribution reference. Every set has its own seed and is simulated once into a cache
folder (``CACHE/NAME/``, test split only).

For the model (``--model PATH`` or ``bundled``) and the non-learned baseline (its lengths
scaled to each image's beam, :meth:`BaselineConfig.for_beam`) the table reports, per set:
mask AP50 and host AP50 (mean over classes, predicted classes), classification accuracy,
and class-agnostic mask AP50 (every class merged into one category before evaluating: can
it find the sources at all, whatever their class?).

Usage::

    python benchmarks/shift.py --model bundled              # 100 cut-outs per set
    python benchmarks/shift.py --model runs/wide/model.safetensors --n 300
    python benchmarks/shift.py --model bundled --quick      # 4 cut-outs per set, a smoke test
    python benchmarks/shift.py --list                       # the sets, nothing run
    python benchmarks/shift.py --split val --set unclaimed_islands=instance   # tuning

``--split val`` simulates the same sets with other seeds (``seed + VAL_SEED_OFFSET``, cached
in ``CACHE/val/NAME/``): choose inference settings (``--set KEY=VALUE``, read like
``radiogal predict --set``) on it, then report the chosen ones once on ``test``. Never tune on
the test seeds.

Numbers land in ``OUT/shift.json``; the Markdown table is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from napari_radiogal.sky import SkyConfig

#: The shifted sets: name -> (base preset, SkyConfig overrides, seed, what is shifted).
#: Seeds differ from every training / benchmark seed (1, 2, 3) and from each other.
SHIFTS: dict[str, tuple[str, dict[str, Any], int, str]] = {
    "wide": ("wide", {}, 101, "the wide training prior itself, new seeds (reference)"),
    "narrow_default": ("default", {}, 102, "the narrow EMU-PS default sky"),
    "ppb_2.2": (
        "wide",
        {"pixels_per_beam": (2.2, 2.2)},
        103,
        "2.2 pixels per beam: below wide's 2.5 (an undersampled VLASS-like grid)",
    ),
    "ppb_9": (
        "wide",
        {"pixels_per_beam": (9.0, 9.0)},
        104,
        '9 pixels per beam: above wide\'s 8 (RACS-like 25" beam on 2.5" pixels)',
    ),
    "double_double": (
        "wide",
        {"lobe_families": (("double_double", 1.0),)},
        105,
        "restarted double-double sources: the family held out of wide on purpose",
    ),
    "ir_mjysr_sharp": (
        "wide",
        {"mjysr_fraction": 1.0, "ir_psf_fwhm_arcsec": 2.0, "moffat_psf_fraction": 1.0},
        106,
        'IR only in MJy/sr with a 2" Moffat PSF (a sharper, non-WISE infrared survey)',
    ),
    "strong_sidelobes": (
        "wide",
        {
            "artefact_fraction": 1.0,
            "sidelobe_amplitude": (0.04, 0.1),
            "stripe_amplitude_sigma": (1.5, 3.0),
            "snr_range": (100.0, 3000.0),
        },
        107,
        "artefacts in every cut-out, sidelobes 4-10 % of the peak, stripes 1.5-3 sigma",
    ),
    "crowded": (
        "wide",
        {"compact_density_scale": (4.0, 6.0), "second_source_fraction": 0.6},
        108,
        "4-6 times the compact density and a second extended source in 60 %",
    ),
}

QUICK_N = 4


#: Added to a set's seed for its validation copy (``--split val``): other cut-outs of the
#: same sky, for choosing inference settings without looking at the test seeds.
VAL_SEED_OFFSET = 1000


def shift_config(name: str) -> SkyConfig:
    """The SkyConfig of one shifted set."""
    preset, overrides, _, _ = SHIFTS[name]
    return SkyConfig.preset(preset, **overrides)


def simulate_set(cache: Path, name: str, n: int, split: str = "test") -> Path:
    """Simulate (or reuse from the cache) one set; the path of its COCO JSON.

    ``split="val"`` gives the set's validation copy: the same sky with the seed shifted by
    :data:`VAL_SEED_OFFSET`, in ``cache/val/NAME``.
    """
    from napari_radiogal.sky import write_dataset

    root = cache / name if split == "test" else cache / "val" / name
    path = root / "annotations" / "test.json"
    config = shift_config(name)
    seed = SHIFTS[name][2] + (VAL_SEED_OFFSET if split == "val" else 0)
    if path.exists():
        info = json.loads(path.read_text(encoding="utf-8"))["info"]
        same = (
            info.get("n_images_total") == n
            and info.get("seed") == seed
            and SkyConfig.from_dict(info["sky_config"]) == config
        )
        if same:
            return path
    start = time.perf_counter()
    write_dataset(root, n, seed, config, only_split="test")
    print(
        f"# {name}: simulated {n} cut-outs in {time.perf_counter() - start:.1f} s", file=sys.stderr
    )
    return path


def predict_model(test_json: Path, model: Any, config: Any = None):
    """COCO predictions of the model for one set (what ``radiogal predict --data`` runs)."""
    from napari_radiogal.errors import RadiogalWarning
    from napari_radiogal.inference import (
        InferenceConfig,
        inputs_from_coco,
        predictions_to_dataset,
        segment_batch,
    )
    from napari_radiogal.io.coco import read_coco

    gt = read_coco(test_json)
    kept = []
    with warnings.catch_warnings():  # partial IR coverage is reported once per image
        warnings.simplefilter("ignore", RadiogalWarning)
        config = InferenceConfig() if config is None else config
        for p in segment_batch(inputs_from_coco(test_json, gt), model=model, config=config):
            p.radio = None  # keep only the instances in memory
            p.maps = {}
            kept.append(p)
    return predictions_to_dataset(kept)


def predict_baseline(test_json: Path):
    """COCO predictions of the baseline, its lengths scaled to each image's beam."""
    from napari_radiogal.baseline import predict_dataset

    return predict_dataset(test_json, scale_to_beam=True)


def merge_classes(dataset):
    """The data set with every instance in one category (the scheme's first class)."""
    one = dataset.scheme.id_of_index(0)
    merged = [dataclasses.replace(inst, category_id=one) for inst in dataset.instances]
    return dataclasses.replace(dataset, instances=merged)


def scores(test_json: Path, pred) -> dict[str, float]:
    """Mask AP50, host AP50, accuracy (predicted classes) and class-agnostic mask AP50."""
    from napari_radiogal.evaluate import evaluate
    from napari_radiogal.io.coco import read_coco

    gt = read_coco(test_json)
    with warnings.catch_warnings():  # e.g. no prediction at all on a hard set: zeros
        warnings.simplefilter("ignore")
        res = evaluate(gt, pred, protocol="predicted")
        agnostic = evaluate(merge_classes(gt), merge_classes(pred), protocol="predicted")
    return {
        "mask_ap50": res.mean.mask_ap50,
        "host_ap50": res.mean.host_ap50,
        "accuracy": res.accuracy,
        "agnostic_mask_ap50": agnostic.mean.mask_ap50,
        "n_gt": res.n_gt,
    }


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per set and method."""
    rows = [
        "| set | method | mask AP50 | host AP50 | accuracy | class-agnostic mask AP50 | sources |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(v: float) -> str:
        return "n/a" if v is None or not math.isfinite(v) else f"{v:.1f}"

    for name, by_method in results.items():
        for method, r in by_method.items():
            rows.append(
                f"| {name} | {method} | {cell(r['mask_ap50'])} | {cell(r['host_ap50'])} | "
                f"{cell(r['accuracy'])} | {cell(r['agnostic_mask_ap50'])} | {r['n_gt']} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled", help="weights file, or 'bundled'")
    parser.add_argument("--n", type=int, default=100, help="cut-outs per set")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_N} cut-outs per set")
    parser.add_argument("--sets", nargs="+", choices=list(SHIFTS), default=list(SHIFTS))
    parser.add_argument("--cache", type=Path, default=Path("data/shift"))
    parser.add_argument("--out", type=Path, default=Path("runs/shift"))
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--no-resample",
        action="store_true",
        help="segment every image on its own pixels (InferenceConfig(resample=False)): the "
        "ablation of resolution-aware inference",
    )
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="'val': the same skies with other seeds, for choosing --set values; 'test': "
        "the seeds the reported table is measured on",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an InferenceConfig field for the model (repeatable); unset fields take the "
        "model card's recommendation, else the library default",
    )
    parser.add_argument("--list", action="store_true", help="print the sets and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, (preset, overrides, seed, what) in SHIFTS.items():
            print(f"{name:18s} seed {seed}  {preset} + {overrides}\n{'':18s} {what}")
        return 0
    import yaml

    from napari_radiogal.inference import load_model
    from napari_radiogal.io.coco import write_coco

    n = QUICK_N if args.quick else args.n
    cache = args.cache / "quick" if args.quick else args.cache
    model = load_model(None if args.model == "bundled" else args.model)
    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.no_resample:
        settings["resample"] = False
    config = model.config(**settings)  # a bad --set fails here, before any simulation
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.sets:
        test_json = simulate_set(cache, name, n, args.split)
        prediction = predict_model(test_json, model, config)
        results[name] = {"model": scores(test_json, prediction)}
        # kept for pictures: python benchmarks/worst_cases.py --gt SET.json --pred this
        write_coco(args.out / name / "predictions.json", prediction, backup=False)
        if not args.no_baseline:
            results[name]["baseline"] = scores(test_json, predict_baseline(test_json))
        print(f"# {name}: done", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "model": args.model,
        "n_per_set": n,
        "split": args.split,
        "settings": settings,
        "sets": {
            k: {
                "seed": SHIFTS[k][2] + (VAL_SEED_OFFSET if args.split == "val" else 0),
                "what": SHIFTS[k][3],
            }
            for k in args.sets
        },
        "results": results,
    }
    (args.out / "shift.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
