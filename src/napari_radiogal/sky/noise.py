"""Interferometric image noise and artefacts.

The noise of a restored interferometric image is correlated over the synthesised beam: its
autocorrelation function is (close to) the beam itself. White Gaussian noise convolved with a
Gaussian kernel of covariance ``C`` has an autocorrelation of covariance ``2 C``, so the kernel
here has *half* the beam covariance (FWHM = beam / sqrt 2) and the noise autocorrelation has
the beam's 13" x 11" FWHM. The convolution is one real FFT on a padded grid (no periodic
wrap-around at the image edges).

All images are ``(H, W)`` = ``(row, col)`` float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft

from napari_radiogal.stats import clipped_noise

__all__ = [
    "correlated_noise",
    "calibrate_noise_scale",
    "stripes",
    "sidelobe_rings",
    "ripple",
    "background_offset",
]


def correlated_noise(
    rng: np.random.Generator, shape: tuple[int, int], beam_cov: np.ndarray
) -> np.ndarray:
    """Unit-variance Gaussian noise whose autocorrelation is the beam.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (H, W)
    beam_cov : ndarray (2, 2)
        Beam covariance in ``(x, y)`` pixels squared (see
        :func:`~napari_radiogal.sky.render.beam_covariance`).

    Returns
    -------
    ndarray (H, W), float64
        Zero-mean noise of unit standard deviation (in expectation), autocorrelation
        ``exp(-r^T beam_cov^-1 r / 2)``.
    """
    h, w = shape
    pad = int(math.ceil(4.0 * math.sqrt(max(beam_cov[0, 0], beam_cov[1, 1]))))
    ph, pw = fft.next_fast_len(h + 2 * pad, real=True), fft.next_fast_len(w + 2 * pad, real=True)
    white = rng.standard_normal((ph, pw))
    ky = fft.fftfreq(ph)[:, None]
    kx = fft.rfftfreq(pw)[None, :]
    kernel_cov = 0.5 * np.asarray(beam_cov, dtype=np.float64)
    # Fourier transform of a unit-sum Gaussian: exp(-2 pi^2 k^T C k).
    transfer = np.exp(
        -2.0
        * math.pi**2
        * (kernel_cov[0, 0] * kx**2 + 2 * kernel_cov[0, 1] * kx * ky + kernel_cov[1, 1] * ky**2)
    )
    field = fft.irfft2(fft.rfft2(white) * transfer, s=(ph, pw))
    # Output variance = sum of the squared unit-sum kernel = 1 / (4 pi sqrt(det C)) for a
    # Gaussian of covariance C (exact to ~exp(-2 pi^2 C) for the sampled one; C >~ 1 px^2).
    std = math.sqrt(1.0 / (4.0 * math.pi * math.sqrt(np.linalg.det(kernel_cov))))
    return field[pad : pad + h, pad : pad + w] / std


def calibrate_noise_scale(
    sky: np.ndarray,
    unit_noise: np.ndarray,
    target_sigma: float,
    *,
    unit_reading: float | None = None,
    iterations: int = 6,
    rtol: float = 2e-3,
    min_fraction: float = 0.5,
) -> float:
    """Scale ``s`` such that ``clipped_noise(sky + s * unit_noise)`` reads ``target_sigma``.

    The paper's estimator (two rounds of 3 x MAD clipping, then the standard deviation) is
    biased low for pure noise and biased high by faint emission it cannot clip, so the scale
    is solved for on the actual image: secant steps on the (increasing) reading as a function
    of ``s``, starting from the noise-only scale ``s0``. ``s`` never drops below
    ``min_fraction * s0``: an image dominated by faint emission keeps real noise and then
    reads a little high. ``unit_reading`` is ``clipped_noise(unit_noise)`` if already known.
    """
    if unit_reading is None:
        unit_reading = clipped_noise(unit_noise)
    s0 = target_sigma / unit_reading
    lo = min_fraction * s0

    def reading(scale: float) -> float:
        return clipped_noise(sky + scale * unit_noise) - target_sigma

    s_prev, f_prev = s0, reading(s0)
    if abs(f_prev) <= rtol * target_sigma:
        return float(s0)
    s_cur = max(lo, s0 * target_sigma / (f_prev + target_sigma))
    for _ in range(iterations):
        f_cur = reading(s_cur)
        if abs(f_cur) <= rtol * target_sigma or f_cur == f_prev:
            break
        s_next = s_cur - f_cur * (s_cur - s_prev) / (f_cur - f_prev)
        s_prev, f_prev = s_cur, f_cur
        s_cur = float(np.clip(s_next, lo, 2.0 * s0))
        if s_cur == lo and f_cur > 0 and s_prev == lo:
            break
    return float(s_cur)


def stripes(
    rng: np.random.Generator,
    shape: tuple[int, int],
    sigma: float,
    beam_cov: np.ndarray,
    amplitude_sigma: tuple[float, float] = (0.3, 0.7),
) -> np.ndarray:
    """Low-level parallel stripes (e.g. from a bright source outside the field).

    A few plane waves of wavelength 8-40 px at one random orientation, total amplitude
    ``amplitude_sigma`` (drawn uniformly, default 0.3-0.7) sigma rms (``sigma`` in image
    units), tapered across the stripes; wavelengths of at least 8 px keep them smoother than
    the beam. ``beam_cov`` is accepted for symmetry with :func:`sidelobe_rings`.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    n_waves = int(rng.integers(1, 4))
    out = np.zeros(shape)
    for _ in range(n_waves):
        wavelength = rng.uniform(8.0, 40.0)
        out += np.cos(2 * math.pi * u / wavelength + rng.uniform(0, 2 * math.pi))
    # A smooth taper across the stripes so they fade like real ones.
    v_mid = -0.5 * (w - 1) * math.sin(angle) + 0.5 * (h - 1) * math.cos(angle)
    centre = v_mid + rng.uniform(-0.3, 0.3) * max(h, w)
    taper = np.exp(-0.5 * ((v - centre) / (rng.uniform(0.3, 1.0) * max(h, w))) ** 2)
    out *= taper
    amplitude = rng.uniform(*amplitude_sigma) * sigma / max(1e-12, float(np.std(out)))
    return amplitude * out


