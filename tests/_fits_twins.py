"""Synthetic twins of the real-format FITS files in ../shared/data/fits-real-format.

Each writer reproduces the header quirks of one real file (same keywords, same odd
values) with made-up pixels, so the reader tests run where ../shared is absent. Files are
written card by card (:func:`write_raw_fits`), not through ``fits.PrimaryHDU``, because
astropy would otherwise repair exactly the quirks we want to test (``BLANK`` on float
data, ``CTYPE3`` on a 2-axis image, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

Card = tuple  # (keyword, value) or (keyword, value, comment)

BLOCK = 2880


def write_raw_fits(
    path: Path,
    data: np.ndarray | None,
    cards: Sequence[Card],
    *,
    bitpix: int = -32,
    naxis: Sequence[int] | None = None,
) -> Path:
    """Write a primary HDU exactly as given: structural cards, then ``cards``, then data.

    Parameters
    ----------
    data : ndarray or None
        NumPy-ordered array (last axis = NAXIS1); written big-endian with ``bitpix``.
    cards : sequence of (keyword, value[, comment])
    naxis : sequence of int, optional
        FITS-ordered axis lengths to write instead of ``data``'s shape.
    """
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = bitpix
    lengths = (
        list(naxis) if naxis is not None else ([] if data is None else list(reversed(data.shape)))
    )
    header["NAXIS"] = len(lengths)
    for i, n in enumerate(lengths, start=1):
        header[f"NAXIS{i}"] = n
    for card in cards:
        header.append(fits.Card(*card), end=True)
    raw = header.tostring(endcard=True, padding=True).encode("ascii")
    if data is not None:
        dtype = {-32: ">f4", -64: ">f8", 16: ">i2", 32: ">i4", 8: "u1"}[bitpix]
        body = np.ascontiguousarray(data).astype(dtype).tobytes()
        raw += body + b"\0" * (-len(body) % BLOCK)
    path.write_bytes(raw)
    return path


def gaussian_sources(
    shape: tuple[int, int],
    positions: Sequence[tuple[float, float]],
    *,
    sigma: float = 2.0,
    amplitude: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """float32 (H, W) image: Gaussians at (x, y) pixel positions plus white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = rng.normal(0.0, noise, shape) if noise else np.zeros(shape)
    for x, y in positions:
        image += amplitude * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return image.astype(np.float32)


# ----------------------------------------------------------------------------------------
# The twins. Each returns the path it wrote.
# ----------------------------------------------------------------------------------------
def askap_vast_4d(path: Path, size: int = 64) -> Path:
    """CASA / ASKAP VAST: NAXIS=4 (1x1xHxW), 4x4 PC matrix, 'Jy/beam ', 888 MHz, 2" px."""
    data = gaussian_sources(
        (size, size), [(size / 2, size / 2), (10.3, 20.7)], sigma=3, noise=1e-4, seed=1
    )
    crpix = size / 2 + 1
    cards = [
        ("EXTEND", True),
        ("BSCALE", 1.0),
        ("BZERO", 0.0),
        ("BMAJ", 4.166666666667e-03),
        ("BMIN", 2.777777777778e-03),
        ("BPA", 0.0),
        ("BTYPE", "Intensity"),
        ("OBJECT", ""),
        ("BUNIT", "Jy/beam", "Brightness (pixel) unit"),
        ("EQUINOX", 2000.0),
        ("RADESYS", "FK5"),
        ("LONPOLE", 180.0),
        ("LATPOLE", -30.0),
    ]
    for i in range(1, 5):
        for j in range(1, 5):
            cards.append((f"PC{j}_{i}", 1.0 if i == j else 0.0))
    cards += [
        ("CTYPE1", "RA---SIN"),
        ("CRVAL1", 150.0),
        ("CDELT1", -5.555555555556e-04),
        ("CRPIX1", crpix),
        ("CUNIT1", "deg"),
        ("CTYPE2", "DEC--SIN"),
        ("CRVAL2", -30.0),
        ("CDELT2", 5.555555555556e-04),
        ("CRPIX2", crpix),
        ("CUNIT2", "deg"),
        ("CTYPE3", "FREQ"),
        ("CRVAL3", 8.88e08),
        ("CDELT3", 2.88e08),
        ("CRPIX3", 1.0),
        ("CUNIT3", "Hz"),
        ("CTYPE4", "STOKES"),
        ("CRVAL4", 1.0),
        ("CDELT4", 1.0),
        ("CRPIX4", 1.0),
        ("CUNIT4", ""),
        ("PV2_1", 0.0),
        ("PV2_2", 0.0),
        ("RESTFRQ", 1.420405751786e09, "Rest Frequency (Hz)"),
        ("SPECSYS", "LSRK"),
        ("TELESCOP", "ASKAP"),
        ("DATE-OBS", "2020-08-03T04:33:55.479"),
        ("TIMESYS", "UTC"),
        ("OBSGEO-X", 2.225142180269e06),
        ("OBSGEO-Y", -5.440307370349e06),
        ("OBSGEO-Z", -2.481029851874e06),
        ("ORIGIN", "CASA 5.6.2-2"),
    ]
    return write_raw_fits(path, data[None, None], cards)


