"""The image types the FITS readers return: :class:`RadioImage`, :class:`InfraredImage`.

Both are frozen dataclasses holding a 2-D ``(row, col)`` float32 array (or, for
``lazy=True`` reads, a read-only memory-mapped view), its 2-D celestial WCS (``None`` in
pixel-only mode), and the header of the 2-D image. :func:`radio_image_from_array` and
:func:`infrared_image_from_array` wrap in-memory arrays; :func:`is_lazy` tells the two
kinds of data apart.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.errors import InputImageError
from napari_radiogal.io.fits.header import (
    beam_cards,
    beam_from_header,
    header_frequency_hz,
    image_header,
    normalise_bunit,
    optional_float_card,
)
from napari_radiogal.io.fits.notes import emit_notes
from napari_radiogal.io.fits.wcs import celestial_wcs, wcs_pixel_scale_arcsec

__all__ = [
    "Beam",
    "RadioImage",
    "InfraredImage",
    "radio_image_from_array",
    "infrared_image_from_array",
    "is_lazy",
    "is_memory_mapped",
    "as_float32",
]


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
        data.dtype != np.float32 and not is_memory_mapped(data)
    ):
        # lazy (memory-mapped) data keep the file's dtype until cutout() reads them
        data = as_float32(data)
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
            object.__setattr__(image, "pixel_scale_arcsec", wcs_pixel_scale_arcsec(wcs, []))
    if image.header is None:
        header = image_header(fits.Header(), wcs, data.shape)
        # a header built here must describe the image wholly: written out, it reads back
        # with the same beam and unit
        if getattr(image, "beam", None) is not None:
            header.update(beam_cards(image.beam))
        if getattr(image, "unit", None):
            header["BUNIT"] = image.unit
        object.__setattr__(image, "header", header)
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
    return is_memory_mapped(image.data)


def is_memory_mapped(array: np.ndarray) -> bool:
    """True when ``array`` is, or is a view of, a ``np.memmap`` or an ``mmap.mmap`` buffer.

    Examples
    --------
    >>> is_memory_mapped(np.zeros((2, 2)))
    False
    """
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def radio_image_from_array(
    data: np.ndarray,
    wcs: WCS | fits.Header | None = None,
    *,
    beam: Beam | tuple[float, float, float] | None = None,
    frequency_hz: float | None = None,
    unit: str | None = None,
    path: str | os.PathLike | None = None,
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
    array = as_float32(data)
    if header is not None:
        wcs, _problem = celestial_wcs(header, array.shape, notes, path=path, hdu=None)
        if beam is None:
            beam = beam_from_header(header, notes)
        if frequency_hz is None:
            frequency_hz = header_frequency_hz(header, {})
        if unit is None and header.get("BUNIT") is not None:
            unit = normalise_bunit(header.get("BUNIT"))
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
        image.header.update(beam_cards(image.beam))
    image.header["BUNIT"] = image.unit
    emit_notes(notes, path)
    return image


def infrared_image_from_array(
    data: np.ndarray,
    wcs: WCS | fits.Header | None = None,
    *,
    unit: str | None = None,
    magzp: float | None = None,
    path: str | os.PathLike | None = None,
) -> InfraredImage:
    """Wrap an in-memory ``(H, W)`` array as an :class:`InfraredImage`.

    ``wcs`` may be a WCS or a header (then ``BUNIT`` and ``MAGZP`` are taken from it
    unless given here).
    """
    notes: list[str] = []
    header = wcs if isinstance(wcs, fits.Header) else None
    array = as_float32(data)
    if header is not None:
        wcs, _problem = celestial_wcs(header, array.shape, notes, path=path, hdu=None)
        if unit is None and header.get("BUNIT") is not None:
            unit = str(header["BUNIT"]).strip() or None
        if magzp is None:
            magzp = optional_float_card(header, "MAGZP", notes)
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
    emit_notes(notes, path)
    return image


def as_float32(data: np.ndarray) -> np.ndarray:
    """Native-endian, C-ordered float32 copy that owns its memory (any shape, e.g. ``(H, W)``).

    Use it on pixels of a memory-mapped (big-endian) file to get an array that can be
    computed on and written to.

    Examples
    --------
    >>> out = as_float32(np.arange(4, dtype=">i2").reshape(2, 2))
    >>> out.dtype.isnative, out.dtype.name, out.flags.owndata
    (True, 'float32', True)
    """
    return np.array(data, dtype=np.float32, order="C", copy=True)
