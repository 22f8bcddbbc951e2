"""Radio-only hosts: how close each rule lands to the true host when no IR image is given.

Runs on the simulated **val** split of the benchmark (never test) with the *true* masks, so
it measures the host rule alone, not the segmentation::

    python benchmarks/radio_hosts.py                  # ~15 s once the val split exists
    python benchmarks/radio_hosts.py --data other/annotations/val.json

Rules compared (all inside the instance mask, positions in pixels):

* ``radio core`` -- :func:`napari_radiogal.inference.hosts.radio_core_host` (the default
  without IR): the compact peak between the two brightest peaks of a double, else their
  midpoint, else the brightest peak;
* ``flux centroid`` -- the brightness-weighted centroid of the mask
  (:func:`napari_radiogal.stats.brightness_centroid`, the ``centroid`` host rule);
* ``brightest pixel`` -- the radio peak (a hotspot, for an FR-II).

Printed per class: the median distance to the true host (px) and the share within 3 px and
within one beam (the narrow sky: 2"/px, beam ~6 px).

``--model bundled|PATH`` also segments the split with the infrared withheld and reports host
AP50 (and mask AP50) for ``radio_host="core"`` and ``"displacement"``: the rule with the
model's own masks.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from napari_radiogal.inference.hosts import radio_core_host
from napari_radiogal.io.coco import read_coco, resolve_image_path
from napari_radiogal.io.fits import read_radio
from napari_radiogal.stats import brightness_centroid, clipped_noise

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data" / "bench" / "annotations" / "val.json"


def brightest_pixel(radio: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` of the brightest pixel of the mask."""
    row, col = np.unravel_index(
        np.argmax(np.where(mask, np.nan_to_num(radio), -np.inf)), radio.shape
    )
    return float(col), float(row)


def print_distance_table(
    distances: dict[str, dict[str, list[float]]], beam_px: float, width: int = 16
) -> None:
    """Per rule and class: median distance to the true host (px), share within 3 px and 1 beam.

    ``distances[rule][class]`` lists the distances (``inf`` for no host); ``"all"`` is a class.
    """
    classes = ["FR-I", "FR-II", "FR-X", "R", "all"]
    print(f"{'rule':{width}s} " + " ".join(f"{c:>22s}" for c in classes))
    print(f"{'':{width}s} " + " ".join(f"{'median  <3px  <beam':>22s}" for _ in classes))
    for rule, per_class in distances.items():
        cells = []
        for c in classes:
            d = np.asarray(per_class.get(c, []))
            if d.size == 0:
                cells.append(f"{'n/a':>22s}")
                continue
            median, near = np.median(d), 100 * np.mean(d < 3)
            cells.append(f"{median:6.1f} {near:5.0f}% {100 * np.mean(d < beam_px):5.0f}%".rjust(22))
        print(f"{rule:{width}s} " + " ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="COCO file with truth")
    parser.add_argument("--model", help="also segment without IR: 'bundled' or a weights file")
    args = parser.parse_args(argv)
    if not args.data.exists() and args.data == DEFAULT_DATA:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "napari_radiogal",
                "simulate",
                "--n",
                "200",
                "--seed",
                "2",
                "--only-split",
                "val",
                "--out",
                str(DEFAULT_DATA.parents[1]),
                "--no-progress",
            ],
            check=True,
        )
    dataset = read_coco(args.data)
    distances: dict[str, dict[str, list[float]]] = {}
    beams = []
    for record, instances in dataset:
        image = read_radio(resolve_image_path(args.data, record, "radio_file"))
        radio = np.asarray(image.data, dtype=np.float64)
        sigma = clipped_noise(radio)
        beam_px = math.sqrt(image.beam.major_deg * image.beam.minor_deg) * 3600.0
        beam_px /= image.pixel_scale_arcsec
        beams.append(beam_px)
        for inst in instances:
            if inst.host is None:
                continue
            mask = inst.mask
            name = dataset.scheme.name_of_id(inst.category_id)
            core = radio_core_host(radio, mask, noise_sigma=sigma, beam_px=beam_px)
            rules = {
                "radio core": core if core is not None else brightness_centroid(radio, mask),
                "flux centroid": brightness_centroid(radio, mask),
                "brightest pixel": brightest_pixel(radio, mask),
            }
            for rule, (x, y) in rules.items():
                d = math.hypot(x - inst.host[0], y - inst.host[1])
                distances.setdefault(rule, {}).setdefault(name, []).append(d)
                distances[rule].setdefault("all", []).append(d)
    beam = float(np.median(beams))
    print(f"{args.data}: {len(dataset.images)} images; median beam {beam:.1f} px")
    print_distance_table(distances, beam)
    if args.model:
        without_ir(args.data, None if args.model == "bundled" else args.model)
    return 0


def without_ir(data: Path, model_path: str | None) -> None:
    """Host and mask AP50 of the model with the IR withheld, for both radio-host rules."""
    import dataclasses
    import warnings

    from napari_radiogal.errors import RadiogalWarning
    from napari_radiogal.evaluate import evaluate
    from napari_radiogal.inference import (
        InferenceConfig,
        inputs_from_coco,
        load_model,
        predictions_to_dataset,
        segment_batch,
    )

    model = load_model(model_path)
    print(f"\n{data} segmented without IR by {model.name}:")
    for rule in ("core", "displacement"):
        items = (dataclasses.replace(i, infrared=None) for i in inputs_from_coco(data))
        kept = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RadiogalWarning)
            for p in segment_batch(items, model=model, config=InferenceConfig(radio_host=rule)):
                p.radio, p.maps = None, {}
                kept.append(p)
        result = evaluate(data, predictions_to_dataset(kept)).to_dict()
        mean = result["mean"]
        print(
            f"  radio_host={rule:12s} host AP50 {mean['host_ap50']:5.1f}   "
            f"mask AP50 {mean['mask_ap50']:5.1f}   host offset of matched sources: median "
            f'{mean["host_median_arcsec"]:.1f}", 90th percentile {mean["host_p90_arcsec"]:.1f}"'
        )


if __name__ == "__main__":
    sys.exit(main())
