"""Host galaxies: one position per instance (DESIGN decision 7, ALGORITHM 8.1 and 11.11).

With an infrared image, the host is the peak of ``instance CAM x IR`` (IR clipped at 0: the
authors' code lets normalised IR go negative, so an empty mask picks a pixel outside it),
refined to sub-pixel precision, and "no host" (``None``) when that product is zero
everywhere in the search region (:func:`host_search`). The paper searches inside the
instance's mask (``InferenceConfig(host_region="mask")``). But the host of two detached
lobes usually sits in the gap between them, outside the mask, and a mask that absorbed an
unrelated compact source (with its own infrared galaxy) offers that galaxy instead. The
default, ``host_region="core"``, searches the convex hull of the mask plus a disc around the
radio core (:func:`radio_core`) and weights the product by a Gaussian prior around the core
(0.5 beam around a core that is a radio peak, ``host_prior_beams`` around a midpoint): the
infrared galaxy nearest the core wins, as an astronomer would pick it. On the simulated val
splits it is level with the paper's rule (host AP50 narrow 68.0 against 67.6, wide 53.8
against 53.2) and it gives the demo FR-II the host between its lobes at every pixel scale
(``benchmarks/ablation.py``; ``benchmarks/ir_hosts.py`` compares the search regions with the
true masks).

Without an infrared image the host is the **radio core** (:func:`radio_core_host`), what an
astronomer marks by eye: the compact peak between the two brightest peaks of a double
source (the core of an FR-II between its hotspots, of an FR-I between its jets), their
midpoint when no peak is there, and the peak itself of a single-peaked source. Measured on
the simulated val split with the true masks and no IR (``benchmarks/radio_hosts.py``), it
lands within 3 px of the true host for 70 % of sources, against 41 % for the flux-weighted
centroid and 24 % for the brightest pixel. Such hosts carry ``extra["host_from"] ==
"radio core"``; IR hosts carry ``"ir"``. With the model's own masks (val split, IR withheld)
the median offset of matched hosts is 5.4" against 18.2" for the displacement centre. The *instance centre* of the network's
displacement field (:func:`displacement_centre`) remains for masks with no radio peak.
On real FIRST cut-outs the catalogue positions of the firstgalaxydata objects lie nearer
the **brightness-weighted centroid** of the model's mask (:func:`~napari_radiogal.stats.brightness_centroid`,
``radio_host="centroid"``, the FIRST model's card) than the core rule's pick: at FIRST's
5" beam an FR-I's core blends into its jets, and many FR-II cores are below the noise.

Positions are ``(x, y)`` = ``(col, row)`` in pixels of the radio image, pixel centres.
"""

from __future__ import annotations

import numpy as np

from napari_radiogal.inference.instances import grid_to_pixel
from napari_radiogal.stats import brightness_centroid  # the radio_host="centroid" rule

__all__ = [
    "peak_position",
    "ir_host",
    "host_search_region",
    "host_search",
    "host_head_region",
    "host_from_head",
    "host_near_core",
    "DETECTED_CORE_PRIOR_BEAMS",
    "radio_peaks",
    "radio_core_host",
    "radio_core",
    "brightness_centroid",
    "displacement_centre",
    "sky_position",
]


def peak_position(
    weight: np.ndarray, mask: np.ndarray, *, subpixel: bool = True
) -> tuple[float, float] | None:
    """``(x, y)`` of the maximum of ``weight`` inside ``mask``, or ``None`` if it is not > 0.

    Parameters
    ----------
    weight : ndarray, shape (H, W)
        Non-negative weights (NaN counts as 0).
    mask : ndarray of bool, shape (H, W)
    subpixel : bool
        Refine to the weighted centroid of the mask pixels in the 3 x 3 window around the
        peak (so a peak between two equal pixels lands between them).

    Returns
    -------
    (x, y) or None
        Column and row in pixels (pixel centres).

    Examples
    --------
    >>> w = np.zeros((5, 5)); w[2, 1] = w[2, 2] = 1.0
    >>> peak_position(w, np.ones((5, 5), bool))
    (1.5, 2.0)
    >>> peak_position(w, np.zeros((5, 5), bool)) is None
    True
    """
    inside = np.where(mask, np.nan_to_num(np.asarray(weight, dtype=np.float64)), 0.0)
    flat = int(np.argmax(inside))
    row, col = divmod(flat, inside.shape[1])
    if not inside[row, col] > 0:
        return None
    if not subpixel:
        return float(col), float(row)
    r0, r1 = max(row - 1, 0), min(row + 2, inside.shape[0])
    c0, c1 = max(col - 1, 0), min(col + 2, inside.shape[1])
    window = np.clip(inside[r0:r1, c0:c1], 0.0, None)
    rows, cols = np.mgrid[r0:r1, c0:c1]
    total = window.sum()
    return float((window * cols).sum() / total), float((window * rows).sum() / total)