def racs_wsclean_4d(path: Path) -> Path:
    """WSClean RACS: NAXIS=4, SIN, 2.5" px, CRPIX 3065 (far outside), BUNIT 'JY/BEAM '."""
    data = gaussian_sources((10, 10), [(4.2, 5.6)], sigma=1.5, noise=3e-4, seed=2)
    cards = [
        ("BUNIT", "JY/BEAM", "Units are in Jansky per beam"),
        ("BMAJ", 0.00507281757649565),
        ("BMIN", 0.00339522901317359),
        ("BPA", 120.300196487342),
        ("EQUINOX", 2000.0),
        ("LONPOLE", 180.0),
        ("BTYPE", "Intensity"),
        ("TELESCOP", "ASKAP"),
        ("ORIGIN", "WSClean"),
        ("CTYPE1", "RA---SIN"),
        ("CRPIX1", 3065.0),
        ("CRVAL1", 147.107900401247),
        ("CDELT1", -0.000694444444444444),
        ("CUNIT1", "deg"),
        ("CTYPE2", "DEC--SIN"),
        ("CRPIX2", 3065.0),
        ("CRVAL2", -5.06311073974132),
        ("CDELT2", 0.000694444444444444),
        ("CUNIT2", "deg"),
        ("CTYPE3", "FREQ"),
        ("CRPIX3", 1.0),
        ("CRVAL3", 808490740.740741),
        ("CDELT3", 17999999.9999998),
        ("CUNIT3", "Hz"),
        ("CTYPE4", "STOKES"),
        ("CRPIX4", 1.0),
        ("CRVAL4", 1.0),
        ("CDELT4", 1.0),
        ("CUNIT4", ""),
        ("SPECSYS", "TOPOCENT"),
        ("DATE-OBS", "2024-01-03T18:45:49.6"),
    ]
    return write_raw_fits(path, data[None, None], cards)


def racs_rms_2d_with_ctype3(path: Path) -> Path:
    """WSClean rms map: NAXIS=2 (15 x 10) but CTYPE3 = FREQ and CTYPE4 = STOKES remain."""
    data = np.full((10, 15), 2.5e-4, np.float32) + np.linspace(
        0, 1e-5, 150, dtype=np.float32
    ).reshape(10, 15)
    cards = [
        ("BUNIT", "JY/BEAM", "Units are in Jansky per beam"),
        ("BMAJ", 0.00303032948946595),
        ("BMIN", 0.0025962527928321),
        ("BPA", 56.2253417308633),
        ("EQUINOX", 2000.0),
        ("LONPOLE", 180.0),
        ("TELESCOP", "ASKAP"),
        ("CTYPE1", "RA---SIN"),
        ("CRPIX1", 1680.0),
        ("CRVAL1", 98.211959001102),
        ("CDELT1", -0.00069444444444444),
        ("CUNIT1", "deg"),
        ("CTYPE2", "DEC--SIN"),
        ("CRPIX2", 1678.0),
        ("CRVAL2", -30.860998887872),
        ("CDELT2", 0.00069444444444444),
        ("CUNIT2", "deg"),
        ("CTYPE3", "FREQ"),
        ("CRPIX3", 1.0),
        ("CRVAL3", 887490740.740738),
        ("CDELT3", 287999999.999995),
        ("CUNIT3", "Hz"),
        ("CTYPE4", "STOKES"),
        ("CRPIX4", 1.0),
        ("CRVAL4", 1.0),
        ("CDELT4", 1.0),
        ("CUNIT4", ""),
        ("SPECSYS", "TOPOCENT"),
        ("DATE-OBS", "2022-04-14T10:01:07.6"),
        ("WCSAXES", 2),
        ("LATPOLE", -30.860998887872),
        ("MJDREF", 0.0),
        ("MJD-OBS", 59683.417449074),
        ("RADESYS", "FK5"),
    ]
    return write_raw_fits(path, data, cards)


