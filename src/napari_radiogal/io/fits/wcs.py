"""Celestial WCS of FITS images: extraction, repair, and pixel scales.

:func:`celestial_wcs` turns a header (any number of axes, SIN / TAN / NCP, PC or CD
matrices) into the 2-D celestial :class:`astropy.wcs.WCS` of axes 1 and 2, or explains
why there is none (pixel-only mode, or a :class:`~napari_radiogal.errors.FitsFormatError`
on request). :func:`wcs_pixel_scale_arcsec` and :func:`pixel_scale_from_wcs_header` give
pixel sides in arcsec, from a WCS or from header text as stored in COCO files.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area, proj_plane_pixel_scales

from napari_radiogal.errors import FitsFormatError
from napari_radiogal.io.fits.notes import is_harmless_astropy_warning

if TYPE_CHECKING:
    from napari_radiogal.annotations import ImageRecord

__all__ = [
    "celestial_wcs",
    "wcs_pixel_scale_arcsec",
    "pixel_scale_from_wcs_header",
    "image_pixel_scales",
]

log = logging.getLogger(__name__)

#: Non-square pixels beyond this relative difference get a warning.
_SQUARE_PIXEL_TOLERANCE = 0.01

_WCS_HINT_KEYS = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CD1_1", "PC1_1", "CDELT1")


def celestial_wcs(
    header: fits.Header,
    image_shape: tuple[int, ...],
    notes: list[str],
    *,
    path: str | os.PathLike | None,
    hdu: int | str | None,
    require: bool = False,
) -> tuple[WCS | None, str | None]:
    """The 2-D celestial WCS of the image axes 1 and 2, or ``None`` with a note or an error.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Header of the HDU (any number of axes).
    image_shape : tuple of int
        Shape of the data in NumPy order; the last two are ``(H, W)``.
    notes : list of str
        Appended to: astropy's repairs of a usable WCS, or why the image is pixel-only.
    path, hdu : optional
        Named in the error.
    require : bool
        Raise instead of falling back to pixel-only mode.

    Returns
    -------
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS with ``pixel_shape = (W, H)``; ``None`` in pixel-only mode.
    problem : str or None
        Why there is no WCS (``None`` when there is one).

    Raises
    ------
    FitsFormatError
        With ``require=True`` when the header has no usable celestial WCS.
    """
    with warnings.catch_warnings(record=True) as caught:
        # wcslib's remarks only matter if the WCS is used; recorded here, judged below
        warnings.simplefilter("always")
        problem, keyword, wcs = _try_celestial_wcs(header, image_shape)
    if problem is None:
        for item in caught:
            message = str(item.message)
            if is_harmless_astropy_warning(item.category, message):
                log.debug("astropy: %s", message)
            else:
                notes.append(f"astropy reported: {message.strip()} (WCS used as repaired).")
        return wcs, None
    log.debug("astropy on the unusable WCS: %s", [str(item.message) for item in caught])
    if require:
        raise FitsFormatError(
            f"{problem}. Expected a celestial WCS on axes 1 and 2 (CTYPE1/CTYPE2 such as "
            "'RA---SIN'/'DEC--SIN', with CRVAL, CRPIX and CDELT or a CD matrix). Fix the "
            "header (e.g. with astropy.io.fits.setval) or pass require_wcs=False to read "
            "the pixels in pixel-only mode.",
            path=path,
            hdu=hdu,
            keyword=keyword,
        )
    notes.append(
        f"{problem}; read in pixel-only mode (wcs=None): no RA/Dec for sources or hosts, "
        "no reprojection of an infrared image onto this grid, no sizes in arcsec. "
        "To fix, give the file a celestial WCS (CTYPE1/CTYPE2 such as 'RA---SIN'/'DEC--SIN' "
        "with CRVAL, CRPIX, CDELT), or pass require_wcs=True (radiogal predict --require-wcs) to refuse such files."
    )
    return None, problem


def _try_celestial_wcs(
    header: fits.Header, image_shape: tuple[int, ...]
) -> tuple[str | None, str | None, WCS | None]:
    """(problem, keyword, wcs): problem is None when wcs is a valid 2-D celestial WCS."""
    if not any(key in header for key in _WCS_HINT_KEYS):
        return (
            "the header has no WCS (no CTYPE1/CTYPE2, CRVAL, CDELT or CD keywords)",
            "CTYPE1",
            None,
        )
    try:
        full = WCS(header, fix=True)
    except (ValueError, KeyError, TypeError, MemoryError) as error:
        keyword = _first_non_celestial_ctype(header) or "CTYPE1"
        value = str(header.get(keyword, "")).strip()
        return (
            f"astropy could not build a WCS from the header ({keyword}='{value}': {error})",
            keyword,
            None,
        )
    celestial = full.celestial
    if celestial.naxis != 2:
        bad = _first_non_celestial_ctype(header)
        value = header.get(bad, "") if bad else ""
        hint = ""
        if isinstance(value, str) and re.search(r"jy|beam|^k$", value.strip(), re.IGNORECASE):
            hint = " (that is a brightness unit; the writer probably meant BUNIT)"
        return (
            f"the header has no celestial WCS: {bad}='{str(value).strip()}' is not a sky axis "
            f"type{hint}"
            if bad
            else "the header has no celestial WCS (CTYPE1/CTYPE2 missing)",
            bad or "CTYPE1",
            None,
        )
    if {full.wcs.lng, full.wcs.lat} != {0, 1}:
        return (
            f"the sky axes are FITS axes {full.wcs.lng + 1} and {full.wcs.lat + 1}, but this "
            "reader needs them as axes 1 and 2 (the image plane); transpose the cube first",
            f"CTYPE{full.wcs.lng + 1}",
            None,
        )
    singular = _singular_linear_part(header)
    if singular is not None:
        return singular
    height, width = int(image_shape[-2]), int(image_shape[-1])
    try:
        celestial.wcs.set()
        centre = celestial.pixel_to_world_values((width - 1) / 2.0, (height - 1) / 2.0)
        scales = proj_plane_pixel_scales(celestial)
    except (ValueError, MemoryError) as error:
        return f"the celestial WCS is invalid ({error})", "CTYPE1", None
    if not (np.all(np.isfinite(centre)) and np.all(np.isfinite(scales)) and np.all(scales > 0)):
        return (
            "the celestial WCS does not map the image centre to a valid sky position "
            "(check CRPIX/CRVAL/CDELT and the projection parameters PVi_m)",
            "CRPIX1",
            None,
        )
    celestial.pixel_shape = (width, height)
    return None, None, celestial


def _singular_linear_part(header: fits.Header) -> tuple[str, str, None] | None:
    """Problem tuple when axes 1-2 have no pixel scale or a singular CD / CDELT*PC matrix.

    wcslib silently replaces a zero CD matrix (and missing CDELT) by 1 degree per pixel;
    for an image that is never what the writer meant.
    """
    if any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
        keyword = "CD1_1"
        try:
            matrix = np.array(
                [[float(header.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)]
            )
        except (TypeError, ValueError):
            return "the CD matrix is not numeric", keyword, None
    else:
        keyword = "CDELT1"
        missing = [f"CDELT{i}" for i in (1, 2) if f"CDELT{i}" not in header]
        if missing:
            return (
                f"the header gives no pixel scale ({' and '.join(missing)} and the CD "
                "matrix are missing)",
                missing[0],
                None,
            )
        try:
            cdelt = np.array([float(header[f"CDELT{i}"]) for i in (1, 2)])
            pc = np.array(
                [
                    [float(header.get(f"PC{i}_{j}", 1.0 if i == j else 0.0)) for j in (1, 2)]
                    for i in (1, 2)
                ]
            )
        except (TypeError, ValueError):
            return "CDELT1/CDELT2 or the PC matrix are not numeric", keyword, None
        matrix = cdelt[:, None] * pc
    determinant = float(np.linalg.det(matrix)) if np.all(np.isfinite(matrix)) else 0.0
    if determinant == 0.0:
        return (
            f"the pixel-to-sky matrix of axes 1-2 is singular ({keyword} = "
            f"{header.get(keyword)!r}; the pixel scale is zero)",
            keyword,
            None,
        )
    return None


def _first_non_celestial_ctype(header: fits.Header) -> str | None:
    for axis in (1, 2):
        key = f"CTYPE{axis}"
        value = str(header.get(key, "")).strip().upper()
        if len(value) < 4 or value[:4] not in (
            "RA--",
            "DEC-",
            "GLON",
            "GLAT",
            "ELON",
            "ELAT",
            "SLON",
            "SLAT",
            "HPLN",
            "HPLT",
        ):
            return key
    return None


def wcs_pixel_scale_arcsec(wcs: WCS, notes: list[str]) -> float:
    """Pixel side in arcsec: the geometric mean of the two axes' pixel scales.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        2-D celestial WCS.
    notes : list of str
        Appended to when the pixels are not square (sides differ by more than 1 %).

    Examples
    --------
    >>> w = WCS(naxis=2)
    >>> w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> w.wcs.cdelt = [-2 / 3600, 2 / 3600]
    >>> round(wcs_pixel_scale_arcsec(w, []), 6)
    2.0
    """
    scale_x, scale_y = (float(s) * 3600.0 for s in proj_plane_pixel_scales(wcs))
    ratio = scale_x / scale_y
    if abs(ratio - 1.0) > _SQUARE_PIXEL_TOLERANCE:
        notes.append(
            f'pixels are not square ({scale_x:.4g}" x {scale_y:.4g}"); pixel_scale_arcsec is '
            "their geometric mean. Reproject onto a square grid for shape-sensitive work."
        )
    return math.sqrt(scale_x * scale_y)


@functools.lru_cache(maxsize=4096)
def pixel_scale_from_wcs_header(header_text: str) -> float | None:
    """Geometric-mean pixel side in arcsec, ``sqrt(|det CD|)``, from WCS header text.

    The celestial WCS of the header (astropy, cached per text) gives the pixel area with
    :func:`astropy.wcs.utils.proj_plane_pixel_area`, so ``CDi_j``, ``PCi_j`` x ``CDELTi``
    and ``CUNITi`` (deg, arcmin, arcsec, rad) are all honoured; a skewed matrix gives the
    side of the square of equal area.

    Parameters
    ----------
    header_text : str
        ``WCS.to_header_string()`` (80-character cards, with or without newlines), as in the
        ``radio_wcs`` field of COCO ``images[]``.

    Returns
    -------
    float or None
        ``None`` when the header has no celestial axes, no pixel scale (no CD matrix and
        no CDELT1/CDELT2: wcslib would assume 1 degree), a singular matrix, or cannot be
        parsed.

    Examples
    --------
    >>> w = WCS(naxis=2)
    >>> w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    >>> w.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    >>> round(pixel_scale_from_wcs_header(w.to_header_string()), 9)
    1.5
    """
    text = header_text.replace("\r", "")
    with warnings.catch_warnings():
        # only the scale is wanted: astropy's remarks on cards, dates or axes do not matter
        warnings.simplefilter("ignore")
        try:
            header = fits.Header.fromstring(text, sep="\n" if "\n" in text else "")
            if _singular_linear_part(header) is not None:
                return None
            celestial = WCS(header).celestial
            if celestial.naxis != 2:
                return None
            area_deg2 = float(proj_plane_pixel_area(celestial))
        except (ValueError, KeyError, TypeError, MemoryError):
            return None
    if not (math.isfinite(area_deg2) and area_deg2 > 0):
        return None
    return math.sqrt(area_deg2) * 3600.0


def image_pixel_scales(
    images: Sequence[ImageRecord], default: float
) -> tuple[dict[int, float], dict[str, Any]]:
    """Pixel side in arcsec of each image, from its ``radio_wcs`` or else ``default``.

    Parameters
    ----------
    images : sequence of ImageRecord
        COCO image records; ``radio_wcs`` is header text (see
        :func:`pixel_scale_from_wcs_header`) or ``None``.
    default : float
        Arcsec per pixel for images whose ``radio_wcs`` is missing or unusable.

    Returns
    -------
    scales : dict of int to float
        Arcsec per pixel by image id.
    counts : dict
        ``{"from_wcs": n, "from_default": m}``: how many images got which.
    """
    scales: dict[int, float] = {}
    from_wcs = 0
    for im in images:
        scale = pixel_scale_from_wcs_header(im.radio_wcs) if im.radio_wcs else None
        if scale is None:
            scales[im.id] = default
        else:
            scales[im.id] = scale
            from_wcs += 1
    return scales, {"from_wcs": from_wcs, "from_default": len(images) - from_wcs}
