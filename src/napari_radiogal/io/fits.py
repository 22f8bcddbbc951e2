"""Read radio and infrared FITS images into plain, validated 2-D images.

Real radio and infrared FITS files differ in many small ways (see
``docs/DESIGN.md``, section *FITS*): 3 to 5 axes of which only two are sky axes,
``NAXIS = 2`` headers that still describe a frequency and a Stokes axis, SIN / TAN /
NCP projections, PC or CD matrices, reference pixels far outside the image, ``BLANK``
on float data, beams without a position angle, ``BUNIT`` spelled ``'JY/BEAM'`` or
``'Jy/beam '``. :func:`read_radio` and :func:`read_infrared` hide all of that and
return a :class:`RadioImage` / :class:`InfraredImage`:

* ``data``: float32 array of shape ``(H, W)`` = ``(row, col)`` = ``(y, x)``, 0-based;
  FITS ``NAXIS1`` is the column axis and row 0 is the *southern* edge for a normal
  (north-up) WCS. NaN marks blanked pixels.
* ``wcs``: the 2-D celestial :class:`astropy.wcs.WCS` (``None`` only in pixel-only mode,
  which always comes with a :class:`~napari_radiogal.errors.FitsFormatWarning`).
* ``header``: the header reduced to the 2-D image that ``data`` holds (extra axes
  removed, the celestial WCS re-written, everything else kept), so
  ``fits.PrimaryHDU(image.data, image.header)`` describes the image correctly.

Every problem either becomes a :class:`~napari_radiogal.errors.FitsFormatError`
(a ``ValueError`` carrying ``path``, ``hdu`` and ``keyword``) or a correct result plus a
:class:`~napari_radiogal.errors.FitsFormatWarning` saying what was done instead.
astropy's own ``FITSFixedWarning`` / ``VerifyWarning`` messages never reach the caller:
harmless fixes (dates, observatory position, extra WCS axes) are logged at DEBUG level,
the others are re-issued as ``FitsFormatWarning``.

Large files: only the selected plane of a cube is read (``hdu.section``), byte-swapped in
place, so the peak memory of a read is one plane. With ``lazy=True`` nothing is read at
all: the file is memory-mapped and ``data`` is a read-only view of the map, meant for
:func:`napari_radiogal.io.align.cutout` and
:func:`~napari_radiogal.io.align.reproject_to_grid`, which read only the pixels they need
(``benchmarks/fits_cutout_memory.py``: a 210 x 210 cut-out of a 10k x 10k mosaic grows
the process by ~2 MB).

Importing this module loads astropy and numpy, never torch. The readers capture
astropy's warnings with :func:`warnings.catch_warnings`, which (before Python 3.14) is
process-global: call them from one thread at a time if you rely on warning filters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import mmap
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from napari_radiogal.errors import FitsFormatError, FitsFormatWarning, InputImageError
from napari_radiogal.io.atomic import atomic_path

__all__ = [
    "Beam",
    "RadioImage",
    "InfraredImage",
    "read_radio",
    "read_infrared",
    "radio_image_from_array",
    "infrared_image_from_array",
    "write_fits",
    "image_header",
    "is_lazy",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
HduSpec = int | str | None
PlaneSpec = int | Sequence[int] | None

#: Exceptions astropy / numpy raise on corrupt, truncated or non-FITS input. Caught
#: around every astropy call on user files and turned into a FitsFormatError.
_ASTROPY_READ_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, EOFError)

#: Non-square pixels beyond this relative difference get a warning.
_SQUARE_PIXEL_TOLERANCE = 0.01


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------
class Beam(NamedTuple):
    """Gaussian restoring beam (FWHM axes and position angle, all in degrees).

    ``pa_deg`` is measured from north through east, as ``BPA`` in FITS headers.
    """

    major_deg: float
    minor_deg: float
    pa_deg: float

    def area_pixels(self, pixel_scale_arcsec: float) -> float:
        """Beam solid angle in pixels: ``pi * bmaj * bmin / (4 ln 2) / pix**2``.

        Parameters
        ----------
        pixel_scale_arcsec : float
            Side of a (square) pixel in arcsec.

        Returns
        -------
        float
            Number of pixels per beam; divide a sum of Jy/beam pixels by it to get Jy.

        Examples
        --------
        >>> round(Beam(15 / 3600, 10 / 3600, 0.0).area_pixels(2.0), 2)
        42.49
        """
        if not pixel_scale_arcsec > 0:
            raise ValueError(f"pixel_scale_arcsec must be > 0, got {pixel_scale_arcsec!r}")
        bmaj = self.major_deg * 3600.0
        bmin = self.minor_deg * 3600.0
        return math.pi * bmaj * bmin / (4.0 * math.log(2.0)) / pixel_scale_arcsec**2

    def to_arcsec(self) -> tuple[float, float, float]:
        """``(major_arcsec, minor_arcsec, pa_deg)`` for display."""
        return self.major_deg * 3600.0, self.minor_deg * 3600.0, self.pa_deg


def _check_image_fields(image: RadioImage | InfraredImage) -> None:
    """Validate and complete the fields shared by both image types (frozen-safe)."""
    data = image.data
    if not isinstance(data, np.ndarray) or (
        data.dtype != np.float32 and not _is_memory_mapped(data)
    ):
        # lazy (memory-mapped) data keep the file's dtype until cutout() reads them
        data = _as_float32(data)
        object.__setattr__(image, "data", data)
    if data.ndim != 2 or min(data.shape) < 1:
        raise InputImageError(
            f"{type(image).__name__}.data must be a 2-D (row, col) array, got shape "
            f"{data.shape}; select one plane of a cube first (read_radio(..., plane=k))."
        )
    wcs = image.wcs
    if wcs is not None:
        if not isinstance(wcs, WCS):
            raise InputImageError(
                f"{type(image).__name__}.wcs must be an astropy.wcs.WCS or None, got "
                f"{type(wcs).__name__}."
            )
        if wcs.naxis != 2:
            celestial = wcs.celestial
            if celestial.naxis != 2:
                raise InputImageError(
                    f"{type(image).__name__}.wcs must be a 2-D celestial WCS, got "
                    f"{wcs.naxis} axes {list(wcs.wcs.ctype)} without two sky axes."
                )
            wcs = celestial
            object.__setattr__(image, "wcs", wcs)
        if wcs.pixel_shape is None:
            wcs = wcs.deepcopy()
            wcs.pixel_shape = (data.shape[1], data.shape[0])
            object.__setattr__(image, "wcs", wcs)
        if image.pixel_scale_arcsec is None:
            object.__setattr__(image, "pixel_scale_arcsec", _pixel_scale_arcsec(wcs, [])[0])
    if image.header is None:
        object.__setattr__(image, "header", image_header(fits.Header(), wcs, data.shape))
    if image.path is not None and not isinstance(image.path, Path):
        object.__setattr__(image, "path", Path(image.path))


def _describe(image: RadioImage | InfraredImage, extra: list[str]) -> str:
    wcs = "None (pixel-only)"
    if image.wcs is not None:
        wcs = "/".join(str(c) for c in image.wcs.wcs.ctype)
    scale = "?" if image.pixel_scale_arcsec is None else f'{image.pixel_scale_arcsec:.4g}"'
    lazy = ", lazy" if is_lazy(image) else ""
    fields = [f"shape={image.shape}", *extra, f"pixel_scale={scale}", f"wcs={wcs}"]
    if image.path is not None:
        fields.append(f"path='{image.path}'")
    return f"{type(image).__name__}({', '.join(fields)}{lazy})"


@dataclass(frozen=True, eq=False, repr=False)
class RadioImage:
    """A 2-D radio continuum image with its sky geometry.

    Parameters
    ----------
    data : ndarray, shape (H, W)
        Surface brightness in ``unit`` (normally Jy/beam), float32, ``(row, col)`` order,
        NaN for blanked pixels. For images read with ``lazy=True`` this is a read-only
        memory-mapped view in the file's byte order (big-endian); cut it out with
        :func:`napari_radiogal.io.align.cutout` before computing on it.
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS; ``None`` only in pixel-only mode.
    beam : Beam or None
        Restoring beam in degrees.
    frequency_hz : float or None
        Observing frequency of this plane in Hz.
    unit : str
        Normalised brightness unit, ``"Jy/beam"`` for every spelling of it.
    pixel_scale_arcsec : float or None
        Pixel side in arcsec (geometric mean for non-square pixels); computed from
        ``wcs`` when not given.
    header : astropy.io.fits.Header or None
        Header of the 2-D image (see :func:`image_header`); built from ``wcs`` when not given.
    path : Path or None
        File the image came from.
    """

    data: np.ndarray
    wcs: WCS | None
    beam: Beam | None = None
    frequency_hz: float | None = None
    unit: str = "Jy/beam"
    pixel_scale_arcsec: float | None = None
    header: fits.Header | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        _check_image_fields(self)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` = ``(rows, cols)``."""
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    def __repr__(self) -> str:
        extra = [f"unit='{self.unit}'"]
        if self.beam is not None:
            bmaj, bmin, bpa = self.beam.to_arcsec()
            extra.append(f'beam={bmaj:.3g}"x{bmin:.3g}"@{bpa:.3g}deg')
        if self.frequency_hz is not None:
            extra.append(f"frequency={self.frequency_hz / 1e6:.6g} MHz")
        return _describe(self, extra)


