"""Peak memory, time and Cancel latency of ``segment`` on large radio images.

For every size, in a fresh child process (so that nothing else is counted), a synthetic
radio sky is written to a temporary FITS file (float32, ASKAP-like SIN header at the
bundled model's 2"/px and 13" x 11" beam, so that it runs without resampling: Gaussian
noise of 30 uJy/beam and one double source per 150 x 150 pixels), then:

* ``read_radio(path)`` (or ``lazy=True`` with ``--lazy``) and ``segment(radio)`` with the
  bundled model: the peak resident set size (``ru_maxrss``), the growth over the child's
  baseline after imports and loading the model, the wall time, the number of windows and
  instances, and the pipeline's own estimate (``resolution.memory_estimate``);
* with ``--cancel-after S``: a second thread asks the run to cancel ``S`` seconds in, and
  the time from the request to ``InferenceCancelled`` (the time from Cancel to idle) is
  reported instead of the whole run, in wall-clock seconds and in the CPU seconds the
  process spent meanwhile (the latency an idle machine would see when other jobs hold the
  cores).

Run::

    python benchmarks/memory.py --sizes 1024,4096            # the table of the README
    python benchmarks/memory.py --sizes 12000 --lazy         # a 12k x 12k mosaic (~3 GB)
    python benchmarks/memory.py --sizes 4000 --cancel-after 20
    python benchmarks/memory.py --mosaic sky/radio.fits      # an image of your own
                                                             # (radiogal simulate --mosaic)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BLOCK = 2880  # FITS record size
PIXEL_ARCSEC = 2.0
BEAM_ARCSEC = (13.0, 11.0)
NOISE_JY = 3e-5
SOURCE_SPACING = 150  # one source per SOURCE_SPACING**2 pixels


def _header(size: int):
    from astropy.io import fits

    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    for key, value in [
        ("BUNIT", "JY/BEAM"),
        ("CTYPE1", "RA---SIN"),
        ("CRVAL1", 150.0),
        ("CDELT1", -PIXEL_ARCSEC / 3600),
        ("CRPIX1", size / 2 + 0.5),
        ("CTYPE2", "DEC--SIN"),
        ("CRVAL2", -30.0),
        ("CDELT2", PIXEL_ARCSEC / 3600),
        ("CRPIX2", size / 2 + 0.5),
        ("BMAJ", BEAM_ARCSEC[0] / 3600),
        ("BMIN", BEAM_ARCSEC[1] / 3600),
        ("BPA", 0.0),
        ("FREQ", 9.435e8),
    ]:
        header[key] = value
    return header


def write_sky(path: Path, size: int, *, seed: int = 0, rows_per_chunk: int = 256) -> None:
    """Stream a ``(size, size)`` float32 radio sky to ``path`` without holding it whole.

    Each source is a double: two Gaussian lobes of 3-8 pixels sigma, 10-40 pixels apart,
    peak 0.5-5 mJy/beam. Every chunk of rows gets the part of every source that falls in it.
    """
    rng = np.random.default_rng(seed)
    n = max(1, (size // SOURCE_SPACING) ** 2)
    centre = rng.uniform(20, size - 20, (n, 2))
    angle = rng.uniform(0, np.pi, n)
    half = rng.uniform(5, 20, n)
    lobes = np.concatenate(
        [
            centre + half[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1),
            centre - half[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1),
        ]
    )
    sigma = np.tile(rng.uniform(3, 8, n), 2)
    peak = np.tile(rng.uniform(5e-4, 5e-3, n), 2)
    cols = np.arange(size)
    with open(path, "wb") as handle:
        handle.write(_header(size).tostring(endcard=True, padding=True).encode("ascii"))
        for start in range(0, size, rows_per_chunk):
            rows = np.arange(start, min(start + rows_per_chunk, size))
            chunk = rng.normal(0.0, NOISE_JY, (rows.size, size))
            near = np.flatnonzero(
                (lobes[:, 0] > rows[0] - 5 * sigma) & (lobes[:, 0] < rows[-1] + 5 * sigma)
            )
            for k in near:
                (r, c), s = lobes[k], sigma[k]
                c0, c1 = max(0, int(c - 5 * s)), min(size, int(c + 5 * s) + 1)
                dr = (rows - r)[:, None]
                dc = (cols[c0:c1] - c)[None, :]
                chunk[:, c0:c1] += peak[k] * np.exp(-(dr**2 + dc**2) / (2 * s * s))
            handle.write(chunk.astype(">f4").tobytes())
        handle.write(b"\0" * (-(size * size * 4) % BLOCK))


def _peak_rss_bytes() -> int:
    # ru_maxrss is in kB on Linux, in bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(path: str, lazy: bool, cancel_after: float | None, threads: int) -> dict:
    """One measurement in this (fresh) process; the numbers as a dict."""
    import torch

    from napari_radiogal.errors import InferenceCancelled
    from napari_radiogal.inference import load_model, segment
    from napari_radiogal.inference.resolution import memory_estimate, plan_input
    from napari_radiogal.io.fits import read_radio

    torch.set_num_threads(threads)
    lm = load_model("default", device="cpu")
    baseline = _peak_rss_bytes()
    t0 = time.perf_counter()
    radio = read_radio(path, lazy=lazy)
    config = lm.config()
    plan = plan_input(radio, lm.geometry, config)
    estimate = memory_estimate(
        radio.shape, plan, has_infrared=False, inputs_in_memory=0 if lazy else 1
    )
    requested: list[float] = []

    def cancel() -> bool:
        return bool(requested)

    if cancel_after is not None:

        def press_cancel() -> None:
            requested.append((time.perf_counter(), time.process_time()))

        timer = threading.Timer(cancel_after, press_cancel)
        timer.daemon = True
        timer.start()
    result = {
        "size": radio.shape[0],
        "windows": len(plan.windows or []),
        "estimate_gb": estimate.total_gb,
        "lazy": lazy,
    }
    try:
        prediction = segment(radio, model=lm, config=config, cancel=cancel)
        result["instances"] = len(prediction.instances)
        result["cancel_s"] = result["cancel_cpu_s"] = None
    except InferenceCancelled:
        result["instances"] = None
        result["cancel_s"] = time.perf_counter() - requested[0][0]
        # the CPU seconds of this process in that time: the latency on an idle machine
        result["cancel_cpu_s"] = time.process_time() - requested[0][1]
    result["seconds"] = time.perf_counter() - t0
    peak = _peak_rss_bytes()
    result["peak_rss_gb"] = peak / 1e9
    result["growth_gb"] = (peak - baseline) / 1e9
    result["baseline_gb"] = baseline / 1e9
    return result


def _run_child(path: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--threads", str(args.threads)]
    if args.lazy:
        command.append("--lazy")
    if args.cancel_after is not None:
        command += ["--cancel-after", str(args.cancel_after)]
    out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    if out.returncode != 0:
        return {"size": path.name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _print_table(rows: list[dict]) -> None:
    print(
        f"{'size':>7} {'windows':>7} {'instances':>9} {'estimate GB':>11} {'peak RSS GB':>11} "
        f"{'growth GB':>9} {'seconds':>8} {'cancel s':>8} {'cancel CPU s':>12}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['size']!s:>7} error: {r['error']}")
            continue
        cancel = "" if r["cancel_s"] is None else f"{r['cancel_s']:.2f}"
        cancel_cpu = "" if r["cancel_cpu_s"] is None else f"{r['cancel_cpu_s']:.2f}"
        instances = "" if r["instances"] is None else r["instances"]
        print(
            f"{r['size']:>7} {r['windows']:>7} {instances!s:>9} {r['estimate_gb']:>11.2f} "
            f"{r['peak_rss_gb']:>11.2f} {r['growth_gb']:>9.2f} {r['seconds']:>8.1f} {cancel:>8} "
            f"{cancel_cpu:>12}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,4096", help="image sides, comma separated")
    parser.add_argument("--mosaic", type=Path, help="measure this FITS file instead")
    parser.add_argument("--lazy", action="store_true", help="read the image memory-mapped")
    parser.add_argument("--cancel-after", type=float, help="cancel this many seconds in")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--keep", type=Path, help="write the synthetic images here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.lazy, args.cancel_after, args.threads)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.mosaic is not None:
            paths = [args.mosaic]
        else:
            paths = []
            for size in (int(s) for s in args.sizes.split(",")):
                path = folder / f"sky_{size}.fits"
                if not path.exists():
                    write_sky(path, size)
                paths.append(path)
        for path in paths:
            rows.append(_run_child(path, args))
            _print_table(rows[-1:])
    print()
    _print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
