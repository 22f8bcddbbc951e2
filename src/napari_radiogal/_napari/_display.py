"""How FITS images are placed and shown in napari: north up, arcsec scale, stretches.

North up
--------
FITS row 0 is the *south* edge of an image, napari draws data row 0 at the *top*. We keep
the array exactly as read (the model sees ``data[row, col]`` as in the file) and flip the
*display* with the layer transform instead: the row axis gets a negative scale and a
translation of ``(H - 1) * scale``, so world ``y = (H - 1 - row) * pixel_scale``. napari
draws world ``y`` downwards, hence row 0 ends up at the bottom: north up, east left (the
usual ``CDELT1 < 0`` convention needs no column flip). Every layer we create for an image
(the reprojected IR, instance Labels, host Points, contour Shapes) uses the same
:func:`layer_transform`, so painting, picking and point placement work in data (pixel)
coordinates unchanged. We chose this over flipping the camera because a reader cannot
reach the viewer's camera and because the transform travels with the layers (saved
sessions, other viewers, screenshots).

When the pixel scale is known the world unit is the arcsecond, so napari's scale bar
reads in arcsec/arcmin; otherwise it is the pixel.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "image_layer_name",
    "infrared_band",
    "layer_transform",
    "data_to_world",
    "radio_contrast_limits",
    "zscale_limits",
    "stretched_colormap",
    "contour_levels",
]


#: Images with more pixels than this are shown as a multiscale pyramid (:func:`pyramid`).
PYRAMID_PIXELS = 2048 * 2048
#: The pyramid stops at the first level with both sides at most this many pixels.
PYRAMID_TOP_SIDE = 1024


def pyramid(data: np.ndarray) -> list[np.ndarray]:
    """Strided views ``[data, data[::2, ::2], data[::4, ::4], ...]`` of a large image.

    napari draws one level of a multiscale layer, and only the part on the canvas, where a
    plain layer makes a texture of the whole plane first (seconds for a 10k x 10k
    memory-mapped mosaic, and every page of the file in memory). The levels are views, not
    copies: nothing is read until napari asks for a tile, and a level's tile reads only its
    own rows of the file. Plain decimation, not block averages: a block mean would read
    every pixel below a zoomed-out view again; at 1:1 and closer the display is exact.

    Parameters
    ----------
    data : ndarray (H, W)
        The full-resolution image (a memory map stays one).

    Returns
    -------
    list of ndarray
        Level 0 is ``data`` itself; each next level halves both sides, down to the first
        with both sides at most :data:`PYRAMID_TOP_SIDE`.

    Examples
    --------
    >>> import numpy as np
    >>> [level.shape for level in pyramid(np.zeros((5000, 3000), np.float32))]
    [(5000, 3000), (2500, 1500), (1250, 750), (625, 375)]
    """
    levels = [data]
    step = 1
    while max(data.shape[-2:]) / step > PYRAMID_TOP_SIDE:
        step *= 2
        levels.append(data[..., ::step, ::step])
    return levels


def shown_as(data: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """Layer data and the kwargs that go with it: a pyramid above :data:`PYRAMID_PIXELS`."""
    if data.shape[-2] * data.shape[-1] > PYRAMID_PIXELS:
        return pyramid(data), {"multiscale": True}
    return data, {}


def full_resolution(layer) -> np.ndarray:
    """The full-resolution pixels of an image layer: level 0 of a multiscale one.

    The one accessor for an image layer's pixels in this package (segmenting, clicks,
    autosave, fingerprints), so that a layer opened as a pyramid reads the same array
    as a plain one; never ``layer.data`` directly.
    """
    data = layer.data
    return data[0] if getattr(layer, "multiscale", False) else data


def layer_transform(shape: tuple[int, int], pixel_scale_arcsec: float | None) -> dict[str, Any]:
    """Layer keyword arguments that show an ``(H, W)`` FITS image north up.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` = ``(rows, cols)`` of the image.
    pixel_scale_arcsec : float or None
        Pixel size in arcsec; ``None`` keeps world units in pixels.

    Returns
    -------
    dict
        ``scale``, ``translate`` and ``units`` for any napari layer constructor.

    Examples
    --------
    >>> layer_transform((100, 120), 2.0)["translate"]
    (198.0, 0.0)
    """
    step = float(pixel_scale_arcsec) if pixel_scale_arcsec else 1.0
    units = ("arcsec", "arcsec") if pixel_scale_arcsec else ("pixel", "pixel")
    return {
        "scale": (-step, step),
        "translate": ((shape[0] - 1) * step, 0.0),
        "units": units,
    }


#: WISE bands by the ``BAND`` keyword of the WISE/unWISE image headers.
_WISE_BANDS = {1: "W1", 2: "W2", 3: "W3", 4: "W4"}


def infrared_band(
    header: Mapping[str, Any] | None, path: str | os.PathLike | None = None
) -> str | None:
    """The WISE band of an infrared image (``"W1"`` ... ``"W4"``), or ``None``.

    Read from the header's ``BAND`` keyword (``1`` or ``"W1"``), else from the survey the
    header names (:func:`napari_radiogal.io.surveys.match_survey`, e.g. ``AllWISE-W1``), else
    from a ``w1`` ... ``w4`` word in the file name.

    Examples
    --------
    >>> infrared_band({"BAND": 1}), infrared_band({}, "field_wise_w2.fits"), infrared_band({})
    ('W1', 'W2', None)
    """
    header = header or {}
    band = header.get("BAND")
    if isinstance(band, int | float) and int(band) in _WISE_BANDS:
        return _WISE_BANDS[int(band)]
    if isinstance(band, str) and re.fullmatch(r"[Ww][1-4]", band.strip()):
        return band.strip().upper()
    from napari_radiogal.io.surveys import match_survey

    preset = match_survey(header) if header else None
    if preset is not None and preset.kind == "infrared":
        return preset.name.rsplit("-", 1)[-1]
    words = re.split(r"[^a-z0-9]+", os.path.basename(os.fspath(path)).lower()) if path else []
    return next((w.upper() for w in words if re.fullmatch(r"w[1-4]", w)), None)


def image_layer_name(
    path: str | os.PathLike | None,
    kind: str,
    header: Mapping[str, Any] | None = None,
) -> str:
    """The napari layer name of a radio or infrared image: its file stem and what it is.

    A radio and an infrared file of one field often share their stem; the suffix (``radio``,
    the WISE band such as ``W1``, else ``IR``) tells their layers apart. The annotation
    layers are named after the radio layer (``"<name> instances"``).

    Parameters
    ----------
    path : path-like or None
        The FITS file (``None``: the name is the suffix alone).
    kind : {"radio", "infrared"}
    header : mapping, optional
        The image's FITS header (for the infrared band).

    Examples
    --------
    >>> image_layer_name("J0101-30.fits", "radio"), image_layer_name("J0101-30.fits.gz", "infrared")
    ('J0101-30 radio', 'J0101-30 IR')
    >>> image_layer_name("field_wise_w1.fits", "infrared")
    'field_wise_w1 W1'
    """
    from napari_radiogal.io.paths import fits_stem

    tag = "radio" if kind == "radio" else (infrared_band(header, path) or "IR")
    return tag if path is None else f"{fits_stem(path)} {tag}"


def data_to_world(rowcol: np.ndarray, transform: dict[str, Any]) -> np.ndarray:
    """Map ``(N, 2)`` ``(row, col)`` pixel positions to world positions of :func:`layer_transform`."""
    rc = np.asarray(rowcol, dtype=float)
    return rc * np.asarray(transform["scale"]) + np.asarray(transform["translate"])


def _finite_sample(data: np.ndarray, max_pixels: int = 250_000) -> np.ndarray:
    """A regular subsample of the finite pixels (fast limits on large mosaics)."""
    data = np.asarray(data)
    step = max(1, int(np.ceil(np.sqrt(data.size / max_pixels))))
    sample = np.asarray(data[::step, ::step], dtype=np.float64).ravel()
    return sample[np.isfinite(sample)]


def zscale_limits(data: np.ndarray) -> tuple[float, float]:
    """IRAF zscale limits (astropy ``ZScaleInterval``) of the finite pixels.

    Returns ``(0, 1)`` for an image without finite pixels, and widens a zero-width range,
    because napari refuses equal contrast limits.
    """
    from astropy.visualization import ZScaleInterval

    sample = _finite_sample(data)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in ZScaleInterval().get_limits(sample))
    return _widen(lo, hi)


def radio_contrast_limits(data: np.ndarray, noise_sigma: float | None) -> tuple[float, float]:
    """Contrast limits for a radio image shown with an asinh stretch.

    The lower limit sits at ``+1 sigma``: the noise floor is black, so with additive blending
    over the infrared image only real emission glows (lower it in the layer controls to see
    the noise). The upper limit is the 99.9th percentile of the finite pixels (never below
    ``10 sigma``), so compact cores saturate while the lobes keep their structure under the
    asinh stretch.

    Parameters
    ----------
    data : ndarray
        ``(H, W)`` radio image in Jy/beam, NaN = blank.
    noise_sigma : float or None
        Image RMS in Jy/beam; estimated with the paper's clipped MAD when ``None``.
    """
    sample = _finite_sample(data)
    if sample.size == 0:
        return 0.0, 1.0
    if not noise_sigma or not np.isfinite(noise_sigma) or noise_sigma <= 0:
        from napari_radiogal.stats import clipped_noise

        noise_sigma = float(clipped_noise(sample))
    hi = max(float(np.percentile(sample, 99.9)), 10.0 * noise_sigma)
    return _widen(1.0 * noise_sigma, hi)


def _widen(lo: float, hi: float) -> tuple[float, float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if hi <= lo:
        pad = abs(lo) * 1e-3 or 1.0
        return lo - pad, lo + pad
    return lo, hi


def stretched_colormap(base: str = "inferno", stretch: str = "asinh", a: float = 0.1):
    """A napari ``Colormap`` that applies an astropy stretch on top of a base colormap.

    napari maps data to ``[0, 1]`` linearly between the contrast limits; sampling the base
    colormap at ``stretch(t)`` makes the overall mapping ``base(stretch(t))``, i.e. an asinh
    (or log, sqrt) display stretch without touching the data.

    Parameters
    ----------
    base : str
        Name of a napari colormap (``"inferno"``, ``"gray"``, ...).
    stretch : {"asinh", "log", "sqrt", "linear"}
        The astropy.visualization stretch.
    a : float
        The stretch parameter (asinh: transition from linear to log; log: exponent base).
    """
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch
    from napari.utils.colormaps import AVAILABLE_COLORMAPS, Colormap

    stretches = {
        "asinh": lambda: AsinhStretch(a=a),
        "log": lambda: LogStretch(a=1.0 / a if a < 1 else a),
        "sqrt": SqrtStretch,
        "linear": LinearStretch,
    }
    if stretch not in stretches:
        raise ValueError(f"stretch must be one of {sorted(stretches)}; got {stretch!r}")
    base_map = AVAILABLE_COLORMAPS[base]
    controls = np.linspace(0.0, 1.0, 256)
    colors = base_map.map(np.clip(stretches[stretch]()(controls), 0.0, 1.0))
    return Colormap(colors=colors, controls=controls, name=f"{base} ({stretch})")


def contour_levels(
    peak: float, noise_sigma: float, *, start: float = 3.0, factor: float = 2.0, max_levels: int = 8
) -> np.ndarray:
    """Contour levels ``start * sigma * factor**k`` below the image peak.

    Parameters
    ----------
    peak : float
        Brightest finite pixel, Jy/beam.
    noise_sigma : float
        Image RMS, Jy/beam.
    start, factor : float
        First level in sigma and the ratio between levels (3, 6, 12, 24 ... sigma by default,
        the usual radio-astronomy geometric series).
    max_levels : int
        At most this many levels (keeps the Shapes layer light on bright images).

    Returns
    -------
    ndarray
        Levels in Jy/beam, ascending; empty when the peak is below the first level.

    Examples
    --------
    >>> contour_levels(1.0, 0.01).round(2).tolist()
    [0.03, 0.06, 0.12, 0.24, 0.48, 0.96]
    """
    if not (np.isfinite(peak) and np.isfinite(noise_sigma) and noise_sigma > 0):
        return np.zeros(0)
    levels = start * noise_sigma * factor ** np.arange(max_levels)
    return levels[levels < peak]
