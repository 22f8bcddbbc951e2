"""The WISE W1 sky on its own pixel grid (paper section 2.2).

A few hundred unrelated sources per 7' x 7' field with counts rising 0.3 dex per magnitude
(near the confusion limit), the host galaxy of every extended radio source at its core, and,
for some sources, a brighter unrelated galaxy lying on the radio emission (the paper's
figure 5 failure mode). PSF: Gaussian, FWHM 6.1". Sky background plus Gaussian noise set by
the product's 5 sigma point-source depth.

Every host is guaranteed to be an IR source in the paper's sense: a local maximum above
``median + 3 x MAD`` of the image within half a PSF FWHM of its position (a host drawn too
faint is brightened in 0.3 mag steps until it is; the W1 written to the truth is the final
one).

Images are ``(H, W)`` = ``(row, col)`` in the product's unit (DN or nanomaggies); positions
``(x, y)`` = ``(col, row)`` in IR pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy import ndimage

from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.headers import IR_STYLES, IrStyle, ir_wcs_and_header
from napari_radiogal.sky.noise import correlated_noise
from napari_radiogal.sky.render import FWHM_TO_SIGMA, gaussian_covariance, render_gaussians
from napari_radiogal.stats import ir_threshold

__all__ = ["HostRequest", "InfraredSky", "simulate_infrared", "host_is_detected"]


@dataclass
class HostRequest:
    """What the radio side asks of the IR sky for one extended source.

    Attributes
    ----------
    ra, dec : float
        Host position, degrees.
    emission_radec : ndarray (M, 2)
        Sky positions (degrees) of pixels of the source's radio emission; a brighter
        unrelated IR neighbour is placed on one of them when requested.
    faint : bool
        Draw the host from the faint magnitude range.
    bright_neighbour : bool
        Put a brighter unrelated IR source on the radio emission.
    """

    ra: float
    dec: float
    emission_radec: np.ndarray
    faint: bool = False
    bright_neighbour: bool = False


@dataclass
class InfraredSky:
    """A simulated W1 image and what was put into it."""

    data: np.ndarray
    wcs: WCS
    header: fits.Header
    style: IrStyle
    pixel_noise: float
    host_xy: list[tuple[float, float]] = field(default_factory=list)
    host_mag: list[float] = field(default_factory=list)
    neighbour_radec: list[tuple[float, float] | None] = field(default_factory=list)
    neighbour_mag: list[float | None] = field(default_factory=list)
    n_sources: int = 0


def _flux(mag, magzp: float):
    return 10.0 ** (0.4 * (magzp - np.asarray(mag, dtype=np.float64)))


def _draw_magnitudes(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Magnitudes with dN/dm ~ 10^(0.3 m) between lo and hi (inverse CDF)."""
    a, b = 10.0 ** (0.3 * lo), 10.0 ** (0.3 * hi)
    return np.log10(a + rng.random(n) * (b - a)) / 0.3


def simulate_infrared(
    rng: np.random.Generator,
    config: SkyConfig,
    ra: float,
    dec: float,
    hosts: Sequence[HostRequest],
) -> InfraredSky:
    """Draw the W1 image of one cut-out.

    Parameters
    ----------
    rng : numpy.random.Generator
    config : SkyConfig
    ra, dec : float
        Centre of the radio field, degrees.
    hosts : sequence of HostRequest
        One per extended radio source.

    Returns
    -------
    InfraredSky
    """
    style = IR_STYLES["unwise" if rng.random() < config.unwise_fraction else "allwise"]
    field_arcsec = config.size * config.pixel_scale_arcsec
    wcs, header, shape = ir_wcs_and_header(
        rng, style, ra, dec, field_arcsec, config.ir_margin_arcsec
    )
    scale = style.pixel_scale_arcsec
    psf_sigma = config.ir_psf_fwhm_arcsec * FWHM_TO_SIGMA / scale
    psf_cov = np.eye(2) * psf_sigma**2
    # Pixel noise from the 5 sigma point-source depth: sigma_total = F5 / 5 over the
    # noise-equivalent area 4 pi sigma_psf^2 of an optimally weighted PSF fit.
    pixel_noise = float(_flux(style.depth_mag, style.magzp)) / (
        5.0 * math.sqrt(4.0 * math.pi * psf_sigma**2)
    )

    # Unrelated sources: density given above W1 = 17; counts rise 0.3 dex / mag.
    area_arcmin2 = (shape[0] * scale / 60.0) * (shape[1] * scale / 60.0)
    lo, hi = config.ir_mag_range
    n_mean = (
        config.ir_density_per_arcmin2
        * area_arcmin2
        * (10.0 ** (0.3 * (hi - 17.0)) - 10.0 ** (0.3 * (lo - 17.0)))
    )
    n = int(rng.poisson(n_mean))
    mags = _draw_magnitudes(rng, n, lo, hi)
    x = rng.uniform(-0.5, shape[1] - 0.5, n)
    y = rng.uniform(-0.5, shape[0] - 0.5, n)
    cov = _galaxy_covariances(rng, n, psf_cov, scale, resolved_fraction=0.3)
    image = np.zeros(shape)
    render_gaussians(shape, x, y, cov, _peak(_flux(mags, style.magzp), cov), out=image)

    sky = InfraredSky(
        data=image, wcs=wcs, header=header, style=style, pixel_noise=pixel_noise, n_sources=n
    )
    host_cov = []
    for req in hosts:
        hx, hy = (float(v) for v in wcs.world_to_pixel_values(req.ra, req.dec))
        mag_range = config.faint_host_mag_range if req.faint else config.host_mag_range
        mag = float(rng.uniform(*mag_range))
        hcov = _galaxy_covariances(
            rng, 1, psf_cov, scale, resolved_fraction=1.0, max_fwhm_arcsec=4.0
        )
        render_gaussians(shape, [hx], [hy], hcov, _peak(_flux([mag], style.magzp), hcov), out=image)
        sky.host_xy.append((hx, hy))
        sky.host_mag.append(mag)
        host_cov.append(hcov)
        neighbour = None
        nmag = None
        if req.bright_neighbour and len(req.emission_radec):
            neighbour, nmag = _place_neighbour(rng, req, mag)
            if neighbour is not None:
                nx, ny = (float(v) for v in wcs.world_to_pixel_values(*neighbour))
                ncov = _galaxy_covariances(rng, 1, psf_cov, scale, resolved_fraction=0.7)
                render_gaussians(
                    shape, [nx], [ny], ncov, _peak(_flux([nmag], style.magzp), ncov), out=image
                )
        sky.neighbour_radec.append(neighbour)
        sky.neighbour_mag.append(nmag)

    # Background (a level and a gentle gradient) and noise, correlated over ~1 px for the
    # resampled AllWISE atlas grid.
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    level = rng.uniform(*style.background) * pixel_noise
    gx, gy = rng.normal(0.0, 0.5 * pixel_noise / max(shape), size=2)
    image += level + gx * (xx - shape[1] / 2) + gy * (yy - shape[0] / 2)
    if style.noise_correlation_px > 0:
        noise = correlated_noise(rng, shape, np.eye(2) * style.noise_correlation_px**2)
    else:
        noise = rng.standard_normal(shape)
    image += pixel_noise * noise

    # Every host must be an IR source: brighten faint ones until they are detected.
    radius = max(1.5, 0.5 * config.ir_psf_fwhm_arcsec / scale)
    for _ in range(20):
        threshold = ir_threshold(image)  # brightening one host barely moves it
        missing = [
            k
            for k, (hx, hy) in enumerate(sky.host_xy)
            if not host_is_detected(image, hx, hy, threshold, radius)
        ]
        if not missing:
            break
        for k in missing:
            hx, hy = sky.host_xy[k]
            boost = _flux([sky.host_mag[k] - 0.3], style.magzp) - _flux(
                [sky.host_mag[k]], style.magzp
            )
            render_gaussians(shape, [hx], [hy], host_cov[k], _peak(boost, host_cov[k]), out=image)
            sky.host_mag[k] -= 0.3
    sky.data = image.astype(np.float32)
    return sky