@dataclass(frozen=True, eq=False, repr=False)
class InfraredImage:
    """A 2-D infrared image (e.g. WISE W1) with its sky geometry.

    Parameters
    ----------
    data : ndarray, shape (H, W)
        Pixel values in the survey's own unit (AllWISE ``'DN'``, unWISE nanomaggies with
        no ``BUNIT``), float32, ``(row, col)``, NaN for blanked pixels. ``lazy=True``
        reads give a read-only memory-mapped view, as for :class:`RadioImage`.
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS; ``None`` only in pixel-only mode.
    unit : str or None
        ``BUNIT`` as written (stripped), ``None`` when absent.
    pixel_scale_arcsec : float or None
        Pixel side in arcsec; computed from ``wcs`` when not given.
    magzp : float or None
        Photometric zero point ``MAGZP`` (Vega mag): 20.5 for AllWISE W1 atlas images,
        22.5 for unWISE (nanomaggies).
    header : astropy.io.fits.Header or None
        Header of the 2-D image; built from ``wcs`` when not given.
    path : Path or None
        File the image came from.
    """

    data: np.ndarray
    wcs: WCS | None
    unit: str | None = None
    pixel_scale_arcsec: float | None = None
    magzp: float | None = None
    header: fits.Header | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        _check_image_fields(self)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` = ``(rows, cols)``."""
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    def __repr__(self) -> str:
        extra = [f"unit={self.unit!r}", f"magzp={self.magzp!r}"]
        return _describe(self, extra)


def is_lazy(image: RadioImage | InfraredImage) -> bool:
    """True when ``image.data`` is a view of a memory-mapped file (``lazy=True`` reads)."""
    return _is_memory_mapped(image.data)


def _is_memory_mapped(array: np.ndarray) -> bool:
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


# --------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------
def read_radio(
    path: PathLike,
    *,
    hdu: HduSpec = None,
    plane: PlaneSpec = None,
    lazy: bool = False,
    require_wcs: bool = False,
) -> RadioImage:
    """Read one 2-D plane of a radio continuum FITS image.

    Parameters
    ----------
    path : str or path-like
        FITS file (``.fits``, ``.fits.gz``, tile-compressed ``.fits.fz``).
    hdu : int or str, optional
        HDU index or ``EXTNAME``. Default: the first HDU with 2-D (or more) image data.
    plane : int or sequence of int, optional
        Which plane of a cube. An ``int`` indexes the one axis beyond the first two that
        has more than one pixel; a sequence gives one 0-based index per FITS axis
        ``3, 4, ...``. Default: plane 0, with a :class:`FitsFormatWarning` when there was
        a real choice. Length-1 axes (degenerate FREQ / STOKES) are always dropped.
    lazy : bool
        Do not read pixels: ``data`` becomes a read-only view of the memory-mapped file
        (big-endian, unscaled). Use for mosaics that you only :func:`~napari_radiogal.
        io.align.cutout` from. Files that cannot be memory-mapped (gzip, tile
        compression, ``BSCALE``/``BZERO`` scaling) are read normally, with a warning.
    require_wcs : bool
        Raise :class:`FitsFormatError` instead of falling back to pixel-only mode when
        the header has no usable celestial WCS.

    Returns
    -------
    RadioImage
        ``data`` float32 ``(H, W)`` in Jy/beam (mJy/beam and uJy/beam are converted),
        NaN for blanked pixels.

    Raises
    ------
    FitsFormatError
        Missing file, not FITS, truncated, no image HDU, ``plane`` out of range, or
        (with ``require_wcs=True``) no usable WCS. The message says how to fix it.

    Warns
    -----
    FitsFormatWarning
        Whenever something was assumed or repaired: pixel-only mode (no or broken WCS),
        a plane chosen for you, missing ``BPA`` (0 used), missing ``BUNIT`` (Jy/beam
        assumed), pixels equal to ``BLANK`` in float data (set to NaN), ...

    Notes
    -----
    Broken ``CTYPE`` (e.g. ``CTYPE1 = 'Jy/beam'``): the image is returned in pixel-only
    mode (``wcs=None``) with a warning, because the pixels are still perfectly usable for
    segmentation; sky positions, reprojection of the infrared image and angular sizes are
    then unavailable. Pass ``require_wcs=True`` to get an error instead.

    Examples
    --------
    >>> image = read_radio("askap_cutout.fits")            # doctest: +SKIP
    >>> image.data.shape, image.unit, image.beam.to_arcsec()  # doctest: +SKIP
    ((256, 256), 'Jy/beam', (15.0, 10.0, 0.0))
    """
    raw = _read_plane(path, hdu=hdu, plane=plane, lazy=lazy, require_wcs=require_wcs)
    notes = raw.notes
    header = raw.header
    beam = _beam_from_header(header, notes)
    unit, factor = _radio_unit(header.get("BUNIT"), notes)
    data = raw.data
    if factor != 1.0:
        if raw.lazy:
            # scaling now would read the whole mosaic; cutout() converts what it reads
            unit = _normalise_bunit(header.get("BUNIT"))
        else:
            data *= np.float32(factor)
            notes.append(
                f"BUNIT='{str(header.get('BUNIT')).strip()}': converted the pixel values to "
                f"Jy/beam (x {factor:g})."
            )
    out_header = image_header(header, raw.wcs, data.shape, frequency_hz=raw.frequency_hz)
    out_header["BUNIT"] = unit
    _keep_blank_for_lazy(raw, out_header)
    image = RadioImage(
        data=data,
        wcs=raw.wcs,
        beam=beam,
        frequency_hz=raw.frequency_hz,
        unit=unit,
        pixel_scale_arcsec=raw.pixel_scale_arcsec,
        header=out_header,
        path=raw.path,
    )
    _emit(notes, raw.path)
    return image


def read_infrared(
    path: PathLike,
    *,
    hdu: HduSpec = None,
    plane: PlaneSpec = None,
    lazy: bool = False,
    require_wcs: bool = False,
) -> InfraredImage:
    """Read one 2-D plane of an infrared FITS image (WISE W1 atlas, unWISE, ...).

    Parameters are those of :func:`read_radio`. Pixel values are left in the survey's
    unit: AllWISE atlas images are in ``'DN'`` with ``MAGZP = 20.5``, unWISE images carry
    no ``BUNIT`` and are in nanomaggies (``MAGZP = 22.5``). The zero point is returned as
    ``magzp`` so magnitudes can be computed as ``magzp - 2.5 log10(flux)``.

    Returns
    -------
    InfraredImage
        ``data`` float32 ``(H, W)``, ``(row, col)``, NaN for blanked pixels.

    Raises
    ------
    FitsFormatError
        As for :func:`read_radio`.

    Warns
    -----
    FitsFormatWarning
        As for :func:`read_radio` (except the radio-only unit and beam checks).
    """
    raw = _read_plane(path, hdu=hdu, plane=plane, lazy=lazy, require_wcs=require_wcs)
    header = raw.header
    unit = header.get("BUNIT")
    unit = (str(unit).strip() or None) if unit is not None else None
    magzp = _optional_float(header, "MAGZP", raw.notes)
    out_header = image_header(header, raw.wcs, raw.data.shape)
    _keep_blank_for_lazy(raw, out_header)
    image = InfraredImage(
        data=raw.data,
        wcs=raw.wcs,
        unit=unit,
        pixel_scale_arcsec=raw.pixel_scale_arcsec,
        magzp=magzp,
        header=out_header,
        path=raw.path,
    )
    _emit(raw.notes, raw.path)
    return image


def _keep_blank_for_lazy(raw: _RawPlane, header: fits.Header) -> None:
    """Lazy pixels are still raw: keep BLANK so cutout() can blank them when it reads."""
    if raw.lazy and "BLANK" in raw.header:
        header["BLANK"] = raw.header["BLANK"]


def radio_image_from_array(
    data: np.ndarray,
    wcs: WCS | fits.Header | None = None,
    *,
    beam: Beam | tuple[float, float, float] | None = None,
    frequency_hz: float | None = None,
    unit: str | None = None,
    path: PathLike | None = None,
) -> RadioImage:
    """Wrap an in-memory ``(H, W)`` array as a :class:`RadioImage`.

    Parameters
    ----------
    data : array_like, shape (H, W)
        Pixels in Jy/beam, ``(row, col)``; converted to float32.
    wcs : astropy.wcs.WCS or astropy.io.fits.Header, optional
        Sky geometry. A header is interpreted like a file header (celestial WCS, and,
        unless given here, the beam from ``BMAJ/BMIN/BPA``, the frequency and ``BUNIT``).
    beam : Beam or (major_deg, minor_deg, pa_deg), optional
    frequency_hz : float, optional
    unit : str, optional
        Default ``BUNIT`` of the header, else ``"Jy/beam"``.
    path : path-like, optional

    Returns
    -------
    RadioImage
    """
    notes: list[str] = []
    header = wcs if isinstance(wcs, fits.Header) else None
    array = _as_float32(data)
    if header is not None:
        wcs, _problem = _celestial_wcs(header, array.shape, notes, path=path, hdu=None)
        if beam is None:
            beam = _beam_from_header(header, notes)
        if frequency_hz is None:
            frequency_hz = _frequency_hz(header, {})
        if unit is None and header.get("BUNIT") is not None:
            unit = _normalise_bunit(header.get("BUNIT"))
    image = RadioImage(
        data=array,
        wcs=wcs,
        beam=None if beam is None else Beam(*(float(v) for v in beam)),
        frequency_hz=None if frequency_hz is None else float(frequency_hz),
        unit=unit or "Jy/beam",
        header=image_header(
            header if header is not None else fits.Header(),
            wcs,
            array.shape,
            frequency_hz=frequency_hz,
        ),
        path=None if path is None else Path(path),
    )
    if image.beam is not None:
        image.header.update(_beam_cards(image.beam))
    image.header["BUNIT"] = image.unit
    _emit(notes, path)
    return image


def infrared_image_from_array(
    data: np.ndarray,
    wcs: WCS | fits.Header | None = None,
    *,
    unit: str | None = None,
    magzp: float | None = None,
    path: PathLike | None = None,
) -> InfraredImage:
    """Wrap an in-memory ``(H, W)`` array as an :class:`InfraredImage`.

    ``wcs`` may be a WCS or a header (then ``BUNIT`` and ``MAGZP`` are taken from it
    unless given here).
    """
    notes: list[str] = []
    header = wcs if isinstance(wcs, fits.Header) else None
    array = _as_float32(data)
    if header is not None:
        wcs, _problem = _celestial_wcs(header, array.shape, notes, path=path, hdu=None)
        if unit is None and header.get("BUNIT") is not None:
            unit = str(header["BUNIT"]).strip() or None
        if magzp is None:
            magzp = _optional_float(header, "MAGZP", notes)
    image = InfraredImage(
        data=array,
        wcs=wcs,
        unit=unit,
        magzp=None if magzp is None else float(magzp),
        header=image_header(header if header is not None else fits.Header(), wcs, array.shape),
        path=None if path is None else Path(path),
    )
    if unit is not None:
        image.header["BUNIT"] = unit
    if magzp is not None:
        image.header["MAGZP"] = (float(magzp), "Magnitude zero point (Vega mag)")
    _emit(notes, path)
    return image


def write_fits(
    image: RadioImage | InfraredImage, path: PathLike, *, overwrite: bool = False
) -> Path:
    """Write an image as a 2-D float32 FITS file, atomically (temp file + rename).

    The header is ``image.header`` (the 2-D image header), so reading the file back with
    :func:`read_radio` / :func:`read_infrared` gives the same data, WCS, beam, frequency
    and unit.

    Parameters
    ----------
    image : RadioImage or InfraredImage
    path : path-like
        Destination.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    data = np.ascontiguousarray(image.data, dtype=np.float32)
    header = image.header.copy() if image.header is not None else fits.Header()
    for key in ("BSCALE", "BZERO", "BLANK"):
        header.remove(key, ignore_missing=True, remove_all=True)
    hdu = fits.PrimaryHDU(data=data, header=header)
    with atomic_path(path, suffix=".fits") as tmp:
        hdu.writeto(tmp, overwrite=True, output_verify="silentfix")
    return path


# --------------------------------------------------------------------------------------
# Header of a 2-D image
# --------------------------------------------------------------------------------------
#: Keywords that describe the axes or the WCS (any alternate-WCS letter suffix too).
_AXIS_KEY = re.compile(
    r"^(WCSAXES|CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CRDER|CSYER|CNAME|PC\d|CD\d|PV\d|PS\d|"
    r"LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|WCSNAME|MJDREF|NAXIS\d)"
)
_STRUCTURE_KEYS = (
    "SIMPLE",
    "XTENSION",
    "BITPIX",
    "NAXIS",
    "EXTEND",
    "PCOUNT",
    "GCOUNT",
    "BSCALE",
    "BZERO",
    "BLANK",
    "CHECKSUM",
    "DATASUM",
    "DATAMIN",
    "DATAMAX",
)


def image_header(
    header: fits.Header,
    wcs: WCS | None,
    shape: tuple[int, int],
    *,
    frequency_hz: float | None = None,
) -> fits.Header:
    """Header describing a 2-D float32 image cut from ``header``'s data.

    Structural keywords (``SIMPLE``, ``BITPIX``, ``NAXISn``, ``BSCALE``, ``BZERO``,
    ``BLANK``, ...) and every axis / WCS keyword are removed, then ``BITPIX = -32``,
    ``NAXIS = 2``, ``NAXIS1 = W``, ``NAXIS2 = H`` and the cards of the 2-D celestial
    ``wcs`` are written. All other cards (``BUNIT``, ``BMAJ``, ``TELESCOP``, ``HISTORY``,
    ...) are kept. In pixel-only mode (``wcs is None``) the original WCS cards of axes 1
    and 2 are kept as they were (they could not be interpreted, but they are the user's).

    Parameters
    ----------
    header : astropy.io.fits.Header
        Header of the source HDU (any number of axes).
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS of the new image.
    shape : (H, W)
        Shape of the new image.
    frequency_hz : float, optional
        Written as ``FREQ`` when the source described the frequency with an axis that
        is removed here, so a round trip keeps it.

    Returns
    -------
    astropy.io.fits.Header
    """
    out = fits.Header()
    out["SIMPLE"] = True
    out["BITPIX"] = -32
    out["NAXIS"] = 2
    out["NAXIS1"] = int(shape[1])
    out["NAXIS2"] = int(shape[0])
    freq_axis_removed = False
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURE_KEYS or key.startswith("NAXIS"):
            continue
        if _AXIS_KEY.match(key):
            if wcs is None and _keeps_in_pixel_only_mode(key):
                out.append(card)
            elif key.startswith("CTYPE") and str(card.value).strip().upper().startswith("FREQ"):
                freq_axis_removed = True
            continue
        if key == "FREQ" and frequency_hz is not None:
            continue
        out.append(card)
    if wcs is not None:
        with warnings.catch_warnings():
            # our own re-serialisation: wcslib's remarks about it are not the user's business
            warnings.simplefilter("ignore")
            wcs_header = wcs.to_header(relax=True)
        for key in ("DATE-OBS", "MJD-OBS", "DATEREF", "MJDREFI", "MJDREFF", "DATE-END"):
            if key in out and key in wcs_header:
                # keep the user's spelling of dates; wcslib only re-derived them
                wcs_header.remove(key, ignore_missing=True)
        out.update(wcs_header)
    if frequency_hz is not None and (freq_axis_removed or "FREQ" in header):
        out["FREQ"] = (float(frequency_hz), "[Hz] frequency of this image plane")
    return out


def _keeps_in_pixel_only_mode(key: str) -> bool:
    match = re.match(r"^(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)([12])$", key)
    return match is not None or key in ("EQUINOX", "EPOCH", "RADESYS", "RADECSYS")


# --------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------
@dataclass
class _RawPlane:
    """Everything read from one HDU, before the radio / infrared specific parts."""

    data: np.ndarray
    header: fits.Header
    wcs: WCS | None
    pixel_scale_arcsec: float | None
    frequency_hz: float | None
    path: Path
    hdu: int | str
    lazy: bool
    notes: list[str] = dataclasses.field(default_factory=list)


def _emit(notes: list[str], path: PathLike | None) -> None:
    """Issue our warnings from the public function (stacklevel 3 = the user's line)."""
    prefix = f"{Path(path).name}: " if path is not None else ""
    for note in notes:
        warnings.warn(prefix + note, FitsFormatWarning, stacklevel=3)


@contextlib.contextmanager
def _astropy_warnings(notes: list[str]) -> Iterator[None]:
    """Catch astropy's warnings; log harmless ones, turn the rest into our notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        message = str(item.message)
        if issubclass(item.category, FitsFormatWarning):
            notes.append(message)
        elif _harmless_astropy_warning(item.category, message):
            log.debug("astropy: %s", message)
        else:
            notes.append(f"astropy reported: {message.strip()} (read as astropy repaired it).")


def _harmless_astropy_warning(category: type[Warning], message: str) -> bool:
    if issubclass(category, FITSFixedWarning):
        # wcslib's fixes of dates, observatory position, units and NCP->SIN are correct
        # and lossless; "more axes than the image" is what .celestial handles.
        return any(
            token in message
            for token in (
                "datfix",
                "obsfix",
                "unitfix",
                "celfix",
                "spcfix",
                "cylfix",
                "more axes",
                "RADECSYS",
                "EPOCH",
                "EQUINOX",
            )
        )
    if issubclass(category, VerifyWarning):
        # BLANK on float data: handled by _clean_float_plane, which says what it did.
        return "BLANK" in message
    return issubclass(category, ResourceWarning)


def _read_plane(
    path: PathLike,
    *,
    hdu: HduSpec,
    plane: PlaneSpec,
    lazy: bool,
    require_wcs: bool,
) -> _RawPlane:
    path = _checked_path(path)
    notes: list[str] = []
    hdu_label: int | str | None = hdu
    try:
        # lazy: memory-map (memmap=None lets astropy fall back for scaled data instead of
        # raising); eager: read the plane into one buffer that we byte-swap in place
        memmap = None if lazy else False
        with (
            _astropy_warnings(notes),
            fits.open(path, lazy_load_hdus=True, memmap=memmap) as hdul,
        ):
            index, selected = _select_hdu(hdul, hdu, path)
            hdu_label = index if hdu is None else hdu
            shape = tuple(int(n) for n in selected.shape)
            header = selected.header.copy()
            wcs, _problem = _celestial_wcs(
                header, shape[-2:], notes, path=path, hdu=hdu_label, require=require_wcs
            )
            numpy_index, chosen = _plane_index(shape, header, plane, notes, path, hdu_label)
            frequency_hz = _frequency_hz(header, chosen)
            data, lazy_done = _plane_data(selected, header, numpy_index, lazy, notes)
    except FitsFormatError:
        raise
    except _ASTROPY_READ_ERRORS as error:
        raise _unreadable(path, hdu_label, error) from error
    if not lazy_done:
        data = _clean_float_plane(data, header, notes)
    pixel_scale = None
    if wcs is not None:
        pixel_scale = _pixel_scale_arcsec(wcs, notes)[0]
    return _RawPlane(
        data=data,
        header=header,
        wcs=wcs,
        pixel_scale_arcsec=pixel_scale,
        frequency_hz=frequency_hz,
        path=path,
        hdu=hdu_label if hdu_label is not None else 0,
        lazy=lazy_done,
        notes=notes,
    )


def _checked_path(path: PathLike) -> Path:
    try:
        path = Path(os.fspath(path)).expanduser()
    except TypeError as error:
        raise FitsFormatError(
            f"expected a path to a FITS file, got {type(path).__name__} {path!r}; pass a str "
            "or pathlib.Path."
        ) from error
    if not path.exists():
        raise FitsFormatError(
            f"no such file (absolute path {path.resolve()}); expected an existing FITS image. "
            "Check the spelling and the working directory.",
            path=path,
        )
    if path.is_dir():
        raise FitsFormatError(
            "this is a directory, expected a FITS file; pass one of the .fits files inside "
            "it (e.g. sorted(Path(folder).glob('*.fits'))).",
            path=path,
        )
    return path


def _sniff(path: Path) -> str:
    """Guess what a non-FITS file is, for the error message."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return "an unreadable file"
    if not head:
        return "an empty file (0 bytes)"
    if head.lstrip().startswith((b"<!DOCTYPE", b"<html", b"<HTML", b"<?xml")):
        return "an HTML/XML document (often the error page of a cut-out service)"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"\xff\xd8"):
        return "a JPEG image"
    if head.startswith(b"PK"):
        return "a zip archive"
    if head.startswith(b"SIMPLE"):
        return "a FITS file that is corrupt or truncated"
    return f"a file starting with {head[:16]!r}"


def _unreadable(path: Path, hdu: int | str | None, error: BaseException) -> FitsFormatError:
    what = _sniff(path)
    return FitsFormatError(
        f"could not read this as a FITS image: it looks like {what} "
        f"(astropy: {type(error).__name__}: {error}). Expected a FITS file whose first "
        "card is 'SIMPLE  = T' with an image HDU. If it was downloaded, download it again "
        'and check it with `python -c "from astropy.io import fits; '
        f"fits.info('{path}')\"`.",
        path=path,
        hdu=hdu,
    )


