"""One catalogue from overlapping windows: each source once, whole, and no pixel twice.

An image larger than the model's cut-out is segmented window by window
(:func:`napari_radiogal.io.geometry.window_grid`); a source in the overlap of two windows is
then found twice, and a source crossing a window edge is found cut. :func:`merge_windows`
turns the detections of all windows into one list:

1. A detection whose mask touches an edge of its window that is *inside* the image is
   **cut**: the window saw only part of the source. Whole detections rank before cut ones,
   then by score (highest first).
2. Walking that ranking, a detection that overlaps one already kept (intersection over the
   smaller of the two masks *as far as both windows saw them*, above ``duplicate_overlap``)
   is the same source seen again and is dropped,
   except for **sources larger than a window**: when both are cut and of the same class, the
   part is added to the kept source (their union), so a giant seen in pieces ends whole;
   and except for **fuller views**: a whole detection that holds most of every kept
   detection it duplicates and reaches well past the windows they came from (a double whose
   lobes two other windows each saw alone, whole, the other lobe outside them) replaces
   them, so the double is one source, not two lobes.
3. Pixels are never given to two sources: a kept source loses the pixels that a
   higher-ranked one already owns, and is dropped if nothing is left.

Masks live in image pixels as boxes (:class:`PlacedMask`), never as full-image arrays, so
the memory of a merge grows with the sources, not with the image (the survey code merges
mosaics the same way). Positions are ``(x, y)`` = ``(col, row)``, pixel centres, 0-based.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from napari_radiogal.annotations import Instance
from napari_radiogal.io.geometry import Window

__all__ = [
    "PlacedMask",
    "WindowDetection",
    "window_detection",
    "is_cut",
    "merge_windows",
    "centrality",
    "BoxIndex",
]


@dataclass(frozen=True, eq=False)
class PlacedMask:
    """A boolean mask placed in an image: ``mask`` covers rows ``row0:row0 + h``, cols
    ``col0:col0 + w``.

    Examples
    --------
    >>> a = PlacedMask(0, 0, np.ones((4, 4), bool))
    >>> b = PlacedMask(2, 2, np.ones((4, 4), bool))
    >>> a.intersection(b), a.union(b).area
    (4, 28)
    """

    row0: int
    col0: int
    mask: np.ndarray

    @property
    def area(self) -> int:
        """Number of pixels in the mask."""
        return int(self.mask.sum())

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(row0, col0, row1, col1)`` with exclusive ends."""
        h, w = self.mask.shape
        return self.row0, self.col0, self.row0 + h, self.col0 + w

    def _overlap_slices(self, other: PlacedMask):
        r0, c0, r1, c1 = self.box
        s0, d0, s1, d1 = other.box
        top, left, bottom, right = max(r0, s0), max(c0, d0), min(r1, s1), min(c1, d1)
        if top >= bottom or left >= right:
            return None
        mine = np.s_[top - r0 : bottom - r0, left - c0 : right - c0]
        theirs = np.s_[top - s0 : bottom - s0, left - d0 : right - d0]
        return mine, theirs

    def intersection(self, other: PlacedMask) -> int:
        """Number of pixels in both masks."""
        sl = self._overlap_slices(other)
        if sl is None:
            return 0
        return int((self.mask[sl[0]] & other.mask[sl[1]]).sum())

    def union(self, other: PlacedMask) -> PlacedMask:
        """The pixels of either mask, in a box enclosing both."""
        r0, c0, r1, c1 = self.box
        s0, d0, s1, d1 = other.box
        top, left = min(r0, s0), min(c0, d0)
        out = np.zeros((max(r1, s1) - top, max(c1, d1) - left), dtype=bool)
        out[r0 - top : r1 - top, c0 - left : c1 - left] |= self.mask
        out[s0 - top : s1 - top, d0 - left : d1 - left] |= other.mask
        return PlacedMask(top, left, out)

    def minus(self, other: PlacedMask) -> PlacedMask:
        """This mask without the pixels of ``other``."""
        sl = self._overlap_slices(other)
        if sl is None:
            return self
        mask = self.mask.copy()
        mask[sl[0]] &= ~other.mask[sl[1]]
        return PlacedMask(self.row0, self.col0, mask)

    def area_within(self, window: Window) -> int:
        """Number of mask pixels inside ``window``."""
        return self.intersection(PlacedMask(window.row0, window.col0, _ones(window)))

    def to_array(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask as a full ``(H, W)`` boolean image (clipped to it)."""
        out = np.zeros(shape, dtype=bool)
        r0, c0, r1, c1 = self.box
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r1, shape[0]), min(c1, shape[1])
        if rr0 < rr1 and cc0 < cc1:
            out[rr0:rr1, cc0:cc1] = self.mask[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
        return out


def _ones(window: Window) -> np.ndarray:
    return np.ones((window.height, window.width), dtype=bool)


@dataclass(frozen=True, eq=False)
class WindowDetection:
    """One detection of one window, in image pixels.

    Parameters
    ----------
    window : Window
        The window that produced it.
    mask : PlacedMask
        Its pixels, placed in the image.
    category_id : int
        COCO category id.
    score : float
        Detection score (comparable across windows and images).
    host : tuple of float, optional
        ``(x, y)`` of its host in image pixels.
    extra : dict
        Anything the caller wants to keep with it (class probabilities, host origin...).
    """

    window: Window
    mask: PlacedMask
    category_id: int
    score: float
    host: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def window_detection(window: Window, instance: Instance) -> WindowDetection:
    """An instance found on a window's own pixels as a detection placed in the image.

    Parameters
    ----------
    window : Window
        Where the window lies in the image.
    instance : Instance
        Its mask ``(window.height, window.width)`` and host ``(x, y)`` in window pixels.

    Returns
    -------
    WindowDetection
        The mask cropped to its bounding box (its own array, not a view of the window's
        mask) and placed at the window's offset, the host moved by it; class, score and
        ``extra`` kept.

    Examples
    --------
    >>> m = np.zeros((6, 6), bool); m[2:4, 1:3] = True
    >>> det = window_detection(Window(100, 50, 6, 6), Instance.from_mask(
    ...     m, image_id=1, category_id=2, score=0.5, host=(1.0, 2.0)))
    >>> det.mask.box, det.host
    ((102, 51, 104, 53), (51.0, 102.0))
    """
    mask = instance.mask
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # a copy, not a view: a view would keep the whole window's mask alive for as long as the
    # detection (~44 kB per detection at 210 px: ~1 GB for the ~20k detections of a 12000²
    # mosaic, which resolution.memory_estimate does not count)
    box = np.array(mask[r0:r1, c0:c1], dtype=bool, copy=True)
    placed = PlacedMask(window.row0 + int(r0), window.col0 + int(c0), box)
    host = instance.host
    if host is not None:
        host = (float(host[0]) + window.col0, float(host[1]) + window.row0)
    return WindowDetection(
        window,
        placed,
        int(instance.category_id),
        float(instance.score),
        host,
        dict(instance.extra),
    )


def is_cut(detection: WindowDetection, image_shape: tuple[int, int]) -> bool:
    """Whether the mask touches an edge of its window that lies inside the image.

    Parameters
    ----------
    detection : WindowDetection
    image_shape : tuple of int
        ``(H, W)`` of the whole image.

    Examples
    --------
    >>> win = Window(0, 100, 50, 50)
    >>> m = np.zeros((5, 5), bool); m[2, 0] = True
    >>> is_cut(WindowDetection(win, PlacedMask(10, 100, m), 1, 0.5), (50, 300))  # left edge
    True
    >>> is_cut(WindowDetection(win, PlacedMask(10, 120, m), 1, 0.5), (50, 300))
    False
    """
    win, pm = detection.window, detection.mask
    rows, cols = np.nonzero(pm.mask)
    if rows.size == 0:
        return False
    rows, cols = rows + pm.row0, cols + pm.col0
    h, w = image_shape
    inner = []
    if win.row0 > 0:
        inner.append(rows.min() <= win.row0)
    if win.row0 + win.height < h:
        inner.append(rows.max() >= win.row0 + win.height - 1)
    if win.col0 > 0:
        inner.append(cols.min() <= win.col0)
    if win.col0 + win.width < w:
        inner.append(cols.max() >= win.col0 + win.width - 1)
    return any(inner)


def merge_windows(
    detections: list[WindowDetection],
    image_shape: tuple[int, int],
    *,
    duplicate_overlap: float = 0.3,
    rank: Callable[[WindowDetection], float] | None = None,
    cancel: Callable[[], None] | None = None,
) -> list[WindowDetection]:
    """Merge the detections of overlapping windows into one list (see the module docstring).

    Parameters
    ----------
    detections : list of WindowDetection
        Detections of every window, masks placed in image pixels.
    image_shape : tuple of int
        ``(H, W)`` of the whole image.
    duplicate_overlap : float
        Intersection over the smaller mask above which two detections are one source.
    rank : callable(WindowDetection) -> float, optional
        Among whole (and among cut) detections, higher ranks first; default the score.
        The survey ranks by how central a detection is in its window
        (:func:`centrality`), so a source is taken from the window that saw it best.
    cancel : callable(), optional
        Called before each detection is placed; it stops the merge by raising (the merge
        of a large image's thousands of detections takes seconds).

    Returns
    -------
    list of WindowDetection
        Each source once, ranked (whole before cut, then by score); no pixel belongs to
        two of them. A source merged from cut parts keeps the highest-scored part's class,
        score and host, and ``extra["merged_parts"]`` counts its parts.

    Examples
    --------
    >>> m = np.ones((10, 10), bool)
    >>> a = WindowDetection(Window(0, 0, 50, 50), PlacedMask(20, 20, m), 1, 0.9)
    >>> b = WindowDetection(Window(0, 10, 50, 50), PlacedMask(20, 20, m), 1, 0.8)
    >>> [d.score for d in merge_windows([b, a], (50, 60))]
    [0.9]
    """
    rank = rank or (lambda d: float(d.score))
    ranked = sorted(
        ((is_cut(d, image_shape), -float(rank(d)), i, d) for i, d in enumerate(detections)),
        key=lambda t: t[:3],
    )
    kept: list[list[Any] | None] = []  # [cut, detection, windows it was seen in]; None: replaced
    near_kept = BoxIndex()
    for cut, _, _, det in ranked:
        if cancel is not None:
            cancel()
        if det.mask.area == 0:
            continue
        # only sources whose boxes touch this one can share a pixel with it
        neighbours = [k for k in near_kept.near(det.mask.box) if kept[k] is not None]
        alike = [
            k
            for k in neighbours
            if _seen_alike(kept[k][1].mask, kept[k][2], det, duplicate_overlap)
        ]
        if alike and not cut and all(_sees_more(det, kept[k][1].mask, kept[k][2]) for k in alike):
            # e.g. one window saw a lobe of a double whole and the other lobe not at all:
            # a whole view holding every such partial view, and reaching past their
            # windows, is the source; it takes the first one's place in the ranking
            first, *rest = alike
            for k in rest:
                kept[k] = None
            others = [k for k in neighbours if k not in alike]
            remaining = det.mask
            for k in others:
                remaining = remaining.minus(kept[k][1].mask)
            kept[first] = [cut, replace(det, mask=remaining), [det.window]]
            near_kept.add(first, remaining.box)
            continue
        duplicate_of = kept[alike[0]] if alike else None
        if duplicate_of is not None:
            other_cut, other, _ = duplicate_of
            if cut and other_cut and other.category_id == det.category_id:
                parts = int(other.extra.get("merged_parts", 1)) + 1
                duplicate_of[1] = replace(
                    other,
                    mask=other.mask.union(det.mask),
                    extra={**other.extra, "merged_parts": parts},
                )
                duplicate_of[2].append(det.window)
                near_kept.add(alike[0], duplicate_of[1].mask.box)  # its box grew
            continue
        remaining = det.mask
        for k in neighbours:
            remaining = remaining.minus(kept[k][1].mask)
        if remaining.area == 0:
            continue
        near_kept.add(len(kept), remaining.box)
        kept.append([cut, replace(det, mask=remaining), [det.window]])
    # a union of cut parts may have grown into a source kept after it: rank decides again
    exclusive: list[WindowDetection] = []
    near_exclusive = BoxIndex()
    for _, det, _ in (entry for entry in kept if entry is not None):
        remaining = det.mask
        for k in near_exclusive.near(det.mask.box):
            remaining = remaining.minus(exclusive[k].mask)
        if remaining.area:
            near_exclusive.add(len(exclusive), remaining.box)
            exclusive.append(det if remaining is det.mask else replace(det, mask=remaining))
    return exclusive


#: A whole view replaces the kept views of a source when it holds this fraction of each
#: of them and this fraction of its own pixels lies beyond their windows (:func:`_sees_more`).
SEES_MORE_HOLDS = 0.8
SEES_MORE_BEYOND = 0.2

#: Default side of a :class:`BoxIndex` bucket in pixels (about a source; windows are ~200 px).
_BUCKET_PIXELS = 128


class BoxIndex:
    """Which of the masks added so far have a box that may touch a given box.

    A uniform grid of buckets of ``cell`` pixels: each mask is listed in every bucket its
    box covers. Without it a merge compares every detection with every kept source, which
    is quadratic: a 12000² mosaic has ~10^4 windows and ~10^4 sources. (The survey's
    :func:`~napari_radiogal.survey.consolidate.overlap_groups` finds its pairs with it too.)

    Examples
    --------
    >>> index = BoxIndex(cell=10)
    >>> index.add(0, (0, 0, 5, 5)); index.add(1, (40, 40, 45, 45))
    >>> index.near((3, 3, 12, 12))
    [0]
    """

    def __init__(self, cell: int | None = None) -> None:
        self.cell = cell or _BUCKET_PIXELS
        self._buckets: dict[tuple[int, int], list[int]] = defaultdict(list)

    def _cells(self, box: tuple[int, int, int, int]) -> Iterator[tuple[int, int]]:
        r0, c0, r1, c1 = box
        s = self.cell
        for i in range(r0 // s, (r1 - 1) // s + 1):
            for j in range(c0 // s, (c1 - 1) // s + 1):
                yield i, j

    def add(self, index: int, box: tuple[int, int, int, int]) -> None:
        """List mask ``index`` under every bucket ``box`` (exclusive ends) covers."""
        for key in self._cells(box):
            self._buckets[key].append(index)

    def near(self, box: tuple[int, int, int, int]) -> list[int]:
        """Indices of masks whose buckets ``box`` shares, in the order they were added."""
        found: set[int] = set()
        for key in self._cells(box):
            found.update(self._buckets.get(key, ()))
        return sorted(found)


def centrality(detection: WindowDetection) -> float:
    """How central a detection's box is in its window: 0 on an edge, 1 at the centre.

    One minus the Chebyshev distance of the box centre from the window centre, in half
    window sides. A window that saw only one lobe of a double (the other outside it) sees
    that lobe off-centre; the window that saw the whole source best sees it central.

    Examples
    --------
    >>> m = np.ones((10, 10), bool)
    >>> centrality(WindowDetection(Window(0, 0, 100, 100), PlacedMask(45, 45, m), 1, 0.5))
    1.0
    >>> round(centrality(WindowDetection(Window(0, 0, 100, 100), PlacedMask(45, 90, m), 1, 0.5)), 3)
    0.1
    """
    r0, c0, r1, c1 = detection.mask.box
    win = detection.window
    dy = abs((r0 + r1) / 2 - (win.row0 + win.height / 2)) / (win.height / 2)
    dx = abs((c0 + c1) / 2 - (win.col0 + win.width / 2)) / (win.width / 2)
    return 1.0 - max(dx, dy)


def _sees_more(det: WindowDetection, kept: PlacedMask, kept_windows: list[Window]) -> bool:
    """Whether ``det`` is a fuller view of the source ``kept``: it holds most of ``kept``
    (``SEES_MORE_HOLDS``) and a good part of it (``SEES_MORE_BEYOND``) lies outside every
    window ``kept`` was seen in, where those windows could not have seen it."""
    area = kept.area
    if area == 0 or kept.intersection(det.mask) < SEES_MORE_HOLDS * area:
        return False
    seen_there = max(det.mask.area_within(w) for w in kept_windows)
    return det.mask.area - seen_there >= SEES_MORE_BEYOND * det.mask.area


def _seen_alike(
    kept: PlacedMask, kept_windows: list[Window], det: WindowDetection, threshold: float
) -> bool:
    """Whether ``det`` is the source ``kept`` seen again.

    Each window sees only its part of a source, so the overlap is measured against what
    the other side has in the region both saw: ``kept`` inside ``det``'s window, ``det``
    inside the windows ``kept`` came from.
    """
    inter = kept.intersection(det.mask)
    if inter == 0:
        return False
    kept_seen = kept.area_within(det.window)
    det_seen = max(det.mask.area_within(w) for w in kept_windows)
    smaller = min(kept_seen, det_seen)
    return smaller > 0 and inter / smaller > threshold
