"""Tiny radio + WISE-like FITS files for the napari plugin tests (written to tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

RA0, DEC0 = 150.0, -30.0


def radio_wcs(shape=(64, 64), pix_arcsec=2.0) -> WCS:
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [RA0, DEC0]
    wcs.wcs.crpix = [w / 2 + 0.5, h / 2 + 0.5]
    wcs.wcs.cdelt = [-pix_arcsec / 3600, pix_arcsec / 3600]
    return wcs


def write_radio(path: Path, data: np.ndarray, pix_arcsec=2.0) -> Path:
    """An ASKAP-like radio file: 4 axes (2 degenerate), Jy/beam, a beam."""
    wcs = radio_wcs(data.shape, pix_arcsec)
    header = wcs.to_header()
    header["NAXIS"] = 4
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"] = (
        "FREQ",
        943.5e6,
        1e6,
        1.0,
    )
    header["CTYPE4"], header["CRVAL4"], header["CDELT4"], header["CRPIX4"] = "STOKES", 1.0, 1.0, 1.0
    header["BUNIT"] = "JY/BEAM"
    header["BMAJ"], header["BMIN"], header["BPA"] = 13 / 3600, 11 / 3600, 0.0
    hdu = fits.PrimaryHDU(data[None, None].astype(np.float32), header=header)
    hdu.writeto(path, overwrite=True)
    return path


def write_ir(path: Path, shape=(100, 100), pix_arcsec=1.375, source_radec=(RA0, DEC0)) -> Path:
    """An AllWISE-like W1 file (TAN, DN, MAGZP) with a point source at ``source_radec``."""
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [RA0, DEC0]
    wcs.wcs.crpix = [w / 2 + 0.5, h / 2 + 0.5]
    wcs.wcs.cdelt = [-pix_arcsec / 3600, pix_arcsec / 3600]
    x, y = wcs.world_to_pixel_values(*source_radec)
    yy, xx = np.mgrid[:h, :w]
    data = 10.0 + 500.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    header = wcs.to_header()
    header["BUNIT"] = "DN"
    header["MAGZP"] = 20.5
    header["TELESCOP"] = "WISE"
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path, overwrite=True)
    return path


def radio_image(shape=(64, 64), seed=0) -> np.ndarray:
    """Noise (30 uJy) + a double-lobed source + a compact source, Jy/beam; a NaN corner."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    img = rng.normal(0, 3e-5, shape)
    for cy, cx, amp in ((20, 16, 5e-3), (20, 46, 4e-3), (48, 32, 2e-3)):
        img += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.5**2))
    img[:3, :3] = np.nan
    return img.astype(np.float32)


def write_pair(folder: Path, shape=(64, 64)) -> tuple[Path, Path]:
    """A radio file and an IR file of the same sky, on different grids."""
    radio = write_radio(folder / "field_emu.fits", radio_image(shape))
    ir = write_ir(folder / "field_w1.fits")
    return radio, ir
