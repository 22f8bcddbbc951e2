"""Robust image statistics of the paper's pre-processing (Gupta et al. 2023, section 3.1).

Shared by the simulator (to calibrate and label), pre-processing (network channels) and the
non-learned baseline. NumPy/SciPy only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["mad", "clipped_noise", "ir_threshold", "islands"]


def mad(values: np.ndarray) -> float:
    """Median absolute deviation from the median (raw, *not* scaled by 1.4826)."""
    v = np.asarray(values, dtype=np.float64)
    med = np.median(v)
    return float(np.median(np.abs(v - med)))


def clipped_noise(image: np.ndarray, *, rounds: int = 2, clip: float = 3.0) -> float:
    """The paper's radio noise estimate: MAD clipping, then the standard deviation.

    Each of ``rounds`` rounds drops pixels more than ``clip`` x MAD from the median (the
    paper: "two rounds of data clipping ... threshold ... 3 x MAD"); sigma is the standard
    deviation of what remains. NaNs are ignored.

    Parameters
    ----------
    image : ndarray
        Any shape; typically a radio cut-out ``(H, W)`` in Jy/beam.
    rounds : int
        Number of clipping rounds (2 in the paper).
    clip : float
        Clipping half-width in units of the *raw* MAD (3 in the paper).

    Returns
    -------
    float
        sigma in the image's units, or ``nan`` when the image has no finite pixel.

    Notes
    -----
    The raw MAD of Gaussian noise is 0.674 sigma, so 3 x MAD clips at about 2 sigma and
    the estimate is biased low: for pure Gaussian noise it returns about 0.87 sigma. This is
    the paper's estimator and its 3-sigma islands are defined with it, so we keep it as is.
    The simulator calibrates its noise so that *this* estimator reads 25-35 uJy/beam.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(clipped_noise(rng.normal(0, 1, (256, 256))), 2)
    0.86
    """
    x = np.asarray(image, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    for _ in range(rounds):
        med = np.median(x)
        dev = np.abs(x - med)
        m = np.median(dev)
        if m == 0:
            break
        x = x[dev <= clip * m]
    return float(np.std(x))


def ir_threshold(image: np.ndarray, *, n_mad: float = 3.0) -> float:
    """The paper's infrared island threshold: median + ``n_mad`` x MAD of the finite pixels."""
    x = np.asarray(image, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    med = np.median(x)
    return float(med + n_mad * np.median(np.abs(x - med)))


def islands(
    image: np.ndarray, threshold: float, *, min_pixels: int = 5, connectivity: int = 2
) -> np.ndarray:
    """Connected regions above ``threshold`` with at least ``min_pixels`` pixels.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    threshold : float
        Pixels strictly above it are candidates (NaN never is).
    min_pixels : int
        Smallest island kept (5 px in the paper).
    connectivity : {1, 2}
        1 = 4-connected, 2 = 8-connected (the paper does not say; 8 is the default here).

    Returns
    -------
    ndarray of int32, shape (H, W)
        Island labels 1..n (0 = not an island), consecutive.
    """
    img = np.asarray(image)
    above = np.zeros(img.shape, dtype=bool)
    np.greater(img, threshold, out=above, where=np.isfinite(img))
    structure = ndimage.generate_binary_structure(2, connectivity)
    labels, n = ndimage.label(above, structure=structure)
    if n == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    new_ids = np.zeros(n + 1, dtype=np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new_ids[labels]