def ir_host(
    instance_cam: np.ndarray, infrared: np.ndarray, mask: np.ndarray, *, subpixel: bool = True
) -> tuple[float, float] | None:
    """The paper's host: peak of ``instance CAM x max(IR, 0)`` inside the mask.

    Parameters
    ----------
    instance_cam : ndarray, shape (H, W)
        The instance's class activation map at full resolution (non-negative).
    infrared : ndarray, shape (H, W)
        Pre-processed infrared on the radio grid (NaN outside its footprint counts as 0).
    mask : ndarray of bool, shape (H, W)

    Returns
    -------
    (x, y) or None
        ``None`` ("no host") when the product is zero everywhere in the mask.
    """
    ir = np.clip(np.nan_to_num(np.asarray(infrared, dtype=np.float64)), 0.0, None)
    return peak_position(np.clip(instance_cam, 0.0, None) * ir, mask, subpixel=subpixel)


def host_search_region(
    mask: np.ndarray,
    rule: str,
    *,
    core: tuple[float, float] | None = None,
    radius_px: float = 0.0,
) -> np.ndarray:
    """Where the infrared host of one instance is looked for.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        The instance's mask.
    rule : {"mask", "hull", "core"}
        ``"mask"``: the mask itself (the paper). ``"hull"``: the convex hull of a mask of
        several parts (the gap between detached lobes, where the host usually sits), the
        mask itself otherwise. ``"core"``: the hull of the mask, however many parts, plus a
        disc of ``radius_px`` around ``core`` (a host a little off the emission).
    core : (x, y), optional
        The radio core (:func:`radio_core_host`), for ``"core"``.
    radius_px : float
        Radius of the disc around ``core``, in pixels.

    Returns
    -------
    ndarray of bool, shape (H, W)

    Examples
    --------
    >>> m = np.zeros((5, 9), bool); m[2, 0:2] = m[2, 7:9] = True       # two lobes
    >>> int(host_search_region(m, "mask").sum()), int(host_search_region(m, "hull").sum())
    (4, 9)
    """
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    mask = np.asarray(mask, dtype=bool)
    if rule == "mask" or not mask.any():
        return mask
    if rule == "hull":
        _, n_parts = ndimage.label(mask, structure=np.ones((3, 3), bool))
        return convex_hull_image(mask) if n_parts > 1 else mask
    if rule != "core":
        raise ValueError(f"unknown host search rule {rule!r}; use 'mask', 'hull' or 'core'")
    region = convex_hull_image(mask)
    if core is not None and radius_px > 0:
        rows, cols = np.indices(mask.shape)
        region |= np.hypot(cols - core[0], rows - core[1]) <= radius_px
    return region