def host_is_detected(
    image: np.ndarray, x: float, y: float, threshold: float, radius: float
) -> bool:
    """Whether a local maximum (3 x 3) above ``threshold`` lies within ``radius`` px of (x, y)."""
    h, w = image.shape
    r = int(math.ceil(radius)) + 1
    ix, iy = int(round(x)), int(round(y))
    r0, r1 = max(0, iy - r), min(h, iy + r + 1)
    c0, c1 = max(0, ix - r), min(w, ix + r + 1)
    if r0 >= r1 or c0 >= c1:
        return False
    # Pad the window by one so maxima on its border are judged against real neighbours.
    pr0, pr1, pc0, pc1 = max(0, r0 - 1), min(h, r1 + 1), max(0, c0 - 1), min(w, c1 + 1)
    window = image[pr0:pr1, pc0:pc1]
    local = window == ndimage.maximum_filter(window, size=3, mode="nearest")
    local &= window > threshold
    rows, cols = np.nonzero(local)
    rows, cols = rows + pr0, cols + pc0
    return bool(np.any((cols - x) ** 2 + (rows - y) ** 2 <= radius**2))


def _peak(flux, cov) -> np.ndarray:
    """Peak pixel value of Gaussians of integrated ``flux`` and covariance ``cov`` (px^2)."""
    det = np.linalg.det(np.asarray(cov).reshape(-1, 2, 2))
    return np.asarray(flux, dtype=np.float64) / (2.0 * math.pi * np.sqrt(det))


def _galaxy_covariances(
    rng: np.random.Generator,
    n: int,
    psf_cov: np.ndarray,
    scale: float,
    *,
    resolved_fraction: float,
    max_fwhm_arcsec: float = 5.0,
) -> np.ndarray:
    """PSF covariance plus, for a fraction of sources, a small elliptical galaxy."""
    fwhm = (
        np.where(rng.random(n) < resolved_fraction, rng.uniform(1.0, max_fwhm_arcsec, n), 0.0)
        / scale
    )
    ratio = rng.uniform(1.0, 2.0, n)
    theta = rng.uniform(0.0, math.pi, n)
    smaj = fwhm * FWHM_TO_SIGMA
    return gaussian_covariance(smaj, smaj / ratio, theta) + psf_cov


def _place_neighbour(
    rng: np.random.Generator, req: HostRequest, host_mag: float
) -> tuple[tuple[float, float] | None, float | None]:
    """A sky position on the radio emission >= 12" from the host, and a brighter W1."""
    pts = np.asarray(req.emission_radec, dtype=np.float64)
    cosd = math.cos(math.radians(req.dec))
    sep = np.hypot((pts[:, 0] - req.ra) * cosd, pts[:, 1] - req.dec) * 3600.0
    ok = np.nonzero((sep >= 12.0) & (sep <= 60.0))[0]
    if ok.size == 0:
        ok = np.nonzero(sep >= 12.0)[0]
    if ok.size == 0:
        return None, None
    ra, dec = pts[ok[int(rng.integers(ok.size))]]
    mag = max(10.0, host_mag - rng.uniform(0.5, 2.5))
    return (float(ra), float(dec)), float(mag)