def _hdu_summary(hdul: fits.HDUList) -> str:
    parts = []
    for i, h in enumerate(hdul):
        kind = type(h).__name__
        shape = (
            "no data"
            if not getattr(h, "shape", None)
            else "x".join(str(n) for n in reversed(h.shape))
        )
        name = f" '{h.name}'" if h.name else ""
        parts.append(f"{i}{name} {kind} ({shape})")
    return "; ".join(parts)


def _is_image_hdu(h: object) -> bool:
    # GroupsHDU (random-groups uv data) subclasses PrimaryHDU but is no image.
    image_types = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    return isinstance(h, image_types) and not isinstance(h, fits.GroupsHDU)


def _select_hdu(hdul: fits.HDUList, hdu: HduSpec, path: Path) -> tuple[int | str, fits.ImageHDU]:
    if hdu is None:
        for index, candidate in enumerate(hdul):
            if _is_image_hdu(candidate) and len(candidate.shape) >= 2 and min(candidate.shape) > 0:
                return index, candidate
        raise FitsFormatError(
            f"no HDU holds a 2-D image (HDUs: {_hdu_summary(hdul)}); expected an image HDU "
            "with NAXIS >= 2 and NAXIS1, NAXIS2 > 0. An empty primary HDU with the image in "
            "an extension is fine; a file with only tables or an empty HDU is not an image.",
            path=path,
            hdu=0 if len(hdul) == 1 else None,
            keyword="NAXIS",
        )
    try:
        selected = hdul[hdu]
    except (IndexError, KeyError, TypeError) as error:
        raise FitsFormatError(
            f"HDU {hdu!r} does not exist (HDUs: {_hdu_summary(hdul)}); pass hdu=None to use "
            "the first image HDU, or one of the indices/names listed.",
            path=path,
            hdu=hdu,
        ) from error
    if not _is_image_hdu(selected):
        raise FitsFormatError(
            f"HDU {hdu!r} is a {type(selected).__name__}, expected an image HDU "
            f"(HDUs: {_hdu_summary(hdul)}); pass the index of an image HDU or hdu=None.",
            path=path,
            hdu=hdu,
        )
    shape = selected.shape
    if len(shape) < 2 or min(shape) < 1:
        raise FitsFormatError(
            f"HDU {hdu!r} has no 2-D image (NAXIS={len(shape)}, shape "
            f"{tuple(reversed(shape))} in FITS axis order); expected NAXIS >= 2 with "
            f"NAXIS1, NAXIS2 > 0 (HDUs: {_hdu_summary(hdul)}). Pass hdu=None to use the "
            "first HDU with an image.",
            path=path,
            hdu=hdu,
            keyword="NAXIS",
        )
    return hdu, selected


