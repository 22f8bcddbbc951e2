"""Read radio and infrared FITS files: :func:`read_radio`, :func:`read_infrared`.

Finding the image HDU, choosing one plane of a cube, reading only that plane (or
memory-mapping it with ``lazy=True``), blanking ``BLANK`` and infinite pixels, and turning
every failure of astropy on a user's file into a
:class:`~napari_radiogal.errors.FitsFormatError` that says what the file looks like.
The WCS comes from :mod:`~napari_radiogal.io.fits.wcs`, beam, unit and frequency from
:mod:`~napari_radiogal.io.fits.header`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.errors import FitsFormatError
from napari_radiogal.io.fits.header import (
    axis_value_text,
    beam_from_header,
    header_frequency_hz,
    image_header,
    normalise_bunit,
    optional_float_card,
    radio_unit,
)
from napari_radiogal.io.fits.images import (
    Beam,
    InfraredImage,
    RadioImage,
    as_float32,
    is_memory_mapped,
)
from napari_radiogal.io.fits.notes import astropy_warnings, emit_notes
from napari_radiogal.io.fits.wcs import celestial_wcs, wcs_pixel_scale_arcsec

__all__ = ["read_radio", "read_infrared", "clean_float_plane"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
HduSpec = int | str | None
PlaneSpec = int | Sequence[int] | None

#: Exceptions astropy / numpy raise on corrupt, truncated or non-FITS input. Caught
#: around every astropy call on user files and turned into a FitsFormatError.
_ASTROPY_READ_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, EOFError)


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
        HDU index or ``EXTNAME``. Default: the HDU with the largest 2-D image (planes
        compared; the first of equals), with a :class:`FitsFormatWarning` naming it when
        several HDUs hold an image.
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
    beam = beam_from_header(header, notes)
    if beam is not None:
        beam = Beam(*beam)
    unit, factor = radio_unit(header.get("BUNIT"), notes)
    data = raw.data
    if factor != 1.0:
        if raw.lazy:
            # scaling now would read the whole mosaic; cutout() converts what it reads
            unit = normalise_bunit(header.get("BUNIT"))
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
    emit_notes(notes, raw.path)
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
    magzp = optional_float_card(header, "MAGZP", raw.notes)
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
    emit_notes(raw.notes, raw.path)
    return image


def _keep_blank_for_lazy(raw: _RawPlane, header: fits.Header) -> None:
    """Lazy pixels are still raw: keep BLANK so cutout() can blank them when it reads."""
    if raw.lazy and "BLANK" in raw.header:
        header["BLANK"] = raw.header["BLANK"]


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
            astropy_warnings(notes),
            fits.open(path, lazy_load_hdus=True, memmap=memmap) as hdul,
        ):
            index, selected = _select_hdu(hdul, hdu, path, notes)
            hdu_label = index if hdu is None else hdu
            shape = tuple(int(n) for n in selected.shape)
            header = selected.header.copy()
            wcs, _problem = celestial_wcs(
                header, shape[-2:], notes, path=path, hdu=hdu_label, require=require_wcs
            )
            numpy_index, chosen = _plane_index(shape, header, plane, notes, path, hdu_label)
            frequency_hz = header_frequency_hz(header, chosen)
            data, lazy_done = _plane_data(selected, header, numpy_index, lazy, notes)
    except FitsFormatError:
        raise
    except _ASTROPY_READ_ERRORS as error:
        raise _unreadable(path, hdu_label, error) from error
    if not lazy_done:
        data = clean_float_plane(data, header, notes)
    pixel_scale = None
    if wcs is not None:
        pixel_scale = wcs_pixel_scale_arcsec(wcs, notes)
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


def _plane_pixels(shape: tuple[int, ...]) -> int:
    """Pixels of one 2-D plane (the last two NumPy axes) of an HDU of ``shape``."""
    return int(shape[-1]) * int(shape[-2])


def _is_image_hdu(h: object) -> bool:
    # GroupsHDU (random-groups uv data) subclasses PrimaryHDU but is no image.
    image_types = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    return isinstance(h, image_types) and not isinstance(h, fits.GroupsHDU)


def image_hdus(hdul: fits.HDUList) -> list[tuple[int, fits.ImageHDU]]:
    """The HDUs holding an image (2-D or more, no empty axis), largest plane first.

    The first of them is the HDU read by default: the largest image, not the first one, since
    a primary HDU may hold a small thumbnail (or a preview) of the real image in an
    extension; ties keep the file's order. Only headers are looked at.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList

    Returns
    -------
    list of (index, HDU)
    """
    images = [
        (index, candidate)
        for index, candidate in enumerate(hdul)
        if _is_image_hdu(candidate) and len(candidate.shape) >= 2 and min(candidate.shape) > 0
    ]
    return sorted(images, key=lambda item: -_plane_pixels(item[1].shape))


def _select_hdu(
    hdul: fits.HDUList, hdu: HduSpec, path: Path, notes: list[str]
) -> tuple[int | str, fits.ImageHDU]:
    if hdu is None:
        images = image_hdus(hdul)
        if images:
            index, chosen = images[0]
            if len(images) > 1:
                notes.append(
                    f"{len(images)} HDUs hold an image (HDUs: {_hdu_summary(hdul)}); used HDU "
                    f"{index}, the largest. Pass hdu=N (radiogal predict --hdu N) to read another one."
                )
            return index, chosen
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
            "the largest image HDU, or one of the indices/names listed.",
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
            "largest image HDU.",
            path=path,
            hdu=hdu,
            keyword="NAXIS",
        )
    return hdu, selected


# --------------------------------------------------------------------------------------
# Axes and planes
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
                + (f" ({axis_value_text(header, real[0], 0)})" if len(real) == 1 else "")
                + f". Pass {how} (radiogal predict --plane) to read another one."
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
            if is_memory_mapped(view):
                view = view.view()
                view.flags.writeable = False
                return view, True
            data = view  # e.g. gzip: astropy already decompressed it into memory
            reason = "the file is compressed"
        else:
            data = hdu.section[index]
            reason = "pixels are scaled (BITPIX > 0 or BSCALE/BZERO) or tile-compressed"
        notes.append(f"lazy=True but {reason}, so the image plane was read into memory.")
        return as_float32(data), False
    return _native_float32(hdu.section[index]), False


def _native_float32(data: np.ndarray) -> np.ndarray:
    """Like :func:`as_float32`, but byte-swaps a freshly read big-endian float32 buffer in
    place instead of copying it (halves the peak memory of reading a large plane)."""
    owner = data.base if data.base is not None else data
    fresh = (
        isinstance(owner, np.ndarray)
        and owner.flags.owndata
        and owner.flags.writeable
        and owner.nbytes == data.nbytes  # never pin (or alter) a larger buffer, e.g. a cube
        and not is_memory_mapped(data)
    )
    if fresh and data.dtype.kind == "f" and data.dtype.itemsize == 4 and data.flags.c_contiguous:
        if not data.dtype.isnative:
            data.byteswap(inplace=True)
            data = data.view(data.dtype.newbyteorder("="))
        return data
    return as_float32(data)


def clean_float_plane(data: np.ndarray, header: fits.Header, notes: list[str]) -> np.ndarray:
    """NaN-blank a native float32 plane in place: ``BLANK`` values on float data, +-inf.

    FITS allows ``BLANK`` only for integer data and astropy ignores it on float data
    (with a ``VerifyWarning``). Some writers nevertheless fill blanked float pixels with
    the ``BLANK`` value; those pixels become NaN, with a warning. If no pixel equals it,
    nothing is changed.

    Parameters
    ----------
    data : float32 array, shape (H, W)
        Native-endian and writeable (e.g. from :func:`~napari_radiogal.io.fits.images.
        as_float32`); ``(row, col)``.
    header : astropy.io.fits.Header
        Header of the HDU the pixels came from (``BITPIX``, ``BLANK``).
    notes : list of str
        Appended to for every change, and when every pixel is NaN.

    Returns
    -------
    ndarray
        ``data`` itself.

    Examples
    --------
    >>> plane = np.array([[1.0, -99.0], [np.inf, 2.0]], dtype=np.float32)
    >>> clean_float_plane(plane, fits.Header({"BITPIX": -32, "BLANK": -99}), []).tolist()
    [[1.0, nan], [nan, 2.0]]
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
