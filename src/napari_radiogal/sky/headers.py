"""Sky geometry and FITS headers written the way the real surveys write them.

* Radio (ASKAP EMU): ``NAXIS = 4`` (RA---SIN, DEC--SIN, FREQ, STOKES), ``BUNIT 'Jy/beam'``,
  ``BMAJ/BMIN/BPA`` in degrees; some cut-outs keep the parent tile's reference pixel, far
  outside the image (as CASA / ASKAPsoft cut-outs do).
* Infrared, AllWISE atlas style: 1.375"/px, ``BUNIT 'DN'``, ``MAGZP 20.5``, SIN or TAN with
  ``CDELT``. unWISE style: 2.75"/px, no ``BUNIT``, ``MAGZP 22.5``, TAN with a ``CD`` matrix
  and the tile's reference pixel. MJy/sr style (cut-out services that resample to surface
  brightness): 2"/px, ``BUNIT 'MJy/sr'``, TAN with ``CDELT``, no ``MAGZP``.

No header carries a date or a random identifier, so the same seed writes the same bytes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal._version import __version__

__all__ = [
    "IR_STYLES",
    "IrStyle",
    "draw_radio_wcs",
    "radio_header",
    "ir_wcs_and_header",
    "two_d_header",
]


@dataclass(frozen=True)
class IrStyle:
    """What distinguishes the two WISE W1 products we imitate."""

    name: str
    pixel_scale_arcsec: float
    magzp: float
    unit: str | None
    depth_mag: float  # 5 sigma point-source depth (Vega W1)
    background: tuple[float, float]  # sky level range, in units of the pixel noise
    noise_correlation_px: float  # rms width of the noise autocorrelation, pixels
    writes_magzp: bool = True  # whether the header carries MAGZP (else it is internal only)


IR_STYLES: dict[str, IrStyle] = {
    # AllWISE atlas: 5 sigma W1 ~ 16.9-17.6 mag (explanatory supplement; the paper's
    # 28 uJy); atlas pixels oversample the native 2.75" ones, so the noise is correlated.
    "allwise": IrStyle("allwise", 1.375, 20.5, "DN", 17.1, (5.0, 40.0), 1.0),
    # unWISE: deeper co-adds (~0.7 mag), sky subtracted (background ~ 0), native pixels;
    # the pixel noise (~3.8 nanomaggies) is close to the real unWISE W1 patch in
    # ../shared/data/fits-real-format (clipped rms 3.2).
    "unwise": IrStyle("unwise", 2.75, 22.5, None, 17.9, (-0.5, 0.5), 0.0),
    # Surface brightness: W1 Vega zero magnitude is 309.54 Jy, so a total flux of
    # 10^(0.4 (ZP - m)) MJy/sr per 2" pixel needs ZP = 2.5 log10(309.54 / (1e6 Omega_pix)).
    "mjysr": IrStyle(
        "mjysr",
        2.0,
        2.5 * math.log10(309.54 / (1e6 * (2.0 / 206264.806) ** 2)),
        "MJy/sr",
        17.1,
        (0.0, 30.0),
        0.7,
        writes_magzp=False,
    ),
}


def _uniform_sky(rng: np.random.Generator, ra_range, dec_range) -> tuple[float, float]:
    """A point uniform on the sphere inside an RA / Dec box, degrees."""
    ra = rng.uniform(*ra_range)
    lo, hi = (math.sin(math.radians(d)) for d in dec_range)
    dec = math.degrees(math.asin(rng.uniform(lo, hi)))
    return float(ra), float(dec)


def draw_radio_wcs(
    rng: np.random.Generator,
    size: int,
    pixel_scale_arcsec: float,
    ra_range: tuple[float, float],
    dec_range: tuple[float, float],
    parent_tile_fraction: float,
) -> WCS:
    """Celestial SIN WCS of one cut-out, north up, RA increasing to the left.

    With probability ``parent_tile_fraction`` the reference point is the centre of an
    imaginary ~6 deg parent tile (CRPIX thousands of pixels outside the cut-out);
    otherwise the cut-out's own centre.
    """
    scale = pixel_scale_arcsec / 3600.0
    centre_pix = (size + 1) / 2.0  # FITS 1-based centre of the grid
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.cdelt = [-scale, scale]
    w.wcs.radesys = "FK5"
    w.wcs.equinox = 2000.0
    if rng.random() < parent_tile_fraction:
        # Shrink the box so that a cut-out up to 2.5 deg from its tile centre stays inside.
        margin = 2.5
        tile = _uniform_sky(
            rng,
            (ra_range[0] + margin, ra_range[1] - margin),
            (dec_range[0] + margin, dec_range[1] - margin),
        )
        offset = rng.uniform(-2.5, 2.5, size=2) / scale  # pixels from tile centre
        w.wcs.crval = list(tile)
        w.wcs.crpix = [round(centre_pix - offset[0]), round(centre_pix - offset[1])]
    else:
        w.wcs.crval = list(_uniform_sky(rng, ra_range, dec_range))
        w.wcs.crpix = [centre_pix, centre_pix]
    w.wcs.set()
    w.pixel_shape = (size, size)
    return w


def radio_header(
    wcs: WCS,
    shape: tuple[int, int],
    *,
    beam_deg: tuple[float, float, float],
    frequency_hz: float,
    bandwidth_hz: float = 288.0e6,
    object_name: str = "",
) -> fits.Header:
    """ASKAP-style 4-axis header for a ``(1, 1, H, W)`` float32 image of this WCS.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        2-D celestial WCS (SIN, CDELT).
    shape : (H, W)
    beam_deg : (bmaj, bmin, bpa)
        Degrees; BPA east of north.
    frequency_hz, bandwidth_hz : float
        The FREQ axis (EMU-PS: 943.5 MHz centre, 288 MHz band).
    object_name : str
        ``OBJECT`` card.
    """
    h, w = shape
    crval1, crval2 = (float(v) for v in wcs.wcs.crval)
    crpix1, crpix2 = (float(v) for v in wcs.wcs.crpix)
    cdelt1, cdelt2 = (float(v) for v in wcs.wcs.cdelt)
    hdr = fits.Header()
    cards = [
        ("SIMPLE", True, "conforms to FITS standard"),
        ("BITPIX", -32, "array data type"),
        ("NAXIS", 4, "number of array dimensions"),
        ("NAXIS1", int(w), ""),
        ("NAXIS2", int(h), ""),
        ("NAXIS3", 1, ""),
        ("NAXIS4", 1, ""),
        ("EXTEND", True, ""),
        ("BSCALE", 1.0, "PHYSICAL = PIXEL*BSCALE + BZERO"),
        ("BZERO", 0.0, ""),
        ("BMAJ", float(beam_deg[0]), ""),
        ("BMIN", float(beam_deg[1]), ""),
        ("BPA", float(beam_deg[2]), ""),
        ("BTYPE", "Intensity", ""),
        ("OBJECT", object_name, ""),
        ("BUNIT", "Jy/beam", "Brightness (pixel) unit"),
        ("EQUINOX", 2000.0, ""),
        ("RADESYS", "FK5", ""),
        ("LONPOLE", 180.0, ""),
        ("LATPOLE", crval2, ""),
        ("CTYPE1", "RA---SIN", ""),
        ("CRVAL1", crval1, ""),
        ("CDELT1", cdelt1, ""),
        ("CRPIX1", crpix1, ""),
        ("CUNIT1", "deg", ""),
        ("CTYPE2", "DEC--SIN", ""),
        ("CRVAL2", crval2, ""),
        ("CDELT2", cdelt2, ""),
        ("CRPIX2", crpix2, ""),
        ("CUNIT2", "deg", ""),
        ("CTYPE3", "FREQ", ""),
        ("CRVAL3", float(frequency_hz), ""),
        ("CDELT3", float(bandwidth_hz), ""),
        ("CRPIX3", 1.0, ""),
        ("CUNIT3", "Hz", ""),
        ("CTYPE4", "STOKES", ""),
        ("CRVAL4", 1.0, ""),
        ("CDELT4", 1.0, ""),
        ("CRPIX4", 1.0, ""),
        ("CUNIT4", "", ""),
        ("SPECSYS", "TOPOCENT", "Spectral reference frame"),
        ("TELESCOP", "ASKAP", ""),
        ("INSTRUME", "ASKAP", ""),
        ("ORIGIN", f"napari-radiogal {__version__}", "synthetic EMU-like sky (sky module)"),
    ]
    for key, value, comment in cards:
        hdr[key] = (value, comment)
    hdr.add_comment("SIMULATED DATA: synthetic EMU Pilot Survey-like cut-out, not an ASKAP image.")
    return hdr


_AXIS_3_4 = re.compile(r"^(NAXIS|CTYPE|CRVAL|CDELT|CRPIX|CUNIT|CROTA)[34]$")
_STRUCTURE = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BSCALE", "BZERO")


def two_d_header(
    header: fits.Header, shape: tuple[int, int], *, frequency_hz: float | None = None
) -> fits.Header:
    """The header of the 2-D ``(H, W)`` image: structure cards first, axes 3/4 dropped.

    Built in one ``fits.Header`` call (an order of magnitude faster than editing a header
    card by card, which matters at ~10^6 cut-outs); ``FREQ`` keeps the dropped frequency.
    """
    cards = [
        ("SIMPLE", True, "conforms to FITS standard"),
        ("BITPIX", -32, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", int(shape[1]), ""),
        ("NAXIS2", int(shape[0]), ""),
    ]
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURE or _AXIS_3_4.match(key) or key == "SPECSYS":
            continue
        cards.append((key, card.value, card.comment))
    if frequency_hz is not None:
        cards.append(("FREQ", float(frequency_hz), "[Hz] frequency of this image plane"))
    return fits.Header(cards)


def ir_wcs_and_header(
    rng: np.random.Generator,
    style: IrStyle,
    ra: float,
    dec: float,
    field_arcsec: float,
    margin_arcsec: float,
) -> tuple[WCS, fits.Header, tuple[int, int]]:
    """WCS, header and shape of a W1 image covering a square field centred on ``(ra, dec)``.

    Parameters
    ----------
    rng : numpy.random.Generator
    style : IrStyle
    ra, dec : float
        Centre of the radio field, degrees.
    field_arcsec : float
        Side of the radio field, arcsec.
    margin_arcsec : float
        How far the IR image extends beyond the radio field on every side.

    Returns
    -------
    wcs : astropy.wcs.WCS
    header : astropy.io.fits.Header
        2-D header (WCS, units, zero point) without data-structure keywords.
    shape : (H, W)
    """
    scale = style.pixel_scale_arcsec
    n = int(math.ceil((field_arcsec + 2.0 * margin_arcsec) / scale))
    centre_pix = (n + 1) / 2.0
    # The IR cut-out is centred within a few arcsec of the radio one, not exactly on it.
    jitter = rng.uniform(-2.0, 2.0, size=2) / scale
    hdr = fits.Header()
    if style.name == "unwise":
        # unWISE tiles are 2048 px of 2.75"; cut-outs keep the tile's reference pixel.
        tile_offset = np.rint(rng.uniform(-900.0, 900.0, size=2))
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.cunit = ["deg", "deg"]
        w.wcs.crpix = [centre_pix + jitter[0], centre_pix + jitter[1]]
        w.wcs.crval = [ra, dec]
        w.wcs.cd = [[-scale / 3600.0, 0.0], [0.0, scale / 3600.0]]
        w.wcs.set()
        # Move the reference point to the imaginary tile centre, same grid.
        tile_pix = np.array([[centre_pix + tile_offset[0], centre_pix + tile_offset[1]]])
        tile_world = w.wcs_pix2world(tile_pix, 1)[0]
        w2 = WCS(naxis=2)
        w2.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w2.wcs.cunit = ["deg", "deg"]
        w2.wcs.crpix = [float(tile_pix[0, 0]), float(tile_pix[0, 1])]
        w2.wcs.crval = [float(tile_world[0]), float(tile_world[1])]
        w2.wcs.cd = [[-scale / 3600.0, 0.0], [0.0, scale / 3600.0]]
        w2.wcs.set()
        w = w2
        cards = [
            ("WCSAXES", 2, ""),
            ("CTYPE1", "RA---TAN", "TAN (gnomic) projection"),
            ("CTYPE2", "DEC--TAN", "TAN (gnomic) projection"),
            ("EQUINOX", 2000.0, "Equatorial coordinates definition (yr)"),
            ("LONPOLE", 180.0, ""),
            ("LATPOLE", 0.0, ""),
            ("CRVAL1", float(w.wcs.crval[0]), "RA  of reference point"),
            ("CRVAL2", float(w.wcs.crval[1]), "DEC of reference point"),
            ("CRPIX1", float(w.wcs.crpix[0]), "X reference pixel"),
            ("CRPIX2", float(w.wcs.crpix[1]), "Y reference pixel"),
            ("CUNIT1", "deg", "X pixel scale units"),
            ("CUNIT2", "deg", "Y pixel scale units"),
            ("CD1_1", -scale / 3600.0, "Transformation matrix"),
            ("CD1_2", 0.0, ""),
            ("CD2_1", 0.0, ""),
            ("CD2_2", scale / 3600.0, ""),
            ("IMAGEW", n, "Image width,  in pixels."),
            ("IMAGEH", n, "Image height, in pixels."),
            ("MAGZP", style.magzp, "Magnitude zeropoint (in Vega mag)"),
            ("BAND", 1, "WISE band"),
            ("UNW_SKY", 0.0, "Background value subtracted from coadd img"),
        ]
    elif style.name == "mjysr":
        w, grid_cards = _cdelt_grid("TAN", centre_pix, jitter, ra, dec, scale)
        cards = [
            ("BUNIT", "MJy/sr", "Units of image pixels"),
            *grid_cards,
            ("BAND", 1, "WISE band number"),
            ("WAVELEN", 3.4, "[microns] effective wavelength of band"),
        ]
    else:
        projection = "SIN" if rng.random() < 0.5 else "TAN"
        w, grid_cards = _cdelt_grid(projection, centre_pix, jitter, ra, dec, scale)
        cards = [
            ("BUNIT", "DN", "Units of image pixels"),
            *grid_cards,
            ("CROTA2", 0.0, ""),
            ("BAND", 1, "WISE band number"),
            ("WAVELEN", 3.4, "[microns] effective wavelength of band"),
            ("MAGZP", style.magzp, "[mag] relative photometric zero point"),
            ("MAGZPUNC", 0.006, "[mag] 1-sigma uncertainty in zero point"),
        ]
    for key, value, comment in cards:
        hdr[key] = (value, comment)
    hdr["TELESCOP"] = ("WISE", "")
    hdr["ORIGIN"] = (f"napari-radiogal {__version__}", "synthetic W1 sky (sky module)")
    hdr.add_comment(f"SIMULATED DATA: synthetic {style.name} W1-like image, not a WISE image.")
    w.pixel_shape = (n, n)
    return w, hdr, (n, n)


def _cdelt_grid(projection, centre_pix, jitter, ra, dec, scale):
    """A CDELT-style celestial WCS and its header cards (AllWISE atlas and MJy/sr styles)."""
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.crpix = [centre_pix + jitter[0], centre_pix + jitter[1]]
    w.wcs.crval = [ra, dec]
    w.wcs.cdelt = [-scale / 3600.0, scale / 3600.0]
    w.wcs.set()
    cards = [
        ("CTYPE1", f"RA---{projection}", ""),
        ("CTYPE2", f"DEC--{projection}", ""),
        ("EQUINOX", 2000.0, ""),
        ("CRPIX1", float(w.wcs.crpix[0]), ""),
        ("CRPIX2", float(w.wcs.crpix[1]), ""),
        ("CRVAL1", float(ra), ""),
        ("CRVAL2", float(dec), ""),
        ("CDELT1", -scale / 3600.0, ""),
        ("CDELT2", scale / 3600.0, ""),
    ]
    return w, cards
