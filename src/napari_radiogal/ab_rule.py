"""The paper's a/b morphology rule (Gupta et al. 2023, section 2.3.2), GUI-free.

A labeller looks at a radio source and measures

* ``a``, the distance between the two brightest emission peaks, and
* ``b``, the length of the box that just encloses the 5 sigma contour along the source's
  major axis;

then the class is FR-I if ``a/b < 0.45``, FR-II if ``a/b > 0.55``, FR-X in between, and R
when there is only one peak (``a = 0``). :func:`measure_morphology` makes "a distinct peak"
explicit (a human judges it by eye): a local maximum above the 5 sigma contour that either
sits on its own 5 sigma island or is separated from every brighter accepted peak by a dip of
at least ``max(3 sigma, 10 % of its height)``.

The simulator labels its cut-outs with this module (:mod:`napari_radiogal.sky.labels`) and
the non-learned baseline (:mod:`napari_radiogal.baseline`) classifies with it, so both use
exactly one rule. NumPy / SciPy only.

Images are ``(H, W)`` = ``(row, col)``; positions ``(x, y)`` = ``(col, row)`` in pixels.

Examples
--------
A bar with two bright knots near its ends is an FR-II:

>>> import numpy as np
>>> image = np.zeros((40, 120))
>>> image[17:23, 10:110] = 10.0                 # plateau at 10 sigma
>>> image[18:22, 16:20] = image[18:22, 100:104] = 50.0
>>> morph = measure_morphology(image, sigma=1.0)
>>> morph.category, round(morph.ratio, 2)
('FR-II', 0.84)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Morphology", "measure_morphology", "classify_ratio", "FR1_MAX_RATIO", "FR2_MIN_RATIO"]

#: a/b below which a two-peaked source is FR-I (the paper's threshold).
FR1_MAX_RATIO = 0.45
#: a/b above which a two-peaked source is FR-II (the paper's threshold).
FR2_MIN_RATIO = 0.55

_EIGHT = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True)
class Morphology:
    """The paper's morphology measurement of one source.

    Attributes
    ----------
    a_px : float
        Distance between the two brightest distinct peaks, pixels (0 with one peak).
    b_px : float
        Extent of the 5 sigma region along its major axis, pixels (box edges, not centres).
    ratio : float
        ``a / b`` (0 with one peak, NaN without any 5 sigma pixel).
    peaks : tuple of (x, y)
        The one or two peaks used, brightest first.
    axis_deg : float
        Major-axis angle from +x (columns) toward +y (rows), degrees in [0, 180).
    n_pixels : int
        Pixels above the contour level that belong to the source.
    category : str or None
        ``"FR-I"``, ``"FR-II"``, ``"FR-X"``, ``"R"``, or ``None`` when nothing is above 5 sigma.
    """

    a_px: float
    b_px: float
    ratio: float
    peaks: tuple[tuple[float, float], ...]
    axis_deg: float
    n_pixels: int
    category: str | None


#: The resolved test (:func:`is_resolved`): a source is extended when its ``b`` reaches
#: this many beam FWHMs (the baseline's 14 px at EMU's 6 px beam) and this factor times the
#: 5 sigma width of a point source of its brightness.
RESOLVED_MIN_EXTENT_BEAMS = 14.0 / 6.0
RESOLVED_FACTOR = 1.25


def point_source_extent_px(peak_snr: float, beam_fwhm_px: float, level_snr: float = 5.0) -> float:
    """Width (pixels, edges included) of an unresolved source's ``level_snr`` contour.

    Examples
    --------
    >>> round(point_source_extent_px(100.0, 6.0), 2), point_source_extent_px(4.0, 6.0)
    (13.47, 1.0)
    """
    if peak_snr <= level_snr:
        return 1.0
    s = beam_fwhm_px / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return 2.0 * s * math.sqrt(2.0 * math.log(peak_snr / level_snr)) + 1.0


def is_resolved(
    extent_px: float,
    peak_snr: float,
    beam_fwhm_px: float,
    *,
    min_extent_px: float | None = None,
    resolved_factor: float = RESOLVED_FACTOR,
) -> bool:
    """Whether a source is larger than an unresolved (point) source of its brightness.

    Parameters
    ----------
    extent_px : float
        Its ``b``: the extent of its 5 sigma contour along the major axis, pixels
        (:func:`measure_morphology`).
    peak_snr : float
        Its peak over the image RMS.
    beam_fwhm_px : float
        Beam FWHM in pixels.
    min_extent_px : float, optional
        Default ``RESOLVED_MIN_EXTENT_BEAMS`` beams.
    resolved_factor : float

    Returns
    -------
    bool
        ``extent_px >= max(min_extent_px, resolved_factor * w)``, where ``w`` is the width
        of a point source's 5 sigma contour at that peak S/N
        (:func:`point_source_extent_px`): a point source's contour grows with its
        brightness, so a fixed size cut would call bright point sources extended.

    Examples
    --------
    >>> is_resolved(30.0, 20.0, 6.0), is_resolved(9.0, 20.0, 6.0)
    (True, False)
    """
    if min_extent_px is None:
        min_extent_px = RESOLVED_MIN_EXTENT_BEAMS * beam_fwhm_px
    point = point_source_extent_px(peak_snr, beam_fwhm_px)
    return extent_px >= max(min_extent_px, resolved_factor * point)


def classify_ratio(
    a: float,
    b: float,
    n_peaks: int,
    *,
    fr1_max: float = FR1_MAX_RATIO,
    fr2_min: float = FR2_MIN_RATIO,
) -> str:
    """The paper's rule: R with fewer than two peaks, else FR-I / FR-X / FR-II by ``a/b``.

    Examples
    --------
    >>> classify_ratio(30.0, 100.0, 2), classify_ratio(50.0, 100.0, 2)
    ('FR-I', 'FR-X')
    >>> classify_ratio(80.0, 100.0, 2), classify_ratio(0.0, 20.0, 1)
    ('FR-II', 'R')
    """
    if n_peaks < 2 or a <= 0:
        return "R"
    ratio = a / b
    if ratio < fr1_max:
        return "FR-I"
    if ratio > fr2_min:
        return "FR-II"
    return "FR-X"


def measure_morphology(
    image: np.ndarray,
    sigma: float,
    region: np.ndarray | None = None,
    *,
    contour_sigma: float = 5.0,
    peak_footprint: int = 5,
    prominence_sigma: float = 3.0,
    prominence_fraction: float = 0.1,
    fr1_max: float = FR1_MAX_RATIO,
    fr2_min: float = FR2_MIN_RATIO,
    max_checks: int = 40,
) -> Morphology:
    """Measure ``a``, ``b`` and the class of one source on a noisy image.

    Parameters
    ----------
    image : ndarray (H, W)
        Noisy image, Jy/beam (or any unit consistent with ``sigma``).
    sigma : float
        Image RMS (the paper's clipped-MAD estimate), same unit.
    region : ndarray of bool (H, W), optional
        Pixels that belong to the source; everything above the contour if omitted.
    contour_sigma : float
        The contour whose extent along the major axis is ``b`` (5 in the paper).
    peak_footprint : int
        Side of the square window in which a peak must be the maximum, pixels (about the
        beam's minor FWHM: two peaks closer than a beam are not resolved).
    prominence_sigma, prominence_fraction : float
        A peak sharing a 5 sigma island with a brighter peak must be separated from it by a
        dip of at least ``max(prominence_sigma * sigma, prominence_fraction * height)``.
    fr1_max, fr2_min : float
        Class thresholds on ``a/b``.
    max_checks : int
        At most this many candidate peaks get the (relatively costly) dip test.

    Returns
    -------
    Morphology
    """
    img = np.asarray(image, dtype=np.float64)
    level = contour_sigma * sigma
    above = np.zeros(img.shape, dtype=bool)
    np.greater(img, level, out=above, where=np.isfinite(img))
    if region is not None:
        above &= np.asarray(region, dtype=bool)
    n_pixels = int(above.sum())
    if n_pixels == 0:
        return Morphology(0.0, 0.0, math.nan, (), 0.0, 0, None)
    rows, cols = np.nonzero(above)
    r0, r1 = rows.min(), rows.max() + 1
    c0, c1 = cols.min(), cols.max() + 1
    sub = img[r0:r1, c0:c1]
    sub_above = above[r0:r1, c0:c1]

    axis_deg, b = _major_axis_extent(cols.astype(np.float64), rows.astype(np.float64))
    peaks = _distinct_peaks(
        sub, sub_above, sigma, peak_footprint, prominence_sigma, prominence_fraction, max_checks
    )
    peaks_xy = tuple((float(c + c0), float(r + r0)) for r, c in peaks)
    if len(peaks_xy) >= 2:
        a = math.dist(peaks_xy[0], peaks_xy[1])
    else:
        a = 0.0
    category = classify_ratio(a, b, len(peaks_xy), fr1_max=fr1_max, fr2_min=fr2_min)
    return Morphology(a, b, a / b if b > 0 else math.nan, peaks_xy, axis_deg, n_pixels, category)


def _major_axis_extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Principal axis of a pixel set and the set's extent along it (pixel edges included)."""
    if x.size == 1:
        return 0.0, 1.0
    xc, yc = x - x.mean(), y - y.mean()
    cov = np.cov(np.vstack([xc, yc]))
    evals, evecs = np.linalg.eigh(cov)
    ux, uy = evecs[:, int(np.argmax(evals))]
    proj = xc * ux + yc * uy
    # A unit pixel projects onto the axis with length |ux| + |uy|.
    b = float(proj.max() - proj.min() + abs(ux) + abs(uy))
    angle = math.degrees(math.atan2(uy, ux)) % 180.0
    return angle, b


def _distinct_peaks(
    img: np.ndarray,
    above: np.ndarray,
    sigma: float,
    footprint: int,
    prominence_sigma: float,
    prominence_fraction: float,
    max_checks: int,
) -> list[tuple[int, int]]:
    """The one or two brightest distinct peaks as (row, col) in ``img``'s frame."""
    masked = np.where(above, img, -np.inf)
    footprint = max(1, int(footprint) | 1)
    local_max = masked == ndimage.maximum_filter(masked, size=footprint, mode="nearest")
    local_max &= above
    rows, cols = np.nonzero(local_max)
    if rows.size == 0:
        return []
    values = img[rows, cols]
    order = np.argsort(-values, kind="stable")
    rows, cols, values = rows[order], cols[order], values[order]
    islands, _ = ndimage.label(above, structure=_EIGHT)
    accepted = [(int(rows[0]), int(cols[0]))]
    first_island = islands[rows[0], cols[0]]
    checks = 0
    for r, c, v in zip(rows[1:], cols[1:], values[1:], strict=True):
        island = islands[r, c]
        if island != first_island:
            # Its own 5 sigma island: distinct by definition (a disjoint lobe).
            accepted.append((int(r), int(c)))
            break
        if checks >= max_checks:
            continue
        checks += 1
        dip = max(prominence_sigma * sigma, prominence_fraction * v)
        if _separated(img, above & (islands == island), (r, c), accepted[0], v - dip):
            accepted.append((int(r), int(c)))
            break
    return accepted


def _separated(
    img: np.ndarray,
    region: np.ndarray,
    peak: tuple[int, int],
    higher: tuple[int, int],
    level: float,
) -> bool:
    """Whether ``peak`` and ``higher`` fall apart in ``region & (img > level)``."""
    rows, cols = np.nonzero(region)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    sub = region[r0:r1, c0:c1] & (img[r0:r1, c0:c1] > level)
    labels, _ = ndimage.label(sub, structure=_EIGHT)
    a = labels[peak[0] - r0, peak[1] - c0]
    b = labels[higher[0] - r0, higher[1] - c0]
    return bool(a != b or a == 0)
