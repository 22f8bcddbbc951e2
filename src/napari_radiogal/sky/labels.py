"""Ground truth the way the paper's labellers made it, measured on the *noisy* image.

* Class (paper section 2.3.2): the a/b rule of :mod:`napari_radiogal.ab_rule` (re-exported
  here): FR-I if ``a/b < 0.45``, FR-II if ``a/b > 0.55``, FR-X in between, R with one peak.
* Mask (section 2.3.3): pixels above 3 sigma that belong to the source, all components
  together; unrelated compact sources on top of it are removed.

Here "belongs to the source" means the source's own noiseless model exceeds ~1 sigma there and
outshines every other model (another extended source, the sum of unrelated compact sources).

Images are ``(H, W)`` = ``(row, col)``; positions ``(x, y)`` = ``(col, row)`` in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from napari_radiogal.ab_rule import Morphology, classify_ratio, measure_morphology
from napari_radiogal.stats import islands

__all__ = [
    "Morphology",
    "measure_morphology",
    "classify_ratio",
    "ownership",
    "truth_mask",
    "count_components",
    "distance_to_mask",
]

_EIGHT = ndimage.generate_binary_structure(2, 2)


def ownership(
    models: Sequence[np.ndarray],
    index: int,
    sigma: float,
    *,
    compact: np.ndarray | None = None,
    model_sigma: float = 1.0,
) -> np.ndarray:
    """Pixels that belong to source ``index``.

    Parameters
    ----------
    models : sequence of ndarray (H, W)
        Noiseless, beam-convolved models of each extended source, Jy/beam.
    index : int
        Which source.
    sigma : float
        Image RMS, Jy/beam.
    compact : ndarray (H, W), optional
        Noiseless model of all unrelated compact sources.
    model_sigma : float
        The source's model must exceed ``model_sigma * sigma``.

    Returns
    -------
    ndarray of bool (H, W)
    """
    own = models[index]
    result = own > model_sigma * sigma
    for j, other in enumerate(models):
        if j != index:
            result &= own >= other
    if compact is not None:
        result &= own >= compact
    return result


def truth_mask(
    image: np.ndarray,
    sigma: float,
    owned: np.ndarray,
    *,
    mask_sigma: float = 3.0,
    min_pixels: int = 5,
) -> np.ndarray:
    """Ground-truth mask: pixels above ``mask_sigma * sigma`` that the source owns.

    Islands (8-connected) smaller than ``min_pixels`` are dropped, like the paper's
    pre-processing drops them.
    """
    # The paper's islands (napari_radiogal.stats), computed on the source's own pixels only.
    own_image = np.where(owned, image, -np.inf)
    return islands(own_image, mask_sigma * sigma, min_pixels=max(1, int(min_pixels))) > 0


def count_components(mask: np.ndarray) -> int:
    """Number of 8-connected components of a boolean mask."""
    return int(ndimage.label(mask, structure=_EIGHT)[1])


def distance_to_mask(mask: np.ndarray, x: float, y: float) -> float:
    """Distance in pixels from ``(x, y)`` to the nearest mask pixel centre (0 when inside).

    Returns ``inf`` for an empty mask.
    """
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return math.inf
    ix, iy = int(round(x)), int(round(y))
    if 0 <= iy < mask.shape[0] and 0 <= ix < mask.shape[1] and mask[iy, ix]:
        return 0.0
    return float(np.sqrt(np.min((cols - x) ** 2 + (rows - y) ** 2)))