# --------------------------------------------------------------------------------------
# Axes, planes, frequency
# --------------------------------------------------------------------------------------
def _axis_label(header: fits.Header, axis: int) -> str:
    ctype = str(header.get(f"CTYPE{axis}", "")).strip()
    return f"axis {axis} (CTYPE{axis}='{ctype}')" if ctype else f"axis {axis} (no CTYPE{axis})"


def _plane_index(
    shape: tuple[int, ...],
    header: fits.Header,
    plane: PlaneSpec,
    notes: list[str],
    path: Path,
    hdu: int | str | None,
) -> tuple[tuple[int | slice, ...], dict[int, int]]:
    """NumPy index of the requested 2-D plane and the chosen index per FITS axis >= 3."""
    naxis = len(shape)
    extra_axes = list(range(3, naxis + 1))
    length = {axis: shape[naxis - axis] for axis in extra_axes}
    real = [axis for axis in extra_axes if length[axis] > 1]
    chosen = {axis: 0 for axis in extra_axes}

    def out_of_range(axis: int, k: int) -> FitsFormatError:
        return FitsFormatError(
            f"plane index {k} is outside {_axis_label(header, axis)}, which has "
            f"{length[axis]} plane(s); expected 0 <= plane < {length[axis]}.",
            path=path,
            hdu=hdu,
            keyword=f"NAXIS{axis}",
        )

    if plane is None:
        if real:
            shown = ", ".join(f"{_axis_label(header, a)} with {length[a]} planes" for a in real)
            if len(real) == 1:
                how = f"plane=k (0 <= k < {length[real[0]]})"
            else:
                ks = ", ".join(f"k{a}" for a in extra_axes)
                how = f"plane=({ks}) (one index per FITS axis 3..{naxis})"
            notes.append(
                f"the image has more than one plane: {shown}; took plane 0"
                + (f" ({_axis_value_text(header, real[0], 0)})" if len(real) == 1 else "")
                + f". Pass {how} to read another one."
            )
    elif isinstance(plane, (int, np.integer)):
        k = int(plane)
        if len(real) > 1:
            raise FitsFormatError(
                f"plane={k} is ambiguous: {len(real)} axes have more than one plane "
                f"({', '.join(_axis_label(header, a) for a in real)}); pass one index per FITS "
                f"axis 3..{naxis} as a tuple, e.g. plane=({', '.join('0' for _ in extra_axes)}).",
                path=path,
                hdu=hdu,
                keyword="NAXIS",
            )
        axis = real[0] if real else (extra_axes[0] if extra_axes else None)
        if axis is None:
            if k != 0:
                raise FitsFormatError(
                    f"plane={k} requested but the image is 2-D (NAXIS=2); use plane=None or 0.",
                    path=path,
                    hdu=hdu,
                    keyword="NAXIS",
                )
        else:
            if not 0 <= k < length[axis]:
                raise out_of_range(axis, k)
            chosen[axis] = k
    else:
        try:
            ks = [int(k) for k in plane]
        except TypeError as error:
            raise FitsFormatError(
                f"plane must be an int or a sequence of ints, got {plane!r}.",
                path=path,
                hdu=hdu,
            ) from error
        if len(ks) != len(extra_axes):
            raise FitsFormatError(
                f"plane={tuple(ks)} gives {len(ks)} indices but the image has "
                f"{len(extra_axes)} axes beyond the first two (FITS axes 3..{naxis}); pass "
                f"exactly one index per axis, or a single int.",
                path=path,
                hdu=hdu,
                keyword="NAXIS",
            )
        for axis, k in zip(extra_axes, ks, strict=True):
            if not 0 <= k < length[axis]:
                raise out_of_range(axis, k)
            chosen[axis] = k
    numpy_index: tuple[int | slice, ...] = tuple(chosen[a] for a in reversed(extra_axes))
    return numpy_index + (slice(None), slice(None)), chosen


