"""Hand corrections of an instance label image, without a viewer.

A label image is an integer ``(H, W)`` array, axes ``(row, col)``: 0 is background and every
other value is one instance (a radio galaxy, whose mask may be several detached parts, e.g.
the two lobes of an FR-II). The functions here never change their input; they return the new
label image, which the napari plugin writes back into its Labels layer as one undo step
(:class:`napari_radiogal._napari._edits.AnnotationSession`).

* :func:`merge_instances`, :func:`delete_instances`: both are a :func:`relabel`;
* :func:`split_instance`: into its connected parts, optionally along a cut line
  (:func:`cut_mask`);
* :func:`add_instance`: a new instance from a mask, e.g. a :func:`rasterise_polygon` or a
  :func:`rasterise_polyline`;
* :func:`replace_instances`: a new instance in place of those it overlaps (the model's
  answer to a click, :func:`napari_radiogal.inference.segment_at`);
* :func:`next_least_confident`: the next instance to review;
* :func:`next_free_label`, :func:`most_confident`: the label a new instance gets, the
  instance a merge keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from napari_radiogal.errors import EditError

__all__ = [
    "relabel",
    "merge_instances",
    "delete_instances",
    "split_instance",
    "cut_mask",
    "add_instance",
    "replace_instances",
    "next_least_confident",
    "rasterise_polyline",
    "rasterise_polygon",
    "next_free_label",
    "most_confident",
]


def relabel(labels: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """A copy of a label image with some labels replaced.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    mapping : dict of int to int
        ``{old label: new label}``; labels not in it are kept.

    Returns
    -------
    ndarray, shape (H, W), same dtype as ``labels``

    Examples
    --------
    >>> relabel(np.array([[0, 1, 2], [2, 3, 3]]), {2: 1, 3: 0}).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    labels = np.asarray(labels)
    out = labels.copy()
    for old, new in mapping.items():
        out[labels == int(old)] = int(new)
    return out


def merge_instances(labels: np.ndarray, ids: Sequence[int], keep: int) -> np.ndarray:
    """Merge instances into one: the pixels of every id in ``ids`` get the label ``keep``.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    ids : sequence of int
        At least two distinct labels.
    keep : int
        One of ``ids``: the label of the merged instance (see :func:`most_confident`).

    Returns
    -------
    ndarray, shape (H, W)

    Raises
    ------
    EditError
        Fewer than two distinct ids, or ``keep`` not among them.

    Examples
    --------
    >>> merge_instances(np.array([[1, 0, 2, 3]]), [1, 2], keep=2).tolist()
    [[2, 0, 2, 3]]
    """
    ids = [int(i) for i in dict.fromkeys(ids)]
    if len(ids) < 2:
        raise EditError(f"merging needs at least two instances; got {ids}")
    if int(keep) not in ids:
        raise EditError(f"the merged instance keeps one of the ids {ids}; got {keep}")
    return relabel(labels, {i: int(keep) for i in ids if i != int(keep)})


def delete_instances(labels: np.ndarray, ids: Iterable[int]) -> np.ndarray:
    """Delete instances: their pixels become background (0).

    Examples
    --------
    >>> delete_instances(np.array([[1, 2, 3]]), [1, 3]).tolist()
    [[0, 2, 0]]
    """
    return relabel(labels, {int(i): 0 for i in ids})


