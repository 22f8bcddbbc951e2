"""Instances from the IRNet displacement field: centroids, clusters, instance maps and masks.

Stage F of ALGORITHM.md section 8, steps 2-4 and 9-10, on plain arrays. Grids are
``(row, col)``; displacements are ``(dy, dx)`` in stride-4 cells and point from a cell to the
centre of its instance. Where we differ from the authors' code, on purpose:

* centroid refinement is vectorised over all cells (and images) and stops early once no
  centroid moves (the authors always run 300 Python-level iterations);
* a cell whose converged centroid lands outside every weak-displacement region joins the
  nearest such region (the authors lump all of them into one extra cluster);
* masks are kept whole per (class, cluster): disjoint FR-II lobes stay one instance
  (DESIGN decision 5, ALGORITHM 11.7); only specks are removed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "refine_centroids",
    "cluster_centroids",
    "instance_maps",
    "label_from_scores",
    "remove_fragments",
    "assign_whole_islands",
    "grid_to_pixel",
]


def refine_centroids(
    displacement: np.ndarray, iterations: int = 300, *, tolerance: float = 1e-4
) -> np.ndarray:
    """Follow the displacement field from every cell to its instance centre.

    Each step moves every point by the bilinearly interpolated displacement at its current
    position and clips it to the grid: ``p <- clip(p + D(p))`` (IRNet's refinement).

    Parameters
    ----------
    displacement : ndarray, shape (2, h, w) or (n, 2, h, w)
        ``(dy, dx)`` in grid cells.
    iterations : int
        Maximum number of steps (300 in the paper).
    tolerance : float
        Stop once no point moves by more than this many cells in one step.

    Returns
    -------
    ndarray of float64, shape (2, h, w) or (n, 2, h, w)
        Converged ``(y, x)`` of every cell (not rounded).

    Examples
    --------
    >>> yy, xx = np.mgrid[:9, :9].astype(float)
    >>> d = np.stack([4 - yy, 4 - xx]) * 0.5       # everything flows to (4, 4)
    >>> c = refine_centroids(d, 50)
    >>> bool(np.allclose(c, 4.0, atol=1e-3))
    True
    """
    d = np.asarray(displacement, dtype=np.float64)
    squeeze = d.ndim == 3
    if squeeze:
        d = d[None]
    n, _, h, w = d.shape
    size = h * w
    flat_dy = d[:, 0].reshape(-1)
    flat_dx = d[:, 1].reshape(-1)
    base = (np.arange(n) * size)[:, None]  # (n, 1): offset of each image in the flat arrays
    y = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, w)).reshape(1, -1)
    x = np.broadcast_to(np.arange(w, dtype=np.float64)[None, :], (h, w)).reshape(1, -1)
    y = np.repeat(y, n, axis=0)
    x = np.repeat(x, n, axis=0)
    for _ in range(iterations):
        y0 = np.minimum(np.floor(y), h - 1).astype(np.int64)
        x0 = np.minimum(np.floor(x), w - 1).astype(np.int64)
        y1 = np.minimum(y0 + 1, h - 1)
        x1 = np.minimum(x0 + 1, w - 1)
        fy, fx = y - y0, x - x0
        i00, i01 = base + y0 * w + x0, base + y0 * w + x1
        i10, i11 = base + y1 * w + x0, base + y1 * w + x1
        w00, w01 = (1 - fy) * (1 - fx), (1 - fy) * fx
        w10, w11 = fy * (1 - fx), fy * fx
        step_y = w00 * flat_dy[i00] + w01 * flat_dy[i01] + w10 * flat_dy[i10] + w11 * flat_dy[i11]
        step_x = w00 * flat_dx[i00] + w01 * flat_dx[i01] + w10 * flat_dx[i10] + w11 * flat_dx[i11]
        new_y = np.clip(y + step_y, 0, h - 1)
        new_x = np.clip(x + step_x, 0, w - 1)
        moved = max(np.abs(new_y - y).max(), np.abs(new_x - x).max())
        y, x = new_y, new_x
        if moved < tolerance:
            break
    out = np.stack([y.reshape(n, h, w), x.reshape(n, h, w)], axis=1)
    return out[0] if squeeze else out


def cluster_centroids(
    centroids: np.ndarray, displacement: np.ndarray, threshold: float = 2.5
) -> np.ndarray:
    """Group cells whose centroids converge into the same weak-displacement region.

    Parameters
    ----------
    centroids : ndarray, shape (2, h, w)
        Converged ``(y, x)`` of every cell (:func:`refine_centroids`).
    displacement : ndarray, shape (2, h, w)
        ``(dy, dx)``; cells with ``|D| < threshold`` form the centre regions (4-connected).
    threshold : float
        In grid cells (2.5 in the paper).

    Returns
    -------
    ndarray of int32, shape (h, w)
        Cluster ids ``0..I-1``, numbered in raster order of their centre regions. A cell whose
        centroid lands outside every region joins the nearest region; when there is no
        region at all, every cell is cluster 0.

    Examples
    --------
    >>> d = np.zeros((2, 4, 6)); d[1, :, 2:4] = 9.0       # a strong band splits the grid
    >>> c = np.stack(np.mgrid[:4, :6]).astype(float)    # centroids: the cells themselves
    >>> cluster_centroids(c, d)[0].tolist()    # band cells join the nearest region
    [0, 0, 0, 1, 1, 1]
    """
    d = np.asarray(displacement, dtype=np.float64)
    h, w = d.shape[1:]
    weak = np.hypot(d[0], d[1]) < threshold
    regions, n_regions = ndimage.label(weak)  # default structure = 4-connectivity
    if n_regions == 0:
        return np.zeros((h, w), dtype=np.int32)
    if not weak.all():
        # each off-region cell reads the label of its nearest region cell
        _, (iy, ix) = ndimage.distance_transform_edt(~weak, return_indices=True)
        regions = regions[iy, ix]
    cy = np.clip(np.rint(centroids[0]), 0, h - 1).astype(np.int64)
    cx = np.clip(np.rint(centroids[1]), 0, w - 1).astype(np.int64)
    labels = regions[cy, cx]
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(h, w).astype(np.int32)


def instance_maps(
    cams: np.ndarray,
    classes: np.ndarray,
    clusters: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    min_peak: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One map per (class, cluster): the class CAM restricted to the cluster's cells.

    Parameters
    ----------
    cams : ndarray, shape (K, h, w)
        Class activation maps on the stride-4 grid, each max-normalised to [0, 1].
    classes : ndarray of int, shape (k,)
        Indices (into ``cams``) of the classes to segment.
    clusters : ndarray of int, shape (h, w)
        Cluster ids ``0..I-1`` (:func:`cluster_centroids`).
    weight : ndarray, shape (h, w), optional
        Multiplies every map (the radio weighting of the authors' code).
    min_peak : float
        Maps whose maximum is not above this are dropped. The random walk only averages, so
        a map that never exceeds the background score cannot win a single pixel: dropping
        it changes nothing but the time spent.

    Returns
    -------
    maps : ndarray of float32, shape (m, h, w)
    keys : ndarray of int, shape (m, 2)
        ``(class index, cluster id)`` of each map.
    """
    classes = np.asarray(classes, dtype=np.int64)
    n_clusters = int(clusters.max()) + 1 if clusters.size else 0
    one_hot = clusters[None, :, :] == np.arange(n_clusters)[:, None, None]  # (I, h, w)
    base = cams[classes]  # (k, h, w)
    if weight is not None:
        base = base * weight[None]
    maps = base[:, None, :, :] * one_hot[None, :, :, :]  # (k, I, h, w)
    keys = np.stack(np.meshgrid(classes, np.arange(n_clusters), indexing="ij"), axis=-1)
    maps = maps.reshape(-1, *clusters.shape).astype(np.float32)
    keys = keys.reshape(-1, 2)
    keep = maps.reshape(len(maps), -1).max(axis=1, initial=0.0) > min_peak
    return maps[keep], keys[keep]


def label_from_scores(
    scores: np.ndarray, background: float, valid: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel argmax over ``[background, scores...]``.

    Parameters
    ----------
    scores : ndarray, shape (m, H, W)
    background : float
        The background score.
    valid : ndarray of bool, shape (H, W), optional
        Pixels that may belong to an instance (e.g. not blanked).

    Returns
    -------
    ndarray of int32, shape (H, W)
        0 = background, ``i + 1`` = map ``i``. Ties go to the lower index (background first).
    """
    if len(scores) == 0:
        return np.zeros(scores.shape[1:], dtype=np.int32)
    best = np.argmax(scores, axis=0)
    top = np.take_along_axis(scores, best[None], axis=0)[0]
    label = np.where(top > background, best + 1, 0).astype(np.int32)
    if valid is not None:
        label[~valid] = 0
    return label


def remove_fragments(mask: np.ndarray, min_fraction: float) -> tuple[np.ndarray, int]:
    """Drop the connected parts of a mask smaller than ``min_fraction`` of its area.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    min_fraction : float
        Parts below ``min_fraction * mask.sum()`` pixels are removed (8-connectivity).

    Returns
    -------
    mask : ndarray of bool
    n_components : int
        Connected parts left.

    Examples
    --------
    >>> m = np.zeros((5, 12), bool); m[1:4, 0:4] = m[1:4, 7:11] = True; m[0, 5] = True
    >>> out, n = remove_fragments(m, 0.05)
    >>> n, int(out.sum())
    (2, 24)
    """
    parts, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1:
        return mask.astype(bool), n
    sizes = np.bincount(parts.ravel(), minlength=n + 1)
    keep = sizes >= min_fraction * sizes[1:].sum()
    keep[0] = False
    return keep[parts], int(keep.sum())


def assign_whole_islands(
    label: np.ndarray, islands: np.ndarray, min_fraction: float = 0.5
) -> np.ndarray:
    """Give each radio island wholly to the instance that holds most of it.

    The random walk follows the CAMs, which peak on the brightest parts of a source and may
    stop short of its faint ends; the annotated masks are whole 3-sigma islands. An island
    whose largest instance share reaches ``min_fraction`` of its pixels (background pixels
    count in the total) joins that instance whole; other islands keep the walk's pixels.

    Parameters
    ----------
    label : ndarray of int, shape (H, W)
        0 = background, ``i >= 1`` = instance ``i`` (:func:`label_from_scores`).
    islands : ndarray of int, shape (H, W)
        0 = no emission, ``j >= 1`` = island ``j`` (:func:`napari_radiogal.stats.islands`).
    min_fraction : float
        Share of an island's pixels one instance must hold to take it whole.

    Returns
    -------
    ndarray of int32, shape (H, W)
        The new label image; pixels outside islands keep their label.

    Examples
    --------
    >>> islands = np.array([[1, 1, 1, 1, 0, 2, 2]])
    >>> label = np.array([[0, 3, 3, 0, 0, 0, 1]])
    >>> assign_whole_islands(label, islands, 0.5).tolist()  # island 2: 1 of 2 pixels
    [[3, 3, 3, 3, 0, 1, 1]]
    """
    label = np.asarray(label)
    islands = np.asarray(islands)
    n_islands, n_labels = int(islands.max(initial=0)), int(label.max(initial=0))
    if n_islands == 0 or n_labels == 0:
        return label.astype(np.int32)
    counts = np.zeros((n_islands + 1, n_labels + 1), dtype=np.int64)
    np.add.at(counts, (islands.ravel(), label.ravel()), 1)
    sizes = counts.sum(axis=1)
    owner = counts[:, 1:].argmax(axis=1) + 1  # most common instance (ties: lower id)
    share = counts[np.arange(n_islands + 1), owner]
    takes = (share > 0) & (share >= min_fraction * sizes)
    takes[0] = False  # pixels outside every island are never reassigned
    new_label = np.where(takes, owner, 0)[islands]
    return np.where(takes[islands], new_label, label).astype(np.int32)


def grid_to_pixel(coordinate: np.ndarray | float, stride: int = 4) -> np.ndarray | float:
    """Pixel coordinate (pixel centres) of a stride-``stride`` grid coordinate.

    Grid cell ``g`` covers pixels ``[stride*g, stride*g + stride)``, so its centre is pixel
    ``stride*g + (stride - 1)/2`` (1.5 at stride 4).
    """
    return np.asarray(coordinate) * stride + (stride - 1) / 2.0
