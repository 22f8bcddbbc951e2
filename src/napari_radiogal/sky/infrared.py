"""The WISE W1 sky on its own pixel grid (paper section 2.2).

A few hundred unrelated sources per 7' x 7' field with counts rising 0.3 dex per magnitude
(near the confusion limit), the host galaxy of every extended radio source at its core, and,
for some sources, a brighter unrelated galaxy lying on the radio emission (the paper's
figure 5 failure mode). PSF: Gaussian, FWHM 6.1", or (``moffat_psf_fraction``) a Moffat
profile of the same FWHM, painted as a non-negative mixture of Gaussians (:func:`moffat_mixture`).
Sky background plus Gaussian noise set by the product's 5 sigma point-source depth. Some hosts
can be resolved galaxies (``extended_host_fraction``).

Every host is guaranteed to be an IR source in the paper's sense: a local maximum above
``median + 3 x MAD`` of the image within half a PSF FWHM of its position (a host drawn too
faint is brightened in 0.3 mag steps until it is; the W1 written to the truth is the final
one).

Images are ``(H, W)`` = ``(row, col)`` in the product's unit (DN, nanomaggies or MJy/sr); positions
``(x, y)`` = ``(col, row)`` in IR pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy import ndimage, optimize

from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.headers import IR_STYLES, IrStyle, ir_wcs_and_header
from napari_radiogal.sky.noise import correlated_noise
from napari_radiogal.sky.render import FWHM_TO_SIGMA, gaussian_covariance, render_gaussians
from napari_radiogal.stats import ir_threshold

__all__ = [
    "HostRequest",
    "InfraredSky",
    "simulate_infrared",
    "host_is_detected",
    "moffat_mixture",
]

#: A point-spread function as ``((weight, covariance (2, 2) in px^2), ...)``, weights summing
#: to 1; a Gaussian PSF is one pair.
Psf = tuple[tuple[float, np.ndarray], ...]


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
    # Later conventions are drawn only when switched on (the default sky keeps its stream).
    if config.mjysr_fraction > 0 and rng.random() < config.mjysr_fraction:
        style = IR_STYLES["mjysr"]
    field_arcsec = config.size * config.pixel_scale_arcsec
    wcs, header, shape = ir_wcs_and_header(
        rng, style, ra, dec, field_arcsec, config.ir_margin_arcsec
    )
    scale = style.pixel_scale_arcsec
    psf_sigma = config.ir_psf_fwhm_arcsec * FWHM_TO_SIGMA / scale
    psf_cov = np.eye(2) * psf_sigma**2
    psf: Psf = ((1.0, psf_cov),)
    if config.moffat_psf_fraction > 0 and rng.random() < config.moffat_psf_fraction:
        beta = float(rng.uniform(*config.moffat_beta))
        psf = tuple(
            (w, np.eye(2) * s**2)
            for w, s in moffat_mixture(config.ir_psf_fwhm_arcsec / scale, beta)
        )
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
    shapes = _galaxy_covariances(rng, n, scale, resolved_fraction=0.3)
    image = np.zeros(shape)
    _paint(image, x, y, shapes, _flux(mags, style.magzp), psf)

    sky = InfraredSky(
        data=image, wcs=wcs, header=header, style=style, pixel_noise=pixel_noise, n_sources=n
    )
    host_shapes = []
    for req in hosts:
        hx, hy = (float(v) for v in wcs.world_to_pixel_values(req.ra, req.dec))
        mag_range = config.faint_host_mag_range if req.faint else config.host_mag_range
        mag = float(rng.uniform(*mag_range))
        hshape = _galaxy_covariances(rng, 1, scale, resolved_fraction=1.0, max_fwhm_arcsec=4.0)
        if config.extended_host_fraction > 0 and rng.random() < config.extended_host_fraction:
            # A nearby, big elliptical: resolved by W1 and brighter than an ordinary host.
            mag = min(mag, float(rng.uniform(10.5, 13.5)))
            hshape = _galaxy_covariances(
                rng, 1, scale, resolved_fraction=1.0, min_fwhm_arcsec=8.0, max_fwhm_arcsec=25.0
            )
        _paint(image, [hx], [hy], hshape, _flux([mag], style.magzp), psf)
        sky.host_xy.append((hx, hy))
        sky.host_mag.append(mag)
        host_shapes.append(hshape)
        neighbour = None
        nmag = None
        if req.bright_neighbour and len(req.emission_radec):
            neighbour, nmag = _place_neighbour(rng, req, mag)
            if neighbour is not None:
                nx, ny = (float(v) for v in wcs.world_to_pixel_values(*neighbour))
                nshape = _galaxy_covariances(rng, 1, scale, resolved_fraction=0.7)
                _paint(image, [nx], [ny], nshape, _flux([nmag], style.magzp), psf)
        sky.neighbour_radec.append(neighbour)
        sky.neighbour_mag.append(nmag)

    # Background (a level and a gradient) and noise, correlated over ~1 px for the
    # resampled AllWISE atlas grid.
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    level = rng.uniform(*style.background) * pixel_noise
    gx, gy = rng.normal(0.0, config.ir_gradient_noise * pixel_noise / max(shape), size=2)
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
            _paint(image, [hx], [hy], host_shapes[k], boost, psf)
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
    scale: float,
    *,
    resolved_fraction: float,
    min_fwhm_arcsec: float = 1.0,
    max_fwhm_arcsec: float = 5.0,
) -> np.ndarray:
    """Intrinsic shapes ``(n, 2, 2)`` px^2: zero for point sources, a small ellipse for a
    fraction of them (the PSF is added when painting)."""
    fwhm = (
        np.where(
            rng.random(n) < resolved_fraction,
            rng.uniform(min_fwhm_arcsec, max_fwhm_arcsec, n),
            0.0,
        )
        / scale
    )
    ratio = rng.uniform(1.0, 2.0, n)
    theta = rng.uniform(0.0, math.pi, n)
    smaj = fwhm * FWHM_TO_SIGMA
    return gaussian_covariance(smaj, smaj / ratio, theta)


def _paint(image: np.ndarray, x, y, shapes: np.ndarray, flux, psf: Psf) -> None:
    """Add sources of intrinsic Gaussian ``shapes`` and total ``flux`` seen through ``psf``."""
    for weight, pcov in psf:
        cov = shapes + pcov
        render_gaussians(image.shape, x, y, cov, _peak(weight * flux, cov), out=image)


def moffat_mixture(fwhm_px: float, beta: float, n: int = 4) -> tuple[tuple[float, float], ...]:
    """A circular Moffat PSF as ``n`` concentric Gaussians: ``((weight, sigma_px), ...)``.

    The Moffat profile ``(1 + (r / alpha)^2)^-beta`` of the given FWHM is fitted (radial
    surface brightness, non-negative least squares, out to 5 FWHM) by unit-flux Gaussians of
    widths 0.6-4 times the Gaussian sigma of that FWHM; weights are normalised to a total
    flux of 1 (the far wings beyond 5 FWHM are dropped).

    Examples
    --------
    >>> mix = moffat_mixture(4.0, 3.0)
    >>> round(sum(w for w, _ in mix), 6), len(mix)
    (1.0, 4)
    """
    alpha = fwhm_px / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    sigma0 = fwhm_px * FWHM_TO_SIGMA
    sigmas = sigma0 * np.geomspace(0.6, 4.0, n)
    r = np.linspace(0.0, 5.0 * fwhm_px, 120)
    target = (1.0 + (r / alpha) ** 2) ** (-beta)
    basis = np.exp(-0.5 * (r[:, None] / sigmas[None, :]) ** 2) / (2.0 * math.pi * sigmas**2)
    # Weight by r (plus a little at the centre) so the fit follows the flux, not the core only.
    wr = np.sqrt(r + 0.5)[:, None]
    weights, _ = optimize.nnls(basis * wr, target * wr[:, 0])
    weights = weights / weights.sum()
    return tuple((float(w), float(s)) for w, s in zip(weights, sigmas, strict=True) if w > 0)


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