def host_search(
    weight: np.ndarray,
    mask: np.ndarray,
    rule: str,
    *,
    core: tuple[float, float] | None = None,
    beam_px: float,
    prior_beams: float = 2.0,
    subpixel: bool = True,
) -> tuple[float, float] | None:
    """The infrared host of one instance under a search rule (:func:`host_search_region`).

    With ``rule="core"`` the weight is also multiplied by a Gaussian prior around the radio
    core, ``exp(-d^2 / 2 s^2)`` with ``s = prior_beams x beam_px``, in the hull plus a disc
    of ``2 s`` around the core: among the infrared galaxies on and around the emission, the
    host is the one nearest the core, as an astronomer would choose it (an unrelated galaxy
    on a lobe, or a compact source the mask absorbed, is brighter in the infrared as often
    as not). Without a core (``core=None``) the prior is flat and the region is the hull.

    Parameters
    ----------
    weight : ndarray, shape (H, W)
        Non-negative host weight, e.g. ``instance CAM x max(IR, 0)`` (:func:`ir_host`).
    mask : ndarray of bool, shape (H, W)
    rule : {"mask", "hull", "core"}
    core : (x, y), optional
        Radio core position in pixels (:func:`radio_core_host`).
    beam_px : float
        Beam FWHM in pixels.
    prior_beams : float
        Width ``s`` of the core prior in beams.
    subpixel : bool
        See :func:`peak_position`.

    Returns
    -------
    (x, y) or None
        ``None`` when the weight is zero everywhere in the region.

    Examples
    --------
    >>> w = np.zeros((21, 41)); w[10, 2] = 9.0; w[11, 20] = 1.0     # bright galaxy on a lobe
    >>> m = np.zeros((21, 41), bool); m[8:13, 0:6] = m[8:13, 35:41] = True
    >>> host_search(w, m, "mask", beam_px=3.0, subpixel=False)
    (2.0, 10.0)
    >>> host_search(w, m, "core", core=(20.0, 10.0), beam_px=3.0, subpixel=False)
    (20.0, 11.0)
    """
    weight = np.clip(np.nan_to_num(np.asarray(weight, dtype=np.float64)), 0.0, None)
    scale = prior_beams * beam_px
    region = host_search_region(mask, rule, core=core, radius_px=2.0 * scale)
    if rule == "core" and core is not None and scale > 0:
        rows, cols = np.indices(weight.shape)
        d2 = (cols - core[0]) ** 2 + (rows - core[1]) ** 2
        weight = weight * np.exp(-d2 / (2.0 * scale**2))
    return peak_position(weight, region, subpixel=subpixel)


def host_head_region(mask: np.ndarray, margin_px: float) -> np.ndarray:
    """Where the host head looks for the host of one instance: its hull, widened.

    The convex hull of the mask (all its parts: the host of detached lobes sits between
    them) plus every pixel within ``margin_px`` of it. Training (the softmax of the host
    loss) and inference (:func:`host_from_head`) use this one region.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    margin_px : float
        Pixels beyond the hull (``HOST_HEAD_MARGIN_CELLS`` x 4 at the model's geometry).

    Returns
    -------
    ndarray of bool, shape (H, W); empty for an empty mask.

    Examples
    --------
    >>> m = np.zeros((7, 9), bool); m[3, 2] = m[3, 6] = True
    >>> host_head_region(m, 1.0)[3].astype(int).tolist()
    [0, 1, 1, 1, 1, 1, 1, 1, 0]
    """
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    hull = convex_hull_image(mask) | mask
    if margin_px <= 0:
        return hull
    return ndimage.distance_transform_edt(~hull) <= margin_px


def host_from_head(
    logits: np.ndarray, mask: np.ndarray, margin_px: float, *, subpixel: bool = True
) -> tuple[float, float] | None:
    """The host of one instance from the host head: the peak of its logits in the region.

    Parameters
    ----------
    logits : ndarray, shape (H, W)
        The head's logits brought to the image's pixels (bilinear from stride 4).
    mask : ndarray of bool, shape (H, W)
        The instance's mask.
    margin_px : float
        See :func:`host_head_region`.
    subpixel : bool
        See :func:`peak_position` (the weight is the softmax of the logits over the region).

    Returns
    -------
    (x, y) or None
        ``None`` only for an empty mask.
    """
    region = host_head_region(mask, margin_px) & np.isfinite(logits)
    if not region.any():
        return None
    z = np.where(region, logits, -np.inf)
    weight = np.exp(z - z[region].max())
    return peak_position(weight, region, subpixel=subpixel)


#: Width (beams) of the host prior around a core that is a radio peak: the host galaxy of a
#: detected core sits on it to within the beam; a midpoint of lobes gets the wider prior.
DETECTED_CORE_PRIOR_BEAMS = 0.5


def host_near_core(
    weight: np.ndarray,
    mask: np.ndarray,
    core: tuple[tuple[float, float], bool] | None,
    *,
    beam_px: float,
    prior_beams: float = 2.0,
    subpixel: bool = True,
) -> tuple[float, float] | None:
    """The ``host_region="core"`` host: :func:`host_search` around a :func:`radio_core` result.

    The prior is :data:`DETECTED_CORE_PRIOR_BEAMS` wide around a core that is a radio peak
    (or the peak of a single source), ``prior_beams`` wide around the midpoint of a double,
    and flat (the hull only) without a core.

    Parameters
    ----------
    weight : ndarray, shape (H, W)
        Non-negative host weight (``instance CAM x max(IR, 0)``).
    mask : ndarray of bool, shape (H, W)
    core : ((x, y), is_peak) or None
        :func:`radio_core` of the instance.
    beam_px, prior_beams, subpixel
        See :func:`host_search`.
    """
    position, width = None, prior_beams
    if core is not None:
        position, is_peak = core
        if is_peak:
            width = min(width, DETECTED_CORE_PRIOR_BEAMS)
    return host_search(
        weight, mask, "core", core=position, beam_px=beam_px, prior_beams=width, subpixel=subpixel
    )