def split_instance(
    labels: np.ndarray,
    instance_id: int,
    line: np.ndarray | None = None,
    *,
    host: Sequence[float] | None = None,
    new_id: int | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Split an instance into its 8-connected parts, optionally cut along a line first.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    instance_id : int
        The instance to split.
    line : ndarray, shape (M, 2), optional
        Polyline vertices ``(row, col)`` in pixels; the pixels it crosses are removed before
        finding the parts (:func:`cut_mask`) and then given back to the nearest part (within
        3 pixels).
    host : (row, col), optional
        Host position in pixels: the part under it keeps ``instance_id`` (else the largest
        part does).
    new_id : int, optional
        Label of the first new part, the next ones count up from it (default:
        :func:`next_free_label`).

    Returns
    -------
    labels : ndarray, shape (H, W)
    ids : list of int
        ``instance_id`` first, then the new labels, largest part first.

    Raises
    ------
    EditError
        When the instance is in one piece (along the line, when one is given).

    Examples
    --------
    >>> labels = np.array([[1, 0, 1, 1],
    ...                    [0, 0, 0, 1]])
    >>> new, ids = split_instance(labels, 1)  # the larger part keeps label 1
    >>> new.tolist(), ids
    ([[2, 0, 1, 1], [0, 0, 0, 1]], [1, 2])
    """
    from skimage.measure import label as connected
    from skimage.segmentation import expand_labels

    labels = np.asarray(labels)
    mask = labels == int(instance_id)
    cut = mask if line is None else cut_mask(mask, line)
    parts = connected(cut, connectivity=2)
    n = int(parts.max())
    if n < 2:
        how = "along that line" if line is not None else "by connected parts"
        raise EditError(
            f"instance {instance_id} is one piece {how}; draw a cut line across it "
            "(a path in a Shapes layer) and split again"
        )
    if line is not None:
        # give the pixels of the cut back to their nearest part
        parts = np.where(mask, expand_labels(parts, distance=3), 0)
    sizes = np.bincount(parts.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes) + 1
    keep_part = _part_under(parts, host) or int(order[0])
    out = labels.copy()
    ids = [int(instance_id)]
    next_id = next_free_label(labels) if new_id is None else int(new_id)
    for p in order:
        if int(p) == keep_part:
            continue
        out[parts == p] = next_id
        ids.append(next_id)
        next_id += 1
    return out, ids


def _part_under(parts: np.ndarray, rowcol: Sequence[float] | None) -> int | None:
    """The part label under a ``(row, col)`` position (rounded), ``None`` off the parts."""
    if rowcol is None:
        return None
    r, c = np.round(np.asarray(rowcol, dtype=float)).astype(int)
    if 0 <= r < parts.shape[0] and 0 <= c < parts.shape[1] and parts[r, c] > 0:
        return int(parts[r, c])
    return None


def cut_mask(mask: np.ndarray, line: np.ndarray) -> np.ndarray:
    """A mask without the pixels a polyline crosses (see :func:`rasterise_polyline`).

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    line : ndarray, shape (M, 2)
        Vertices ``(row, col)`` in pixels.

    Returns
    -------
    ndarray of bool, shape (H, W)

    Examples
    --------
    >>> cut_mask(np.ones((3, 5), bool), [(0, 2), (2, 2)]).astype(int).tolist()
    [[1, 1, 0, 0, 1], [1, 1, 0, 0, 1], [1, 1, 0, 0, 1]]
    """
    mask = np.asarray(mask, bool)
    return mask & ~rasterise_polyline(np.asarray(line, float), mask.shape)


def add_instance(
    labels: np.ndarray, mask: np.ndarray, new_id: int, *, overwrite: bool = False
) -> np.ndarray:
    """Add a new instance from a mask.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    mask : ndarray of bool, shape (H, W)
        E.g. from :func:`rasterise_polygon`.
    new_id : int
        Its label (see :func:`next_free_label`).
    overwrite : bool
        Take pixels that belong to another instance too (by default they stay theirs).

    Returns
    -------
    ndarray, shape (H, W)

    Raises
    ------
    EditError
        When the mask has another shape or no free pixel.

    Examples
    --------
    >>> add_instance(np.array([[1, 0, 0]]), np.array([[1, 1, 0]], bool), 2).tolist()
    [[1, 2, 0]]
    """
    labels = np.asarray(labels)
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise EditError(f"the mask is {mask.shape} but the image is {labels.shape}")
    if not overwrite:
        mask = mask & (labels == 0)
    if not mask.any():
        raise EditError("the new instance has no pixels (outside the image or all taken)")
    out = labels.copy()
    out[mask] = int(new_id)
    return out


def rasterise_polyline(line: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(H, W)`` image of the pixels a ``(M, 2)`` ``(row, col)`` polyline crosses.

    The line is thickened to 4-connectivity (each pixel also marks its right and lower
    neighbour), so that it really separates 8-connected parts. Pixels outside the image are
    dropped.

    Examples
    --------
    >>> rasterise_polyline(np.array([(0, 0), (2, 2)]), (3, 3)).astype(int).tolist()
    [[1, 1, 0], [1, 1, 1], [0, 1, 1]]
    """
    from skimage.draw import line as draw_line

    out = np.zeros(shape, bool)
    pts = np.round(np.asarray(line, float)).astype(int)
    for (r0, c0), (r1, c1) in zip(pts[:-1], pts[1:], strict=True):
        rr, cc = draw_line(r0, c0, r1, c1)
        for dr, dc in ((0, 0), (0, 1), (1, 0)):
            r, c = rr + dr, cc + dc
            ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
            out[r[ok], c[ok]] = True
    return out


def rasterise_polygon(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the pixel centres inside a ``(M, 2)`` ``(row, col)`` polygon.

    Examples
    --------
    >>> rasterise_polygon(np.array([(1, 1), (1, 3), (3, 3), (3, 1)]), (5, 5)).sum()
    np.int64(9)
    """
    from skimage.draw import polygon2mask

    return polygon2mask(shape, np.asarray(vertices, float))


def next_free_label(labels: np.ndarray, used: Iterable[int] = ()) -> int:
    """The smallest label above every label in the image and in ``used``.

    ``used`` holds labels known elsewhere (e.g. instances whose pixels an undo may bring
    back), so a new instance never takes their label.

    Examples
    --------
    >>> next_free_label(np.array([[0, 3]]), used=[7])
    8
    """
    return max([int(np.max(labels, initial=0)), *(int(i) for i in used)]) + 1


def most_confident(scores: Mapping[int, Any]) -> int:
    """The id with the highest score; a missing score (drawn by hand) counts as the highest.

    Ties go to the first id. A merge keeps this instance's id, class and host.

    Parameters
    ----------
    scores : dict of int to float or None
        ``{instance id: score}``; ``None`` or NaN means human-made.

    Examples
    --------
    >>> most_confident({1: 0.4, 2: 0.9, 3: 0.9})
    2
    >>> most_confident({1: 0.4, 2: float("nan")})
    2
    """
    return max(scores, key=lambda i: _confidence(scores[i]))


def _confidence(score: Any) -> float:
    try:
        s = float(score)
    except (TypeError, ValueError):
        return np.inf
    return np.inf if not np.isfinite(s) else s


#: :func:`replace_instances` replaces an instance whose overlap with the new mask exceeds
#: this fraction of the smaller of the two (the duplicate rule of
#: :func:`napari_radiogal.inference.windows.merge_windows`).
REPLACE_OVERLAP = 0.3


def replace_instances(
    labels: np.ndarray,
    mask: np.ndarray,
    *,
    point: Sequence[float] | None = None,
    new_id: int | None = None,
    overlap: float = REPLACE_OVERLAP,
) -> tuple[np.ndarray, int, list[int]]:
    """Put a new instance in place of the instances it stands for.

    The instances replaced are the one under ``point`` and those whose overlap with
    ``mask`` exceeds ``overlap`` of the smaller of the two; all their pixels are freed. The
    new instance takes the label of the replaced instance it overlaps most (so a source
    segmented again keeps its id), else ``new_id``. Every other instance keeps all its
    pixels: the new instance gets only the pixels that are then free.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    mask : ndarray of bool, shape (H, W)
        The new instance.
    point : (row, col), optional
        Where the user clicked, pixels (rounded).
    new_id : int, optional
        Label of the new instance when it replaces none (default: :func:`next_free_label`).
    overlap : float
        See :data:`REPLACE_OVERLAP`.

    Returns
    -------
    labels : ndarray, shape (H, W)
    instance_id : int
        The new instance's label.
    replaced : list of int
        The labels replaced, ascending (``instance_id`` among them when reused).

    Raises
    ------
    EditError
        When the mask has another shape or no pixel left to take.

    Examples
    --------
    >>> labels = np.array([[1, 1, 1, 0, 2, 2, 2, 2]])
    >>> mask = np.array([[0, 1, 1, 1, 1, 0, 0, 0]], bool)
    >>> new, iid, replaced = replace_instances(labels, mask)  # 2 overlaps it by a pixel only
    >>> new.tolist(), iid, replaced
    ([[0, 1, 1, 1, 2, 2, 2, 2]], 1, [1])
    """
    labels = np.asarray(labels)
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise EditError(f"the mask is {mask.shape} but the image is {labels.shape}")
    ids, counts = np.unique(labels[mask], return_counts=True)
    shared = {int(i): int(n) for i, n in zip(ids, counts, strict=True) if i != 0}
    areas = {i: int(np.count_nonzero(labels == i)) for i in shared}
    area = int(mask.sum())
    replaced = {i for i, n in shared.items() if n > overlap * min(areas[i], area)}
    under = _part_under(labels, point)
    if under is not None:
        replaced.add(under)
    out = labels.copy()
    out[np.isin(labels, list(replaced))] = 0
    free = mask & (out == 0)
    if not free.any():
        raise EditError("the new instance has no pixels (outside the image or all taken)")
    if replaced:
        instance_id = max(sorted(replaced), key=lambda i: shared.get(i, 0))
    else:
        instance_id = next_free_label(labels) if new_id is None else int(new_id)
    out[free] = instance_id
    return out, int(instance_id), sorted(replaced)


def next_least_confident(
    scores: Mapping[int, Any], reviewed: Mapping[int, bool], current: int | None = None
) -> int | None:
    """The instance to review next: the least confident one not yet reviewed, after ``current``.

    Instances are taken by increasing score (one drawn by hand, without a score, counts as
    the most confident, as in :func:`most_confident`), ties by id; the first one after
    ``current`` in that order, wrapping around.

    Parameters
    ----------
    scores : dict of int to float or None
        ``{instance id: score}``.
    reviewed : dict of int to bool
        ``{instance id: reviewed}``; a missing id counts as not reviewed.
    current : int, optional
        The instance shown now.

    Returns
    -------
    int or None
        ``None`` when every instance is reviewed.

    Examples
    --------
    >>> scores = {1: 0.9, 2: 0.2, 3: 0.5, 4: 0.1}
    >>> reviewed = {4: True}
    >>> next_least_confident(scores, reviewed), next_least_confident(scores, reviewed, 2)
    (2, 3)
    >>> next_least_confident(scores, reviewed, 1)  # wraps around
    2
    """
    order = sorted(scores, key=lambda i: (_confidence(scores[i]), int(i)))
    todo = [int(i) for i in order if not reviewed.get(i, False)]
    if not todo:
        return None
    if current is None or int(current) not in scores:
        return todo[0]
    key = (_confidence(scores[current]), int(current))
    later = [i for i in todo if (_confidence(scores[i]), i) > key]
    return later[0] if later else todo[0]
