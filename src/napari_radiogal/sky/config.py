"""The simulator's configuration: one frozen dataclass, one knob per difficulty.

Every field carries a ``help`` text in its metadata; the ``radiogal simulate`` command builds
its difficulty options from them (so CLI and library cannot drift), and the full set of values
is written into the COCO ``info`` of every data set.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from napari_radiogal.classes import RADIOGALAXYNET
from napari_radiogal.errors import ConfigError
from napari_radiogal.io.provenance import jsonable

__all__ = [
    "SkyConfig",
    "CLASS_MIX_PRESETS",
    "LOBE_FAMILIES",
    "SKY_PRESETS",
    "mix_from_string",
    "families_from_string",
]

#: Shape families of two-sided sources (see :mod:`napari_radiogal.sky.morphology`).
LOBE_FAMILIES: tuple[str, ...] = (
    "classic",
    "flat",
    "hotspot_halo",
    "knotty",
    "plume",
    "wat",
    "nat",
    "head_tail",
    "one_sided",
    "double_double",
)

#: Named class mixes (weights, normalised on use).
#:
#: * ``default``: FR-II the majority, then R, FR-I, FR-X (the project's simulator spec).
#: * ``gupta2023``: the counts of the paper's EMU-PS data set (328 FR-I, 128 FR-II,
#:   110 FR-X, 196 R; section 2.3.2), where FR-I is the majority.
#: * ``balanced``: equal weights.
CLASS_MIX_PRESETS: dict[str, tuple[tuple[str, float], ...]] = {
    "default": (("FR-II", 0.40), ("R", 0.25), ("FR-I", 0.20), ("FR-X", 0.15)),
    "gupta2023": (("FR-I", 328.0), ("FR-II", 128.0), ("FR-X", 110.0), ("R", 196.0)),
    "balanced": (("FR-II", 1.0), ("FR-I", 1.0), ("FR-X", 1.0), ("R", 1.0)),
}


def _knob(default: Any, help: str, *, cli: bool = True) -> Any:
    return field(default=default, metadata={"help": help, "cli": cli})


@dataclass(frozen=True)
class SkyConfig:
    """Everything the synthetic EMU + WISE sky can vary; defaults mimic EMU-PS (paper sec. 2).

    Fractions are probabilities per cut-out (or per extended source where said); ranges are
    ``(low, high)`` tuples. Setting a difficulty fraction to 0 switches it off;
    :meth:`easy` switches all of them off at once. :meth:`wide` is a training sky spread over
    the geometries, shapes, noise and IR conventions of real surveys; the knobs it turns
    default to the EMU-PS sky (which they leave bit for bit unchanged).

    Units: arcsec / arcmin / degrees as the names say; radio flux densities in uJy or Jy as the
    names say; infrared magnitudes are Vega W1.
    """

    # -- grid, beam, noise (paper section 2.1) ----------------------------------------------
    size: int = _knob(210, "cut-out width and height in pixels (210 = 7' at 2\"/px)")
    pixel_scale_arcsec: float = _knob(2.0, "radio pixel size in arcsec")
    beam_major_arcsec: float = _knob(13.0, "restoring beam FWHM, major axis, arcsec")
    beam_minor_arcsec: float = _knob(11.0, "restoring beam FWHM, minor axis, arcsec")
    beam_pa_deg: float | None = _knob(
        None, "beam position angle in degrees east of north (None = random per cut-out)"
    )
    frequency_hz: float = _knob(943.5e6, "observing frequency written to the FITS header")
    noise_ujy: tuple[float, float] = _knob(
        (25.0, 35.0),
        "range of the image RMS in uJy/beam as read by the paper's clipped-MAD estimator",
    )
    ra_range_deg: tuple[float, float] = _knob((301.0, 336.0), "RA range of cut-out centres")
    dec_range_deg: tuple[float, float] = _knob((-63.0, -48.0), "Dec range of cut-out centres")
    parent_tile_wcs_fraction: float = _knob(
        0.5, "fraction of cut-outs whose WCS keeps the parent tile's reference pixel"
    )
    pixels_per_beam: tuple[float, float] | None = _knob(
        None,
        "range of the beam FWHM (geometric mean) in pixels, log-uniform per cut-out; the image "
        'stays size x size px (None: the beam and pixel size above). Real surveys: FIRST 5.4" '
        'beam on 1.8" px = 3, EMU 13"x11" on 2" = 6, RACS 25" on 2.5" = 10',
    )
    pixel_scale_range_arcsec: tuple[float, float] | None = _knob(
        None,
        "range of the radio pixel size per cut-out, arcsec, used with pixels_per_beam (None: "
        'pixel_scale_arcsec). Real surveys: VLASS 1", FIRST 1.8", EMU 2", RACS 2.5"',
    )
    beam_axis_ratio: tuple[float, float] | None = _knob(
        None,
        "range of the beam minor/major FWHM ratio per cut-out, used with pixels_per_beam (None: "
        "beam_minor/beam_major). Real beams: FIRST ~1, ASKAP ~0.85, low-declination VLA "
        "snapshots ~0.5",
    )

    # -- extended sources --------------------------------------------------------------------
    class_mix: tuple[tuple[str, float], ...] = _knob(
        CLASS_MIX_PRESETS["default"],
        "intended class weights, e.g. FR-II=0.4,R=0.25,FR-I=0.2,FR-X=0.15 or a preset name "
        f"({', '.join(CLASS_MIX_PRESETS)})",
    )
    snr_range: tuple[float, float] = _knob(
        (8.0, 1000.0), "peak signal-to-noise of extended sources (drawn log-uniformly)"
    )
    size_arcmin: tuple[float, float] = _knob(
        (0.5, 6.5), "largest angular size of FR-I / FR-II / FR-X sources, arcmin (log-uniform)"
    )
    r_size_arcmin: tuple[float, float] = _knob(
        (0.4, 1.2), "largest angular size of barely resolved R sources, arcmin"
    )
    centre_offset_arcsec: float = _knob(
        20.0, "rms offset of the main source's host from the cut-out centre, arcsec"
    )
    edge_fraction: float = _knob(0.10, "fraction of main sources placed near an image edge")
    second_source_fraction: float = _knob(
        0.06, "fraction of cut-outs with a second extended source (paper: 39 of 610)"
    )
    disconnected_lobe_fraction: float = _knob(
        0.35, "fraction of FR-II sources without a bridge (lobes may be disjoint at 3 sigma)"
    )
    bent_fraction: float = _knob(
        0.30, "fraction of FR-I sources with bent tails (half of it for FR-X / FR-II)"
    )
    diffuse_fraction: float = _knob(
        0.30, "fraction of extended sources with faint diffuse emission (1-3 sigma)"
    )
    overlap_compact_fraction: float = _knob(
        0.30, "fraction of extended sources with unrelated compact sources on top of them"
    )
    artefact_fraction: float = _knob(
        0.10, "fraction of cut-outs with imaging artefacts (stripes or sidelobe rings)"
    )
    stripe_amplitude_sigma: tuple[float, float] = _knob(
        (0.3, 0.7),
        "rms of the stripe artefacts, in image sigma: real snapshots (FIRST, VLASS) near an "
        "unsubtracted bright source show stripes well above the noise",
    )
    sidelobe_amplitude: tuple[float, float] = _knob(
        (0.003, 0.015),
        "sidelobe-ring amplitude as a fraction of the bright source's peak: residual "
        "calibration errors around bright sources reach a few per cent of the peak in "
        "snapshot surveys (FIRST, VLASS)",
    )
    ripple_fraction: float = _knob(
        0.0,
        "fraction of cut-outs with a large-scale ripple (wavelength 0.4-2 image widths, "
        "0.2-1 sigma): mosaicking and deconvolution errors of real images",
    )
    background_offset_sigma: float = _knob(
        0.0,
        "rms (in sigma) of a smooth background offset and gradient per cut-out: negative "
        "bowls of missing short spacings and imperfect sky models in real images",
    )
    max_tries: int = _knob(
        12, "redraws per source until its measured class matches the intended one"
    )
    lobe_families: tuple[tuple[str, float], ...] = _knob(
        (("classic", 1.0),),
        "weights of the shape families of two-sided sources (FR-I / FR-II / FR-X), e.g. "
        f"classic=0.5,flat=0.5; families: {', '.join(LOBE_FAMILIES)}. Real radio galaxies "
        "are not all Gaussian chains: flat-topped lobes (LOFAR, RACS), hotspots in wide "
        "halos (3C sources), knotty jets (FIRST), plumes, wide- / narrow-angle and head-tail "
        "sources in clusters, one-sided (Doppler-boosted) jets, restarted double-doubles",
    )

    # -- unrelated compact sources (EMU-PS density) ------------------------------------------
    compact_density_per_deg2: float = _knob(
        800.0, "surface density of compact sources brighter than compact_reference_ujy"
    )
    compact_reference_ujy: float = _knob(150.0, "flux density at which the density is given")
    compact_slope: float = _knob(1.8, "index of the differential source counts dN/dS ~ S^-slope")
    compact_flux_ujy: tuple[float, float] = _knob(
        (50.0, 5.0e5), "flux density range of compact sources, uJy"
    )
    resolved_compact_fraction: float = _knob(
        0.2, "fraction of compact sources slightly resolved (intrinsic FWHM 2-6 arcsec)"
    )
    compact_density_scale: tuple[float, float] = _knob(
        (1.0, 1.0),
        "range of a per-cut-out factor on the compact-source density (log-uniform): real "
        "fields range from sparse (FIRST ~90 per deg^2) to crowded (deep EMU, clusters)",
    )

    # -- labels (the paper's rules, section 2.3) ---------------------------------------------
    fr1_max_ratio: float = _knob(0.45, "a/b below which a source is FR-I")
    fr2_min_ratio: float = _knob(0.55, "a/b above which a source is FR-II")
    contour_sigma: float = _knob(5.0, "contour (in sigma) whose extent along the axis is b")
    mask_sigma: float = _knob(3.0, "ground-truth mask threshold on the noisy image, sigma")
    model_sigma: float = _knob(
        1.0, "a pixel belongs to a source where its noiseless model exceeds this many sigma"
    )
    mask_min_pixels: int = _knob(5, "mask islands smaller than this are dropped (paper: 5)")
    host_max_distance_beams: float = _knob(
        1.0, "hosts lie inside or within this many beam FWHM of their mask"
    )

    # -- infrared (WISE W1, paper section 2.2) -----------------------------------------------
    unwise_fraction: float = _knob(
        0.3, 'fraction of IR images in unWISE style (2.75"/px, TAN+CD) instead of AllWISE'
    )
    ir_psf_fwhm_arcsec: float = _knob(6.1, "W1 PSF FWHM, arcsec")
    ir_density_per_arcmin2: float = _knob(
        5.0, "density of IR sources brighter than W1 = 17 mag per arcmin^2"
    )
    ir_mag_range: tuple[float, float] = _knob(
        (8.0, 18.5), "W1 range of unrelated IR sources (counts rise 0.3 dex/mag)"
    )
    host_mag_range: tuple[float, float] = _knob((13.0, 16.0), "W1 of ordinary hosts, mag")
    faint_host_mag_range: tuple[float, float] = _knob((16.0, 17.0), "W1 of faint hosts, mag")
    faint_host_fraction: float = _knob(
        0.25, "fraction of hosts drawn faint (brightened to the detection limit if needed)"
    )
    bright_ir_neighbour_fraction: float = _knob(
        0.15, "fraction of sources with a brighter unrelated IR source on their radio emission"
    )
    ir_margin_arcsec: float = _knob(20.0, "IR field extends this far beyond the radio field")
    mjysr_fraction: float = _knob(
        0.0,
        "fraction of IR images in MJy/sr (BUNIT 'MJy/sr', no MAGZP, 2\"/px) as cut-out "
        "services that resample to surface brightness deliver them",
    )
    ir_gradient_noise: float = _knob(
        0.5,
        "rms of the IR background gradient across the field, in pixel-noise units: AllWISE "
        "atlas tiles carry zodiacal / moonlight gradients of several",
    )
    moffat_psf_fraction: float = _knob(
        0.0,
        "fraction of IR images with a Moffat PSF (same FWHM) instead of a Gaussian: the real "
        "WISE PSF has extended wings",
    )
    moffat_beta: tuple[float, float] = _knob(
        (2.5, 4.5),
        "range of the Moffat index beta: smaller means stronger wings (2.5 strong, 4.5 mild; "
        "a Gaussian is beta -> infinity), to span PSFs of different surveys and co-adds",
    )
    extended_host_fraction: float = _knob(
        0.0,
        'fraction of hosts that are resolved galaxies (FWHM 8-25", W1 10.5-13.5): nearby '
        "radio galaxies sit in big ellipticals that W1 resolves",
    )

    def __post_init__(self) -> None:
        # CLI / JSON give lists; store tuples so the dataclass stays hashable and frozen.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, _to_tuple(value))
        if isinstance(self.class_mix, str):
            object.__setattr__(self, "class_mix", mix_from_string(self.class_mix))
        elif isinstance(self.class_mix, Mapping):
            object.__setattr__(self, "class_mix", tuple(self.class_mix.items()))
        if isinstance(self.lobe_families, str):
            object.__setattr__(self, "lobe_families", families_from_string(self.lobe_families))
        elif isinstance(self.lobe_families, Mapping):
            object.__setattr__(self, "lobe_families", tuple(self.lobe_families.items()))
        self._validate()

    # -- derived quantities --------------------------------------------------------------------
    @property
    def class_weights(self) -> dict[str, float]:
        """The class mix as ``{name: probability}`` (normalised, zero weights dropped)."""
        total = sum(w for _, w in self.class_mix)
        return {name: w / total for name, w in self.class_mix if w > 0}

    @property
    def family_weights(self) -> dict[str, float]:
        """The lobe families as ``{name: probability}`` (normalised, zero weights dropped)."""
        total = sum(w for _, w in self.lobe_families)
        return {name: w / total for name, w in self.lobe_families if w > 0}

    @property
    def beam_major_px(self) -> float:
        """Beam FWHM major axis in pixels."""
        return self.beam_major_arcsec / self.pixel_scale_arcsec

    @property
    def field_arcmin(self) -> float:
        """Width of the cut-out in arcmin."""
        return self.size * self.pixel_scale_arcsec / 60.0

    # -- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (tuples become lists)."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SkyConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown SkyConfig field(s) {unknown}; known fields are {sorted(known)}"
            )
        return cls(**dict(values))

    def replace(self, **changes: Any) -> SkyConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def balanced(self) -> SkyConfig:
        """The same sky with equal class weights."""
        return self.replace(class_mix=CLASS_MIX_PRESETS["balanced"])

    @classmethod
    def easy(cls, **changes: Any) -> SkyConfig:
        """Every difficulty switched off: centred sources, no tails, no overlaps, no artefacts.

        Useful to debug a model or to check that a failure comes from a difficulty.
        """
        return cls.preset("easy", **changes)

    @classmethod
    def wide(cls, **changes: Any) -> SkyConfig:
        """A WIDE training sky: the geometries, shapes, noise and IR conventions of real skies.

        The default sky is one survey (EMU-PS at 2"/px, 13" x 11" beam, Gaussian-chain
        shapes, beam-correlated noise, W1 in DN or nanomaggies); a model trained on it
        learns that simulator. This preset spreads every axis over what real surveys do:

        * geometry: 2.5-8 pixels per beam (FIRST 3, EMU 6, RACS-like 8) on 1.5-3"/px
          pixels, beam axis ratio 0.6-1, the image still 210 x 210 px;
        * shapes of two-sided sources: classic chains, flat-topped lobes, hotspot + halo,
          knotty jets, plumes, wide- / narrow-angle tails, head-tails, one-sided jets. The
          ``double_double`` family (restarted sources) is held out ON PURPOSE, so that
          ``benchmarks/shift.py`` can measure the model on a shape it never saw;
        * noise: beam-correlated noise at 20-200 uJy/beam, large-scale ripples, smooth
          background offsets, more and stronger stripes and sidelobe rings;
        * infrared: AllWISE DN with stronger gradients, unWISE nanomaggies, MJy/sr; Gaussian
          or Moffat PSFs; resolved hosts; more bright unrelated IR galaxies on the emission;
        * crowding: 0.5-3 times the compact density, a second extended source in 20 %,
          a quarter of the main sources near (and cut by) an edge.

        Labels are measured on the noisy image with the same rules as for the default sky.
        """
        return cls.preset("wide", **changes)

    @classmethod
    def preset(cls, name: str, **changes: Any) -> SkyConfig:
        """A named sky of :data:`SKY_PRESETS` (``default``, ``easy``, ``wide``), with changes.

        Raises
        ------
        ConfigError
            For an unknown name.
        """
        key = str(name).strip().lower()
        if key not in SKY_PRESETS:
            raise ConfigError(f"unknown sky preset {name!r}; known presets are {list(SKY_PRESETS)}")
        return cls(**{**SKY_PRESETS[key], **changes})

    # -- validation ---------------------------------------------------------------------------
    def _validate(self) -> None:
        if not isinstance(self.size, int) or self.size < 32:
            raise ConfigError(f"SkyConfig.size must be an integer >= 32 pixels, got {self.size!r}")
        positive = (
            "pixel_scale_arcsec",
            "beam_major_arcsec",
            "beam_minor_arcsec",
            "frequency_hz",
            "compact_reference_ujy",
            "ir_psf_fwhm_arcsec",
            "mask_sigma",
            "contour_sigma",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"SkyConfig.{name} must be a positive number, got {value!r}")
        if self.beam_minor_arcsec > self.beam_major_arcsec:
            raise ConfigError(
                f"SkyConfig.beam_minor_arcsec ({self.beam_minor_arcsec}) exceeds "
                f"beam_major_arcsec ({self.beam_major_arcsec}); swap them."
            )
        fractions = [f.name for f in dataclasses.fields(self) if f.name.endswith("_fraction")]
        for name in fractions:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ConfigError(f"SkyConfig.{name} must lie in [0, 1], got {value!r}")
        ranges = [f.name for f in dataclasses.fields(self) if _is_range(getattr(self, f.name))]
        for name in ranges:
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(
                    f"SkyConfig.{name} must be a (low, high) pair with low <= high, "
                    f"got {getattr(self, name)!r}"
                )
        positive_ranges = (
            "snr_range",
            "size_arcmin",
            "r_size_arcmin",
            "noise_ujy",
            "compact_flux_ujy",
            "compact_density_scale",
            "moffat_beta",
            "pixels_per_beam",
            "pixel_scale_range_arcsec",
            "beam_axis_ratio",
        )
        for name in positive_ranges:
            value = getattr(self, name)
            if value is not None and not _is_range(value):
                raise ConfigError(f"SkyConfig.{name} must be a (low, high) pair, got {value!r}")
            if value is not None and value[0] <= 0:
                raise ConfigError(f"SkyConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.fr1_max_ratio <= self.fr2_min_ratio < 1:
            raise ConfigError(
                "SkyConfig needs 0 < fr1_max_ratio <= fr2_min_ratio < 1, got "
                f"{self.fr1_max_ratio} and {self.fr2_min_ratio}"
            )
        if self.beam_axis_ratio is not None and self.beam_axis_ratio[1] > 1:
            raise ConfigError(
                f"SkyConfig.beam_axis_ratio is minor / major, at most 1; got {self.beam_axis_ratio}"
            )
        if self.moffat_beta[0] <= 1:
            raise ConfigError(f"SkyConfig.moffat_beta must exceed 1, got {self.moffat_beta}")
        _check_families(self.lobe_families)
        if self.max_tries < 1:
            raise ConfigError(f"SkyConfig.max_tries must be >= 1, got {self.max_tries}")
        known = set(RADIOGALAXYNET.names)
        try:
            names = [str(n) for n, _ in self.class_mix]
            weights = [float(w) for _, w in self.class_mix]
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"SkyConfig.class_mix must be (name, weight) pairs, got {self.class_mix!r}"
            ) from exc
        bad = [n for n in names if n not in known]
        if bad:
            raise ConfigError(
                f"SkyConfig.class_mix names {bad} are not simulated classes {sorted(known)}"
            )
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(
                f"SkyConfig.class_mix weights must be >= 0 and not all 0, got {self.class_mix}"
            )


def mix_from_string(text: str) -> tuple[tuple[str, float], ...]:
    """Parse a class mix: a preset name or ``"FR-II=0.4,R=0.25,FR-I=0.2,FR-X=0.15"``.

    Raises
    ------
    ConfigError
        When the text is neither a preset nor ``NAME=WEIGHT`` pairs of known classes.
    """
    key = text.strip().lower()
    if key in CLASS_MIX_PRESETS:
        return CLASS_MIX_PRESETS[key]
    pairs = []
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        if not sep:
            raise ConfigError(
                f"class mix {text!r}: expected a preset ({', '.join(CLASS_MIX_PRESETS)}) or "
                "NAME=WEIGHT pairs such as 'FR-II=0.4,R=0.25,FR-I=0.2,FR-X=0.15'"
            )
        try:
            class_id = RADIOGALAXYNET.id_of_name(name.strip())
            pairs.append((RADIOGALAXYNET.name_of_id(class_id), float(weight)))
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"class mix {text!r}: cannot read {part!r} ({exc})") from exc
    return tuple(pairs)


def families_from_string(text: str) -> tuple[tuple[str, float], ...]:
    """Parse lobe-family weights ``"classic=0.5,flat=0.5"`` (one bare name = weight 1).

    Examples
    --------
    >>> families_from_string("classic=3,knotty=1")
    (('classic', 3.0), ('knotty', 1.0))
    >>> families_from_string("plume")
    (('plume', 1.0),)
    """
    pairs = []
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            pairs.append((name.strip(), float(weight) if sep else 1.0))
        except ValueError as exc:
            raise ConfigError(f"lobe families {text!r}: cannot read {part!r} ({exc})") from exc
    _check_families(tuple(pairs))
    return tuple(pairs)


def _check_families(families: Any) -> None:
    try:
        names = [str(n) for n, _ in families]
        weights = [float(w) for _, w in families]
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"SkyConfig.lobe_families must be (name, weight) pairs, got {families!r}"
        ) from exc
    bad = [n for n in names if n not in LOBE_FAMILIES]
    if bad:
        raise ConfigError(f"lobe families {bad} are not among {list(LOBE_FAMILIES)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"lobe-family weights must be >= 0 and not all 0, got {families}")


#: Named skies for :meth:`SkyConfig.preset` (field overrides of the defaults). ``wide`` is
#: documented in :meth:`SkyConfig.wide`; it leaves ``double_double`` out on purpose.
SKY_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "easy": {
        "edge_fraction": 0.0,
        "second_source_fraction": 0.0,
        "disconnected_lobe_fraction": 0.0,
        "bent_fraction": 0.0,
        "diffuse_fraction": 0.0,
        "overlap_compact_fraction": 0.0,
        "artefact_fraction": 0.0,
        "faint_host_fraction": 0.0,
        "bright_ir_neighbour_fraction": 0.0,
    },
    "wide": {
        # geometry
        "pixels_per_beam": (2.5, 8.0),
        "pixel_scale_range_arcsec": (1.5, 3.0),
        "beam_axis_ratio": (0.6, 1.0),
        "noise_ujy": (20.0, 200.0),
        # shapes
        "lobe_families": (
            ("classic", 0.24),
            ("flat", 0.10),
            ("hotspot_halo", 0.10),
            ("knotty", 0.10),
            ("plume", 0.10),
            ("wat", 0.09),
            ("nat", 0.07),
            ("head_tail", 0.10),
            ("one_sided", 0.10),
        ),
        "snr_range": (6.0, 1500.0),
        "diffuse_fraction": 0.4,
        # noise and artefacts
        "artefact_fraction": 0.3,
        "stripe_amplitude_sigma": (0.3, 1.0),
        "sidelobe_amplitude": (0.003, 0.03),
        "ripple_fraction": 0.3,
        "background_offset_sigma": 0.3,
        # infrared
        "mjysr_fraction": 0.2,
        "ir_gradient_noise": 3.0,
        "moffat_psf_fraction": 0.5,
        "extended_host_fraction": 0.2,
        "bright_ir_neighbour_fraction": 0.3,
        "faint_host_fraction": 0.3,
        # crowding and edges
        "compact_density_scale": (0.5, 3.0),
        "second_source_fraction": 0.2,
        "overlap_compact_fraction": 0.4,
        "edge_fraction": 0.25,
    },
}


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def _to_tuple(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_to_tuple(v) for v in value)
    return value
