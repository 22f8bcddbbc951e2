"""Radio galaxy morphologies as sums of elliptical Gaussians along (possibly bent) axes.

A source is built from *recipes*: every random number is drawn once into a recipe, and
:func:`build_components` turns a recipe into components deterministically. The rejection loop
of :mod:`napari_radiogal.sky.cutout` can therefore nudge one parameter (where the brightest
emission sits along each arm) and rebuild the same galaxy, instead of drawing a new one,
when the measured class misses the intended one.

Morphologies (paper section 2.3.2, SIMULATOR.md):

* FR-I: bright core, two jets that brighten at a flaring point close to the core and fade
  outward into widening plumes; optionally bent into tails (WAT / NAT shapes).
* FR-II: two lobes with compact hotspots at their outer ends, faint or no core, faint or no
  bridge (then the lobes may be disjoint at 3 sigma), asymmetric arm lengths and fluxes.
* FR-X: the brightest emission halfway along each arm (either jet-like or lobe-like).
* R: barely resolved, one peak, slightly elongated.

Shape families (:func:`apply_family`, weights in ``SkyConfig.lobe_families``) reshape a
two-sided recipe after it is drawn, for the variety of real skies: ``classic`` (the above),
``flat`` (flat-topped, sharp-edged lobes and plumes), ``hotspot_halo`` (a compact hotspot in
a wide faint halo), ``knotty`` (discrete knots along the jets), ``plume`` (jets that widen
early into broad plumes), ``wat`` / ``nat`` (wide- / narrow-angle tails), ``head_tail`` (both
jets swept to one side), ``one_sided`` (core and one jet) and ``double_double`` (a restarted
inner pair of lobes inside the old outer pair).

Units: pixels for positions and sizes, ``(x, y)`` = ``(col, row)``; angles in radians from
+x toward +y; fluxes relative (the caller scales the source to its peak signal-to-noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from napari_radiogal.sky.render import FWHM_TO_SIGMA

__all__ = [
    "Components",
    "DoubleRecipe",
    "CompactRecipe",
    "draw_recipe",
    "build_components",
    "retarget",
    "apply_family",
    "TARGET_RATIO",
]

#: Ranges of the a/b ratio each class aims at when it is drawn (the class is then measured).
TARGET_RATIO: dict[str, tuple[float, float]] = {
    "FR-I": (0.12, 0.38),
    "FR-X": (0.47, 0.53),
    "FR-II": (0.62, 0.93),
}


@dataclass
class Components:
    """Intrinsic (not beam-convolved) Gaussian components of one source.

    All arrays have shape ``(N,)``: centres ``x, y`` (px), standard deviations along the
    direction ``theta`` (``sigma_major``) and across it (``sigma_minor``; it may be the
    larger one), ``theta`` in radians from +x toward +y, integrated ``flux`` (relative).
    """

    x: np.ndarray
    y: np.ndarray
    sigma_major: np.ndarray
    sigma_minor: np.ndarray
    theta: np.ndarray
    flux: np.ndarray

    @classmethod
    def empty(cls) -> Components:
        z = np.zeros(0)
        return cls(z, z, z, z, z, z)

    @classmethod
    def concat(cls, parts: list[Components]) -> Components:
        parts = [p for p in parts if p.x.size]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in _FIELDS))

    def scaled(self, factor: float) -> Components:
        return replace(self, flux=self.flux * factor)

    def __len__(self) -> int:
        return int(self.x.size)


_FIELDS = ("x", "y", "sigma_major", "sigma_minor", "theta", "flux")

#: Most chain elements per arm (so a recipe can hold its texture before it is built).
_MAX_CHAIN = 40


@dataclass
class DoubleRecipe:
    """Every random choice of a two-sided source (FR-I, FR-II, FR-X).

    Arms are indexed 0 and 1 (opposite sides of the host). ``style`` is ``"jet"``
    (FR-I-like: knots and fading plumes) or ``"lobe"`` (FR-II-like: lobes ending in
    hotspots). ``peak_fraction`` places the brightest emission of each arm at that fraction
    of its length; it is the one parameter :func:`retarget` changes.
    """

    intended: str
    style: str
    host: tuple[float, float]
    arm_length: tuple[float, float]
    arm_angle: tuple[float, float]
    bend: tuple[float, float]
    bend_power: float
    peak_fraction: tuple[float, float]
    target_ratio: float
    arm_flux: tuple[float, float]
    knot_sigma: float
    core_flux: float
    # jet style
    jet_width: float = 2.0
    opening: float = 0.15
    jet_level: float = 0.5
    fade_length: float = 0.5
    fade_power: float = 1.0
    plume_start: float = 0.7
    plume_widen: float = 1.5
    # lobe style
    lobe_start: float = 0.3
    lobe_width: float = 0.4
    lobe_brighten: float = 1.0
    hotspot_fraction: float = 0.2
    bridge_level: float = 0.0
    texture: np.ndarray = field(default_factory=lambda: np.ones((2, _MAX_CHAIN)))
    flags: set[str] = field(default_factory=set)
    # shape family (apply_family); the defaults are the classic shapes
    family: str = "classic"
    cross_offsets: tuple[float, ...] = (-0.3, 0.0, 0.3)
    halo_position: float = 0.0
    halo_size: float = 0.0
    halo_flux: float = 0.0
    knot_positions: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    knot_fluxes: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    inner_scale: float = 0.0
    inner_flux: float = 0.0

    @property
    def las(self) -> float:
        """Approximate largest angular size, pixels (arm lengths only)."""
        return float(sum(self.arm_length))


@dataclass
class CompactRecipe:
    """A barely resolved R source: one elongated Gaussian, maybe a weak asymmetric wing."""

    intended: str
    host: tuple[float, float]
    sigma_major: float
    sigma_minor: float
    theta: float
    wing_offset: float
    wing_flux: float
    wing_sigma: float
    flags: set[str] = field(default_factory=set)

    @property
    def las(self) -> float:
        return float(2.355 * self.sigma_major * 2 + self.wing_offset)


def draw_recipe(
    rng: np.random.Generator,
    intended: str,
    host: tuple[float, float],
    las_px: float,
    *,
    beam_fwhm_px: float,
    bent_fraction: float,
    disconnected_lobe_fraction: float,
) -> DoubleRecipe | CompactRecipe:
    """Draw every random parameter of one extended source.

    Parameters
    ----------
    rng : numpy.random.Generator
    intended : {"FR-I", "FR-II", "FR-X", "R"}
    host : (x, y)
        Host / core position, pixels.
    las_px : float
        Largest angular size to aim at, pixels.
    beam_fwhm_px : float
        Beam FWHM (geometric mean), pixels; used to place the first guess of the peaks.
    bent_fraction, disconnected_lobe_fraction : float
        Probabilities (see :class:`~napari_radiogal.sky.SkyConfig`).
    """
    if intended == "R":
        return _draw_r(rng, host, las_px)
    pa = rng.uniform(0.0, 2.0 * math.pi)
    misalign = rng.normal(0.0, math.radians(6.0))
    arm_total = las_px * rng.uniform(0.78, 0.92)
    ratio = rng.uniform(0.6, 1.0)
    long_arm = arm_total / (1.0 + ratio)
    lengths = (long_arm, long_arm * ratio) if rng.random() < 0.5 else (long_arm * ratio, long_arm)
    angles = (pa, pa + math.pi + misalign)
    flags: set[str] = set()
    bent_p = bent_fraction if intended == "FR-I" else 0.5 * bent_fraction
    if rng.random() < bent_p:
        # Tails: both arms bend toward the same side (a U / C shape, like WATs and NATs).
        beta = math.radians(rng.uniform(45.0, 150.0)) * (1 if rng.random() < 0.5 else -1)
        bend = (beta * rng.uniform(0.7, 1.0), -beta * rng.uniform(0.7, 1.0))
        bend_power = rng.uniform(0.8, 1.8)
        flags.add("bent")
    else:
        # Mild S-shaped wiggle.
        wiggle = math.radians(rng.uniform(-12.0, 12.0))
        bend = (wiggle, wiggle)
        bend_power = rng.uniform(1.2, 2.5)
    lo, hi = TARGET_RATIO[intended]
    target = rng.uniform(lo, hi)
    bright = rng.uniform(1.0, 3.0)
    arm_flux = (1.0, 1.0 / bright) if rng.random() < 0.5 else (1.0 / bright, 1.0)
    # Lumpy emission: log-normal brightness of the chain elements, smoothed along the arm.
    lumps = rng.normal(0.0, rng.uniform(0.1, 0.4), size=(2, _MAX_CHAIN + 2))
    texture = np.exp(0.5 * (lumps[:, :-2] + lumps[:, 2:]) + 0.5 * lumps[:, 1:-1])
    common = dict(
        intended=intended,
        texture=texture,
        host=(float(host[0]), float(host[1])),
        arm_length=lengths,
        arm_angle=angles,
        bend=bend,
        bend_power=bend_power,
        target_ratio=target,
        arm_flux=arm_flux,
        flags=flags,
    )
    style = (
        "jet"
        if intended == "FR-I"
        else "lobe"
        if intended == "FR-II"
        else ("jet" if rng.random() < 0.5 else "lobe")
    )
    if style == "jet":
        # Peaks near p * arm: a ~ p * (L0 + L1), b ~ (L0 + L1) + about a beam.
        p0 = target * (arm_total + beam_fwhm_px) / arm_total
        if intended == "FR-I":
            p0 *= 0.75  # the core often is one of the two peaks, halving a: aim a bit low
        p0 = float(np.clip(p0 * rng.uniform(0.9, 1.1), 0.05, 0.95))
        return DoubleRecipe(
            style="jet",
            peak_fraction=(p0, float(np.clip(p0 * rng.uniform(0.85, 1.15), 0.05, 0.95))),
            knot_sigma=rng.uniform(0.8, 2.5),
            core_flux=rng.uniform(0.2, 1.5) if intended == "FR-I" else rng.uniform(0.0, 0.6),
            jet_width=rng.uniform(1.0, 3.0),
            opening=math.tan(math.radians(rng.uniform(4.0, 15.0))),
            jet_level=rng.uniform(0.25, 0.6) if intended == "FR-I" else rng.uniform(0.4, 0.8),
            fade_length=rng.uniform(0.15, 0.5) if intended == "FR-I" else rng.uniform(0.4, 1.0),
            fade_power=rng.uniform(0.8, 2.0),
            plume_start=rng.uniform(0.5, 0.85),
            plume_widen=rng.uniform(0.3, 1.5),
            **common,
        )
    disconnected = intended == "FR-II" and rng.random() < disconnected_lobe_fraction
    if disconnected:
        flags.add("disconnected")
        lobe_start = rng.uniform(0.45, 0.75)
        bridge = 0.0
    else:
        lobe_start = rng.uniform(0.0, 0.35)
        bridge = rng.uniform(0.05, 0.3) if rng.random() < 0.6 else 0.0
    if intended == "FR-II":
        p0 = float(np.clip(rng.uniform(0.88, 1.0), 0.05, 1.0))
        hotspot = rng.uniform(0.08, 0.45)
        core = 0.0 if rng.random() < 0.4 else rng.uniform(0.005, 0.05)
    else:  # FR-X in lobe style: brightest region halfway along a lobe, no end hotspot
        p0 = float(np.clip(target * (arm_total + beam_fwhm_px) / arm_total, 0.05, 0.95))
        hotspot = rng.uniform(0.1, 0.3)
        core = rng.uniform(0.0, 0.05)
        lobe_start = min(lobe_start, 0.25)
    return DoubleRecipe(
        style="lobe",
        peak_fraction=(p0, float(np.clip(p0 + rng.normal(0, 0.03), 0.05, 1.0))),
        knot_sigma=rng.uniform(0.5, 2.5) if intended == "FR-II" else rng.uniform(1.5, 4.0),
        core_flux=core,
        lobe_start=lobe_start,
        lobe_width=rng.uniform(0.3, 0.65),
        lobe_brighten=rng.uniform(0.5, 2.0) if intended == "FR-II" else rng.uniform(0.0, 0.5),
        hotspot_fraction=hotspot,
        bridge_level=bridge,
        **common,
    )


def _draw_r(rng: np.random.Generator, host: tuple[float, float], las_px: float) -> CompactRecipe:
    fwhm = las_px * rng.uniform(0.3, 0.55)
    axis_ratio = rng.uniform(1.2, 2.5)
    sigma_major = fwhm * FWHM_TO_SIGMA
    flags: set[str] = set()
    wing_flux = 0.0
    if rng.random() < 0.5:
        wing_flux = rng.uniform(0.15, 0.45)
        flags.add("asymmetric")
    return CompactRecipe(
        intended="R",
        host=(float(host[0]), float(host[1])),
        sigma_major=sigma_major,
        sigma_minor=sigma_major / axis_ratio,
        theta=rng.uniform(0.0, math.pi),
        wing_offset=sigma_major * rng.uniform(0.6, 1.2),
        wing_flux=wing_flux,
        wing_sigma=sigma_major * rng.uniform(0.8, 1.3),
        flags=flags,
    )


def apply_family(
    rng: np.random.Generator, recipe: DoubleRecipe | CompactRecipe, family: str
) -> DoubleRecipe | CompactRecipe:
    """Reshape a freshly drawn recipe into one of the shape families.

    ``classic`` and R sources (:class:`CompactRecipe`) come back unchanged without drawing a
    random number, so a sky of classic shapes only is the same with or without this step.
    Every family keeps the recipe's ``peak_fraction`` as the place of the brightest feature
    of each arm, so :func:`retarget` still steers the measured a/b.

    Parameters
    ----------
    rng : numpy.random.Generator
    recipe : DoubleRecipe or CompactRecipe
    family : str
        One of :data:`napari_radiogal.sky.config.LOBE_FAMILIES`.

    Returns
    -------
    DoubleRecipe or CompactRecipe
        A new recipe (the input is not modified); its ``flags`` gain the family name.
    """
    if family == "classic" or isinstance(recipe, CompactRecipe):
        return recipe
    change = _FAMILIES[family](rng, recipe)
    return replace(recipe, family=family, flags=recipe.flags | {family}, **change)


def _family_flat(rng, r: DoubleRecipe) -> dict:
    # Five equal chains make a flat top with steep edges (a Sersic index well below 0.5).
    return {
        "cross_offsets": (-0.4, -0.2, 0.0, 0.2, 0.4),
        "lobe_brighten": rng.uniform(0.0, 0.3),
        "lobe_width": rng.uniform(0.45, 0.8),
        "fade_power": rng.uniform(0.2, 0.6),
        "jet_level": rng.uniform(0.5, 0.9),
        "plume_widen": rng.uniform(1.0, 2.5),
    }


def _family_hotspot_halo(rng, r: DoubleRecipe) -> dict:
    return {
        "knot_sigma": rng.uniform(0.3, 1.0),
        "hotspot_fraction": rng.uniform(0.5, 1.5),
        "halo_position": rng.uniform(0.55, 0.85),
        "halo_size": rng.uniform(0.2, 0.4),
        "halo_flux": rng.uniform(0.5, 2.0),
        "lobe_width": rng.uniform(0.2, 0.35),
    }


def _family_knotty(rng, r: DoubleRecipe) -> dict:
    n = int(rng.integers(3, 8))
    positions = np.sort(rng.uniform(0.08, 0.95, size=(2, n)), axis=1)
    return {
        "knot_positions": positions,
        "knot_fluxes": rng.uniform(0.1, 0.5, size=(2, n)),
        "jet_level": r.jet_level * rng.uniform(0.2, 0.5),
        "knot_sigma": rng.uniform(0.4, 1.2),
    }


def _family_plume(rng, r: DoubleRecipe) -> dict:
    return {
        "plume_start": rng.uniform(0.15, 0.45),
        "plume_widen": rng.uniform(2.0, 4.0),
        "opening": math.tan(math.radians(rng.uniform(10.0, 25.0))),
        "fade_power": rng.uniform(0.3, 0.8),
        "lobe_width": rng.uniform(0.6, 0.9),
        "lobe_start": min(r.lobe_start, rng.uniform(0.05, 0.3)),
    }


def _bend_both(rng, degrees: tuple[float, float], power: tuple[float, float]) -> dict:
    beta = math.radians(rng.uniform(*degrees)) * (1 if rng.random() < 0.5 else -1)
    return {
        "bend": (beta * rng.uniform(0.95, 1.0), -beta * rng.uniform(0.95, 1.0)),
        "bend_power": rng.uniform(*power),
    }


def _family_wat(rng, r: DoubleRecipe) -> dict:
    # Wide-angle tails: straight jets that bend late by 20-45 degrees toward one side, so
    # the tails open at 90-140 degrees.
    return _bend_both(rng, (20.0, 45.0), (1.5, 3.0))


def _family_nat(rng, r: DoubleRecipe) -> dict:
    # Narrow-angle tails: each jet turns by ~75-95 degrees right after the core (bend power
    # < 1 puts the turn early), so the two tails run nearly parallel.
    return _bend_both(rng, (75.0, 95.0), (0.25, 0.5))


def _family_head_tail(rng, r: DoubleRecipe) -> dict:
    # Both jets leave the bright head on the same side and merge into one long tail.
    pa = r.arm_angle[0]
    spread = rng.uniform(0.05, 0.25)
    curve = math.radians(rng.uniform(-40.0, 40.0))
    tail = 0.9 * sum(r.arm_length)
    return {
        "arm_angle": (pa - spread, pa + spread),
        "arm_length": (tail, tail * rng.uniform(0.8, 1.0)),
        "bend": (curve + spread, curve - spread),
        "bend_power": rng.uniform(0.6, 1.2),
        "core_flux": max(r.core_flux, rng.uniform(0.3, 1.5)),
    }


def _family_one_sided(rng, r: DoubleRecipe) -> dict:
    # Doppler boosting hides the counter-jet: arm 1 carries no flux and is a stub.
    return {
        "arm_flux": (r.arm_flux[0] * rng.uniform(1.0, 2.0), 0.0),
        "arm_length": (r.arm_length[0] + 0.8 * r.arm_length[1], 0.05 * r.arm_length[1]),
        "core_flux": max(r.core_flux, rng.uniform(0.3, 1.2)),
    }


def _family_double_double(rng, r: DoubleRecipe) -> dict:
    return {
        "style": "lobe",
        "inner_scale": rng.uniform(0.25, 0.5),
        "inner_flux": rng.uniform(0.3, 1.0),
    }


_FAMILIES = {
    "flat": _family_flat,
    "hotspot_halo": _family_hotspot_halo,
    "knotty": _family_knotty,
    "plume": _family_plume,
    "wat": _family_wat,
    "nat": _family_nat,
    "head_tail": _family_head_tail,
    "one_sided": _family_one_sided,
    "double_double": _family_double_double,
}


def retarget(recipe: DoubleRecipe, measured_ratio: float) -> DoubleRecipe:
    """Move the arms' brightest emission so that a/b moves toward the recipe's target.

    ``a`` scales roughly linearly with the peak positions while ``b`` barely changes, so the
    peak fractions are multiplied by ``target / measured`` (damped, clipped to (0.04, 1]).
    """
    if not (measured_ratio > 0 and math.isfinite(measured_ratio)):
        return recipe
    factor = float(np.clip(recipe.target_ratio / measured_ratio, 0.5, 2.0)) ** 0.9
    hi = 1.0 if recipe.style == "lobe" else 0.95
    p = tuple(float(np.clip(f * factor, 0.04, hi)) for f in recipe.peak_fraction)
    return replace(recipe, peak_fraction=p)


def build_components(recipe: DoubleRecipe | CompactRecipe) -> tuple[Components, int | None]:
    """Turn a recipe into intrinsic components.

    Returns
    -------
    components : Components
    core_index : int or None
        Index of the core component (at the host), if there is one.
    """
    if isinstance(recipe, CompactRecipe):
        return _build_r(recipe), 0
    parts = []
    core_index = None
    if recipe.core_flux > 0:
        core_index = 0
        parts.append(_point(recipe.host, 0.3, recipe.core_flux))
    for arm in (0, 1):
        if recipe.style == "jet":
            parts.append(_jet_arm(recipe, arm))
        else:
            parts.append(_lobe_arm(recipe, arm))
        if recipe.family != "classic":
            parts.append(_family_extras(recipe, arm))
    if recipe.inner_scale > 0:
        parts.append(_inner_double(recipe))
    return Components.concat(parts), core_index


def _along(r: DoubleRecipe, arm: int, fractions: np.ndarray):
    """Points and tangents at ``fractions`` of an arm's length."""
    length = r.arm_length[arm]
    return arm_path(r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, fractions * length)


