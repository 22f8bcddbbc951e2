"""One catalogue row per source from the detections of every survey window.

The rules are those of :func:`napari_radiogal.inference.windows.merge_windows` (a source
seen in several windows is kept once, whole before cut; a source cut by a window edge is
taken from a window that holds it whole; parts of a source larger than a window are joined;
no pixel belongs to two sources), with one survey choice: among the whole views of a source
the most central one wins (:func:`~napari_radiogal.inference.windows.centrality`), not the
highest-scored. A window that sees one lobe of a double whole and the other outside it
would otherwise win with a higher score for half a source (benchmarks/survey.py, 2k
mosaic, blind: 94.1 % of the per-cut-out completeness and 6 duplicates, against 92.6 % and
7 ranked by score). A mosaic of 10^5 sources is first split by :func:`overlap_groups`
into groups of detections whose boxes overlap (transitively), and each group is merged on
its own (``merge_windows`` itself compares a detection only with kept sources whose boxes
share a bucket with it, so neither step is quadratic in the sources of a mosaic). Detections of different
groups share no pixel, so they cannot interact under any of the rules, and the result is
the one ``merge_windows`` gives on the whole list (the tests check it).

:func:`assign_components` then gives each catalogue component to the one source whose mask
holds it (masks are disjoint, so never to two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from napari_radiogal.inference.windows import BoxIndex, WindowDetection, centrality, merge_windows

__all__ = ["overlap_groups", "consolidate", "assign_components"]


def _boxes_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlap_groups(
    boxes: Sequence[tuple[int, int, int, int]], *, cell: int = 256
) -> list[list[int]]:
    """Indices of boxes grouped by (transitive) overlap.

    Parameters
    ----------
    boxes : sequence of (row0, col0, row1, col1)
        Exclusive ends, pixels.
    cell : int
        Side of the grid cells that find candidate pairs (pixels; any value is correct,
        about the size of a box is fastest).

    Returns
    -------
    list of list of int
        Each group's indices ascending; groups ordered by their first index.

    Examples
    --------
    >>> overlap_groups([(0, 0, 10, 10), (50, 50, 60, 60), (5, 5, 20, 20), (15, 15, 52, 52)])
    [[0, 1, 2, 3]]
    >>> overlap_groups([(0, 0, 10, 10), (10, 0, 20, 10)])
    [[0], [1]]
    """
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = BoxIndex(cell)
    for i, box in enumerate(boxes):
        for j in index.near(box):
            if find(i) != find(j) and _boxes_overlap(box, boxes[j]):
                parent[find(i)] = find(j)
        index.add(i, box)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def consolidate(
    detections: Sequence[WindowDetection],
    image_shape: tuple[int, int],
    *,
    duplicate_overlap: float = 0.3,
    rank: Callable[[WindowDetection], float] = centrality,
) -> list[WindowDetection]:
    """Merge the detections of all windows of a mosaic: each source once, no pixel twice.

    Parameters
    ----------
    detections : sequence of WindowDetection
        Masks placed in mosaic pixels, in a deterministic order (it breaks score ties).
    image_shape : tuple of int
        ``(H, W)`` of the mosaic.
    duplicate_overlap : float
        As in :func:`~napari_radiogal.inference.windows.merge_windows`.
    rank : callable(WindowDetection) -> float
        Ranking of the views of a source (higher first); default the most central view.

    Returns
    -------
    list of WindowDetection
        The merged sources, group by group (each group ranked as ``merge_windows`` ranks).

    Examples
    --------
    >>> from napari_radiogal.inference.windows import PlacedMask
    >>> from napari_radiogal.io.geometry import Window
    >>> m = np.ones((10, 10), bool)
    >>> a = WindowDetection(Window(0, 0, 50, 50), PlacedMask(20, 20, m), 1, 0.9)
    >>> b = WindowDetection(Window(0, 10, 50, 50), PlacedMask(20, 20, m), 1, 0.8)
    >>> far = WindowDetection(Window(0, 200, 50, 50), PlacedMask(5, 210, m), 2, 0.5)
    >>> [d.score for d in consolidate([b, far, a], (50, 300))]
    [0.9, 0.5]
    """
    detections = list(detections)
    out: list[WindowDetection] = []
    for group in overlap_groups([d.mask.box for d in detections]):
        out.extend(
            merge_windows(
                [detections[i] for i in group],
                image_shape,
                duplicate_overlap=duplicate_overlap,
                rank=rank,
            )
        )
    return out


def assign_components(sources: Sequence[WindowDetection], xy: np.ndarray) -> list[np.ndarray]:
    """The catalogue components inside each source's mask.

    Parameters
    ----------
    sources : sequence of WindowDetection
        Disjoint masks in mosaic pixels (the result of :func:`consolidate`).
    xy : ndarray, shape (N, 2)
        ``(x, y)`` component positions in mosaic pixels; a component belongs to the source
        whose mask holds the pixel its position falls in.

    Returns
    -------
    list of ndarray of int
        Per source, the indices into ``xy`` it absorbed (ascending); no index appears twice.

    Examples
    --------
    >>> from napari_radiogal.inference.windows import PlacedMask
    >>> from napari_radiogal.io.geometry import Window
    >>> m = np.ones((4, 4), bool)
    >>> s = WindowDetection(Window(0, 0, 20, 20), PlacedMask(2, 2, m), 1, 0.9)
    >>> [a.tolist() for a in assign_components([s], np.array([[3.2, 4.9], [9.0, 9.0]]))]
    [[0]]
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    cols = np.floor(xy[:, 0] + 0.5).astype(np.int64)
    rows = np.floor(xy[:, 1] + 0.5).astype(np.int64)
    order = np.lexsort((cols, rows))
    sorted_rows = rows[order]
    out = []
    for det in sources:
        r0, c0, r1, c1 = det.mask.box
        lo, hi = np.searchsorted(sorted_rows, [r0, r1])
        candidates = order[lo:hi]
        inside = candidates[(cols[candidates] >= c0) & (cols[candidates] < c1)]
        hit = det.mask.mask[rows[inside] - r0, cols[inside] - c0]
        out.append(np.sort(inside[hit]))
    return out
