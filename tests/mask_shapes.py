"""Hand-made masks shared by the COCO and mask tests."""

from __future__ import annotations

import numpy as np

#: Shape of every mask below.
H, W = 24, 32


def lobes_with_hole() -> np.ndarray:
    """Two disjoint lobes, the left one with a 2x2 hole, plus a diagonal-touching pixel."""
    m = np.zeros((H, W), dtype=bool)
    m[2:9, 2:9] = True
    m[4:6, 4:6] = False  # hole
    m[14:20, 20:30] = True  # second lobe
    m[20, 30] = True  # touches the lobe's corner only (8-connected)
    return m
