"""Infrared hosts: how close each search rule lands to the true host, given the true masks.

Runs on a simulated **val** split (never test) with the *true* masks and the pipeline's own
pre-processed infrared on the radio grid, so it measures where the host is looked for, not
the segmentation::

    python benchmarks/ir_hosts.py                          # narrow val split, ~1 minute
    python benchmarks/ir_hosts.py --data data/wide/annotations/val.json

Rules compared (``weight`` is the pre-processed IR, zero outside its 3 sigma islands; the
paper multiplies it by the instance CAM, which needs the network and is left out here so
that every rule sees the same weight):

* ``mask`` -- the IR peak inside the mask (the paper's search region);
* ``hull`` -- inside the convex hull of a mask of several parts
  (``InferenceConfig(host_region="hull")``);
* ``core`` -- IR times a Gaussian prior around the radio core, in the hull plus a disc of
  two prior widths around the core (:func:`napari_radiogal.inference.hosts.host_near_core`,
  ``host_region="core"``: 0.5 beam around a core peak, ``--prior-beams`` around a midpoint).

Printed per class: the median distance to the true host (px) and the share within 3 px and
within one beam (2"/px, beam ~6 px on the narrow sky). A source with no IR in the region gets
no host and counts as a miss at infinite distance.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from napari_radiogal.errors import RadiogalWarning
from napari_radiogal.inference import inputs_from_coco, load_model
from napari_radiogal.inference.hosts import (
    host_near_core,
    host_search,
    host_search_region,
    radio_core,
)
from napari_radiogal.inference.inputs import prepare_input
from napari_radiogal.io.coco import read_coco

sys.path.insert(0, str(Path(__file__).parent))  # radio_hosts.py beside this file
from radio_hosts import print_distance_table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data" / "bench" / "annotations" / "val.json"
RULES = ("mask", "hull", "core")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="COCO file with truth")
    parser.add_argument("--model", default=None, help="weights whose pre-processing is used")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument(
        "--prior-beams",
        type=float,
        default=2.0,
        help="width of the core prior around a midpoint of lobes, in beams",
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} does not exist; make it with `radiogal simulate`")
    lm = load_model(args.model)
    dataset = read_coco(args.data)
    truth = {record.id: instances for record, instances in dataset}
    distances: dict[str, dict[str, list[float]]] = {r: {} for r in RULES}
    beams = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RadiogalWarning)
        for n, item in enumerate(inputs_from_coco(args.data, dataset)):
            if args.limit is not None and n >= args.limit:
                break
            prepared = prepare_input(item, item.image_id, lm)
            ir = prepared.ir_scaled()
            if ir is None:
                continue
            radio = np.nan_to_num(np.asarray(prepared.radio, dtype=np.float64))
            beam_px = _beam_px(prepared)
            beams.append(beam_px)
            for inst in truth[item.image_id]:
                if inst.host is None:
                    continue
                name = dataset.scheme.name_of_id(inst.category_id)
                # the pipeline's core: the core of detached lobes looked for in their hull
                core = radio_core(
                    radio,
                    inst.mask,
                    noise_sigma=float(prepared.preprocessed.noise_sigma),
                    beam_px=beam_px,
                    core_region=host_search_region(inst.mask, "hull"),
                )
                for rule in RULES:
                    if rule == "core":
                        host = host_near_core(
                            ir, inst.mask, core, beam_px=beam_px, prior_beams=args.prior_beams
                        )
                    else:
                        host = host_search(ir, inst.mask, rule, beam_px=beam_px)
                    d = math.inf if host is None else math.hypot(*np.subtract(host, inst.host))
                    distances[rule].setdefault(name, []).append(d)
                    distances[rule].setdefault("all", []).append(d)
    beam = float(np.median(beams))
    print(f"{args.data}: {len(beams)} images with IR; median beam {beam:.1f} px")
    print_distance_table(distances, beam, width=8)
    return 0


def _beam_px(prepared) -> float:
    """Geometric-mean beam FWHM of the prepared image, in its pixels."""
    bmaj, bmin, _ = prepared.beam
    return math.sqrt(bmaj * bmin) * 3600.0 / prepared.pixel_scale_arcsec


if __name__ == "__main__":
    sys.exit(main())