def _axis_value_text(header: fits.Header, axis: int, k: int) -> str:
    value = _linear_axis_value(header, axis, k)
    ctype = str(header.get(f"CTYPE{axis}", "")).strip()
    if value is None or not ctype:
        return f"index 0 of axis {axis}"
    unit = str(header.get(f"CUNIT{axis}", "")).strip()
    if ctype.upper().startswith("FREQ"):
        hz = _to_hz(value, unit)
        if hz is not None:
            return f"{ctype} = {hz / 1e6:.6g} MHz"
    return f"{ctype} = {value:g}{' ' + unit if unit else ''}"


def _linear_axis_value(header: fits.Header, axis: int, k: int) -> float | None:
    """World value of 0-based pixel ``k`` along a linear axis (CRVAL + (k+1-CRPIX)*CDELT)."""
    try:
        crval = float(header.get(f"CRVAL{axis}", 0.0))
        crpix = float(header.get(f"CRPIX{axis}", 1.0))
        if f"CD{axis}_{axis}" in header:
            step = float(header[f"CD{axis}_{axis}"])
        else:
            step = float(header.get(f"CDELT{axis}", 1.0)) * float(
                header.get(f"PC{axis}_{axis}", 1.0)
            )
    except (TypeError, ValueError):
        return None
    value = crval + (k + 1 - crpix) * step
    return value if math.isfinite(value) else None


