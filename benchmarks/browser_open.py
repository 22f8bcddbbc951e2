"""How long opening a folder of cut-outs in napari's image browser takes before the first image.

Writes ``--pairs`` tiny radio + W1 pairs (8 x 8 and 16 x 16 px, ``cNNNNN.fits`` + ``cNNNNN_w1.fits``) to
a temporary folder, then times what the reader does before showing anything (best of
``--repeat``):

* **list**: :func:`napari_radiogal._napari._browser.list_cutouts` (the names pair every
  file, so no FITS file is opened);
* **status**: :func:`~napari_radiogal._napari._browser.image_status` of every cut-out (one
  look for an autosave each; none exists here);
* **first pair**: the layer data of the first pair
  (:func:`~napari_radiogal._napari._reader.pair_layer_data`: read both files, reproject).

With ``--headers`` the radio files lose their ``_w1`` partners' names (``rNNNNN.fits`` +
``iNNNNN.fits``), so the pairing falls back to the headers and the sky
(:func:`~napari_radiogal.io.pairing.pair_images`, the rule of ``radiogal predict``); that
path reads every header, so keep ``--pairs`` small.

Run::

    python benchmarks/browser_open.py                  # 1,000 pairs = 2,000 files
    python benchmarks/browser_open.py --pairs 20 --headers
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def _header(ra: float, dec: float, pix_arcsec: float, projection: str, n: int) -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    wcs.wcs.cdelt = [-pix_arcsec / 3600, pix_arcsec / 3600]
    return wcs.to_header()


def write_folder(folder: Path, n: int, *, by_name: bool) -> None:
    """``n`` radio (8 x 8 px) + W1 (16 x 16 px, covering it) pairs, 0.1 deg apart."""
    rng = np.random.default_rng(0)
    for k in range(n):
        ra, dec = 150.0 + 0.1 * k, -30.0
        radio = _header(ra, dec, 2.0, "SIN", 8)
        radio["BUNIT"] = "JY/BEAM"
        radio["BMAJ"], radio["BMIN"], radio["BPA"] = 13 / 3600, 11 / 3600, 0.0
        ir = _header(ra, dec, 1.375, "TAN", 16)
        ir["BUNIT"], ir["MAGZP"], ir["TELESCOP"] = "DN", 20.5, "WISE"
        names = (
            (f"c{k:05d}.fits", f"c{k:05d}_w1.fits")
            if by_name
            else (f"r{k:05d}.fits", f"i{k:05d}.fits")
        )
        for name, header, size in zip(names, (radio, ir), (8, 16), strict=True):
            data = rng.normal(0, 3e-5, (size, size)).astype(np.float32)
            fits.PrimaryHDU(data, header=header).writeto(folder / name)


def best_of(repeat: int, fn) -> tuple[tuple[float, float], object]:
    """``((wall s, CPU s), result)`` of the fastest run (CPU time is what a busy machine,
    sharing its cores with other work, does not inflate)."""
    times, result = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="radio + W1 pairs (files / 2)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--headers", action="store_true", help="names that do not pair: pair by headers and sky"
    )
    args = parser.parse_args(argv)

    from napari_radiogal._napari._browser import image_status, list_cutouts
    from napari_radiogal._napari._reader import pair_layer_data

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cutouts"
        folder.mkdir()
        write_folder(folder, args.pairs, by_name=not args.headers)
        t_list, pairs = best_of(args.repeat, lambda: list_cutouts([folder]))
        t_status, _ = best_of(args.repeat, lambda: [image_status(p.radio) for p in pairs])
        first = pairs[0]
        t_first, _ = best_of(args.repeat, lambda: pair_layer_data(first.radio, first.infrared))
    rule = "headers + sky" if args.headers else "names"
    print(f"{2 * args.pairs} files, {len(pairs)} cut-outs paired by {rule} (wall / CPU):")
    for what, (wall, cpu) in (("list", t_list), ("status", t_status), ("first pair", t_first)):
        print(f"  {what:<10} {wall:8.3f} s / {cpu:8.3f} s")
    wall = t_list[0] + t_status[0] + t_first[0]
    cpu = t_list[1] + t_status[1] + t_first[1]
    print(f"  {'total':<10} {wall:8.3f} s / {cpu:8.3f} s before the first image shows")


if __name__ == "__main__":
    main()
