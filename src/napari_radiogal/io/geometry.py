"""Pixel geometry: the grid a model was trained on, resampling onto it, and windows.

A network trained on 210 x 210 cut-outs with ~6 pixels per beam has learned what a radio
galaxy looks like *at that sampling*: a FIRST image (5.4" beam at 1.8"/px, 3 px per beam)
shows it sources half the size in pixels it expects, a 10k x 10k mosaic is fifty times the
cut-out it was trained on. This module holds the three pieces of geometry that inference
(and the survey code) need to bring any image to the model and every result back:

* :class:`ModelGeometry` -- what the weights card records about the training pixels: pixel
  scale, beam FWHM in pixels, cut-out size, noise convention.
* :class:`Resampling` -- an exact, corner-aligned pixel map between the user's grid and a
  grid with the model's pixels per beam: :func:`plan_resampling` chooses it,
  :func:`resample` moves pixel values, :func:`resample_wcs` the WCS, and the methods of
  :class:`Resampling` bring positions and masks back onto the user's own grid.
* :class:`Window` and :func:`window_grid` -- overlapping windows of the model's cut-out
  size over an image larger than one cut-out (the survey code uses the same windows).

Why resample in pixel space instead of reprojecting through the WCS: scaling a celestial
WCS's CD (or CDELT) matrix by ``s`` about a shifted reference pixel describes *exactly* the
grid whose pixel ``x_r`` covers ``x = (x_r + 1/2) s - 1/2`` of the original, whatever the
projection (the projection acts after the linear part). So the resampled image is an affine
resampling of the pixels, with no reprojection error and no dependence on the WCS (images
without one resample the same way), and masks and hosts map back by the same affine map.

Conventions: arrays are ``(row, col)`` = ``(y, x)``, 0-based, positions are pixel centres;
angles in degrees, beam sizes in arcsec unless the name says pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from napari_radiogal.errors import ConfigError, InputImageError

__all__ = [
    "ModelGeometry",
    "EMU_PILOT_GEOMETRY",
    "pixels_per_beam",
    "geometry_of_records",
    "Resampling",
    "plan_resampling",
    "resample",
    "resample_wcs",
    "Window",
    "window_grid",
]


@dataclass(frozen=True)
class ModelGeometry:
    """The pixel geometry a model was trained on (recorded in its weights card).

    Parameters
    ----------
    pixel_scale_arcsec : float
        Pixel side of the training images, arcsec.
    beam_fwhm_px : tuple of float
        ``(major, minor)`` FWHM of the training restoring beam in training pixels (the
        geometric mean of a range when the training sky varied it).
    cutout_size : int
        Side of the training cut-outs in pixels; inference runs windows of this size.
    noise : str
        How the training images' noise was defined (unit and estimator), for the record.
    pixels_per_beam_range : tuple of float, optional
        ``(low, high)`` pixels per beam the training images spanned (a wide training sky
        varies the beam); inference resamples only images outside it, onto its nearest
        end. Defaults to :attr:`pixels_per_beam` alone (a model of one sampling).

    Examples
    --------
    >>> EMU_PILOT_GEOMETRY.pixels_per_beam
    5.979...
    >>> ModelGeometry.from_dict(EMU_PILOT_GEOMETRY.to_dict()) == EMU_PILOT_GEOMETRY
    True
    """

    pixel_scale_arcsec: float
    beam_fwhm_px: tuple[float, float]
    cutout_size: int
    noise: str = "Jy/beam; clipped-MAD sigma of the paper (section 3.1)"
    pixels_per_beam_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        beam = tuple(float(b) for b in self.beam_fwhm_px)
        object.__setattr__(self, "beam_fwhm_px", beam)
        if not (len(beam) == 2 and all(math.isfinite(b) and b > 0 for b in beam)):
            raise ConfigError(
                f"ModelGeometry.beam_fwhm_px={self.beam_fwhm_px!r}; expected (major, minor) "
                "FWHM in pixels, both > 0."
            )
        if not (math.isfinite(self.pixel_scale_arcsec) and self.pixel_scale_arcsec > 0):
            raise ConfigError(
                f"ModelGeometry.pixel_scale_arcsec={self.pixel_scale_arcsec!r}; expected > 0."
            )
        if int(self.cutout_size) < 16:
            raise ConfigError(f"ModelGeometry.cutout_size={self.cutout_size!r}; expected >= 16.")
        object.__setattr__(self, "cutout_size", int(self.cutout_size))
        ppb = math.sqrt(beam[0] * beam[1])
        span = self.pixels_per_beam_range
        span = (ppb, ppb) if span is None else tuple(float(v) for v in span)
        object.__setattr__(self, "pixels_per_beam_range", span)
        if not (len(span) == 2 and 0 < span[0] <= span[1] and math.isfinite(span[1])):
            raise ConfigError(
                f"ModelGeometry.pixels_per_beam_range={self.pixels_per_beam_range!r}; expected "
                "(low, high) with 0 < low <= high."
            )

    @property
    def pixels_per_beam(self) -> float:
        """Geometric-mean beam FWHM in training pixels (``sqrt(major * minor)``)."""
        return math.sqrt(self.beam_fwhm_px[0] * self.beam_fwhm_px[1])

    @property
    def beam_arcsec(self) -> tuple[float, float]:
        """``(major, minor)`` training beam FWHM in arcsec."""
        return tuple(b * self.pixel_scale_arcsec for b in self.beam_fwhm_px)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``geometry`` entry of a weights card)."""
        d = asdict(self)
        d["beam_fwhm_px"] = list(self.beam_fwhm_px)
        d["pixels_per_beam_range"] = list(self.pixels_per_beam_range)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelGeometry:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise :class:`ConfigError`."""
        known = {"pixel_scale_arcsec", "beam_fwhm_px", "cutout_size", "noise"}
        known |= {"pixels_per_beam_range"}
        extra, missing = set(d) - known, {"pixel_scale_arcsec", "beam_fwhm_px"} - set(d)
        if extra or missing:
            raise ConfigError(
                f"model geometry {dict(d)!r}: unknown keys {sorted(extra)}, missing "
                f"{sorted(missing)}; expected {sorted(known)}."
            )
        return cls(
            pixel_scale_arcsec=float(d["pixel_scale_arcsec"]),
            beam_fwhm_px=tuple(d["beam_fwhm_px"]),
            cutout_size=int(d.get("cutout_size", 210)),
            noise=str(d.get("noise", cls.noise)),
            pixels_per_beam_range=d.get("pixels_per_beam_range"),
        )

    def target_pixels_per_beam(self, pixels_per_beam_in: float) -> float:
        """The sampling an input of ``pixels_per_beam_in`` is brought to: itself inside the
        training range, else the range's nearest end.

        Examples
        --------
        >>> wide = ModelGeometry(2.0, (4.5, 4.5), 210, pixels_per_beam_range=(2.5, 8.0))
        >>> wide.target_pixels_per_beam(3.0), wide.target_pixels_per_beam(12.5)
        (3.0, 8.0)
        """
        low, high = self.pixels_per_beam_range
        return min(max(float(pixels_per_beam_in), low), high)


#: The geometry of the paper's EMU Pilot Survey cut-outs (and of our narrow simulated sky):
#: 2"/px, 13" x 11" beam, 210 px. Weights cards written before cards carried a geometry
#: were all trained on it.
EMU_PILOT_GEOMETRY = ModelGeometry(pixel_scale_arcsec=2.0, beam_fwhm_px=(6.5, 5.5), cutout_size=210)


def geometry_of_records(records: Any) -> ModelGeometry | None:
    """The geometry of a data set's images, from their COCO records (for a weights card).

    Parameters
    ----------
    records : iterable of ImageRecord
        Images with ``beam`` (degrees) and ``radio_wcs`` (header text); others are skipped.

    Returns
    -------
    ModelGeometry or None
        Median pixel scale, median beam axes in pixels, median image side, and the 2nd to
        98th percentile of pixels per beam as the training range; ``None`` when no record
        has both a beam and a WCS (e.g. RadioGalaxyNET PNGs).

    Examples
    --------
    >>> from napari_radiogal.annotations import ImageRecord
    >>> from astropy.wcs import WCS
    >>> w = WCS(naxis=2); w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    >>> w.wcs.cdelt = [-2 / 3600, 2 / 3600]
    >>> rec = ImageRecord(1, "a.fits", 210, 210, radio_wcs=w.to_header_string(),
    ...                   beam=(13 / 3600, 11 / 3600, 0.0))
    >>> [round(b, 3) for b in geometry_of_records([rec]).beam_fwhm_px]
    [6.5, 5.5]
    """
    from napari_radiogal.io.fits import pixel_scale_from_wcs_header

    scales, majors, minors, sides = [], [], [], []
    for rec in records:
        if rec.beam is None or not rec.radio_wcs:
            continue
        scale = pixel_scale_from_wcs_header(rec.radio_wcs)
        if not scale:
            continue
        scales.append(scale)
        majors.append(rec.beam[0] * 3600.0 / scale)
        minors.append(rec.beam[1] * 3600.0 / scale)
        sides.append(max(int(rec.height), int(rec.width)))
    if not scales:
        return None
    ppb = np.sqrt(np.asarray(majors) * np.asarray(minors))
    low, high = (float(v) for v in np.percentile(ppb, [2.0, 98.0]))
    return ModelGeometry(
        pixel_scale_arcsec=float(np.median(scales)),
        beam_fwhm_px=(float(np.median(majors)), float(np.median(minors))),
        cutout_size=int(np.median(sides)),
        pixels_per_beam_range=(low, high),
    )


def pixels_per_beam(
    beam_major_arcsec: float, beam_minor_arcsec: float, pixel_scale: float
) -> float:
    """Geometric-mean beam FWHM in pixels.

    Parameters
    ----------
    beam_major_arcsec, beam_minor_arcsec : float
        Beam FWHM axes in arcsec.
    pixel_scale : float
        Pixel side in arcsec.

    Examples
    --------
    >>> round(pixels_per_beam(5.4, 5.4, 1.8), 3)    # FIRST
    3.0
    """
    if not (beam_major_arcsec > 0 and beam_minor_arcsec > 0 and pixel_scale > 0):
        raise InputImageError(
            f'beam {beam_major_arcsec!r}" x {beam_minor_arcsec!r}" at {pixel_scale!r}"/px: '
            "every size must be > 0."
        )
    return math.sqrt(beam_major_arcsec * beam_minor_arcsec) / pixel_scale


@dataclass(frozen=True)
class Resampling:
    """A corner-aligned scaling between an input grid and a resampled grid.

    Output pixel ``(r, c)`` covers input pixel coordinates ``((r + 1/2) s - 1/2,
    (c + 1/2) s - 1/2)``: both grids share the outer corner of pixel ``(0, 0)``. ``s > 1``
    makes the output coarser (fewer pixels), ``s < 1`` finer.

    Parameters
    ----------
    factor : float
        ``s``: output pixel size / input pixel size.
    input_shape, output_shape : tuple of int
        ``(H, W)`` of the two grids.

    Examples
    --------
    >>> r = Resampling(0.5, (3, 3), (6, 6))
    >>> r.to_input_xy(1.0, 3.0)
    (0.25, 1.25)
    >>> r.to_output_xy(*r.to_input_xy(1.0, 3.0))
    (1.0, 3.0)
    """

    factor: float
    input_shape: tuple[int, int]
    output_shape: tuple[int, int]

    @property
    def is_identity(self) -> bool:
        """True when the output grid is the input grid."""
        return self.factor == 1.0 and self.input_shape == self.output_shape

    def to_input_xy(self, x: float, y: float) -> tuple[float, float]:
        """Output pixel position ``(x, y)`` -> the same point in input pixels."""
        s = self.factor
        return (x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5

    def to_output_xy(self, x: float, y: float) -> tuple[float, float]:
        """Input pixel position ``(x, y)`` -> the same point in output pixels."""
        s = self.factor
        return (x + 0.5) / s - 0.5, (y + 0.5) / s - 0.5

    def output_indices(self, axis: int) -> np.ndarray:
        """For every input pixel along ``axis`` (0 rows, 1 cols), the output pixel containing
        its centre (clipped to the output grid)."""
        n_in, n_out = self.input_shape[axis], self.output_shape[axis]
        idx = np.floor((np.arange(n_in) + 0.5) / self.factor).astype(np.intp)
        return np.clip(idx, 0, n_out - 1)

    def to_input_grid(self, array: np.ndarray) -> np.ndarray:
        """Nearest-sample an output-grid array (labels, a mask) onto the input grid.

        Every input pixel takes the value of the output pixel that contains its centre, so
        labels stay labels and a mask drawn on the model's grid becomes the mask of the
        same sky on the user's grid.

        Parameters
        ----------
        array : ndarray, shape ``output_shape`` (or ``(..., *output_shape)``)

        Returns
        -------
        ndarray, shape ``input_shape`` (with the same leading axes)
        """
        a = np.asarray(array)
        if a.shape[-2:] != tuple(self.output_shape):
            raise InputImageError(
                f"array of shape {a.shape} is not on the resampled grid {self.output_shape}."
            )
        if self.is_identity:
            return a
        rows, cols = self.output_indices(0), self.output_indices(1)
        return a[..., rows[:, None], cols[None, :]]


def plan_resampling(
    shape: tuple[int, int],
    pixels_per_beam_in: float | None,
    geometry: ModelGeometry,
    *,
    tolerance: float = 0.1,
    max_pixels: int | None = None,
) -> Resampling:
    """The resampling that gives an image the model's pixels per beam.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the input image.
    pixels_per_beam_in : float or None
        Geometric-mean beam FWHM of the input in its pixels; ``None`` (beam unknown)
        keeps the grid as it is.
    geometry : ModelGeometry
        The model's training geometry.
    tolerance : float
        A relative mismatch up to this (against the nearest end of the model's training
        range, :meth:`ModelGeometry.target_pixels_per_beam`) is left alone: interpolating
        costs a little sharpness for no gain when the sampling is already close.
    max_pixels : int, optional
        Refuse (``InputImageError``) when the resampled image would have more pixels.

    Returns
    -------
    Resampling

    Examples
    --------
    >>> plan_resampling((300, 300), 3.0, EMU_PILOT_GEOMETRY).output_shape   # FIRST
    (598, 598)
    >>> plan_resampling((210, 210), 6.1, EMU_PILOT_GEOMETRY).is_identity
    True
    """
    h, w = int(shape[0]), int(shape[1])
    if pixels_per_beam_in is None:
        return Resampling(1.0, (h, w), (h, w))
    if not (math.isfinite(pixels_per_beam_in) and pixels_per_beam_in > 0):
        raise InputImageError(f"pixels per beam {pixels_per_beam_in!r}: expected a number > 0.")
    target = geometry.target_pixels_per_beam(pixels_per_beam_in)
    factor = pixels_per_beam_in / target  # output pixel size in input pixels
    if abs(factor - 1.0) <= tolerance:
        return Resampling(1.0, (h, w), (h, w))
    out = (max(1, round(h / factor)), max(1, round(w / factor)))
    if max_pixels is not None and out[0] * out[1] > max_pixels:
        raise InputImageError(
            f"resampled to the model's {target:.2f} pixels per beam (from "
            f"{pixels_per_beam_in:.2f}), the {h} x {w} image becomes {out[0]} x {out[1]} = "
            f"{out[0] * out[1] / 1e6:.1f} Mpx, more than the budget of {max_pixels / 1e6:.1f} "
            "Mpx. Cut out the region of interest first (napari_radiogal.io.align.cutout) or "
            "raise the budget."
        )
    return Resampling(float(factor), (h, w), out)


def resample(data: np.ndarray, resampling: Resampling) -> np.ndarray:
    """Resample an image onto the output grid of ``resampling``.

    Finer output (``s < 1``, e.g. FIRST's 3 px per beam brought to 6): cubic spline
    interpolation, which the band-limited (beam-convolved) radio sky allows. Coarser output
    (``s > 1``): a Gaussian anti-aliasing filter of sigma ``(s - 1) / 2`` input pixels
    first (scikit-image's choice for ``rescale``), then linear interpolation; for the
    mild factors met here it widens the beam by well under a tenth. Surface brightness
    (Jy/beam) is intensive, so values are interpolated, never summed. Blanked (NaN)
    pixels stay blank: a resampled pixel is NaN when the input pixel under its centre is.

    Parameters
    ----------
    data : ndarray, shape ``resampling.input_shape``
        Image ``(row, col)`` in any unit; NaN = blanked.
    resampling : Resampling

    Returns
    -------
    ndarray of float32, shape ``resampling.output_shape``

    Examples
    --------
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> resample(img, plan_resampling((4, 4), 3.0, EMU_PILOT_GEOMETRY)).shape
    (8, 8)
    """
    from scipy import ndimage

    a = np.asarray(data, dtype=np.float64)
    if a.shape != tuple(resampling.input_shape):
        raise InputImageError(
            f"image of shape {a.shape} does not match the resampling's {resampling.input_shape}."
        )
    if resampling.is_identity:
        return a.astype(np.float32)
    blank = ~np.isfinite(a)
    filled = np.where(blank, 0.0, a)
    s = resampling.factor
    if s > 1.0:
        filled = ndimage.gaussian_filter(filled, (s - 1.0) / 2.0, mode="nearest")
    h, w = resampling.output_shape
    rows = (np.arange(h) + 0.5) * s - 0.5
    cols = (np.arange(w) + 0.5) * s - 0.5
    coords = np.meshgrid(rows, cols, indexing="ij")
    order = 3 if s < 1.0 else 1
    out = ndimage.map_coordinates(filled, coords, order=order, mode="nearest")
    if blank.any():
        r_idx = np.clip(np.floor(rows + 0.5).astype(np.intp), 0, a.shape[0] - 1)
        c_idx = np.clip(np.floor(cols + 0.5).astype(np.intp), 0, a.shape[1] - 1)
        out[blank[r_idx[:, None], c_idx[None, :]]] = np.nan
    return out.astype(np.float32)


def resample_wcs(wcs: Any, resampling: Resampling) -> Any:
    """The celestial WCS of the resampled grid (``None`` stays ``None``).

    The linear part (CD, or CDELT with PC) is scaled by ``s`` and the reference pixel moved
    so that output pixel ``x_r`` sees the sky of input ``(x_r + 1/2) s - 1/2``; this is exact
    for every projection.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS of the input grid.
    resampling : Resampling

    Returns
    -------
    astropy.wcs.WCS or None

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> w = WCS(naxis=2); w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    >>> w.wcs.cdelt = [-1 / 3600, 1 / 3600]; w.wcs.crpix = [51, 51]; w.wcs.crval = [150, 2]
    >>> r = Resampling(0.5, (100, 100), (200, 200))
    >>> import numpy as np
    >>> xi, yi = r.to_input_xy(17.0, 33.0)
    >>> bool(np.allclose(resample_wcs(w, r).pixel_to_world_values(17.0, 33.0),
    ...                  w.pixel_to_world_values(xi, yi)))
    True
    """
    if wcs is None or resampling.is_identity:
        return wcs
    s = resampling.factor
    out = wcs.deepcopy()
    # FITS CRPIX is 1-based: 0-based reference x0 maps to (x0 + 1/2) / s - 1/2.
    out.wcs.crpix = (np.asarray(wcs.wcs.crpix, dtype=np.float64) - 0.5) / s + 0.5
    if wcs.wcs.has_cd():
        out.wcs.cd = np.asarray(wcs.wcs.cd, dtype=np.float64) * s
    else:
        out.wcs.cdelt = np.asarray(wcs.wcs.cdelt, dtype=np.float64) * s
    if out.pixel_shape is not None:
        out.pixel_shape = (resampling.output_shape[1], resampling.output_shape[0])
    out.wcs.set()
    return out


@dataclass(frozen=True)
class Window:
    """A rectangular window of an image: rows ``row0:row0 + height``, cols ``col0:col0 + width``.

    Examples
    --------
    >>> win = Window(10, 20, 5, 6)
    >>> win.slices
    (slice(10, 15, None), slice(20, 26, None))
    """

    row0: int
    col0: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the window in the image."""
        return slice(self.row0, self.row0 + self.height), slice(self.col0, self.col0 + self.width)


def _starts(length: int, size: int, overlap: int) -> list[int]:
    """Evenly spaced window starts along one axis, first at 0 and last at ``length - size``."""
    if length <= size:
        return [0]
    n = math.ceil((length - overlap) / (size - overlap))
    return [round(i * (length - size) / (n - 1)) for i in range(n)] if n > 1 else [0]


def window_grid(shape: tuple[int, int], size: int, overlap: int) -> list[Window]:
    """Overlapping windows of side ``size`` that cover an image.

    Windows are spread evenly so that neighbours overlap by at least ``overlap`` pixels
    and the first and last touch the image edges; an axis shorter than ``size`` gets one
    window of its own length. Row-major order.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the image.
    size : int
        Window side in pixels (the model's cut-out size).
    overlap : int
        Smallest overlap of neighbours in pixels (``0 <= overlap < size``). Make it at least
        the size of the largest source to be found whole in one window.

    Returns
    -------
    list of Window

    Examples
    --------
    >>> [(w.row0, w.col0) for w in window_grid((210, 400), 210, 20)]
    [(0, 0), (0, 190)]
    >>> [(w.row0, w.col0) for w in window_grid((210, 400), 210, 60)]
    [(0, 0), (0, 95), (0, 190)]
    >>> len(window_grid((1000, 1000), 210, 70))
    49
    """
    if not 0 <= overlap < size:
        raise ConfigError(f"window overlap {overlap!r} must be in [0, size={size}).")
    h, w = int(shape[0]), int(shape[1])
    rows, cols = _starts(h, size, overlap), _starts(w, size, overlap)
    return [Window(r, c, min(size, h), min(size, w)) for r in rows for c in cols]
