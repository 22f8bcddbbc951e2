"""Click to segment: the time from a click to its instance, the model already loaded.

A simulated EMU-like field (:func:`napari_radiogal.sky.mosaic.write_mosaic`: 210 px tiles
at 2"/px, 13" x 11" beam, a blanked border) is clicked on the brightest pixel of each of
its truth sources in turn, ``--clicks`` times, with the bundled default model on the CPU:

* at 2"/px (6 px per beam, inside the model's training range: the window is its 210 px
  cut-out);
* the same sky on a 1"/px grid (astropy's ``reproject``; 12 px per beam, resampled by the
  pipeline to the model's range: a window of ~330 px of the image becomes one cut-out).

Reported per field: the median and the range of the wall-clock and CPU seconds of
:func:`~napari_radiogal.inference.segment_at` (the whole call: the window cut, resampling,
network, random walk, masks and hosts), and how many clicks found their source (IoU >=
0.5 with the truth). On a shared machine the CPU seconds are the figure to compare.

    python benchmarks/click_speed.py                  # 20 clicks per field
    python benchmarks/click_speed.py --clicks 5 --out click_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _field(folder: Path, size: int, seed: int):
    """The 2"/px field and its truth sources as full-image masks."""
    from napari_radiogal.io.coco import read_coco
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.sky.mosaic import write_mosaic

    files = write_mosaic(folder, size, seed=seed)
    radio = read_radio(files.radio)
    truth = read_coco(files.truth)
    masks = []
    for image, instances in truth:
        row0, col0, h, w = image.extra["window"]
        for inst in instances:
            mask = np.zeros(radio.shape, bool)
            mask[row0 : row0 + h, col0 : col0 + w] = inst.mask
            masks.append(mask)
    return radio, masks


def _regrid(image, masks, scale: float):
    """The same sky on a grid of ``scale`` arcsec/px (pixels by astropy's ``reproject``,
    not by the pipeline's resampling) and the truth masks on it."""
    from reproject import reproject_interp

    from napari_radiogal.io.fits import RadioImage
    from napari_radiogal.io.geometry import Resampling, resample_wcs

    factor = scale / image.pixel_scale_arcsec
    n = int(round(image.shape[0] / factor))
    wcs = resample_wcs(image.wcs, Resampling(factor, image.shape, (n, n)))
    # bilinear, not bicubic: the field's blanked (NaN) border would spread over the whole
    # image through the bicubic spline's global prefilter
    data, _ = reproject_interp((image.data, image.wcs), wcs, shape_out=(n, n), order="bilinear")
    regridded = RadioImage(
        data.astype(np.float32), wcs, beam=image.beam, pixel_scale_arcsec=float(scale)
    )
    back = Resampling(1.0 / factor, (n, n), image.shape)  # the new grid -> the old one
    return regridded, [back.to_input_grid(m) for m in masks]


def _brightest(image, mask) -> tuple[int, int]:
    values = np.where(mask, np.nan_to_num(image.data), -np.inf)
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(values)), mask.shape))


def _clicks(image, masks, model, n: int) -> dict:
    """``n`` clicks on the sources in turn (after one unmeasured click)."""
    from napari_radiogal.inference import segment_at

    if not np.isfinite(image.data).any():
        raise SystemExit(f'the {image.pixel_scale_arcsec:g}"/px field is all blank (NaN)')
    points = [_brightest(image, m) for m in masks]
    segment_at(image, None, points[0], model=model)  # first-call costs (imports, allocator)
    wall, cpu, hits = [], [], 0
    for k in range(n):
        i = k % len(points)
        t0, c0 = time.perf_counter(), time.process_time()
        result = segment_at(image, None, points[i], model=model)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if result.found:
            got = result.full_mask()
            hits += (got & masks[i]).sum() / (got | masks[i]).sum() >= 0.5
    return {
        "pixel_scale_arcsec": image.pixel_scale_arcsec,
        "image_shape": list(image.shape),
        "window_side_px": int(result.window.height),
        "clicks": n,
        "wall_s_median": statistics.median(wall),
        "wall_s_range": [min(wall), max(wall)],
        "cpu_s_median": statistics.median(cpu),
        "cpu_s_range": [min(cpu), max(cpu)],
        "found_source": int(hits),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20, help="clicks per field (20)")
    parser.add_argument("--size", type=int, default=630, help='field side at 2"/px (630)')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    from napari_radiogal.inference import load_model

    model = load_model(None, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        radio, masks = _field(Path(tmp), args.size, args.seed)
    fields = [(radio, masks), _regrid(radio, masks, 1.0)]
    report = {"model": model.name, "device": str(model.device), "fields": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the border is blanked: windows there say so
        for image, truth in fields:
            row = _clicks(image, truth, model, args.clicks)
            report["fields"].append(row)
            print(
                f'{row["pixel_scale_arcsec"]:.0f}"/px {row["image_shape"][0]} px, window '
                f"{row['window_side_px']} px: median {row['wall_s_median']:.2f} s wall "
                f"({row['wall_s_range'][0]:.2f}-{row['wall_s_range'][1]:.2f}), "
                f"{row['cpu_s_median']:.2f} s CPU; {row['found_source']}/{row['clicks']} "
                "found their source"
            )
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