def unwise_cd(path: Path, shape: tuple[int, int] = (10, 10)) -> Path:
    """unWISE W1: TAN + CD matrix, CRPIX2 far negative, no BUNIT, MAGZP 22.5, 2.75" px."""
    data = gaussian_sources(shape, [(3.0, 6.0)], sigma=1.0, amplitude=50.0, noise=1.0, seed=3)
    cards = [
        ("EXTEND", True),
        ("WCSAXES", 2),
        ("CTYPE1", "RA---TAN"),
        ("CTYPE2", "DEC--TAN"),
        ("EQUINOX", 2000.0),
        ("LONPOLE", 180.0),
        ("LATPOLE", 0.0),
        ("CRVAL1", 346.094384),
        ("CRVAL2", 12.115556),
        ("CRPIX1", 758.5),
        ("CRPIX2", -879.5),
        ("CUNIT1", "deg"),
        ("CUNIT2", "deg"),
        ("CD1_1", -0.000763888888889),
        ("CD1_2", 0.0),
        ("CD2_1", 0.0),
        ("CD2_2", 0.000763888888889),
        ("IMAGEW", shape[1]),
        ("IMAGEH", shape[0]),
        ("MAGZP", 22.5, "Magnitude zeropoint (in Vega mag)"),
        ("UNW_SKY", -2.00069259755362),
        ("EPOCH", -1, "epoch number"),
        ("BAND", 1),
    ]
    return write_raw_fits(path, data, cards)


def allwise_sin(path: Path, shape: tuple[int, int] = (40, 40)) -> Path:
    """AllWISE atlas W1: SIN, 1.375" px, BUNIT 'DN', MAGZP 20.5."""
    data = (
        gaussian_sources(shape, [(20.0, 18.0)], sigma=1.9, amplitude=300.0, noise=2.0, seed=4)
        + 80.0
    )
    cards = [
        ("BUNIT", "DN"),
        ("CTYPE1", "RA---SIN"),
        ("CTYPE2", "DEC--SIN"),
        ("CRPIX1", shape[1] / 2 + 0.5),
        ("CRPIX2", shape[0] / 2 + 0.5),
        ("CRVAL1", 150.0),
        ("CRVAL2", 2.2),
        ("CDELT1", -0.000381944),
        ("CDELT2", 0.000381944),
        ("CROTA2", 0.0),
        ("EQUINOX", 2000.0),
        ("MAGZP", 20.5),
        ("MAGZPUNC", 0.006),
        ("BAND", 1),
        ("WAVELEN", 3.4),
    ]
    return write_raw_fits(path, data, cards)


NO_WCS_NAN_COUNT = 30


def no_wcs_nan_blank(path: Path, size: int = 40) -> Path:
    """Miriad / VLA: no WCS at all, NaN pixels, BLANK = -1 on float data, no BPA."""
    data = gaussian_sources((size, size), [(20, 20)], sigma=3, amplitude=0.04, noise=5e-4, seed=5)
    data[:3, :10] = np.nan  # 30 blanked pixels
    cards = [
        ("EXTEND", True),
        ("BSCALE", 1.0),
        ("BZERO", 0.0),
        ("BLANK", -1),
        ("BUNIT", "JY/BEAM"),
        ("DATE-OBS", "2000-01-01T12:00:00.0"),
        ("TELESCOP", "EVLA"),
        ("BMAJ", 1.77780003287e-03),
        ("BMIN", 1.50000001304e-03),
        ("EPOCH", 2000.0),
        ("OBJECT", "J000315+111543"),
        ("ORIGIN", "Miriad fits: Revision 1.27"),
    ]
    return write_raw_fits(path, data, cards)


