"""Put images on a common sky grid: reprojection and cut-outs.

* :func:`reproject_to_grid` puts an infrared image onto a radio image's pixel grid
  (``reproject.reproject_interp``, bilinear by default; see its docstring for why).
* :func:`cutout` cuts a square or rectangular piece out of a radio or infrared image
  around a sky position or a pixel, with :class:`astropy.nddata.Cutout2D`, keeping the
  updated WCS. On an image read with ``lazy=True`` only the cut-out's pixels are read
  from the memory-mapped file, so a 200 x 200 cut-out of a 10k x 10k mosaic costs a few
  hundred kB, not 400 MB.

Arrays are ``(row, col)`` = ``(y, x)``, 0-based; pixel positions are given as ``(x, y)``
like astropy does. Angles in degrees unless the name says arcsec.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from typing import TypeVar

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D
from astropy.nddata.utils import NoOverlapError, PartialOverlapError
from astropy.wcs import WCS

from napari_radiogal.errors import FitsFormatWarning, InputImageError, InputImageWarning
from napari_radiogal.io.fits.header import image_header, jy_per_beam_factor
from napari_radiogal.io.fits.images import InfraredImage, RadioImage, as_float32, is_lazy
from napari_radiogal.io.fits.reader import clean_float_plane

__all__ = ["reproject_to_grid", "cutout", "REPROJECT_METHODS"]

log = logging.getLogger(__name__)

Image = TypeVar("Image", RadioImage, InfraredImage)
Size = int | tuple[int, int] | u.Quantity

#: Reprojection methods of the ``reproject`` package that :func:`reproject_to_grid` offers.
REPROJECT_METHODS = ("interp", "adaptive", "exact")

#: Extra input pixels kept around the output footprint so interpolation near the edge
#: has its neighbours (bicubic needs 2, adaptive's kernel a few).
_MARGIN_PIXELS = 4

#: Points per edge used to find the part of the input that the output grid covers.
_EDGE_SAMPLES = 64


def reproject_to_grid(
    ir: InfraredImage,
    radio: RadioImage,
    *,
    method: str = "interp",
    order: str | int = "bilinear",
) -> InfraredImage:
    """Reproject an infrared image onto a radio image's pixel grid.

    Parameters
    ----------
    ir : InfraredImage
        Infrared image (e.g. WISE W1 at 1.375"/px or 2.75"/px), any projection; may be a
        ``lazy=True`` mosaic: only the part that the radio grid covers is read.
    radio : RadioImage
        Target grid: ``radio.wcs`` and ``radio.shape`` (H, W).
    method : {"interp", "adaptive", "exact"}
        ``reproject`` algorithm. Default ``"interp"``.
    order : str or int
        Interpolation order for ``method="interp"``: ``"nearest-neighbor"``,
        ``"bilinear"`` (default), ``"biquadratic"``, ``"bicubic"``.

    Returns
    -------
    InfraredImage
        ``data`` float32 of shape ``radio.shape``, ``(row, col)``, in the infrared image's
        own per-pixel unit (values are interpolated, not rescaled by the ratio of pixel
        areas); NaN where the infrared image does not cover the radio grid or is blanked.
        ``wcs`` is ``radio.wcs``, ``pixel_scale_arcsec`` the radio one; ``unit`` and
        ``magzp`` are the infrared ones.

    Raises
    ------
    InputImageError
        Either image has no WCS (pixel-only mode), or the infrared image does not overlap
        the radio grid at all.

    Warns
    -----
    InputImageWarning
        The infrared image covers only part of the radio grid (the rest is NaN).

    Notes
    -----
    Why ``reproject_interp`` with bilinear interpolation: the infrared image is used as a
    surface-brightness channel of the network input and to find host galaxies as local
    maxima, never for photometry. WISE images are smooth and well sampled (W1 PSF FWHM
    ~6.1", i.e. 4.4 px at 1.375"/px and 2.2 px at 2.75"/px, against 2" radio pixels),
    so interpolating the surface brightness at each radio pixel centre keeps point
    sources where they are (to a small fraction of a radio pixel, see the tests) and
    their peaks. ``reproject_exact`` would conserve flux per pixel with spherical polygon
    intersections, which this use does not need, and is one to two orders of magnitude
    slower. ``method="adaptive"`` (anti-aliased, DeForest 2004) is the right choice when
    the infrared pixels are much *smaller* than the radio pixels (e.g. 0.27" DES images
    onto 2" ASKAP pixels), where point sampling would alias.

    Examples
    --------
    >>> on_radio = reproject_to_grid(read_infrared("w1.fits"), read_radio("emu.fits"))  # doctest: +SKIP
    >>> on_radio.shape == radio.shape  # doctest: +SKIP
    True
    """
    if method not in REPROJECT_METHODS:
        raise InputImageError(
            f"method={method!r} is not one of {REPROJECT_METHODS}; use 'interp' (default), "
            "'adaptive' for much finer infrared pixels, or 'exact' for flux conservation."
        )
    _require_wcs(radio, "the radio image", "reproject an infrared image onto it")
    _require_wcs(ir, "the infrared image", "reproject it onto the radio grid")
    data, ir_wcs = _input_region(ir, radio)
    footprint_data = _run_reproject(method, order, data, ir_wcs, radio)
    out, footprint = footprint_data
    covered = np.asarray(footprint) > 0
    if not covered.any():
        raise InputImageError(_no_overlap_message(ir, radio))
    fraction = float(covered.mean())
    if fraction < 1.0:
        warnings.warn(
            f"the infrared image covers only {fraction:.1%} of the radio grid "
            f"({_name(ir)} onto {_name(radio)}); pixels outside its footprint are NaN.",
            InputImageWarning,
            stacklevel=2,
        )
    result = np.asarray(out, dtype=np.float32)
    result[~covered] = np.nan
    header = image_header(ir.header, radio.wcs, radio.shape)
    return InfraredImage(
        data=result,
        wcs=radio.wcs.deepcopy(),
        unit=ir.unit,
        pixel_scale_arcsec=radio.pixel_scale_arcsec,
        magzp=ir.magzp,
        header=header,
        path=ir.path,
    )


def cutout(
    image: Image,
    center: SkyCoord | tuple[float, float],
    size: Size,
    *,
    mode: str = "partial",
) -> Image:
    """Cut a piece out of a radio or infrared image, keeping the updated WCS.

    Parameters
    ----------
    image : RadioImage or InfraredImage
        Source image; with ``lazy=True`` (memory-mapped) only the cut-out is read.
    center : SkyCoord or (x, y)
        Centre of the cut-out: a sky position (needs ``image.wcs``) or a 0-based pixel
        position ``(x, y)`` = ``(col, row)``.
    size : int, (ny, nx) or astropy Quantity
        Side in pixels (``int``), ``(rows, cols)``, or an angle (e.g. ``3 * u.arcmin``,
        or a ``(2,)`` Quantity ``(ny, nx)``) which needs a WCS.
    mode : {"partial", "trim", "strict"}
        What happens at the image edge (see :class:`astropy.nddata.Cutout2D`):
        ``"partial"`` (default) keeps the requested shape and fills outside pixels with
        NaN (with a warning), ``"trim"`` returns only the overlap, ``"strict"`` raises.

    Returns
    -------
    RadioImage or InfraredImage
        Same type as ``image``: float32 ``(h, w)`` in native byte order (own memory, even
        for a lazy source), the cut-out's WCS, a header whose WCS and ``LTV1/LTV2``
        (IRAF offsets back to the parent's pixels) are updated; beam, frequency, unit
        and zero point unchanged. Radio cut-outs of a lazy mJy/beam image are converted
        to Jy/beam here.

    Raises
    ------
    InputImageError
        The cut-out does not overlap the image, a sky position or angular size was given
        for a pixel-only image, or ``mode="strict"`` and it does not fit.

    Warns
    -----
    InputImageWarning
        ``mode="partial"`` and part of the cut-out lies outside the image.

    Examples
    --------
    >>> mosaic = read_radio("emu_mosaic.fits", lazy=True)                  # doctest: +SKIP
    >>> piece = cutout(mosaic, SkyCoord(150.1, -30.2, unit="deg"), 210)    # doctest: +SKIP
    """
    if mode not in ("partial", "trim", "strict"):
        raise InputImageError(f"mode={mode!r}; expected 'partial', 'trim' or 'strict'.")
    position = _pixel_position(image, center)
    size = _checked_size(image, size)
    try:
        cut = Cutout2D(
            image.data, position, size, wcs=image.wcs, mode=mode, fill_value=np.nan, copy=False
        )
    except NoOverlapError as error:
        raise InputImageError(
            f"a {size} cut-out at pixel (x, y) = ({position[0]:.1f}, {position[1]:.1f}) does "
            f"not overlap {_name(image)} (shape (H, W) = {image.shape}); check the position "
            "and that it is on this image's part of the sky."
        ) from error
    except PartialOverlapError as error:
        raise InputImageError(
            f"with mode='strict' the {size} cut-out at pixel ({position[0]:.1f}, "
            f"{position[1]:.1f}) must lie inside {_name(image)} (shape {image.shape}); use "
            "mode='partial' (NaN-filled) or mode='trim'."
        ) from error
    data = as_float32(cut.data)
    notes: list[str] = []
    if is_lazy(image):
        # the reader did not look at these pixels yet: blank and convert them now
        data = clean_float_plane(data, image.header, notes)
    image = _converted_radio_unit(image, data)
    if mode == "partial":
        inside = _overlap_pixels(cut)
        if inside < data.size:
            warnings.warn(
                f"the cut-out at pixel ({position[0]:.1f}, {position[1]:.1f}) extends beyond "
                f"{_name(image)}; {data.size - inside} of its {data.size} pixels are outside "
                "and were set to NaN.",
                InputImageWarning,
                stacklevel=2,
            )
    for note in notes:
        warnings.warn(note, FitsFormatWarning, stacklevel=2)
    header = image_header(
        image.header, cut.wcs, data.shape, frequency_hz=getattr(image, "frequency_hz", None)
    )
    _offset_cards(header, cut)
    return dataclasses.replace(image, data=data, wcs=cut.wcs, header=header)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _name(image: RadioImage | InfraredImage) -> str:
    kind = "radio image" if isinstance(image, RadioImage) else "infrared image"
    return f"the {kind} '{image.path.name}'" if image.path is not None else f"the {kind}"


def _require_wcs(image: RadioImage | InfraredImage, what: str, purpose: str) -> None:
    if image.wcs is None:
        raise InputImageError(
            f"{what} ({_name(image)}) has no celestial WCS (pixel-only mode), so we cannot "
            f"{purpose}. Expected both images to carry RA/Dec WCS headers; fix the FITS "
            "header, or bring both images to the same pixel grid yourself and skip alignment."
        )


def _pixel_position(
    image: RadioImage | InfraredImage, center: SkyCoord | tuple[float, float]
) -> tuple[float, float]:
    if isinstance(center, SkyCoord):
        _require_wcs(image, "the image", "place a cut-out at a sky position")
        x, y = image.wcs.world_to_pixel(center)
        x, y = float(np.asarray(x)), float(np.asarray(y))
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputImageError(
                f"{center.to_string('hmsdms')} cannot be projected onto {_name(image)} "
                f"({'/'.join(image.wcs.wcs.ctype)}): it is on the far side of the projection."
            )
        return x, y
    try:
        x, y = (float(v) for v in center)
    except (TypeError, ValueError) as error:
        raise InputImageError(
            f"center must be a SkyCoord or a pixel position (x, y), got {center!r}."
        ) from error
    return x, y


def _checked_size(image: RadioImage | InfraredImage, size: Size) -> Size:
    if isinstance(size, u.Quantity):
        if size.unit.physical_type == "angle":
            _require_wcs(image, "the image", "cut out an angular size")
        return size
    values = np.atleast_1d(np.asarray(size))
    if values.size not in (1, 2) or not np.all(values >= 1):
        raise InputImageError(
            f"size must be a positive number of pixels, (ny, nx) or an angular Quantity, got "
            f"{size!r}."
        )
    return size


def _overlap_pixels(cut: Cutout2D) -> int:
    rows, cols = cut.slices_cutout
    return (rows.stop - rows.start) * (cols.stop - cols.start)


def _converted_radio_unit(image: Image, data: np.ndarray) -> Image:
    """Scale mJy/beam or uJy/beam pixels (lazy radio sources) to Jy/beam in place."""
    if not isinstance(image, RadioImage) or image.unit == "Jy/beam":
        return image
    factor = jy_per_beam_factor(image.unit)
    if factor is None:
        return image
    data *= np.float32(factor)
    header = image.header.copy()
    header["BUNIT"] = "Jy/beam"
    return dataclasses.replace(image, data=data, unit="Jy/beam", header=header)


def _offset_cards(header, cut: Cutout2D) -> None:
    """IRAF LTV/LTM cards: parent pixel = cut-out pixel - LTV (ds9 'physical' coords)."""
    x0, y0 = cut.origin_original
    header["LTV1"] = (float(header.get("LTV1", 0.0)) - x0, "parent x = x - LTV1 (IRAF)")
    header["LTV2"] = (float(header.get("LTV2", 0.0)) - y0, "parent y = y - LTV2 (IRAF)")
    header.setdefault("LTM1_1", 1.0)
    header.setdefault("LTM2_2", 1.0)


def _no_overlap_message(ir: InfraredImage, radio: RadioImage) -> str:
    centre = radio.wcs.pixel_to_world((radio.shape[1] - 1) / 2, (radio.shape[0] - 1) / 2)
    ir_centre = ir.wcs.pixel_to_world((ir.shape[1] - 1) / 2, (ir.shape[0] - 1) / 2)
    separation = centre.separation(ir_centre)
    apart = (
        f"{separation.deg:.2f} deg"
        if separation.deg >= 1
        else f"{separation.to_value(u.arcmin):.1f} arcmin"
    )
    return (
        f"{_name(ir)} does not overlap {_name(radio)} at all: their centres are {apart} "
        f"apart ({ir_centre.to_string('hmsdms', precision=1)} vs "
        f"{centre.to_string('hmsdms', precision=1)}). Expected an infrared image of the "
        "same field; check that the right pair of files was given."
    )


def _input_region(ir: InfraredImage, radio: RadioImage) -> tuple[np.ndarray, WCS]:
    """The part of the infrared image that the radio grid covers (+ margin), native float32.

    Only this region is read from a memory-mapped mosaic. The radio grid's edges are
    sampled, taken to the sky and into infrared pixels; their bounding box contains the
    whole footprint because projections are continuous over a cut-out.
    """
    height, width = radio.shape
    xs = np.concatenate(
        [
            np.full(_EDGE_SAMPLES, -0.5),
            np.full(_EDGE_SAMPLES, width - 0.5),
            np.linspace(-0.5, width - 0.5, _EDGE_SAMPLES),
            np.linspace(-0.5, width - 0.5, _EDGE_SAMPLES),
        ]
    )
    ys = np.concatenate(
        [
            np.linspace(-0.5, height - 0.5, _EDGE_SAMPLES),
            np.linspace(-0.5, height - 0.5, _EDGE_SAMPLES),
            np.full(_EDGE_SAMPLES, -0.5),
            np.full(_EDGE_SAMPLES, height - 0.5),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # points off a projection give NaN, handled below
        sky = radio.wcs.pixel_to_world(xs, ys)
        ir_x, ir_y = ir.wcs.world_to_pixel(sky)
    good = np.isfinite(ir_x) & np.isfinite(ir_y)
    ir_height, ir_width = ir.shape
    if not good.any():
        raise InputImageError(_no_overlap_message(ir, radio))
    x0 = max(int(math.floor(np.min(ir_x[good]))) - _MARGIN_PIXELS, 0)
    x1 = min(int(math.ceil(np.max(ir_x[good]))) + _MARGIN_PIXELS + 1, ir_width)
    y0 = max(int(math.floor(np.min(ir_y[good]))) - _MARGIN_PIXELS, 0)
    y1 = min(int(math.ceil(np.max(ir_y[good]))) + _MARGIN_PIXELS + 1, ir_height)
    if x0 >= x1 or y0 >= y1:
        raise InputImageError(_no_overlap_message(ir, radio))
    region = as_float32(ir.data[y0:y1, x0:x1])
    if is_lazy(ir):
        region = clean_float_plane(region, ir.header, [])
    return region, ir.wcs[y0:y1, x0:x1]


def _run_reproject(
    method: str, order: str | int, data: np.ndarray, wcs: WCS, radio: RadioImage
) -> tuple[np.ndarray, np.ndarray]:
    import reproject  # heavy (dask, scipy): imported only when aligning

    with warnings.catch_warnings():
        # reproject/astropy chatter about frames (e.g. FK5 vs ICRS) is not actionable here
        warnings.simplefilter("ignore")
        if method == "interp":
            return reproject.reproject_interp(
                (data, wcs),
                radio.wcs,
                shape_out=radio.shape,
                order=order,
                return_footprint=True,
            )
        if method == "adaptive":
            return reproject.reproject_adaptive(
                (data, wcs),
                radio.wcs,
                shape_out=radio.shape,
                conserve_flux=False,
                boundary_mode="strict",
                return_footprint=True,
            )
        return reproject.reproject_exact(
            (data, wcs), radio.wcs, shape_out=radio.shape, return_footprint=True
        )
