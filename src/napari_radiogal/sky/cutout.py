"""One simulated cut-out: radio image, W1 image on its own grid, and ground truth.

The recipe of :func:`simulate_cutout`, in order (every random number comes from the one
``numpy.random.Generator`` passed in, so a seed fixes everything):

0. the cut-out's own geometry and crowding when the sky varies them (``pixels_per_beam``,
   ``compact_density_scale``; see :func:`cutout_config`);
1. image RMS target (25-35 uJy/beam), beam position angle, WCS, beam-correlated unit noise;
2. unrelated compact sources at EMU-PS density;
3. one extended source (two in ``second_source_fraction`` of cut-outs); each is drawn for an
   intended class and a shape family, and redrawn / nudged until the class *measured on the
   noisy image* matches (at most ``max_tries`` times; the label is always the measured class);
4. unrelated compact sources dropped on top of some extended sources, optional artefacts,
   large-scale ripple and background offset;
5. noise scaled so that the paper's estimator reads the target RMS;
6. final labels: mask, class, host check (a faint radio core is added when a host would lie
   more than a beam from its mask, as happens for disjoint lobes);
7. the W1 image with a host at every core.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme
from napari_radiogal.sky.compact import (
    CompactSources,
    draw_compact_sources,
    draw_power_law,
    render_compact,
)
from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.headers import draw_radio_wcs, radio_header, two_d_header
from napari_radiogal.sky.infrared import HostRequest, InfraredSky, simulate_infrared
from napari_radiogal.sky.labels import (
    Morphology,
    count_components,
    distance_to_mask,
    measure_morphology,
    ownership,
    truth_mask,
)
from napari_radiogal.sky.morphology import (
    CompactRecipe,
    Components,
    DoubleRecipe,
    apply_family,
    arm_path,
    build_components,
    draw_recipe,
    retarget,
)
from napari_radiogal.sky.noise import (
    background_offset,
    calibrate_noise_scale,
    correlated_noise,
    ripple,
    sidelobe_rings,
    stripes,
)
from napari_radiogal.sky.render import (
    FWHM_TO_SIGMA,
    beam_covariance,
    gaussian_covariance,
    peak_for_flux,
    render_gaussians,
)
from napari_radiogal.stats import clipped_noise

__all__ = [
    "TruthSource",
    "SimulatedCutout",
    "simulate_cutout",
    "cutout_config",
    "relabel",
    "demo_cutout",
    "DEMO_SEED",
]

log = logging.getLogger(__name__)

_DOUBLES = ("FR-I", "FR-II", "FR-X")


@dataclass
class TruthSource:
    """Ground truth of one extended radio source on a simulated cut-out.

    Attributes
    ----------
    mask : ndarray of bool (H, W)
        Pixels above 3 sigma that belong to the source (all components).
    category : str
        Class measured with the paper's a/b rule on the noisy image.
    category_id : int
        Its COCO id in ``scheme``.
    host : (x, y)
        Host galaxy position, radio pixels (sub-pixel, ``x`` = column).
    host_ra, host_dec : float
        Host position, degrees (ICRS-like FK5 J2000 of the header).
    morphology : Morphology
        The measurement (a, b, peaks, axis) behind the class.
    intended : str
        The class the generator aimed at (differs from ``category`` when it missed).
    n_components : int
        8-connected components of the mask.
    peak_snr : float
        Peak of the noiseless model over the image RMS.
    las_arcsec : float
        Extent of the 5 sigma region along its axis (``b``), arcsec.
    host_w1_mag : float
        Final W1 magnitude of the host (Vega).
    flags : tuple of str
        Difficulties present: ``bent``, ``disconnected``, ``diffuse``, ``overlap``, ``edge``,
        ``second``, ``faint_host``, ``bright_ir_neighbour``, ``core_added``, ...
    tries : int
        Builds needed to reach the intended class.
    model : ndarray (H, W) float64
        The source's noiseless beam-convolved model, Jy/beam.
    """

    mask: np.ndarray
    category: str
    category_id: int
    host: tuple[float, float]
    host_ra: float
    host_dec: float
    morphology: Morphology
    intended: str
    n_components: int
    peak_snr: float
    las_arcsec: float
    host_w1_mag: float
    flags: tuple[str, ...]
    tries: int
    model: np.ndarray = field(repr=False)

    def to_instance(self, image_id: int, *, pixel_scale_arcsec: float = 2.0) -> Instance:
        """The COCO instance (RLE mask, host keypoint, class) with simulator metadata."""
        m = self.morphology
        extra = {
            "sim": {
                "intended": self.intended,
                "a_arcsec": round(m.a_px * pixel_scale_arcsec, 3),
                "b_arcsec": round(m.b_px * pixel_scale_arcsec, 3),
                "ratio": None if not math.isfinite(m.ratio) else round(m.ratio, 4),
                "n_components": self.n_components,
                "peak_snr": round(self.peak_snr, 2),
                "host_w1_mag": round(self.host_w1_mag, 3),
                "flags": list(self.flags),
            }
        }
        return Instance.from_mask(
            self.mask,
            image_id=image_id,
            category_id=self.category_id,
            host=(round(self.host[0], 4), round(self.host[1], 4)),
            host_ra=round(self.host_ra, 8),
            host_dec=round(self.host_dec, 8),
            extra=extra,
        )


@dataclass
class SimulatedCutout:
    """A simulated radio cut-out, its W1 image, and the ground truth.

    Attributes
    ----------
    radio : RadioImage
        Jy/beam, ``(H, W)`` float32, 2-D celestial WCS, beam, 943.5 MHz.
    infrared : InfraredImage
        W1 on its own grid (AllWISE or unWISE style).
    truth : list of TruthSource
    noise_sigma : float
        The paper's clipped-MAD RMS of ``radio.data``, Jy/beam.
    model : ndarray (H, W) float32
        Noiseless sky (extended + compact + artefacts), Jy/beam.
    compact : CompactSources
        The unrelated compact sources (no annotation, as in the paper).
    compact_model : ndarray (H, W) float64
        Their noiseless beam-convolved image, Jy/beam (used to decide which pixels an
        extended source owns; see :func:`relabel`).
    radio_fits_header : astropy.io.fits.Header
        The ASKAP-style 4-axis header used when writing the FITS file.
    infrared_fits_header : astropy.io.fits.Header
        The W1 header used when writing the FITS file.
    meta : dict
        Image-level facts: IR style, artefact kind, beam, target RMS.
    config : SkyConfig or None
        The cut-out's own configuration (:func:`cutout_config`: its drawn pixel size, beam
        and compact density), which :func:`relabel` needs.
    """

    radio: Any
    infrared: Any
    truth: list[TruthSource]
    noise_sigma: float
    model: np.ndarray = field(repr=False)
    compact: CompactSources = field(repr=False)
    compact_model: np.ndarray = field(repr=False)
    radio_fits_header: Any = field(repr=False)
    infrared_fits_header: Any = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)
    config: SkyConfig | None = field(default=None, repr=False)

    def to_instances(self, image_id: int) -> list[Instance]:
        """One COCO :class:`~napari_radiogal.annotations.Instance` per truth source."""
        scale = float(self.radio.pixel_scale_arcsec or 2.0)
        return [t.to_instance(image_id, pixel_scale_arcsec=scale) for t in self.truth]

    def to_image_record(
        self,
        image_id: int,
        *,
        file_name: str,
        radio_file: str | None = None,
        ir_file: str | None = None,
    ) -> ImageRecord:
        """The COCO image entry (paths relative to the data set root)."""
        beam = self.radio.beam
        return ImageRecord(
            id=image_id,
            file_name=file_name,
            height=self.radio.shape[0],
            width=self.radio.shape[1],
            radio_file=radio_file if radio_file is not None else file_name,
            ir_file=ir_file,
            radio_wcs=self.radio.wcs.to_header_string(relax=True),
            beam=None if beam is None else tuple(float(b) for b in beam),
            noise_sigma=float(self.noise_sigma),
            extra={"sim": dict(self.meta)},
        )

    @property
    def categories(self) -> list[str]:
        """Measured classes of the truth sources."""
        return [t.category for t in self.truth]


# ---------------------------------------------------------------------------------------
# Source state during generation
# ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    recipe: DoubleRecipe | CompactRecipe
    intended: str
    snr: float
    diffuse_plan: list[tuple[int | None, float, float, float, float, float]]
    model: np.ndarray
    core_xy: tuple[float, float]
    tries: int
    flags: set[str]
    las_px: float


def simulate_cutout(
    rng: np.random.Generator,
    config: SkyConfig = SkyConfig(),  # noqa: B008 - frozen, safe as a default
    *,
    intended: list[str] | None = None,
    primary: str | None = None,
    scheme: ClassScheme = RADIOGALAXYNET,
) -> SimulatedCutout:
    """Draw one EMU-like radio cut-out, its W1 image and the ground truth.

    Parameters
    ----------
    rng : numpy.random.Generator (or an int seed / SeedSequence)
        The only source of randomness: the same generator state gives the same cut-out.
    config : SkyConfig
        Sky, difficulty and labelling parameters.
    intended : list of str, optional
        Force the intended classes of the extended sources (their number too); drawn from
        ``config.class_mix`` otherwise.
    primary : str, optional
        Force only the intended class of the main source (whether there is a second source,
        and its class, are still drawn). :func:`~napari_radiogal.sky.write_dataset` uses it
        to hit the class mix exactly per split.
    scheme : ClassScheme
        Category ids of the classes (RadioGalaxyNET's by default).

    Returns
    -------
    SimulatedCutout
    """
    from napari_radiogal.io.fits import Beam, InfraredImage, RadioImage

    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    cfg = cutout_config(rng, config)
    shape = (cfg.size, cfg.size)
    px = cfg.pixel_scale_arcsec
    # The target stays 0.5 % inside the range: the noise calibration is solved to 0.2 %.
    lo, hi = cfg.noise_ujy
    sigma_t = float(np.clip(rng.uniform(lo, hi), lo * 1.005, hi * 0.995)) * 1e-6
    if lo == hi:
        sigma_t = lo * 1e-6
    bpa = float(rng.uniform(-90.0, 90.0)) if cfg.beam_pa_deg is None else float(cfg.beam_pa_deg)
    beam_cov = beam_covariance(cfg.beam_major_arcsec, cfg.beam_minor_arcsec, bpa, px)
    beam_fwhm_px = math.sqrt(cfg.beam_major_arcsec * cfg.beam_minor_arcsec) / px
    wcs = draw_radio_wcs(
        rng, cfg.size, px, cfg.ra_range_deg, cfg.dec_range_deg, cfg.parent_tile_wcs_fraction
    )
    unit_noise = correlated_noise(rng, shape, beam_cov)
    compact = draw_compact_sources(rng, cfg, shape)
    compact_img = render_compact(compact, beam_cov, shape)

    if intended is None:
        weights = cfg.class_weights
        names, probs = list(weights), np.array(list(weights.values()))
        n_ext = 2 if rng.random() < cfg.second_source_fraction else 1
        intended = [names[int(rng.choice(len(names), p=probs))] for _ in range(n_ext)]
        if primary is not None:
            intended[0] = primary
    unit_reading = clipped_noise(unit_noise)
    noise0 = (sigma_t / unit_reading) * unit_noise

    sources: list[_Source] = []
    models: list[np.ndarray] = []
    for k, cls in enumerate(intended):
        host, edge = _place_host(rng, cfg, k, sources)
        base = compact_img + noise0
        for m in models:
            base = base + m
        src = _generate_source(
            rng, cfg, cls, host, base, models, compact_img, sigma_t, beam_cov, beam_fwhm_px
        )
        if edge:
            src.flags.add("edge")
        if k > 0:
            src.flags.add("second")
        sources.append(src)
        models.append(src.model)
        if rng.random() < cfg.overlap_compact_fraction:
            extra = _overlapping_compact(rng, src, sigma_t, beam_fwhm_px, shape)
            if len(extra):
                src.flags.add("overlap")
                compact = compact.extend(extra)
                render_compact(extra, beam_cov, shape, out=compact_img)

    artefacts = np.zeros(shape)
    artefact_kind = None
    if rng.random() < cfg.artefact_fraction:
        total = compact_img + sum(models)
        iy, ix = np.unravel_index(int(np.argmax(total)), shape)
        peak = float(total[iy, ix])
        if peak > 50.0 * sigma_t and rng.random() < 0.6:
            artefacts = sidelobe_rings(
                rng, shape, float(ix), float(iy), peak, beam_cov, cfg.sidelobe_amplitude
            )
            artefact_kind = "sidelobe_rings"
        else:
            artefacts = stripes(rng, shape, sigma_t, beam_cov, cfg.stripe_amplitude_sigma)
            artefact_kind = "stripes"
    # Only drawn when switched on, so skies without them keep their random stream.
    if cfg.ripple_fraction > 0 and rng.random() < cfg.ripple_fraction:
        artefacts = artefacts + ripple(rng, shape, sigma_t)
    if cfg.background_offset_sigma > 0:
        artefacts = artefacts + background_offset(rng, shape, sigma_t, cfg.background_offset_sigma)

    # Noise scaled on the final sky; labels measured; cores added where a host would be
    # more than a beam from its mask; repeat until every host is close to its mask.
    scale = calibrate_noise_scale(
        compact_img + sum(models) + artefacts, unit_noise, sigma_t, unit_reading=unit_reading
    )
    max_host_px = cfg.host_max_distance_beams * cfg.beam_major_arcsec / px
    for attempt in range(5):
        sky = compact_img + sum(models) + artefacts
        # Measure on exactly the float32 values that are written, so a file's labels can
        # be re-derived from the file itself.
        image = (sky + scale * unit_noise).astype(np.float32).astype(np.float64)
        sigma = clipped_noise(image)
        labels = [_label(image, sigma, models, k, compact_img, cfg) for k in range(len(sources))]
        far = [
            k
            for k, (mask, _m) in enumerate(labels)
            if distance_to_mask(mask, *sources[k].core_xy) > max_host_px
        ]
        if not far or attempt == 4:
            break
        for k in far:
            _add_core(rng, sources[k], models, k, sigma, beam_cov, shape, attempt)
            if attempt >= 1:
                compact, compact_img = _clear_compact_near(
                    compact, sources[k].core_xy, 2.0 * beam_fwhm_px, beam_cov, shape
                )

    # Infrared.
    centre = wcs.pixel_to_world_values((cfg.size - 1) / 2.0, (cfg.size - 1) / 2.0)
    requests = []
    kept = []
    for k, (mask, morph) in enumerate(labels):
        if morph.category is None or not mask.any():
            log.debug("dropping source %d: nothing above %g sigma it owns", k, cfg.contour_sigma)
            continue
        kept.append(k)
        hx, hy = sources[k].core_xy
        ra, dec = (float(v) for v in wcs.pixel_to_world_values(hx, hy))
        rows, cols = np.nonzero(mask)
        pick = np.linspace(0, rows.size - 1, min(rows.size, 200)).astype(int)
        em = np.column_stack(wcs.pixel_to_world_values(cols[pick], rows[pick]))
        faint = bool(rng.random() < cfg.faint_host_fraction)
        neighbour = bool(rng.random() < cfg.bright_ir_neighbour_fraction)
        requests.append(HostRequest(ra, dec, em, faint=faint, bright_neighbour=neighbour))
    ir = simulate_infrared(rng, cfg, float(centre[0]), float(centre[1]), requests)

    truth = []
    for j, k in enumerate(kept):
        mask, morph = labels[k]
        src = sources[k]
        req = requests[j]
        flags = set(src.flags)
        if req.faint:
            flags.add("faint_host")
        if ir.neighbour_radec[j] is not None:
            flags.add("bright_ir_neighbour")
        if mask[0, :].any() or mask[-1, :].any() or mask[:, 0].any() or mask[:, -1].any():
            flags.add("touches_edge")
        n_comp = count_components(mask)
        if n_comp > 1:
            flags.add("multi_component")
        truth.append(
            TruthSource(
                mask=mask,
                category=morph.category,
                category_id=scheme.id_of_name(morph.category),
                host=src.core_xy,
                host_ra=req.ra,
                host_dec=req.dec,
                morphology=morph,
                intended=src.intended,
                n_components=n_comp,
                peak_snr=float(models[k].max() / sigma),
                las_arcsec=float(morph.b_px * px),
                host_w1_mag=float(ir.host_mag[j]),
                flags=tuple(sorted(flags)),
                tries=src.tries,
                model=models[k],
            )
        )

    beam = Beam(cfg.beam_major_arcsec / 3600.0, cfg.beam_minor_arcsec / 3600.0, bpa)
    header4 = radio_header(wcs, shape, beam_deg=tuple(beam), frequency_hz=cfg.frequency_hz)
    data = image.astype(np.float32)
    radio = RadioImage(
        data=data,
        wcs=wcs,
        beam=beam,
        frequency_hz=cfg.frequency_hz,
        unit="Jy/beam",
        pixel_scale_arcsec=px,
        header=two_d_header(header4, shape, frequency_hz=cfg.frequency_hz),
    )
    infrared = _infrared_image(ir, InfraredImage)
    meta = {
        "ir_style": ir.style.name,
        "ir_pixel_noise": float(ir.pixel_noise),
        "ir_sources": int(ir.n_sources),
        "artefact": artefact_kind,
        "target_noise": sigma_t,
        "n_compact": len(compact),
        "n_compact_5sigma": int(np.sum(compact.flux_jy > 5.0 * sigma)),
    }
    return SimulatedCutout(
        radio=radio,
        infrared=infrared,
        truth=truth,
        noise_sigma=float(sigma),
        model=sky.astype(np.float32),
        compact=compact,
        compact_model=compact_img,
        radio_fits_header=header4,
        infrared_fits_header=ir.header,
        meta=meta,
        config=cfg,
    )


def cutout_config(rng: np.random.Generator, config: SkyConfig) -> SkyConfig:
    """The configuration of one cut-out: geometry and crowding drawn where the sky varies them.

    With ``pixels_per_beam`` set, the pixel size (``pixel_scale_range_arcsec``), the beam
    axis ratio (``beam_axis_ratio``) and the beam FWHM in pixels (log-uniform) are drawn and
    written into ``pixel_scale_arcsec`` / ``beam_major_arcsec`` / ``beam_minor_arcsec`` of the
    result; with ``compact_density_scale`` other than ``(1, 1)`` the compact density is scaled
    by a log-uniform factor. Otherwise ``config`` is returned as is and no random number is
    drawn (so the default sky keeps its random stream).

    Parameters
    ----------
    rng : numpy.random.Generator
    config : SkyConfig

    Returns
    -------
    SkyConfig
        Without ranges left to draw (``pixels_per_beam`` etc. are None in it).
    """
    changes: dict[str, Any] = {}
    if config.pixels_per_beam is not None:
        px = config.pixel_scale_arcsec
        if config.pixel_scale_range_arcsec is not None:
            px = _log_uniform(rng, config.pixel_scale_range_arcsec)
        ratio = config.beam_minor_arcsec / config.beam_major_arcsec
        if config.beam_axis_ratio is not None:
            ratio = float(rng.uniform(*config.beam_axis_ratio))
        fwhm = _log_uniform(rng, config.pixels_per_beam) * px  # geometric-mean FWHM, arcsec
        changes.update(
            pixel_scale_arcsec=px,
            beam_major_arcsec=fwhm / math.sqrt(ratio),
            beam_minor_arcsec=fwhm * math.sqrt(ratio),
            pixels_per_beam=None,
            pixel_scale_range_arcsec=None,
            beam_axis_ratio=None,
        )
    if tuple(config.compact_density_scale) != (1.0, 1.0):
        factor = _log_uniform(rng, config.compact_density_scale)
        changes.update(
            compact_density_per_deg2=config.compact_density_per_deg2 * factor,
            compact_density_scale=(1.0, 1.0),
        )
    return config.replace(**changes) if changes else config


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _infrared_image(ir: InfraredSky, cls):
    header = two_d_header(ir.header, ir.data.shape)
    return cls(
        data=ir.data,
        wcs=ir.wcs,
        unit=ir.style.unit,
        pixel_scale_arcsec=ir.style.pixel_scale_arcsec,
        magzp=ir.style.magzp if ir.style.writes_magzp else None,
        header=header,
    )


# ---------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------
def _place_host(
    rng: np.random.Generator, cfg: SkyConfig, k: int, previous: list[_Source]
) -> tuple[tuple[float, float], bool]:
    """Host position of the k-th extended source and whether it was put near an edge."""
    n = cfg.size
    lo, hi = 4.0, n - 5.0
    if k == 0:
        if rng.random() < cfg.edge_fraction:
            depth = rng.uniform(4.0, 0.15 * n)
            along = rng.uniform(0.1 * n, 0.9 * n)
            side = int(rng.integers(4))
            x, y = [(depth, along), (n - 1 - depth, along), (along, depth), (along, n - 1 - depth)][
                side
            ]
            return (float(x), float(y)), True
        sd = cfg.centre_offset_arcsec / cfg.pixel_scale_arcsec
        x, y = (n - 1) / 2.0 + rng.normal(0.0, sd, 2)
        return (float(np.clip(x, lo, hi)), float(np.clip(y, lo, hi))), False
    # A further source: anywhere, but not on top of an earlier one. The farthest of the
    # candidates wins even when every one lies inside an earlier, very large source (a start
    # at -1 instead of -inf left no position at all then).
    best, best_d = (float(n / 2), float(n / 2)), -math.inf
    for _ in range(30):
        x, y = rng.uniform(0.08 * n, 0.92 * n, 2)
        d = min(math.hypot(x - s.core_xy[0], y - s.core_xy[1]) - 0.35 * s.las_px for s in previous)
        if d > best_d:
            best, best_d = (float(x), float(y)), d
        if d > 0.12 * n:
            break
    return best, False


# ---------------------------------------------------------------------------------------
# One extended source with class rejection
# ---------------------------------------------------------------------------------------
def _draw_las_px(rng: np.random.Generator, cfg: SkyConfig, cls: str) -> float:
    lo, hi = cfg.r_size_arcmin if cls == "R" else cfg.size_arcmin
    arcmin = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return arcmin * 60.0 / cfg.pixel_scale_arcsec


def _generate_source(
    rng: np.random.Generator,
    cfg: SkyConfig,
    intended: str,
    host: tuple[float, float],
    base: np.ndarray,
    others: list[np.ndarray],
    compact_img: np.ndarray,
    sigma: float,
    beam_cov: np.ndarray,
    beam_fwhm_px: float,
) -> _Source:
    """Draw a source for ``intended`` until the class measured on the noisy image matches."""
    shape = base.shape
    recipe = None
    retargets = 0
    result = None
    # One family per source: redraws keep it, so the family mix is not biased toward the
    # families that hit the intended class most easily.
    family = _draw_family(rng, cfg, intended)
    for attempt in range(1, cfg.max_tries + 1):
        if recipe is None:
            las = _draw_las_px(rng, cfg, intended)
            recipe = draw_recipe(
                rng,
                intended,
                host,
                las,
                beam_fwhm_px=beam_fwhm_px,
                bent_fraction=cfg.bent_fraction,
                disconnected_lobe_fraction=cfg.disconnected_lobe_fraction,
            )
            recipe = apply_family(rng, recipe, family)
            snr = math.exp(rng.uniform(*np.log(cfg.snr_range)))
            plan = _draw_diffuse_plan(rng, cfg, recipe)
            retargets = 0
        model = _render_source(recipe, snr * sigma, plan, sigma, beam_cov, shape)
        own = ownership(
            [*others, model], len(others), sigma, compact=compact_img, model_sigma=cfg.model_sigma
        )
        morph = measure_morphology(
            base + model,
            sigma,
            own,
            contour_sigma=cfg.contour_sigma,
            peak_footprint=_footprint(beam_fwhm_px),
            fr1_max=cfg.fr1_max_ratio,
            fr2_min=cfg.fr2_min_ratio,
        )
        flags = set(recipe.flags) | ({"diffuse"} if plan else set())
        result = _Source(
            recipe, intended, snr, plan, model, recipe.host, attempt, flags, recipe.las
        )
        if morph.category == intended:
            break
        if isinstance(recipe, DoubleRecipe) and morph.category in _DOUBLES and retargets < 3:
            recipe = retarget(recipe, morph.ratio)
            retargets += 1
        else:
            recipe = None
    return result


def _draw_family(rng: np.random.Generator, cfg: SkyConfig, intended: str) -> str:
    """Shape family of a new source (no random number for R or with a single family)."""
    if intended == "R":
        return "classic"
    weights = cfg.family_weights
    if len(weights) == 1:
        return next(iter(weights))
    names = list(weights)
    return names[int(rng.choice(len(names), p=np.array(list(weights.values()))))]


def _footprint(beam_fwhm_px: float) -> int:
    """Odd window (about one beam) within which a pixel must be the maximum to be a peak."""
    return max(3, int(round(beam_fwhm_px)) | 1)


def _draw_diffuse_plan(rng: np.random.Generator, cfg: SkyConfig, recipe) -> list:
    """Faint diffuse emission: (arm or None, position along arm, FWHM / LAS, axis ratio,
    angle offset, peak in sigma) per blob."""
    if rng.random() >= cfg.diffuse_fraction:
        return []
    plan = []
    for _ in range(int(rng.integers(1, 4))):
        arm = None if isinstance(recipe, CompactRecipe) else int(rng.integers(2))
        plan.append(
            (
                arm,
                rng.uniform(0.2, 1.0),
                rng.uniform(0.15, 0.4),
                rng.uniform(1.0, 2.5),
                rng.normal(0.0, 0.3),
                rng.uniform(1.0, 3.0),
            )
        )
    return plan


def _render_source(
    recipe, peak: float, plan: list, sigma: float, beam_cov: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Noiseless beam-convolved model of one source, scaled to ``peak`` Jy/beam."""
    comps, _ = build_components(recipe)
    model = _render_components(comps, beam_cov, shape)
    top = float(model.max())
    if top <= 0:
        # Entirely outside the image: nothing to scale; keep it empty.
        return model
    model *= peak / top
    if plan:
        model += _render_diffuse(recipe, plan, sigma, beam_cov, shape)
    return model


def _render_components(
    comps: Components, beam_cov: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    cov = gaussian_covariance(comps.sigma_major, comps.sigma_minor, comps.theta) + beam_cov
    amp = peak_for_flux(comps.flux, cov, beam_cov)
    return render_gaussians(shape, comps.x, comps.y, cov, amp)


def _render_diffuse(
    recipe, plan: list, sigma: float, beam_cov: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    out = np.zeros(shape)
    las = recipe.las
    for arm, t, size, ratio, dangle, snr in plan:
        if arm is None:
            x, y = recipe.host
            angle = recipe.theta + dangle
        else:
            length = recipe.arm_length[arm]
            px_, py_, tangent = arm_path(
                recipe.host,
                recipe.arm_angle[arm],
                length,
                recipe.bend[arm],
                recipe.bend_power,
                np.array([t * length]),
            )
            x, y, angle = float(px_[0]), float(py_[0]), float(tangent[0]) + dangle
        smaj = max(2.0, size * las * FWHM_TO_SIGMA)
        cov = gaussian_covariance(smaj, smaj / ratio, angle)[0] + beam_cov
        # Peak surface brightness of the blob after the beam: snr * sigma.
        render_gaussians(shape, [x], [y], cov[None], [snr * sigma], out=out)
    return out


def relabel(
    cutout: SimulatedCutout, config: SkyConfig | None = None
) -> list[tuple[np.ndarray, Morphology]]:
    """Masks and classes of a cut-out's sources, measured again from its image and models.

    With the configuration it was simulated with this reproduces ``cutout.truth`` exactly;
    with other labelling values (``contour_sigma``, ``mask_sigma``, ``model_sigma``,
    ``fr1_max_ratio``, ``fr2_min_ratio``, ``mask_min_pixels``) it relabels the same sky
    without simulating it again. The pixel size and beam are always the cut-out's own.

    Returns
    -------
    list of (mask, Morphology)
        One per truth source, same order.
    """
    cfg = config if config is not None else SkyConfig()
    own = cutout.config
    if own is not None:
        cfg = cfg.replace(
            pixel_scale_arcsec=own.pixel_scale_arcsec,
            beam_major_arcsec=own.beam_major_arcsec,
            beam_minor_arcsec=own.beam_minor_arcsec,
        )
    image = cutout.radio.data.astype(np.float64)
    models = [t.model for t in cutout.truth]
    return [
        _label(image, cutout.noise_sigma, models, k, cutout.compact_model, cfg)
        for k in range(len(models))
    ]


def _label(image, sigma, models, k, compact_img, cfg) -> tuple[np.ndarray, Morphology]:
    own = ownership(models, k, sigma, compact=compact_img, model_sigma=cfg.model_sigma)
    mask = truth_mask(image, sigma, own, mask_sigma=cfg.mask_sigma, min_pixels=cfg.mask_min_pixels)
    beam_fwhm_px = math.sqrt(cfg.beam_major_arcsec * cfg.beam_minor_arcsec) / cfg.pixel_scale_arcsec
    morph = measure_morphology(
        image,
        sigma,
        own,
        contour_sigma=cfg.contour_sigma,
        peak_footprint=_footprint(beam_fwhm_px),
        fr1_max=cfg.fr1_max_ratio,
        fr2_min=cfg.fr2_min_ratio,
    )
    return mask, morph


def _add_core(
    rng,
    src: _Source,
    models: list[np.ndarray],
    k: int,
    sigma: float,
    beam_cov: np.ndarray,
    shape,
    attempt: int,
) -> None:
    """Add (or strengthen) a point-like radio core at the host: 5-8 sigma, more if needed."""
    peak = rng.uniform(5.0, 8.0) * sigma * (1.0 + 0.5 * attempt)
    x, y = src.core_xy
    render_gaussians(shape, [x], [y], beam_cov[None], [peak], out=models[k])
    src.flags.add("core_added")


def _clear_compact_near(compact: CompactSources, xy, radius, beam_cov, shape):
    """Remove unrelated compact sources within ``radius`` px of a host (they hide its core)."""
    keep = np.hypot(compact.x - xy[0], compact.y - xy[1]) > radius
    if keep.all():
        return compact, render_compact(compact, beam_cov, shape)
    compact = compact.select(keep)
    return compact, render_compact(compact, beam_cov, shape)


def _overlapping_compact(
    rng, src: _Source, sigma: float, beam_fwhm_px: float, shape
) -> CompactSources:
    """1-2 unrelated compact sources on the extended emission, > 1.5 beams from the host."""
    rows, cols = np.nonzero(src.model > 3.0 * sigma)
    if rows.size == 0:
        return CompactSources(*(np.zeros(0) for _ in range(6)))
    far = np.hypot(cols - src.core_xy[0], rows - src.core_xy[1]) > 1.5 * beam_fwhm_px
    rows, cols = rows[far], cols[far]
    n = min(int(rng.integers(1, 3)), rows.size)
    if n == 0:
        return CompactSources(*(np.zeros(0) for _ in range(6)))
    pick = rng.choice(rows.size, size=n, replace=False)
    x = cols[pick] + rng.uniform(-0.5, 0.5, n)
    y = rows[pick] + rng.uniform(-0.5, 0.5, n)
    flux = draw_power_law(rng, n, 5.0 * sigma, 100.0 * sigma, 1.8)
    zeros = np.zeros(n)
    return CompactSources(x, y, flux, zeros, zeros, zeros)


# ---------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------
#: Seed of :func:`demo_cutout` (checked by the tests to give an FR-II with disjoint lobes).
DEMO_SEED = 4

#: The demo's sky: a single, bright, large FR-II whose lobes have no bridge.
DEMO_CONFIG = SkyConfig(
    class_mix=(("FR-II", 1.0),),
    snr_range=(80.0, 200.0),
    size_arcmin=(3.0, 4.0),
    centre_offset_arcsec=6.0,
    edge_fraction=0.0,
    second_source_fraction=0.0,
    disconnected_lobe_fraction=1.0,
    bent_fraction=0.0,
    diffuse_fraction=0.0,
    overlap_compact_fraction=0.0,
    artefact_fraction=0.0,
    faint_host_fraction=0.0,
    bright_ir_neighbour_fraction=0.0,
    compact_density_per_deg2=400.0,
    parent_tile_wcs_fraction=1.0,
    unwise_fraction=0.0,
)


def demo_cutout() -> SimulatedCutout:
    """The fixed demo cut-out: an obvious FR-II with disjoint lobes, compact sources, a host.

    Used by ``radiogal demo`` and as napari sample data. Always the same image.
    """
    return simulate_cutout(np.random.default_rng(DEMO_SEED), DEMO_CONFIG)
