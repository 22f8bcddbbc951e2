"""The restoring beam measured from an image's own noise (stats.noise_beam)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from napari_radiogal.stats import noise_beam


def _beam_noise(major, minor, angle_deg, *, n=256, seed=0):
    """White noise whose autocorrelation is an elliptical Gaussian beam (FWHM in pixels),
    as an interferometer's thermal noise is: smoothed by the beam shrunk by sqrt(2).

    ``angle_deg`` is the major axis counter-clockwise from +x (columns) towards +y (rows).
    """
    white = np.random.default_rng(seed).normal(size=(n, n))
    k = 31
    y, x = np.mgrid[-k : k + 1, -k : k + 1].astype(float)
    t = np.deg2rad(angle_deg)
    u, v = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    s1, s2 = major / 2.3548 / np.sqrt(2), minor / 2.3548 / np.sqrt(2)
    kernel = np.exp(-(u**2 / (2 * s1**2) + v**2 / (2 * s2**2)))
    return fftconvolve(white, kernel, mode="same")


@pytest.mark.parametrize(
    "major, minor, angle",
    [(8.0, 5.0, 30.0), (6.5, 5.5, 120.0), (3.0, 3.0, None), (12.0, 10.0, 75.0)],
)
def test_beam_of_correlated_noise_is_recovered(major, minor, angle):
    got = noise_beam(_beam_noise(major, minor, angle or 0.0))
    assert got is not None
    assert got[0] == pytest.approx(major, rel=0.08)
    assert got[1] == pytest.approx(minor, rel=0.08)
    if angle is not None and major / minor > 1.15:
        diff = abs((got[2] - angle + 90) % 180 - 90)
        assert diff < 8


def test_bright_sources_do_not_bias_the_beam():
    noise = _beam_noise(6.0, 6.0, 0.0, seed=3)
    noise[100:140, 60:200] += 50 * noise.std()  # an extended source far above the noise
    major, minor, _ = noise_beam(noise)
    assert major == pytest.approx(6.0, rel=0.1) and minor == pytest.approx(6.0, rel=0.1)


def test_white_noise_or_too_little_data_give_no_beam():
    rng = np.random.default_rng(0)
    assert noise_beam(rng.normal(size=(256, 256))) is None
    assert noise_beam(np.full((256, 256), np.nan)) is None
    assert noise_beam(rng.normal(size=(20, 20))) is None
