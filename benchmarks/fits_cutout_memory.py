"""Memory cost of a cut-out from a large radio mosaic (memory-mapped FITS).

Writes a 10,000 x 10,000 float32 mosaic (400 MB, ASKAP-like SIN header, 2"/px) into a
temporary folder, then, in fresh child processes so that nothing else is counted:

* ``lazy+cutout``: ``read_radio(path, lazy=True)`` and ``cutout(image, SkyCoord, 210)``;
* ``eager``:       ``read_radio(path)`` (the whole mosaic into memory), for contrast;

and prints, per child, the growth of the peak resident set size (``ru_maxrss``) over the
child's baseline after imports, the ``tracemalloc`` peak (NumPy reports its allocations
to it) and the wall time.

Run::

    python benchmarks/fits_cutout_memory.py            # both children
    python benchmarks/fits_cutout_memory.py --no-eager # skip the 400 MB read
    python benchmarks/fits_cutout_memory.py --size 4000 --keep /tmp/mosaic.fits
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

CUTOUT_PIXELS = 210
BLOCK = 2880


def write_mosaic(path: Path, size: int, *, rows_per_chunk: int = 250, seed: int = 0) -> None:
    """Stream a (size, size) float32 mosaic to disk without holding it in memory."""
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
        ("CDELT1", -2.0 / 3600),
        ("CRPIX1", size / 2 + 0.5),
        ("CTYPE2", "DEC--SIN"),
        ("CRVAL2", -30.0),
        ("CDELT2", 2.0 / 3600),
        ("CRPIX2", size / 2 + 0.5),
        ("BMAJ", 15 / 3600),
        ("BMIN", 12 / 3600),
        ("BPA", 0.0),
        ("FREQ", 9.435e8),
    ]:
        header[key] = value
    rng = np.random.default_rng(seed)
    with open(path, "wb") as handle:
        handle.write(header.tostring(endcard=True, padding=True).encode("ascii"))
        for start in range(0, size, rows_per_chunk):
            rows = min(rows_per_chunk, size - start)
            chunk = rng.normal(0.0, 3e-5, (rows, size)).astype(">f4")
            handle.write(chunk.tobytes())
        written = size * size * 4
        handle.write(b"\0" * (-written % BLOCK))


def _peak_rss_bytes() -> int:
    # ru_maxrss is in kB on Linux, in bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(mode: str, path: str) -> dict:
    """Run one measurement in this (fresh) process; return the numbers."""
    import tracemalloc

    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from napari_radiogal.io.align import cutout
    from napari_radiogal.io.fits import read_radio

    # warm up the code paths on a tiny file so import-time allocations are not counted
    tiny = Path(path).with_name("tiny.fits")
    write_mosaic(tiny, 64)
    cutout(read_radio(tiny, lazy=True), SkyCoord(150.0, -30.0, unit="deg"), 16)
    read_radio(tiny)

    baseline = _peak_rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    if mode == "lazy+cutout":
        image = read_radio(path, lazy=True)
        target = SkyCoord(150.0, -30.0, unit="deg").spherical_offsets_by(
            5 * u.arcmin, -7 * u.arcmin
        )
        piece = cutout(image, target, CUTOUT_PIXELS)
        shape = piece.shape
    else:
        image = read_radio(path)
        shape = image.shape
    seconds = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "mode": mode,
        "shape": list(shape),
        "seconds": seconds,
        "peak_rss_growth_mb": (_peak_rss_bytes() - baseline) / 1e6,
        "tracemalloc_peak_mb": traced_peak / 1e6,
    }


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="mosaic side in pixels")
    parser.add_argument("--no-eager", action="store_true", help="skip the full-read contrast")
    parser.add_argument("--keep", type=Path, help="write the mosaic here and keep it")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    with tempfile.TemporaryDirectory(prefix="radiogal-bench-") as tmp:
        path = args.keep or Path(tmp) / "mosaic.fits"
        start = time.perf_counter()
        write_mosaic(path, args.size)
        size_mb = path.stat().st_size / 1e6
        print(
            f"mosaic: {args.size} x {args.size} float32, {size_mb:.0f} MB on disk "
            f"(written in {time.perf_counter() - start:.1f} s)"
        )
        modes = ["lazy+cutout"] + ([] if args.no_eager else ["eager"])
        print(
            f"{'mode':<13} {'result shape':<14} {'time':>8} {'peak RSS growth':>16} "
            f"{'tracemalloc peak':>17}"
        )
        for mode in modes:
            r = measure(mode, path)
            print(
                f"{r['mode']:<13} {str(tuple(r['shape'])):<14} {r['seconds']:>7.3f}s "
                f"{r['peak_rss_growth_mb']:>13.1f} MB {r['tracemalloc_peak_mb']:>14.2f} MB"
            )
        print(
            f"(a {CUTOUT_PIXELS} x {CUTOUT_PIXELS} float32 cut-out is "
            f"{CUTOUT_PIXELS**2 * 4 / 1e6:.2f} MB)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
