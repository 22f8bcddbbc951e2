"""Ablation of the inference choices: each DESIGN.md decision against the authors' choice.

Runs the model once per variant over a COCO split (default: the benchmark's *validation*
split, so that choosing defaults from this table never touches the test split), evaluates
every variant with the same pycocotools protocol as ``benchmarks/accuracy.py`` and prints a
Markdown table::

    python benchmarks/ablation.py                         # bundled model, val split
    python benchmarks/ablation.py --model runs/x/model.safetensors --limit 50
    python benchmarks/ablation.py --only ours "mask: walk (authors)"

Variants that change only the post-processing reuse the network outputs of the first pass
(the network is a pure function of the pre-processed channels, scales and flip), so a
variant costs its random walk and masks, not another forward pass. Two of the authors'
choices are not settings of ours and are applied to our predictions afterwards: masks split
into one instance per connected component, and scores normalised per image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path("data/bench/annotations/val.json")


def _variants() -> dict[str, tuple[dict, Callable | None]]:
    """name -> (InferenceConfig changes, post-processing of the predicted CocoDataset).

    Each row changes one thing of the defaults (CAMs at scale 1 without flip, whole islands,
    radio weighting, background 0.25 x the image's highest score, hosts inside the mask,
    whole multi-part masks, scores comparable across images, classes from the classifier);
    "(authors)" marks the authors' code's choice, "(paper text)" the paper's description.
    """
    return {
        "ours (defaults)": ({}, None),
        "mask: island pixels only": ({"mask_support": "island_pixels"}, None),
        "mask: walk, no island clip (authors)": ({"mask_support": "walk"}, None),
        "mask: whole islands at vote 0.25": ({"island_vote_fraction": 0.25}, None),
        "masks split per component (authors)": ({}, split_components),
        "scores normalised per image (authors)": ({}, normalise_scores),
        "CAM scales 1, 0.5, 1.5, 2 + flips (authors)": (
            {"scales": (1.0, 0.5, 1.5, 2.0), "flip": True},
            None,
        ),
        "CAM scales 1, 0.5, 1.5 + flips": ({"scales": (1.0, 0.5, 1.5), "flip": True}, None),
        "CAM scale 1 + flip": ({"flip": True}, None),
        "no radio weighting (paper text)": ({"radio_weighting": False}, None),
        "background 0.15 x image max": ({"background_threshold": 0.15}, None),
        "background 0.40 x image max": ({"background_threshold": 0.40}, None),
        "background fixed 0.05": (
            {"background_mode": "fixed", "background_threshold": 0.05},
            None,
        ),
        "host inside the mask (paper)": ({"host_region": "mask"}, None),
        "host search in hull of parts": ({"host_region": "hull"}, None),
        "host nearest the radio core, prior 1 beam": ({"host_prior_beams": 1.0}, None),
        "unclaimed islands as instances": ({"unclaimed_islands": "instance"}, None),
        "class by the a/b rule on each mask (no classifier)": ({}, classes_from_morphology),
    }


def split_components(pred, data: Path):
    """The authors' masks: every connected part of a mask becomes its own instance.

    The host stays with the part that contains it (parts without it get no host); score and
    class are copied.
    """
    from scipy import ndimage

    from napari_radiogal.annotations import CocoDataset, Instance

    out = []
    for inst in pred.instances:
        parts, n = ndimage.label(inst.mask, structure=np.ones((3, 3), bool))
        for j in range(1, n + 1):
            part = parts == j
            host = inst.host
            if host is not None and not part[int(round(host[1])), int(round(host[0]))]:
                host = None
            out.append(
                Instance.from_mask(
                    part,
                    image_id=inst.image_id,
                    category_id=inst.category_id,
                    score=inst.score,
                    host=host,
                )
            )
    return CocoDataset(images=pred.images, instances=out, scheme=pred.scheme, info=pred.info)


def classes_from_morphology(pred, data: Path):
    """Replace each predicted class by the paper's a/b rule measured inside its mask.

    The rule that labels the simulated sky (and the paper's real data), applied to the
    predicted masks: it tells how much the masks alone would classify, without the network's
    classifier.
    """
    from napari_radiogal.io.coco import resolve_image_path
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.sky.labels import measure_morphology
    from napari_radiogal.stats import clipped_noise

    by_image: dict[int, list] = {}
    for inst in pred.instances:
        by_image.setdefault(inst.image_id, []).append(inst)
    for image in pred.images:
        if image.id not in by_image:
            continue
        radio = read_radio(resolve_image_path(data, image, "radio_file")).data
        sigma = clipped_noise(radio[np.isfinite(radio)])
        for inst in by_image[image.id]:
            category = measure_morphology(radio, sigma, inst.mask).category
            if category is not None:
                inst.category_id = pred.scheme.id_of_name(category)
    return pred


def normalise_scores(pred, data: Path):
    """The authors' scores: each image's scores divided by that image's highest score."""
    best: dict[int, float] = {}
    for inst in pred.instances:
        best[inst.image_id] = max(best.get(inst.image_id, 0.0), inst.score or 0.0)
    for inst in pred.instances:
        top = best[inst.image_id]
        inst.score = (inst.score or 0.0) / top if top > 0 else 0.0
    return pred


def cached_network_step():
    """A ``network_step`` for ``segment_batch`` that memoises the network pass (this process).

    Keyed by the pre-processed channels' bytes plus the scales, flip and batch size, so a
    variant that changes any of them runs the network again.
    """
    from napari_radiogal.inference import network_outputs

    memo: dict[str, dict] = {}

    def cached(lm, channels, config):
        digest = hashlib.sha1()
        for c in channels:
            digest.update(np.ascontiguousarray(c).tobytes())
        key = f"{digest.hexdigest()}|{config.scales}|{config.flip}|{config.batch_size}"
        if key not in memo:
            memo[key] = network_outputs(lm, channels, config)
        return memo[key]

    return cached


def parse_base(pairs: list[str]) -> dict:
    """``["scales=[1.0]", "flip=false"]`` -> ``{"scales": [1.0], "flip": False}``."""
    import yaml

    base = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--base takes FIELD=VALUE pairs; got {pair!r}")
        base[name.strip()] = yaml.safe_load(value)
    return base


def run_variant(
    data: Path, dataset, model, changes: dict, post, limit: int | None, network_step=None
):
    """Predict and evaluate one variant; returns (predicted-protocol, oracle-protocol) results."""
    from napari_radiogal.annotations import CocoDataset
    from napari_radiogal.evaluate import evaluate
    from napari_radiogal.inference import (
        InferenceConfig,
        inputs_from_coco,
        predictions_to_dataset,
        segment_batch,
    )

    config = InferenceConfig().replace(**changes)
    images = dataset.images[:limit] if limit else dataset.images
    subset = CocoDataset(
        images=images,
        instances=[a for a in dataset.instances if a.image_id in {im.id for im in images}],
        scheme=dataset.scheme,
        info=dataset.info,
    )
    predictions = list(
        segment_batch(
            inputs_from_coco(data, subset), model=model, config=config, network_step=network_step
        )
    )
    pred = predictions_to_dataset(predictions)
    if post is not None:
        pred = post(pred, data)
    return (
        evaluate(subset, pred, protocol="predicted"),
        evaluate(subset, pred, protocol="oracle"),
    )


def row(name: str, predicted, oracle, seconds: float) -> dict:
    return {
        "variant": name,
        "mask_ap50": predicted.mean.mask_ap50,
        "host_ap50": predicted.mean.host_ap50,
        "accuracy": predicted.accuracy,
        "oracle_mask_ap50": oracle.mean.mask_ap50,
        "oracle_host_ap50": oracle.mean.host_ap50,
        "per_class_mask_ap50": {c.name: c.mask_ap50 for c in predicted.classes},
        "n_pred": predicted.n_pred,
        "seconds": seconds,
    }


def markdown(rows: list[dict]) -> str:
    head = (
        "| variant | mask AP50 | host AP50 | accuracy % | oracle mask AP50 | "
        "oracle host AP50 | predictions |\n|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['mask_ap50']:.1f} | {r['host_ap50']:.1f} | "
            f"{r['accuracy']:.1f} | {r['oracle_mask_ap50']:.1f} | "
            f"{r['oracle_host_ap50']:.1f} | {r['n_pred']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="COCO file (val split)")
    parser.add_argument("--model", help="weights file (default: the bundled model)")
    parser.add_argument("--limit", type=int, help="first N images only")
    parser.add_argument("--only", nargs="+", help="variant names to run (default: all)")
    parser.add_argument(
        "--base",
        nargs="+",
        default=[],
        metavar="FIELD=VALUE",
        help="InferenceConfig changes under every variant (YAML values: scales=[1.0] "
        "flip=false), to ablate around other settings than the defaults",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = parser.parse_args(argv)

    import warnings

    from napari_radiogal.errors import RadiogalWarning
    from napari_radiogal.inference import load_model
    from napari_radiogal.io.coco import read_coco

    warnings.simplefilter("ignore", RadiogalWarning)  # partial IR coverage, once per image
    variants = _variants()
    names = args.only or list(variants)
    unknown = set(names) - set(variants)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {list(variants)}")
    dataset = read_coco(args.data)
    base = parse_base(args.base)
    model = load_model(args.model)
    network_step = cached_network_step()
    rows = []
    for name in names:
        changes, post = variants[name]
        start = time.perf_counter()
        predicted, oracle = run_variant(
            args.data, dataset, model, {**base, **changes}, post, args.limit, network_step
        )
        rows.append(row(name, predicted, oracle, time.perf_counter() - start))
        r = rows[-1]
        print(
            f"# {name}: mask {r['mask_ap50']:.1f} host {r['host_ap50']:.1f} "
            f"acc {r['accuracy']:.1f} oracle {r['oracle_mask_ap50']:.1f} ({r['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(
        json.dumps(
            {
                "data": str(args.data),
                "model": model.name,
                "sha256": model.sha256,
                "base": base,
                "rows": rows,
            },
            indent=1,
            default=float,
        )
    )
    print(
        f"model {model.name} ({model.sha256[:12]}), {args.data}"
        + (f", first {args.limit} images" if args.limit else "")
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
