"""Unrelated compact radio sources at EMU Pilot Survey density.

EMU-PS catalogues ~220 000 sources over 270 deg^2, ~800 per deg^2 above ~5 sigma (150 uJy),
i.e. ~11 per 7' x 7' cut-out. Fluxes follow a steep power law ``dN/dS ~ S^-1.8`` and are
drawn down to ~2 sigma, so sub-threshold sources add the faint confusion bumps that real
images have. Most are unresolved (beam-shaped); a fifth are slightly resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.render import (
    FWHM_TO_SIGMA,
    gaussian_covariance,
    peak_for_flux,
    render_gaussians,
)

__all__ = ["CompactSources", "draw_compact_sources", "render_compact"]


@dataclass
class CompactSources:
    """A catalogue of compact sources: positions (px), fluxes (Jy), intrinsic shapes (px)."""

    x: np.ndarray
    y: np.ndarray
    flux_jy: np.ndarray
    sigma_major: np.ndarray
    sigma_minor: np.ndarray
    theta: np.ndarray

    def __len__(self) -> int:
        return int(self.x.size)

    def extend(self, other: CompactSources) -> CompactSources:
        names = ("x", "y", "flux_jy", "sigma_major", "sigma_minor", "theta")
        return CompactSources(
            *(np.concatenate([getattr(self, n), getattr(other, n)]) for n in names)
        )

    def select(self, keep: np.ndarray) -> CompactSources:
        names = ("x", "y", "flux_jy", "sigma_major", "sigma_minor", "theta")
        return CompactSources(*(getattr(self, n)[keep] for n in names))


def draw_power_law(rng: np.random.Generator, n: int, lo: float, hi: float, slope: float):
    """``n`` values with density ~ x^-slope on [lo, hi] (inverse CDF; slope != 1)."""
    g = 1.0 - slope
    a, b = lo**g, hi**g
    return (a + rng.random(n) * (b - a)) ** (1.0 / g)


def draw_compact_sources(
    rng: np.random.Generator, config: SkyConfig, shape: tuple[int, int], *, margin: int = 8
) -> CompactSources:
    """Positions, fluxes and shapes of the unrelated compact sources of one cut-out.

    Sources are drawn over the image plus ``margin`` pixels on each side so that sources
    just outside still leak their wings in, as on a real tile.
    """
    h, w = shape
    px = config.pixel_scale_arcsec
    area_deg2 = (h + 2 * margin) * (w + 2 * margin) * (px / 3600.0) ** 2
    lo, hi = (v * 1e-6 for v in config.compact_flux_ujy)
    ref = config.compact_reference_ujy * 1e-6
    gamma = config.compact_slope - 1.0  # integral counts N(>S) ~ S^-gamma
    mean = (
        config.compact_density_per_deg2
        * area_deg2
        * ((lo / ref) ** (-gamma) - (hi / ref) ** (-gamma))
    )
    n = int(rng.poisson(mean))
    flux = draw_power_law(rng, n, lo, hi, config.compact_slope)
    x = rng.uniform(-margin, w - 1 + margin, n)
    y = rng.uniform(-margin, h - 1 + margin, n)
    resolved = rng.random(n) < config.resolved_compact_fraction
    fwhm = np.where(resolved, rng.uniform(2.0, 6.0, n), 0.0) / px
    ratio = rng.uniform(1.0, 2.0, n)
    smaj = fwhm * FWHM_TO_SIGMA
    return CompactSources(x, y, flux, smaj, smaj / ratio, rng.uniform(0.0, math.pi, n))


def render_compact(
    sources: CompactSources,
    beam_cov: np.ndarray,
    shape: tuple[int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Noiseless beam-convolved image (Jy/beam) of compact sources, ``(H, W)`` float64."""
    cov = gaussian_covariance(sources.sigma_major, sources.sigma_minor, sources.theta)
    cov = cov + beam_cov if len(sources) else np.zeros((0, 2, 2))
    amp = peak_for_flux(sources.flux_jy, cov, beam_cov) if len(sources) else np.zeros(0)
    return render_gaussians(shape, sources.x, sources.y, cov, amp, out=out)