def broken_ctype(path: Path, size: int = 32) -> Path:
    """CTYPE1 = 'Jy/beam' (a unit where an axis type belongs), no CTYPE2, no BUNIT."""
    data = gaussian_sources((size, size), [(10, 12)], sigma=2, amplitude=0.01, seed=6)
    cards = [
        ("EXTEND", True),
        ("CTYPE1", "Jy/beam", "Physical units of the image data"),
        ("BMAJ", 0.00666886265618),
        ("BMIN", 0.005831305059291),
        ("BPA", 89.19401765681),
    ]
    return write_raw_fits(path, data, cards)


def _parkes_cards() -> list[Card]:
    return [
        ("BUNIT", "JY/BEAM"),
        ("CTYPE1", "RA---SIN"),
        ("CRPIX1", -2.371895431541e02),
        ("CDELT1", -6.666666666667e-02),
        ("CRVAL1", 0.0),
        ("CTYPE2", "DEC--SIN"),
        ("CRPIX2", 7.688571124876e00),
        ("CDELT2", 6.666666666667e-02),
        ("CRVAL2", -9.0e01),
        ("LONPOLE", 180.0),
        ("LATPOLE", -90.0),
        ("PV2_1", 0.0),
        ("PV2_2", 0.0),
        ("EQUINOX", 2000.0),
        ("BMAJ", 2.399999936422e-01),
        ("BMIN", 2.399999936422e-01),
        ("BPA", 0.0),
        ("RESTFRQ", 1.42040575e09),
    ]


