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

__all__ = ["SkyConfig", "CLASS_MIX_PRESETS", "mix_from_string"]

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
    :meth:`easy` switches all of them off at once.

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
    max_tries: int = _knob(
        12, "redraws per source until its measured class matches the intended one"
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
        self._validate()

    # -- derived quantities --------------------------------------------------------------------
    @property
    def class_weights(self) -> dict[str, float]:
        """The class mix as ``{name: probability}`` (normalised, zero weights dropped)."""
        total = sum(w for _, w in self.class_mix)
        return {name: w / total for name, w in self.class_mix if w > 0}

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
        return {f.name: _to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

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
        base = {
            "edge_fraction": 0.0,
            "second_source_fraction": 0.0,
            "disconnected_lobe_fraction": 0.0,
            "bent_fraction": 0.0,
            "diffuse_fraction": 0.0,
            "overlap_compact_fraction": 0.0,
            "artefact_fraction": 0.0,
            "faint_host_fraction": 0.0,
            "bright_ir_neighbour_fraction": 0.0,
        }
        base.update(changes)
        return cls(**base)

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
        for name in ("snr_range", "size_arcmin", "r_size_arcmin", "noise_ujy", "compact_flux_ujy"):
            if getattr(self, name)[0] <= 0:
                raise ConfigError(f"SkyConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.fr1_max_ratio <= self.fr2_min_ratio < 1:
            raise ConfigError(
                "SkyConfig needs 0 < fr1_max_ratio <= fr2_min_ratio < 1, got "
                f"{self.fr1_max_ratio} and {self.fr2_min_ratio}"
            )
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


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    return value
