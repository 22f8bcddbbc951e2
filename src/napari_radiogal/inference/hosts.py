"""Host galaxies: one position per instance (DESIGN decision 7, ALGORITHM 8.1 and 11.11).

With an infrared image, the host is the peak of ``instance CAM x IR`` inside the instance's
mask (the paper's rule), with IR clipped at 0 (the authors' code lets normalised IR go
negative, so an empty mask picks a pixel outside it), refined to sub-pixel precision, and
"no host" (``None``) when that product is zero everywhere in the mask. The host of two
detached lobes usually sits in the gap between them, outside the mask: with
``InferenceConfig(host_region="hull")`` the search region of a mask of several parts is its
convex hull instead (the default stays the paper's rule until the two are compared on data).

Without an infrared image there is nothing to pick a galaxy from, so the host is the
*instance centre* that the network's displacement field converges to: the mean converged
centroid of the instance's cells. IRNet trains that field to point at the centre of each
source, which for a double-lobed FR-II lies between the lobes, near the core, where the host
usually sits (the radio peak would instead be a hotspot at the end of a lobe). Such hosts
carry ``extra["host_from"] == "displacement"``; IR hosts carry ``"ir"``.

Positions are ``(x, y)`` = ``(col, row)`` in pixels of the radio image, pixel centres.
"""

from __future__ import annotations

import numpy as np

from napari_radiogal.inference.instances import grid_to_pixel

__all__ = ["peak_position", "ir_host", "displacement_centre", "sky_position"]


def peak_position(
    weight: np.ndarray, mask: np.ndarray, *, subpixel: bool = True
) -> tuple[float, float] | None:
    """``(x, y)`` of the maximum of ``weight`` inside ``mask``, or ``None`` if it is not > 0.

    Parameters
    ----------
    weight : ndarray, shape (H, W)
        Non-negative weights (NaN counts as 0).
    mask : ndarray of bool, shape (H, W)
    subpixel : bool
        Refine to the weighted centroid of the mask pixels in the 3 x 3 window around the
        peak (so a peak between two equal pixels lands between them).

    Returns
    -------
    (x, y) or None
        Column and row in pixels (pixel centres).

    Examples
    --------
    >>> w = np.zeros((5, 5)); w[2, 1] = w[2, 2] = 1.0
    >>> peak_position(w, np.ones((5, 5), bool))
    (1.5, 2.0)
    >>> peak_position(w, np.zeros((5, 5), bool)) is None
    True
    """
    inside = np.where(mask, np.nan_to_num(np.asarray(weight, dtype=np.float64)), 0.0)
    flat = int(np.argmax(inside))
    row, col = divmod(flat, inside.shape[1])
    if not inside[row, col] > 0:
        return None
    if not subpixel:
        return float(col), float(row)
    r0, r1 = max(row - 1, 0), min(row + 2, inside.shape[0])
    c0, c1 = max(col - 1, 0), min(col + 2, inside.shape[1])
    window = np.clip(inside[r0:r1, c0:c1], 0.0, None)
    rows, cols = np.mgrid[r0:r1, c0:c1]
    total = window.sum()
    return float((window * cols).sum() / total), float((window * rows).sum() / total)


def ir_host(
    instance_cam: np.ndarray, infrared: np.ndarray, mask: np.ndarray, *, subpixel: bool = True
) -> tuple[float, float] | None:
    """The paper's host: peak of ``instance CAM x max(IR, 0)`` inside the mask.

    Parameters
    ----------
    instance_cam : ndarray, shape (H, W)
        The instance's class activation map at full resolution (non-negative).
    infrared : ndarray, shape (H, W)
        Pre-processed infrared on the radio grid (NaN outside its footprint counts as 0).
    mask : ndarray of bool, shape (H, W)

    Returns
    -------
    (x, y) or None
        ``None`` ("no host") when the product is zero everywhere in the mask.
    """
    ir = np.clip(np.nan_to_num(np.asarray(infrared, dtype=np.float64)), 0.0, None)
    return peak_position(np.clip(instance_cam, 0.0, None) * ir, mask, subpixel=subpixel)


def displacement_centre(
    centroids: np.ndarray, cells: np.ndarray, *, stride: int = 4
) -> tuple[float, float] | None:
    """The instance centre of the displacement field, in radio pixels.

    Parameters
    ----------
    centroids : ndarray, shape (2, h, w)
        Converged ``(y, x)`` grid coordinates of every cell
        (:func:`~napari_radiogal.inference.instances.refine_centroids`).
    cells : ndarray of bool, shape (h, w)
        The instance's cells on that grid.
    stride : int
        Pixels per grid cell.

    Returns
    -------
    (x, y) or None
        Mean converged centroid, converted to pixel centres; ``None`` if ``cells`` is empty.
    """
    if not cells.any():
        return None
    y = float(centroids[0][cells].mean())
    x = float(centroids[1][cells].mean())
    return float(grid_to_pixel(x, stride)), float(grid_to_pixel(y, stride))


def sky_position(wcs, x: float, y: float) -> tuple[float | None, float | None]:
    """``(ra, dec)`` in degrees of pixel ``(x, y)`` through a celestial WCS (None, None without)."""
    if wcs is None:
        return None, None
    ra, dec = wcs.pixel_to_world_values(x, y)
    ra, dec = float(ra), float(dec)
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return None, None
    return ra % 360.0, dec