def _family_extras(r: DoubleRecipe, arm: int) -> Components:
    """Halo and discrete knots of the hotspot_halo and knotty families (empty otherwise)."""
    parts = []
    scale = r.arm_flux[arm] * 2.0 * math.pi
    if r.halo_flux > 0:
        x, y, _ = _along(r, arm, np.array([r.halo_position]))
        sig = max(1.5, r.halo_size * r.arm_length[arm])
        # Halo surface brightness ~ 0.15 of the lobe chain's, spread wide.
        parts.append(_point((float(x[0]), float(y[0])), sig, 0.15 * r.halo_flux * scale * sig**2))
    if r.knot_positions.size:
        x, y, _ = _along(r, arm, r.knot_positions[arm])
        n = x.size
        sig = np.full(n, r.knot_sigma)
        parts.append(
            Components(x, y, sig, sig, np.zeros(n), r.knot_fluxes[arm] * scale * r.knot_sigma**2)
        )
    return Components.concat(parts)


def _inner_double(r: DoubleRecipe) -> Components:
    """The restarted inner pair of lobes of a double-double, on the same axis."""
    inner = replace(
        r,
        family="classic",
        inner_scale=0.0,
        arm_length=tuple(a * r.inner_scale for a in r.arm_length),
        bend=(0.0, 0.0),
        bridge_level=0.0,
        lobe_start=0.5,
        core_flux=0.0,
    )
    comps = Components.concat([_lobe_arm(inner, arm) for arm in (0, 1)])
    return comps.scaled(r.inner_flux)


