"""A non-learned baseline: what a careful script does without any training.

1. Noise by the paper's clipped-MAD estimator; islands above 3 sigma with >= 5 px.
2. Islands grouped into sources by proximity (single linkage: two islands whose pixels come
   within ``group_radius_px`` of each other are one source), so disjoint FR-II lobes can
   join.
3. A group is *extended* (kept) when its 5 sigma extent along its major axis exceeds both
   ``min_extent_px`` and ``resolved_factor`` times the extent an unresolved source of the
   same peak would have (a bright point source is large at 5 sigma too); compact sources are
   background, as in the ground truth.
4. Class by the paper's a/b rule (:func:`napari_radiogal.ab_rule.measure_morphology`).
5. Host: the brightest infrared peak within ``host_radius_px`` of the radio flux-weighted
   centroid (IR on the radio grid), or ``None`` when there is no IR peak there.
6. Score: the group's peak signal-to-noise, squashed to (0, 1) by ``1 - exp(-snr / 50)``,
   so brighter sources rank first across images.

It exists to be beaten: the README reports the model's margin over it, evaluated the same way.
Images are ``(row, col)``; positions ``(x, y)`` = ``(col, row)`` in radio pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from napari_radiogal.ab_rule import RESOLVED_FACTOR, is_resolved, measure_morphology
from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme
from napari_radiogal.stats import brightness_centroid, clipped_noise, ir_threshold, islands

__all__ = [
    "BaselineConfig",
    "BaselineSource",
    "baseline_segment",
    "predict_dataset",
]


@dataclass(frozen=True)
class BaselineConfig:
    """Parameters of the non-learned baseline (pixel units of a 2"/px radio grid)."""

    island_sigma: float = 3.0
    min_island_pixels: int = 5
    group_radius_px: float = 12.0
    min_extent_px: float = 14.0
    resolved_factor: float = RESOLVED_FACTOR
    beam_fwhm_px: float = 6.0
    host_radius_px: float = 10.0
    ir_mads: float = 3.0
    score_snr_scale: float = 50.0

    def to_dict(self) -> dict:
        """JSON-ready parameters (for provenance)."""
        return asdict(self)

    @classmethod
    def for_beam(cls, beam_fwhm_px: float, **changes) -> BaselineConfig:
        """The defaults with every length scaled to a beam of ``beam_fwhm_px`` pixels.

        The defaults are tuned for EMU's ~6 px beam on 2"/px pixels; grouping radius,
        minimum extent and host search radius are fixed multiples of the beam, so on other
        grids (FIRST ~3 px, RACS ~10 px) they keep their meaning. ``for_beam(6.0)`` is the
        default configuration.

        Examples
        --------
        >>> BaselineConfig.for_beam(6.0) == BaselineConfig()
        True
        >>> BaselineConfig.for_beam(3.0).group_radius_px
        6.0
        """
        f = float(beam_fwhm_px) / cls.beam_fwhm_px
        scaled = {
            "group_radius_px": cls.group_radius_px * f,
            "min_extent_px": cls.min_extent_px * f,
            "beam_fwhm_px": cls.beam_fwhm_px * f,
            "host_radius_px": cls.host_radius_px * f,
        }
        return cls(**{**scaled, **changes})


@dataclass(frozen=True)
class BaselineSource:
    """One extended source found by the baseline.

    Attributes
    ----------
    mask : ndarray of bool, shape (H, W)
    category_id : int
    score : float
        In (0, 1), monotonic in peak signal-to-noise.
    host : tuple of float or None
        ``(x, y)`` radio pixels.
    """

    mask: np.ndarray
    category_id: int
    score: float
    host: tuple[float, float] | None


def group_islands(labels: np.ndarray, radius_px: float) -> np.ndarray:
    """Merge islands that come within ``radius_px`` of each other (single linkage).

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Island labels, 0 = background.
    radius_px : float
        Islands whose pixels are closer than this (pixel centres) are grouped.

    Returns
    -------
    ndarray of int32, shape (H, W)
        Group labels 1..n on the island pixels, 0 elsewhere.
    """
    if labels.max() == 0:
        return labels.astype(np.int32)
    # Dilating every island by radius/2 makes two islands touch exactly when their
    # pixels are within ~radius of each other.
    half = max(1, int(math.ceil(radius_px / 2.0)))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    disk = (xx**2 + yy**2) <= (radius_px / 2.0) ** 2
    grown = ndimage.binary_dilation(labels > 0, structure=disk)
    groups, _ = ndimage.label(grown, structure=np.ones((3, 3), bool))
    out = np.where(labels > 0, groups, 0).astype(np.int32)
    # Relabel consecutively.
    ids = np.unique(out[out > 0])
    lut = np.zeros(int(out.max()) + 1, dtype=np.int32)
    lut[ids] = np.arange(1, ids.size + 1, dtype=np.int32)
    return lut[out]


def brightest_ir_peak(
    ir: np.ndarray, centre_xy: tuple[float, float], radius_px: float, threshold: float
) -> tuple[float, float] | None:
    """The brightest IR local maximum above ``threshold`` within ``radius_px`` of a point.

    Returns ``(x, y)`` refined to sub-pixel by the intensity-weighted centroid of its 3 x 3
    neighbourhood, or ``None``.
    """
    h, w = ir.shape
    x0, y0 = centre_xy
    r = int(math.ceil(radius_px)) + 1
    r0, r1 = max(0, int(y0) - r), min(h, int(y0) + r + 2)
    c0, c1 = max(0, int(x0) - r), min(w, int(x0) + r + 2)
    if r0 >= r1 or c0 >= c1:
        return None
    sub = np.nan_to_num(ir[r0:r1, c0:c1], nan=-np.inf)
    peaks = (sub == ndimage.maximum_filter(sub, size=3, mode="nearest")) & (sub > threshold)
    rows, cols = np.nonzero(peaks)
    if rows.size == 0:
        return None
    dist2 = (cols + c0 - x0) ** 2 + (rows + r0 - y0) ** 2
    near = dist2 <= radius_px**2
    if not near.any():
        return None
    rows, cols = rows[near], cols[near]
    k = int(np.argmax(sub[rows, cols]))
    pr, pc = rows[k] + r0, cols[k] + c0
    return _weighted_centroid(np.nan_to_num(ir, nan=0.0), int(pr), int(pc))


def _is_resolved(extent_px: float, peak_snr: float, config: BaselineConfig) -> bool:
    return is_resolved(
        extent_px,
        peak_snr,
        config.beam_fwhm_px,
        min_extent_px=config.min_extent_px,
        resolved_factor=config.resolved_factor,
    )


def _has_resolved_island(
    radio: np.ndarray, sigma: float, isl: np.ndarray, group: np.ndarray, config: BaselineConfig
) -> bool:
    """Whether at least one island of a group is itself larger than a point source."""
    ids = np.unique(isl[group])
    ids = ids[ids > 0]
    if ids.size <= 1:
        return True
    for i in ids:
        own = isl == i
        morph = measure_morphology(radio, sigma, own)
        if morph.category is None:
            continue
        if _is_resolved(morph.b_px, float(np.nanmax(radio[own]) / sigma), config):
            return True
    return False


def _weighted_centroid(image: np.ndarray, row: int, col: int) -> tuple[float, float]:
    h, w = image.shape
    r0, r1, c0, c1 = max(0, row - 1), min(h, row + 2), max(0, col - 1), min(w, col + 2)
    patch = np.clip(image[r0:r1, c0:c1], 0, None)
    total = patch.sum()
    if total <= 0:
        return float(col), float(row)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    return float((xx * patch).sum() / total), float((yy * patch).sum() / total)


def baseline_segment(
    radio: np.ndarray,
    infrared: np.ndarray | None = None,
    *,
    config: BaselineConfig = BaselineConfig(),
    scheme: ClassScheme = RADIOGALAXYNET,
) -> list[BaselineSource]:
    """Find extended sources, their classes and hosts without any learning.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Radio image in Jy/beam, NaN for blanked pixels.
    infrared : ndarray, shape (H, W), optional
        Infrared image on the radio grid (any linear unit). Without it every host is ``None``.
    config : BaselineConfig
    scheme : ClassScheme
        Must contain the names FR-I, FR-II, FR-X and R.

    Returns
    -------
    list of BaselineSource
        Sorted by score, best first.
    """
    radio = np.asarray(radio, dtype=np.float64)
    sigma = clipped_noise(radio)
    if not np.isfinite(sigma) or sigma <= 0:
        return []
    isl = islands(radio, config.island_sigma * sigma, min_pixels=config.min_island_pixels)
    groups = group_islands(isl, config.group_radius_px)
    ir_thr = None
    if infrared is not None:
        ir_thr = ir_threshold(infrared, n_mad=config.ir_mads)
    found: list[BaselineSource] = []
    for index, region in enumerate(ndimage.find_objects(groups), start=1):
        if region is None:
            continue
        mask = np.zeros(radio.shape, dtype=bool)
        mask[region] = groups[region] == index
        morph = measure_morphology(radio, sigma, mask)
        if morph.category is None:
            continue
        peak_snr = float(np.nanmax(radio[mask]) / sigma)
        if not _is_resolved(morph.b_px, peak_snr, config):
            continue
        if not _has_resolved_island(radio, sigma, isl, mask, config):
            # A chance pair of point sources: grouped, but no member is itself resolved.
            continue
        centre = brightness_centroid(radio, mask)
        host = None
        if infrared is not None and ir_thr is not None and np.isfinite(ir_thr):
            host = brightest_ir_peak(infrared, centre, config.host_radius_px, ir_thr)
        score = 1.0 - math.exp(-peak_snr / config.score_snr_scale)
        found.append(BaselineSource(mask, scheme.id_of_name(morph.category), score, host))
    found.sort(key=lambda s: -s.score)
    return found


def predict_dataset(json_path, *, scale_to_beam: bool = False):
    """The baseline's COCO predictions for every image of a COCO data set of FITS files.

    Parameters
    ----------
    json_path : path-like
        COCO file naming radio (and IR) FITS files (read as ``radiogal predict --data`` does).
    scale_to_beam : bool
        Scale the baseline's lengths to each image's beam (:meth:`BaselineConfig.for_beam`);
        False uses the defaults (tuned for a 6 px beam).

    Returns
    -------
    CocoDataset
        The data set's images with the baseline's instances (scores, classes, hosts).
    """
    import warnings

    from napari_radiogal.annotations import CocoDataset, Instance
    from napari_radiogal.inference import inputs_from_coco
    from napari_radiogal.io.align import reproject_to_grid
    from napari_radiogal.io.coco import read_coco

    gt = read_coco(json_path)
    pred = CocoDataset(images=gt.images, scheme=gt.scheme, info={"method": "baseline"})
    for item in inputs_from_coco(json_path, gt):
        radio = item.radio
        config = BaselineConfig()
        if scale_to_beam and radio.beam is not None and radio.pixel_scale_arcsec:
            beam_arcsec = 3600.0 * math.sqrt(radio.beam.major_deg * radio.beam.minor_deg)
            config = BaselineConfig.for_beam(beam_arcsec / radio.pixel_scale_arcsec)
        ir_data = None
        if item.infrared is not None:
            with warnings.catch_warnings():  # partial IR coverage: NaN outside, as in predict
                warnings.simplefilter("ignore")
                ir_data = reproject_to_grid(item.infrared, radio).data
        for src in baseline_segment(radio.data, ir_data, config=config):
            pred.instances.append(
                Instance.from_mask(
                    src.mask,
                    image_id=item.image_id,
                    category_id=src.category_id,
                    host=src.host,
                    score=src.score,
                )
            )
    return pred