_HZ_PER_UNIT = {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}


def _to_hz(value: float, unit: str) -> float | None:
    factor = _HZ_PER_UNIT.get(unit.strip().upper())
    if factor is None:
        return None
    return value * factor


def _frequency_hz(header: fits.Header, chosen: dict[int, int]) -> float | None:
    """Frequency of the chosen plane: a FREQ axis first, then FREQ/RESTFRQ keywords.

    ``CTYPEn`` is compared case-insensitively (the Parkes cube writes ``'freq'``, which
    wcslib does not recognise as spectral), and a FREQ axis is used even when ``NAXIS``
    stops before it (WSClean rms images: ``NAXIS = 2`` with ``CTYPE3 = 'FREQ'``).
    """
    for axis in range(1, 10):
        ctype = header.get(f"CTYPE{axis}")
        if not isinstance(ctype, str) or not ctype.strip().upper().startswith("FREQ"):
            continue
        value = _linear_axis_value(header, axis, chosen.get(axis, 0))
        if value is not None:
            hz = _to_hz(value, str(header.get(f"CUNIT{axis}", "")))
            if hz is not None and hz > 0:
                return hz
    for key in ("FREQ", "OBSFREQ", "CRVAL3F", "RESTFRQ", "RESTFREQ"):
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and value > 0:
                return float(value)
    return None