def _build_r(recipe: CompactRecipe) -> Components:
    x0, y0 = recipe.host
    c, s = math.cos(recipe.theta), math.sin(recipe.theta)
    parts = [
        Components(
            np.array([x0]),
            np.array([y0]),
            np.array([recipe.sigma_major]),
            np.array([recipe.sigma_minor]),
            np.array([recipe.theta]),
            np.array([1.0]),
        )
    ]
    if recipe.wing_flux > 0:
        parts.append(
            Components(
                np.array([x0 + recipe.wing_offset * c]),
                np.array([y0 + recipe.wing_offset * s]),
                np.array([recipe.wing_sigma]),
                np.array([recipe.sigma_minor * 0.9]),
                np.array([recipe.theta]),
                np.array([recipe.wing_flux]),
            )
        )
    return Components.concat(parts)


def _point(xy: tuple[float, float], sigma: float, flux: float) -> Components:
    return Components(
        np.array([xy[0]]),
        np.array([xy[1]]),
        np.array([sigma]),
        np.array([sigma]),
        np.array([0.0]),
        np.array([flux]),
    )


def arm_path(
    host: tuple[float, float],
    angle: float,
    length: float,
    bend: float,
    power: float,
    s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points and tangent angles along a bent arm at path lengths ``s`` (pixels).

    The direction turns from ``angle`` by ``bend * (s / length) ** power``, so arms start
    straight at the core and bend increasingly outward.
    """
    fine = np.linspace(0.0, max(length, 1e-6), 129)
    direction = angle + bend * (fine / max(length, 1e-6)) ** power
    step = np.diff(fine)
    mid = 0.5 * (direction[1:] + direction[:-1])
    xs = host[0] + np.concatenate([[0.0], np.cumsum(step * np.cos(mid))])
    ys = host[1] + np.concatenate([[0.0], np.cumsum(step * np.sin(mid))])
    return np.interp(s, fine, xs), np.interp(s, fine, ys), np.interp(s, fine, direction)


def _chain_samples(
    start: float, end: float, max_step: float = 3.0, min_n: int = 4, max_n: int = _MAX_CHAIN
) -> tuple[np.ndarray, float]:
    n = int(np.clip(math.ceil((end - start) / max_step), min_n, max_n))
    ds = (end - start) / n
    return start + (np.arange(n) + 0.5) * ds, ds


def _flat_chain(
    x, y, tangent, sigma_along, width, brightness, offsets=(-0.3, 0.0, 0.3)
) -> Components:
    """Elements along an arm with a flat-topped cross-section of FWHM ~ ``width``.

    Real lobes and plumes have sharp edges; a Gaussian cross-section would make the 3 sigma
    contour balloon on bright sources. Three parallel chains (offsets -0.3, 0, +0.3 width,
    each of sigma 0.2 width) give a flat top; narrow parts (< 3 px) keep one chain.
    ``brightness`` is the peak surface brightness of the central chain (relative units).
    """
    nx, ny = -np.sin(tangent), np.cos(tangent)
    narrow = width < 3.0
    chains = [
        Components(
            x[narrow],
            y[narrow],
            sigma_along[narrow],
            np.maximum(width[narrow] * FWHM_TO_SIGMA, 0.3),
            tangent[narrow],
            brightness[narrow]
            * 2.0
            * math.pi
            * sigma_along[narrow]
            * np.maximum(width[narrow] * FWHM_TO_SIGMA, 0.3),
        )
    ]
    wide = ~narrow
    if len(offsets) == 3:
        sig = 0.2 * width[wide]
        weights = (0.8, 1.0, 0.8)
    else:
        # More, narrower chains of equal weight: a flatter top and sharper edges.
        sig = (0.6 / len(offsets)) * width[wide]
        weights = (1.0,) * len(offsets)
    for offset, weight in zip(offsets, weights, strict=True):
        flux = weight * brightness[wide] * 2.0 * math.pi * sigma_along[wide] * sig
        chains.append(
            Components(
                x[wide] + offset * width[wide] * nx[wide],
                y[wide] + offset * width[wide] * ny[wide],
                sigma_along[wide],
                sig,
                tangent[wide],
                flux,
            )
        )
    return Components.concat(chains)


def _jet_arm(r: DoubleRecipe, arm: int) -> Components:
    length = r.arm_length[arm]
    s, ds = _chain_samples(0.0, length)
    sk = r.peak_fraction[arm] * length
    x, y, tangent = arm_path(r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, s)
    width = r.jet_width + 2.0 * s * r.opening
    # Plumes widen quickly at first, then saturate: rounder than a straight cone.
    u_plume = np.clip(
        (s - r.plume_start * length) / max(1e-6, (1.0 - r.plume_start) * length), 0.0, 1.0
    )
    width = width * (1.0 + r.plume_widen * np.sqrt(u_plume))
    # Plumes stay narrower than about half an arm (wider ones look like wedges).
    width = np.minimum(width, max(3.0, 0.45 * length))
    knot_width = max(1.0, 0.35 * sk)
    knot = np.exp(-0.5 * ((s - sk) / knot_width) ** 2)
    ramp = np.clip(s / max(sk, 1e-6), 0.0, 1.0) ** 2
    fade = (1.0 + np.maximum(s - sk, 0.0) / max(1e-6, r.fade_length * length)) ** (-r.fade_power)
    # Ends fade out over the last ~20 % instead of stopping on a straight edge.
    end_taper = np.exp(-0.5 * (np.maximum(s - 0.8 * length, 0.0) / (0.1 * length)) ** 2)
    brightness = r.arm_flux[arm] * (
        knot + r.jet_level * ramp * fade * end_taper * r.texture[arm, : s.size]
    )
    chain = _flat_chain(
        x, y, tangent, np.full_like(s, 0.6 * ds), width, brightness, r.cross_offsets
    )
    # A compact knot at the flaring point makes the peak crisp on bright sources.
    kx, ky, _ = arm_path(
        r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, np.array([sk])
    )
    knot_flux = 0.25 * r.arm_flux[arm] * 2.0 * math.pi * r.knot_sigma**2
    return Components.concat([chain, _point((float(kx[0]), float(ky[0])), r.knot_sigma, knot_flux)])


def _lobe_arm(r: DoubleRecipe, arm: int) -> Components:
    length = r.arm_length[arm]
    start = r.lobe_start * length
    s, ds = _chain_samples(start, length)
    x, y, tangent = arm_path(r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, s)
    u = (s - start) / max(1e-6, length - start)
    max_width = max(3.0, r.lobe_width * (length - start))
    # Rounded at both ends, widest in the middle.
    width = max_width * (0.35 + 0.65 * np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 0.5)
    sh = r.peak_fraction[arm] * length
    if r.intended == "FR-II":
        brightness = 0.3 + 0.7 * u**r.lobe_brighten
    else:
        # FR-X lobes: brightest around the peak fraction, fading on both sides.
        span = max(1.0, 0.35 * length)
        brightness = 0.35 + 0.65 * np.exp(-0.5 * ((s - sh) / span) ** 2)
    fade_in = np.clip(u / 0.15, 0.0, 1.0) ** 2 * (3.0 - 2.0 * np.clip(u / 0.15, 0.0, 1.0))
    brightness = r.arm_flux[arm] * brightness * (0.3 + 0.7 * fade_in) * r.texture[arm, : s.size]
    lobe = _flat_chain(x, y, tangent, np.full_like(s, 0.6 * ds), width, brightness, r.cross_offsets)
    parts = [lobe]
    hx, hy, _ = arm_path(
        r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, np.array([sh])
    )
    parts.append(
        _point(
            (float(hx[0]), float(hy[0])), r.knot_sigma, r.hotspot_fraction * float(lobe.flux.sum())
        )
    )
    if r.bridge_level > 0 and start > 1.0:
        sb, dsb = _chain_samples(0.0, start)
        bx, by, bt = arm_path(r.host, r.arm_angle[arm], length, r.bend[arm], r.bend_power, sb)
        bw = 0.5 * max_width * FWHM_TO_SIGMA
        bflux = (r.bridge_level * 0.3 * r.arm_flux[arm]) * 2.0 * math.pi * (0.6 * dsb) * bw
        parts.append(
            Components(
                bx,
                by,
                np.full_like(sb, 0.6 * dsb),
                np.full_like(sb, bw),
                bt,
                np.full_like(sb, bflux),
            )
        )
    return Components.concat(parts)