def _parkes_plane(size: int, seed: int) -> np.ndarray:
    data = gaussian_sources(
        (size, size), [(size / 2, size / 2)], sigma=2, amplitude=2.0, noise=0.01, seed=seed
    )
    yy, xx = np.mgrid[:size, :size]
    data[(xx + yy) < size // 3] = np.nan  # a blanked corner, like the real map's edge
    return data


def parkes_sin_pole(path: Path, size: int = 48) -> Path:
    """Parkes 1.4 GHz: SIN at the south pole, CRPIX far outside, NaN-blanked corner."""
    return write_raw_fits(path, _parkes_plane(size, 7), _parkes_cards())


def parkes_cube(path: Path, size: int = 24, planes: int = 10) -> Path:
    """The same as a cube: NAXIS3 = 10 with CTYPE3 = 'freq' (lower case), CRPIX3 = 0."""
    cube = np.stack([_parkes_plane(size, 100 + k) * (1 + k) for k in range(planes)])
    cards = [
        *_parkes_cards(),
        ("CTYPE3", "freq"),
        ("CRPIX3", 0),
        ("CRVAL3", 1.0e9),
        ("CDELT3", 1.0e8),
    ]
    return write_raw_fits(path, cube, cards)


def aegean_degenerate(path: Path, extra_axes: int) -> Path:
    """Aegean small_4D / small_5D: 20x20 with 2 or 3 leading length-1 axes, no CTYPE3+."""
    data = gaussian_sources((20, 20), [(9.5, 10.5)], sigma=1.5, amplitude=1.0, seed=8)
    cards = [
        ("BUNIT", "JY/BEAM"),
        ("CTYPE1", "RA---SIN"),
        ("CRPIX1", -324.19),
        ("CDELT1", -6.666666666667e-02),
        ("CRVAL1", 0.0),
        ("CTYPE2", "DEC--SIN"),
        ("CRPIX2", -79.3114),
        ("CDELT2", 6.666666666667e-02),
        ("CRVAL2", -90.0),
        ("LONPOLE", 180.0),
        ("LATPOLE", -90.0),
        ("PV2_1", 0.0),
        ("PV2_2", 0.0),
        ("EQUINOX", 2000.0),
        ("BMAJ", 2.399999936422e-01),
        ("BMIN", 2.399999936422e-01),
        ("BPA", 0.0),
        ("RESTFRQ", 1.42040575e09),
        ("WCSNAMEP", "PLATE"),
        ("CTYPE1P", "PIXEL"),
        ("CRPIX1P", 1),
        ("CRVAL1P", 88),
        ("CDELT1P", 1),
    ]
    return write_raw_fits(path, data.reshape((1,) * extra_axes + data.shape), cards)


def ncp(path: Path, size: int = 32) -> Path:
    """Old ATCA / Miriad / WSRT: RA---NCP / DEC--NCP projection at Dec +40."""
    data = gaussian_sources((size, size), [(16, 16)], sigma=2, amplitude=0.1, seed=9)
    cards = [
        ("BUNIT", "JY/BEAM"),
        ("CTYPE1", "RA---NCP"),
        ("CRVAL1", 150.0),
        ("CDELT1", -0.001),
        ("CRPIX1", 17.0),
        ("CTYPE2", "DEC--NCP"),
        ("CRVAL2", 40.0),
        ("CDELT2", 0.001),
        ("CRPIX2", 17.0),
        ("EPOCH", 2000.0),
        ("BMAJ", 0.004),
        ("BMIN", 0.003),
        ("BPA", 10.0),
        ("FREQ", 1.4e9),
    ]
    return write_raw_fits(path, data, cards)


def missing_bpa(path: Path, size: int = 16) -> Path:
    """Radio image with a SIN WCS, BMAJ and BMIN but no BPA."""
    data = gaussian_sources((size, size), [(8, 8)], sigma=2, amplitude=0.1, seed=10)
    cards = [
        ("BUNIT", "Jy/beam"),
        ("CTYPE1", "RA---SIN"),
        ("CRVAL1", 10.0),
        ("CDELT1", -5.0e-4),
        ("CRPIX1", 8.0),
        ("CTYPE2", "DEC--SIN"),
        ("CRVAL2", -45.0),
        ("CDELT2", 5.0e-4),
        ("CRPIX2", 8.0),
        ("BMAJ", 0.004),
        ("BMIN", 0.003),
    ]
    return write_raw_fits(path, data, cards)


def simple_sin_cards(
    crval: tuple[float, float] = (150.0, -30.0),
    crpix: tuple[float, float] = (8.5, 8.5),
    cdelt_arcsec: float = 2.0,
    projection: str = "SIN",
) -> list[Card]:
    """Minimal radio WCS cards (Jy/beam, a 12"x10" beam)."""
    return [
        ("BUNIT", "JY/BEAM"),
        ("CTYPE1", f"RA---{projection}"),
        ("CRVAL1", crval[0]),
        ("CDELT1", -cdelt_arcsec / 3600),
        ("CRPIX1", crpix[0]),
        ("CTYPE2", f"DEC--{projection}"),
        ("CRVAL2", crval[1]),
        ("CDELT2", cdelt_arcsec / 3600),
        ("CRPIX2", crpix[1]),
        ("BMAJ", 12 / 3600),
        ("BMIN", 10 / 3600),
        ("BPA", 30.0),
    ]


def empty_primary(path: Path) -> Path:
    """A primary HDU with NAXIS = 0 and nothing else."""
    return write_raw_fits(path, None, [("COMMENT", "no data here")])


def table_only(path: Path) -> Path:
    """An empty primary HDU followed by a binary table (a catalogue, not an image)."""
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="flux", format="E", array=np.arange(3.0))]
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


def image_in_extension(path: Path) -> Path:
    """Empty primary + a table + an IMAGE extension named 'RADIO' (first image is HDU 2)."""
    data = gaussian_sources((12, 14), [(7, 6)], amplitude=0.02, seed=11)
    header = fits.Header(simple_sin_cards())
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.arange(2.0))])
    fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(data, header, name="RADIO")]).writeto(
        path
    )
    return path


NOT_FITS = {
    "text": b"this is a plain text file, not FITS\n" * 20,
    "html": b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
    "png": b"\x89PNG\r\n\x1a\n" + bytes(200),
    "empty": b"",
}