def radio_peaks(
    radio: np.ndarray,
    mask: np.ndarray,
    *,
    noise_sigma: float,
    beam_px: float,
    min_snr: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a radio image inside a mask, brightest first.

    The image is smoothed by a Gaussian of 1 px (so a noise spike on a flat lobe is not a
    peak), and a pixel is a peak when it is the maximum of its beam-sized neighbourhood and
    brighter than ``min_snr`` x the noise.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Radio surface brightness (Jy/beam), ``(row, col)``; NaN = blanked.
    mask : ndarray of bool, shape (H, W)
        Where to look (one instance).
    noise_sigma : float
        Image noise in the units of ``radio``.
    beam_px : float
        Beam FWHM in pixels (the neighbourhood of a peak).
    min_snr : float
        Smallest peak, in units of the noise.

    Returns
    -------
    xy : ndarray of float, shape (N, 2)
        ``(x, y)`` pixel positions of the peaks, brightest first.
    values : ndarray of float, shape (N,)
        Their smoothed brightness.

    Examples
    --------
    >>> img = np.zeros((40, 40)); img[10, 10] = 5.0; img[30, 25] = 9.0
    >>> xy, v = radio_peaks(img, np.ones((40, 40), bool), noise_sigma=0.1, beam_px=5)
    >>> xy.tolist()
    [[25.0, 30.0], [10.0, 10.0]]
    """
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(np.nan_to_num(np.asarray(radio, dtype=np.float64)), 1.0)
    size = max(3, int(round(beam_px)) | 1)
    local_max = smooth == ndimage.maximum_filter(smooth, size=size)
    peaks = local_max & np.asarray(mask, dtype=bool) & (smooth > min_snr * noise_sigma)
    rows, cols = np.nonzero(peaks)
    values = smooth[rows, cols]
    order = np.argsort(-values, kind="stable")
    xy = np.stack([cols[order], rows[order]], axis=1).astype(np.float64)
    return xy, values[order]


def radio_core_host(
    radio: np.ndarray,
    mask: np.ndarray,
    *,
    noise_sigma: float,
    beam_px: float,
    min_snr: float = 5.0,
    double_min_beams: float = 2.0,
    core_max_fraction: float = 0.25,
    core_region: np.ndarray | None = None,
) -> tuple[float, float] | None:
    """The host of a radio source without an infrared image: its radio core.

    1. Find the peaks of the source (:func:`radio_peaks`).
    2. If the two brightest are more than ``double_min_beams`` beams apart, the source is a
       double (FR-II hotspots, or the two jets of an FR-I): the host is the peak nearest
       their midpoint if one lies within ``core_max_fraction`` of their separation of it
       (the core), else the midpoint itself (a core too faint to be a peak).
    3. Otherwise (one peak, or peaks within a couple of beams) it is the brightest peak.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Radio surface brightness (Jy/beam), ``(row, col)``; NaN = blanked.
    mask : ndarray of bool, shape (H, W)
        The instance's mask.
    noise_sigma : float
        Image noise in the units of ``radio``.
    beam_px : float
        Beam FWHM in pixels.
    min_snr, double_min_beams, core_max_fraction : float
        See above.
    core_region : ndarray of bool, shape (H, W), optional
        Where the core of a double is looked for (default: the mask). The convex hull of a
        mask of detached lobes (:func:`host_search_region` ``"hull"``) also finds a core
        that the segmentation left out of the mask, as an astronomer would.

    Returns
    -------
    (x, y) or None
        Pixel position; ``None`` when the mask holds no peak above ``min_snr``.

    Examples
    --------
    >>> img = np.zeros((40, 80)); img[20, 10] = img[20, 70] = 9.0   # two hotspots
    >>> img[21, 41] = 2.0                                          # a faint core
    >>> radio_core_host(img, np.ones((40, 80), bool), noise_sigma=0.01, beam_px=5)
    (41.0, 21.0)
    """
    found = radio_core(
        radio,
        mask,
        noise_sigma=noise_sigma,
        beam_px=beam_px,
        min_snr=min_snr,
        double_min_beams=double_min_beams,
        core_max_fraction=core_max_fraction,
        core_region=core_region,
    )
    return None if found is None else found[0]


def radio_core(
    radio: np.ndarray,
    mask: np.ndarray,
    *,
    noise_sigma: float,
    beam_px: float,
    min_snr: float = 5.0,
    double_min_beams: float = 2.0,
    core_max_fraction: float = 0.25,
    core_region: np.ndarray | None = None,
) -> tuple[tuple[float, float], bool] | None:
    """:func:`radio_core_host` and whether the position is a radio peak.

    Returns
    -------
    ((x, y), is_peak) or None
        ``is_peak`` is False when the position is the midpoint of a double whose core is
        too faint to be a peak (so it is only as good as the lobes' symmetry).
    """
    xy, _ = radio_peaks(radio, mask, noise_sigma=noise_sigma, beam_px=beam_px, min_snr=min_snr)
    if len(xy) == 0:
        return None
    if len(xy) >= 2:
        first, second = _end_peaks(xy, mask, np.nan_to_num(np.asarray(radio, np.float64)))
        separation = float(np.hypot(*(xy[first] - xy[second])))
        if separation > double_min_beams * beam_px:
            midpoint = (xy[first] + xy[second]) / 2.0
            cores = xy
            if core_region is not None:
                cores, _ = radio_peaks(
                    radio, core_region, noise_sigma=noise_sigma, beam_px=beam_px, min_snr=min_snr
                )
            to_mid = np.hypot(*(cores - midpoint).T)
            nearest = int(np.argmin(to_mid)) if len(cores) else -1
            if nearest >= 0 and to_mid[nearest] < core_max_fraction * separation:
                return (float(cores[nearest][0]), float(cores[nearest][1])), True
            return (float(midpoint[0]), float(midpoint[1])), False
    return (float(xy[0][0]), float(xy[0][1])), True


def _end_peaks(xy: np.ndarray, mask: np.ndarray, radio: np.ndarray) -> tuple[int, int]:
    """Indices of the two peaks taken as the ends of a double (``xy`` brightest first).

    For a mask of several parts: the brightest peak of each of the two parts of largest
    integrated flux (the lobes: a compact source the mask absorbed is bright at its peak but
    holds less flux, and a lobe with two hotspots must not pair with itself). Otherwise the
    two brightest peaks.
    """
    from scipy import ndimage

    parts, n_parts = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n_parts > 1:
        flux = ndimage.sum(np.clip(radio, 0.0, None), parts, np.arange(1, n_parts + 1))
        cols, rows = np.rint(xy).astype(int).T
        part_of_peak = parts[rows, cols]
        ends = []
        for part in np.argsort(-flux, kind="stable") + 1:
            found = np.flatnonzero(part_of_peak == part)
            if found.size:
                ends.append(int(found[0]))
            if len(ends) == 2:
                return ends[0], ends[1]
    return 0, 1


def displacement_centre(
    centroids: np.ndarray, cells: np.ndarray, *, stride: int = 4
) -> tuple[float, float] | None:
    """The instance centre of the displacement field, in radio pixels.

    Parameters
    ----------
    centroids : ndarray, shape (2, h, w)
        Converged ``(y, x)`` grid coordinates of every cell
        (:func:`~napari_radiogal.inference.instances.refine_centroids`).
    cells : ndarray of bool, shape (h, w)
        The instance's cells on that grid.
    stride : int
        Pixels per grid cell.

    Returns
    -------
    (x, y) or None
        Mean converged centroid, converted to pixel centres; ``None`` if ``cells`` is empty.
    """
    if not cells.any():
        return None
    y = float(centroids[0][cells].mean())
    x = float(centroids[1][cells].mean())
    return float(grid_to_pixel(x, stride)), float(grid_to_pixel(y, stride))


def sky_position(wcs, x: float, y: float) -> tuple[float | None, float | None]:
    """``(ra, dec)`` in degrees of pixel ``(x, y)`` through a celestial WCS (None, None without)."""
    if wcs is None:
        return None, None
    ra, dec = wcs.pixel_to_world_values(x, y)
    ra, dec = float(ra), float(dec)
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return None, None
    return ra % 360.0, dec