# --------------------------------------------------------------------------------------
# WCS
# --------------------------------------------------------------------------------------
_WCS_HINT_KEYS = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CD1_1", "PC1_1", "CDELT1")


def _celestial_wcs(
    header: fits.Header,
    image_shape: tuple[int, ...],
    notes: list[str],
    *,
    path: PathLike | None,
    hdu: int | str | None,
    require: bool = False,
) -> tuple[WCS | None, str | None]:
    """The 2-D celestial WCS of the image axes 1 and 2, or None with a note/error."""
    with warnings.catch_warnings(record=True) as caught:
        # wcslib's remarks only matter if the WCS is used; recorded here, judged below
        warnings.simplefilter("always")
        problem, keyword, wcs = _try_celestial_wcs(header, image_shape)
    if problem is None:
        for item in caught:
            message = str(item.message)
            if _harmless_astropy_warning(item.category, message):
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
        "with CRVAL, CRPIX, CDELT), or pass require_wcs=True to refuse such files."
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


def _pixel_scale_arcsec(wcs: WCS, notes: list[str]) -> tuple[float, float]:
    """(geometric-mean pixel side, x/y ratio) in arcsec; warns on non-square pixels."""
    scale_x, scale_y = (float(s) * 3600.0 for s in proj_plane_pixel_scales(wcs))
    ratio = scale_x / scale_y
    if abs(ratio - 1.0) > _SQUARE_PIXEL_TOLERANCE:
        notes.append(
            f'pixels are not square ({scale_x:.4g}" x {scale_y:.4g}"); pixel_scale_arcsec is '
            "their geometric mean. Reproject onto a square grid for shape-sensitive work."
        )
    return math.sqrt(scale_x * scale_y), ratio


# --------------------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------------------
def _memory_mappable(hdu: fits.ImageHDU, header: fits.Header) -> bool:
    if isinstance(hdu, fits.CompImageHDU):
        return False
    if int(header.get("BITPIX", 0)) > 0:
        return False
    bscale = header.get("BSCALE", 1.0)
    bzero = header.get("BZERO", 0.0)
    return bscale in (1, 1.0, None) and bzero in (0, 0.0, None)


def _plane_data(
    hdu: fits.ImageHDU,
    header: fits.Header,
    index: tuple[int | slice, ...],
    lazy: bool,
    notes: list[str],
) -> tuple[np.ndarray, bool]:
    """(data, is_lazy_view). Eager reads go through ``hdu.section``: only this plane."""
    if lazy:
        if _memory_mappable(hdu, header):
            view = hdu.data[index]
            if _is_memory_mapped(view):
                view = view.view()
                view.flags.writeable = False
                return view, True
            data = view  # e.g. gzip: astropy already decompressed it into memory
            reason = "the file is compressed"
        else:
            data = hdu.section[index]
            reason = "pixels are scaled (BITPIX > 0 or BSCALE/BZERO) or tile-compressed"
        notes.append(f"lazy=True but {reason}, so the image plane was read into memory.")
        return _as_float32(data), False
    return _native_float32(hdu.section[index]), False


def _native_float32(data: np.ndarray) -> np.ndarray:
    """Like :func:`_as_float32`, but byte-swaps a freshly read big-endian float32 buffer in
    place instead of copying it (halves the peak memory of reading a large plane)."""
    owner = data.base if data.base is not None else data
    fresh = (
        isinstance(owner, np.ndarray)
        and owner.flags.owndata
        and owner.flags.writeable
        and owner.nbytes == data.nbytes  # never pin (or alter) a larger buffer, e.g. a cube
        and not _is_memory_mapped(data)
    )
    if fresh and data.dtype.kind == "f" and data.dtype.itemsize == 4 and data.flags.c_contiguous:
        if not data.dtype.isnative:
            data.byteswap(inplace=True)
            data = data.view(data.dtype.newbyteorder("="))
        return data
    return _as_float32(data)