def sidelobe_rings(
    rng: np.random.Generator,
    shape: tuple[int, int],
    x: float,
    y: float,
    peak: float,
    beam_cov: np.ndarray,
    amplitude: tuple[float, float] = (0.003, 0.015),
) -> np.ndarray:
    """Residual sidelobes around a bright source at ``(x, y)``: rings and six radial spokes.

    Amplitude a fraction ``amplitude`` (drawn uniformly, default 0.3-1.5 %) of the source's
    peak (Jy/beam), alternating sign with radius, six-fold spokes like an ASKAP PSF, fading
    with radius. Rendered analytically, beam-smooth.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = xx - x, yy - y
    r = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    beam_sigma = math.sqrt(0.5 * (beam_cov[0, 0] + beam_cov[1, 1]))
    period = rng.uniform(3.0, 6.0) * beam_sigma
    fade = rng.uniform(4.0, 10.0) * beam_sigma
    rings = np.sin(2 * math.pi * r / period) * np.exp(-r / fade)
    spokes = 0.5 + 0.5 * np.cos(6.0 * (phi - rng.uniform(0, math.pi / 3)))
    pattern = rings * (0.4 + 0.6 * spokes**4)
    pattern *= 1.0 - np.exp(-0.5 * (r / (2.0 * beam_sigma)) ** 2)  # no ring on the source
    return rng.uniform(*amplitude) * peak * pattern


def ripple(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A large-scale ripple: 1-2 plane waves of 0.4-2 image widths, 0.2-1 ``sigma`` rms.

    Mosaicking seams and deconvolution errors leave such undulations in real images; they
    move the 3 sigma islands up and down over the whole cut-out.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros(shape)
    for _ in range(int(rng.integers(1, 3))):
        angle = rng.uniform(0.0, math.pi)
        wavelength = rng.uniform(0.4, 2.0) * max(h, w)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        out += np.cos(2.0 * math.pi * u / wavelength + rng.uniform(0.0, 2.0 * math.pi))
    return rng.uniform(0.2, 1.0) * sigma * out / max(1e-12, float(np.std(out)))


def background_offset(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float, rms_sigma: float
) -> np.ndarray:
    """A smooth background: a constant plus a plane, each of rms ``rms_sigma * sigma``.

    The gradient is ``rms_sigma * sigma`` per image width. Real images sit on negative bowls
    (missing short spacings) or positive residuals of the sky model.
    """
    h, w = shape
    level, gx, gy = rng.normal(0.0, rms_sigma * sigma, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return level + (gx * (xx - 0.5 * (w - 1)) + gy * (yy - 0.5 * (h - 1))) / max(h, w)