def _as_float32(data: np.ndarray) -> np.ndarray:
    """Native-endian float32 copy (own memory), ``(H, W)``."""
    return np.array(data, dtype=np.float32, order="C", copy=True)


def _clean_float_plane(data: np.ndarray, header: fits.Header, notes: list[str]) -> np.ndarray:
    """NaN-blank a native float32 plane in place: ``BLANK`` values on float data, +-inf.

    FITS allows ``BLANK`` only for integer data and astropy ignores it on float data
    (with a ``VerifyWarning``). Some writers nevertheless fill blanked float pixels with
    the ``BLANK`` value; those pixels become NaN, with a warning. If no pixel equals it,
    nothing is changed.
    """
    blank = header.get("BLANK")
    if int(header.get("BITPIX", -32)) < 0 and isinstance(blank, (int, float)):
        hits = data == np.float32(blank)
        count = int(np.count_nonzero(hits))
        if count:
            data[hits] = np.nan
            notes.append(
                f"BLANK={blank} is not allowed on float data, but {count} pixel(s) equal it; "
                "they were set to NaN (blanked)."
            )
        else:
            log.debug("BLANK=%s on float data ignored: no pixel equals it", blank)
    if not data.size:
        return data
    # fmax/fmin skip NaN and allocate nothing: full-size masks only when there is an inf
    largest = np.fmax.reduce(data, axis=None)
    smallest = np.fmin.reduce(data, axis=None)
    if np.isinf(largest) or np.isinf(smallest):
        infinite = np.isinf(data)
        data[infinite] = np.nan
        notes.append(f"{int(infinite.sum())} infinite pixel(s) were set to NaN (blanked).")
        largest = np.fmax.reduce(data, axis=None)
    if np.isnan(largest):
        notes.append("every pixel of this image plane is NaN (blanked): nothing to segment.")
    return data


# --------------------------------------------------------------------------------------
# Beam, units
# --------------------------------------------------------------------------------------
_AIPS_BEAM = re.compile(
    r"BMAJ\s*=\s*([-+0-9.EeDd]+)\s+BMIN\s*=\s*([-+0-9.EeDd]+)\s+BPA\s*=\s*([-+0-9.EeDd]+)"
)


def _optional_float(header: fits.Header, key: str, notes: list[str]) -> float | None:
    if key not in header:
        return None
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        notes.append(f"{key}={value!r} is not a finite number; ignored.")
        return None
    return float(value)


def _beam_from_header(header: fits.Header, notes: list[str]) -> Beam | None:
    """Beam from BMAJ/BMIN/BPA (degrees), else from an AIPS ``HISTORY ... CLEAN BMAJ=``."""
    bmaj = _optional_float(header, "BMAJ", notes)
    bmin = _optional_float(header, "BMIN", notes)
    bpa = _optional_float(header, "BPA", notes)
    if bmaj is None:
        history = "\n".join(str(line) for line in header.get("HISTORY", []))
        matches = _AIPS_BEAM.findall(history)
        if not matches:
            log.info("no beam in the header (no BMAJ/BMIN, no AIPS CLEAN history)")
            return None
        try:
            bmaj, bmin, bpa = (float(v.replace("D", "E").replace("d", "e")) for v in matches[-1])
        except ValueError:
            notes.append(
                f"could not parse the beam in the AIPS HISTORY card {matches[-1]}; no beam."
            )
            return None
        log.info("beam taken from the AIPS HISTORY card (no BMAJ/BMIN/BPA keywords)")
    if bmin is None:
        notes.append(f"BMIN is missing; assumed a circular beam (BMIN = BMAJ = {bmaj:g} deg).")
        bmin = bmaj
    if not (bmaj > 0 and bmin > 0):
        notes.append(f"BMAJ={bmaj:g}, BMIN={bmin:g} are not positive; the beam was ignored.")
        return None
    if bpa is None:
        notes.append("BPA is missing; assumed a beam position angle of 0 deg.")
        bpa = 0.0
    if bmin > bmaj:
        notes.append(
            f"BMIN ({bmin:g}) > BMAJ ({bmaj:g}); swapped them and turned BPA by 90 deg so the "
            "beam keeps its orientation."
        )
        bmaj, bmin, bpa = bmin, bmaj, bpa + 90.0
    return Beam(bmaj, bmin, bpa)


def _beam_cards(beam: Beam) -> fits.Header:
    header = fits.Header()
    header["BMAJ"] = (beam.major_deg, "[deg] beam major axis FWHM")
    header["BMIN"] = (beam.minor_deg, "[deg] beam minor axis FWHM")
    header["BPA"] = (beam.pa_deg, "[deg] beam position angle")
    return header


_JY_BEAM = re.compile(
    r"^(?P<prefix>|m|u|µ|micro|milli)jy(/beam|/bm|\.?beam\^?-1|beam\*\*-1|/beam\^?1?)$"
)
_PREFIX_FACTOR = {"": 1.0, "m": 1e-3, "milli": 1e-3, "u": 1e-6, "µ": 1e-6, "micro": 1e-6}


def _normalise_bunit(bunit: object) -> str:
    """Normalised spelling of BUNIT: every Jy/beam spelling -> 'Jy/beam', etc."""
    text = str(bunit).strip()
    match = _JY_BEAM.match(text.lower().replace(" ", ""))
    if match is None:
        return text
    prefix = match.group("prefix")
    return {"": "Jy/beam", "m": "mJy/beam", "milli": "mJy/beam"}.get(prefix, "uJy/beam")


def _radio_unit(bunit: object, notes: list[str]) -> tuple[str, float]:
    """(unit, factor to Jy/beam). Missing BUNIT: Jy/beam with a warning."""
    if bunit is None or not str(bunit).strip():
        notes.append("BUNIT is missing; assumed the pixels are in Jy/beam.")
        return "Jy/beam", 1.0
    match = _JY_BEAM.match(str(bunit).strip().lower().replace(" ", ""))
    if match is None:
        text = str(bunit).strip()
        notes.append(
            f"BUNIT='{text}' is not Jy/beam; the pixel values were left unchanged. "
            "Segmentation thresholds are relative to the image noise so it still works, but "
            "fluxes will not be in Jy."
        )
        return text, 1.0
    return "Jy/beam", _PREFIX_FACTOR[match.group("prefix")]
