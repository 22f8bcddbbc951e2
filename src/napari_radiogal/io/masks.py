"""COCO masks without a COCO file: RLE strings and exact pixel-edge polygons.

Pixel conventions are those of :mod:`napari_radiogal.io.coco`: masks are ``(row, col)``,
polygon vertices are measured from pixel edges (pixel ``(r, c)`` covers ``[c, c+1] x
[r, r+1]``).

* :func:`compressed_rle` brings any RLE to ``{"size": [H, W], "counts": str}``;
  :func:`list_counts_to_rle` compresses uncompressed run lengths after checking them.
* :func:`polygons_to_rle` rasterises polygons exactly as pycocotools' ``annToRLE`` does.
* :func:`mask_to_polygons` traces a mask along pixel edges into polygons that rasterise
  back pixel for pixel; :func:`exact_polygons` does it for an RLE and checks the result.
* :func:`check_rle_counts` and :func:`rle_strings_totals` check many compressed RLE
  strings at once, without decoding a mask.
* :func:`decode_rle_box` and :func:`encode_placed_mask` go between an RLE of a large image
  and a mask the size of its source's box (``rle_counts`` gives the run lengths), so that
  a mosaic's thousands of sources never need a whole-image mask each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napari_radiogal.annotations import Instance
from napari_radiogal.errors import CocoFormatError

__all__ = [
    "compressed_rle",
    "list_counts_to_rle",
    "polygons_to_rle",
    "mask_to_polygons",
    "exact_polygons",
    "check_rle_counts",
    "rle_strings_totals",
    "rle_counts",
    "decode_rle_box",
    "encode_placed_mask",
]


def list_counts_to_rle(
    counts: list, height: int, width: int, path: Any, field: str
) -> dict[str, Any]:
    """Compress uncompressed COCO run lengths (``counts`` a list of ints) after checking them.

    Parameters
    ----------
    counts : list of int
        Run lengths, column-major (COCO's order), starting with background.
    height, width : int
        The image size in pixels; the runs must add up to ``height * width``.
    path, field
        Named in the error message.

    Returns
    -------
    dict
        ``{"size": [height, width], "counts": str}``.

    Raises
    ------
    CocoFormatError
        Runs that are not integers, negative, or do not cover the image.

    Examples
    --------
    >>> list_counts_to_rle([1, 2, 1], 2, 2, None, "segmentation")
    {'size': [2, 2], 'counts': '121'}
    """
    from pycocotools import mask as mask_utils

    try:
        runs = [int(c) for c in counts]
    except (TypeError, ValueError):
        raise CocoFormatError(
            "RLE counts must be integers.", path=path, field=field + ".counts"
        ) from None
    if any(c < 0 for c in runs) or sum(runs) != height * width:
        raise CocoFormatError(
            f"invalid RLE: the run lengths must be >= 0 and add up to height*width = "
            f"{height * width}, they add up to {sum(runs)}; re-encode the mask with "
            "pycocotools.mask.encode on the image's grid.",
            path=path,
            field=field + ".counts",
        )
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def polygons_to_rle(
    polygons: Sequence[Sequence[float]],
    height: int,
    width: int,
    *,
    path: Any = None,
    field: str | None = None,
) -> dict[str, Any]:
    """Rasterise COCO polygons (several parts allowed) to one compressed RLE.

    Parameters
    ----------
    polygons : list of list of float
        Parts ``[x0, y0, x1, y1, ...]`` in pixel-edge coordinates (see
        :mod:`napari_radiogal.io.coco`);
        each part needs at least three vertices. Parts are merged by union, as pycocotools'
        ``annToRLE`` does; inside one part the even-odd rule decides.
    height, width : int
        The image size in pixels.
    path, field : optional
        Named in the error message.

    Returns
    -------
    dict
        ``{"size": [height, width], "counts": str}``.
    """
    from pycocotools import mask as mask_utils

    field = field or "segmentation"
    parts = []
    for j, part in enumerate(polygons):
        if not isinstance(part, (list, tuple)) or len(part) < 6 or len(part) % 2:
            raise CocoFormatError(
                "each polygon part must be a flat list [x0, y0, x1, y1, ...] of at least three "
                f"vertices (an even count of >= 6 numbers), got {str(part)[:80]}.",
                path=path,
                field=f"{field}[{j}]",
            )
        try:
            values = [float(v) for v in part]
        except (TypeError, ValueError, OverflowError):  # OverflowError: beyond any float
            raise CocoFormatError(
                "polygon vertices must be numbers.", path=path, field=f"{field}[{j}]"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise CocoFormatError(
                "polygon vertices must be finite.", path=path, field=f"{field}[{j}]"
            )
        xs, ys = values[0::2], values[1::2]
        # pycocotools walks every edge pixel by pixel: a vertex at 1e300 would never return
        if min(xs) < -width or max(xs) > 2 * width or min(ys) < -height or max(ys) > 2 * height:
            raise CocoFormatError(
                f"polygon vertices must lie on or near the {height}x{width} image (x within "
                f"[{-width}, {2 * width}], y within [{-height}, {2 * height}]), got x from "
                f"{min(xs):g} to {max(xs):g}, y from {min(ys):g} to {max(ys):g}.",
                path=path,
                field=f"{field}[{j}]",
            )
        parts.append(values)
    if not parts:
        raise CocoFormatError(
            "an empty polygon list has no pixels; give a mask.", path=path, field=field
        )
    rles = mask_utils.frPyObjects(parts, int(height), int(width))
    merged = mask_utils.merge(rles, intersect=False)
    return {"size": [int(height), int(width)], "counts": merged["counts"].decode("ascii")}


def check_rle_counts(instances: Sequence[Instance], path: Any) -> None:
    """Check every compressed RLE decodes to exactly H*W pixels (vectorised, no decoding).

    Parameters
    ----------
    instances : sequence of Instance
        Their ``rle["counts"]`` must be compressed strings.
    path
        Named in the error message.

    Raises
    ------
    CocoFormatError
        On the first bad mask, with ``field = "annotations[i].segmentation.counts"``
        (``i`` its index in ``instances``).
    """
    if not instances:
        return
    strings = [a.rle["counts"] for a in instances]
    totals = np.array(
        [int(a.rle["size"][0]) * int(a.rle["size"][1]) for a in instances], dtype=np.int64
    )
    ok, sums = rle_strings_totals(strings)
    bad = np.flatnonzero(~ok | (sums != totals))
    if bad.size:
        i = int(bad[0])
        what = (
            "is not a valid compressed RLE string (bad characters, truncated, or negative runs)"
            if not ok[i]
            else f"has run lengths adding up to {int(sums[i])} pixels"
        )
        raise CocoFormatError(
            f"invalid RLE: the counts {what}, but the mask is {instances[i].rle['size']} = "
            f"{int(totals[i])} pixels ({bad.size} bad mask(s) in all); re-encode the mask with "
            "pycocotools.mask.encode on the image's grid.",
            path=path,
            field=f"annotations[{i}].segmentation.counts",
        )


def rle_strings_totals(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decode the run lengths of many compressed COCO RLE strings at once.

    Implements pycocotools' ``rleFrString`` (LEB128-like 5-bit groups offset by 48, deltas
    against the run two back from the fourth run on) with numpy over the concatenation of all
    strings, so 100k masks are checked in milliseconds.

    Returns
    -------
    ok : bool array (n,)
        The string is well formed and every run length is >= 0.
    sums : int64 array (n,)
        Total run length (the number of pixels it covers); valid where ``ok``.
    """
    n = len(strings)
    ok, counts, run_string, first_run = _decoded_runs(strings)
    sums = np.zeros(n, dtype=np.int64)
    if first_run.size:
        np.add.at(sums, run_string[first_run], np.add.reduceat(counts, first_run))
    return ok, sums


def _decoded_runs(
    strings: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The run lengths of many compressed RLE strings (:func:`rle_strings_totals`).

    Returns
    -------
    ok : bool array (n,)
        As in :func:`rle_strings_totals`.
    counts : int64 array (m,)
        Every run of the strings that are well formed, string after string.
    run_string : int array (m,)
        The string each run belongs to.
    first_run : int array
        Index in ``counts`` of each string's first run.
    """
    n = len(strings)
    empty = np.zeros(0, dtype=np.int64)
    try:  # the common case: every counts is an ASCII str
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=n)
        joined = "".join(strings).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        encoded = [
            s.encode("ascii", errors="replace")
            if isinstance(s, str)
            else bytes(s)
            if isinstance(s, bytes)
            else b"\x00"
            for s in strings
        ]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        joined = b"".join(encoded)
    # small dtypes throughout: this is memory-bound over millions of characters
    c = np.frombuffer(joined, dtype=np.uint8) - np.uint8(48)  # wraps below 48 -> >= 64
    string_of_char = np.repeat(np.arange(n, dtype=np.int32), lengths)
    more = (c & 0x20).astype(bool)
    # a string is well formed when every char is valid and its last char ends a run
    bad_chars = np.bincount(string_of_char[c >= 64], minlength=n) > 0
    ends = np.cumsum(lengths) - 1
    nonempty = lengths > 0
    ok = np.zeros(n, dtype=bool)
    ok[nonempty] = ~more[ends[nonempty]]
    ok &= ~bad_chars
    if not ok.any():
        return ok, empty, empty, empty
    if not ok.all():
        keep = ok[string_of_char]
        c, more, string_of_char = c[keep], more[keep], string_of_char[keep]
    # group characters into runs: a run ends at a char without the continuation bit
    run_end = ~more
    run_start = np.flatnonzero(np.concatenate(([True], run_end[:-1])))
    n_chars = np.diff(np.append(run_start, c.size))
    if n_chars.max(initial=0) > 12:  # a run longer than 2**60 pixels cannot be right
        ok[np.unique(string_of_char[run_start[n_chars > 12]])] = False
    run_id = np.repeat(np.arange(run_start.size, dtype=np.int32), n_chars)
    k = (np.arange(c.size, dtype=np.int32) - run_start[run_id].astype(np.int32)).astype(np.int8)
    shifted = (c & 0x1F).astype(np.int64) << (5 * np.minimum(k, 12)).astype(np.int64)
    values = np.add.reduceat(shifted, run_start) if run_start.size else shifted[:0]
    last_char = c[run_start + n_chars - 1]
    negative = (last_char & 0x10).astype(bool)
    values[negative] -= np.int64(1) << (5 * n_chars[negative]).astype(np.int64)
    # undo the delta coding: run m (m > 2) is stored relative to run m - 2
    run_string = string_of_char[run_start]
    first_run = np.flatnonzero(np.concatenate(([True], run_string[1:] != run_string[:-1])))
    runs_per_string = np.diff(np.append(first_run, run_string.size))
    m = np.arange(run_string.size) - np.repeat(first_run, runs_per_string)
    counts = values.copy()
    for parity in (0, 1):
        idx = np.flatnonzero((m % 2 == parity) & (m >= 1))  # run 0 is never a base
        if idx.size == 0:
            continue
        vals = values[idx]
        csum = np.cumsum(vals)
        # restart the running sum at each string's first run of this chain
        seg_start = np.concatenate(([True], run_string[idx][1:] != run_string[idx][:-1]))
        start_pos = np.maximum.accumulate(np.where(seg_start, np.arange(idx.size), 0))
        counts[idx] = csum - (csum[start_pos] - vals[start_pos])
    has_runs = np.bincount(run_string, minlength=n) > 0
    negative_run = np.bincount(run_string[counts < 0], minlength=n) > 0
    ok &= has_runs & ~negative_run
    return ok, counts, run_string, first_run


def rle_counts(rle: dict[str, Any]) -> np.ndarray:
    """The uncompressed run lengths of a COCO RLE (zeros first, column-major order).

    Compressed counts are decoded by :func:`rle_strings_totals`' decoder; the number of runs
    grows with a source's outline, not with the image.

    Raises
    ------
    ValueError
        For a malformed compressed string.

    Examples
    --------
    >>> from napari_radiogal.annotations import encode_mask
    >>> m = np.zeros((4, 3), bool); m[1:3, 1] = True
    >>> rle_counts(encode_mask(m)).tolist()
    [5, 2, 5]
    """
    counts = rle["counts"]
    if isinstance(counts, list):
        return np.asarray(counts, dtype=np.int64)
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    ok, runs, _, _ = _decoded_runs([counts])
    if not ok[0]:
        raise ValueError(f"malformed compressed RLE counts {counts[:40]!r}")
    return runs


def decode_rle_box(rle: dict[str, Any]) -> tuple[np.ndarray, int, int]:
    """The mask of a COCO RLE cropped to its bounding box, without the full image.

    Returns
    -------
    mask : ndarray of bool, shape (h, w)
        The pixels inside the box (``(0, 0)`` for an empty mask).
    row0, col0 : int
        The box's top-left pixel in the image.

    Examples
    --------
    >>> from napari_radiogal.annotations import encode_mask
    >>> m = np.zeros((6, 5), bool); m[2:4, 1] = True; m[3, 2] = True
    >>> sub, r0, c0 = decode_rle_box(encode_mask(m))
    >>> (r0, c0), sub.astype(int).tolist()
    ((2, 1), [[1, 0], [1, 1]])
    """
    height = int(rle["size"][0])
    runs = rle_counts(rle)
    ends = np.cumsum(runs)
    starts = ends - runs
    on_start, on_length = starts[1::2], runs[1::2]
    keep = on_length > 0
    on_start, on_length = on_start[keep], on_length[keep]
    total = int(on_length.sum())
    if total == 0:
        return np.zeros((0, 0), dtype=bool), 0, 0
    # every pixel index of every run of ones: its run's start plus its place in the run
    first_of_run = np.repeat(np.cumsum(on_length) - on_length, on_length)
    index = np.repeat(on_start, on_length) + (np.arange(total) - first_of_run)
    rows, cols = index % height, index // height
    row0, col0 = int(rows.min()), int(cols.min())
    sub = np.zeros((int(rows.max()) - row0 + 1, int(cols.max()) - col0 + 1), dtype=bool)
    sub[rows - row0, cols - col0] = True
    return sub, row0, col0


def encode_placed_mask(
    sub: np.ndarray, row0: int, col0: int, shape: tuple[int, int]
) -> dict[str, Any]:
    """Compressed COCO RLE of a full ``shape`` mask that is ``sub`` at ``(row0, col0)`` and
    empty elsewhere, without building the full mask.

    The same as ``encode_mask`` of the full mask, but its cost grows with the height of the
    image times the width of ``sub``, not with the whole image: on a 12000² mosaic with
    thousands of sources the full masks would be 144 MB each.

    Parameters
    ----------
    sub : ndarray of bool, shape (h, w)
        Inside the image: ``row0 + h <= H`` and ``col0 + w <= W``.
    row0, col0 : int
        Its top-left pixel in the image.
    shape : tuple of int
        ``(H, W)`` of the image.

    Examples
    --------
    >>> from napari_radiogal.annotations import encode_mask
    >>> full = np.zeros((6, 5), bool); full[2:4, 1:3] = True
    >>> encode_placed_mask(full[2:4, 1:3], 2, 1, (6, 5)) == encode_mask(full)
    True
    """
    from pycocotools import mask as mask_utils

    height, width = (int(v) for v in shape)
    sub = np.asarray(sub, dtype=bool)
    h, w = sub.shape
    if row0 < 0 or col0 < 0 or row0 + h > height or col0 + w > width:
        raise ValueError(f"a {sub.shape} mask at ({row0}, {col0}) is not inside {shape}")
    # COCO RLE runs over the image in column-major order, starting with a run of zeros: the
    # columns of ``sub`` padded to full height, the empty columns before and after as runs
    strip = np.zeros((height, w), dtype=bool)
    strip[row0 : row0 + h] = sub
    flat = strip.ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).astype(np.int64)
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    runs[0] += col0 * height
    after = (width - col0 - w) * height
    if after:
        if len(runs) % 2:  # ends in a run of zeros: it grows
            runs[-1] += after
        else:
            runs = np.concatenate([runs, [after]])
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs.tolist()}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def compressed_rle(rle: Mapping[str, Any]) -> dict[str, Any]:
    """Any RLE dict -> ``{"size": [H, W], "counts": str}`` (compressed, ASCII text).

    Parameters
    ----------
    rle : mapping
        ``{"size": [H, W], "counts": ...}`` with ``counts`` a compressed ``str`` or
        ``bytes``, or a list of run lengths (uncompressed, not checked here).

    Examples
    --------
    >>> compressed_rle({"size": [2, 2], "counts": b"112"})
    {'size': [2, 2], 'counts': '112'}
    """
    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        from pycocotools import mask as mask_utils

        counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [h, w], "counts": counts}


# Directed pixel edges, foreground on the right (image y axis points down): for a foreground
# pixel (r, c) whose neighbour in direction (dr, dc) is background, the edge runs from
# corner (x0, y0) to (x1, y1), corners given as offsets from (c, r).
_EDGES = (
    ((-1, 0), (0, 0), (1, 0)),  # top edge, left to right
    ((0, 1), (1, 0), (1, 1)),  # right edge, top to bottom
    ((1, 0), (1, 1), (0, 1)),  # bottom edge, right to left
    ((0, -1), (0, 1), (0, 0)),  # left edge, bottom to top
)


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Trace a boolean mask along pixel edges into COCO polygons that rasterise back exactly.

    Parameters
    ----------
    mask : bool array (H, W)
        ``(row, col)``.

    Returns
    -------
    list of list of float
        One flat ``[x0, y0, x1, y1, ...]`` part per 8-connected component, in pixel-edge
        coordinates (pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``); holes are joined to
        their component's outer ring by a doubled bridge segment, which the even-odd
        rasteriser of pycocotools cancels. ``polygons_to_rle(mask_to_polygons(m), H, W)``
        equals the RLE of ``m`` (:func:`~napari_radiogal.io.coco.dataset_to_dict` checks this for every mask it writes).
        An empty mask gives ``[]``.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    if not mask.any():
        return []
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    padded = np.pad(mask, 1)
    out_edges: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    edge_pixel: dict[tuple[int, int, int, int], tuple[int, int]] = {}
    rows, cols = np.nonzero(mask)
    for (dr, dc), (ax, ay), (bx, by) in _EDGES:
        open_side = ~padded[1 + rows + dr, 1 + cols + dc]
        for r, c in zip(rows[open_side].tolist(), cols[open_side].tolist(), strict=True):
            start, end = (c + ax, r + ay), (c + bx, r + by)
            out_edges.setdefault(start, []).append(end)
            edge_pixel[start + end] = (r, c)
    rings_by_label: dict[int, list[list[tuple[int, int]]]] = {}
    while out_edges:
        start = next(iter(out_edges))
        r, c = edge_pixel[start + out_edges[start][0]]
        ring = [start]
        vertex, prev_dir = start, None
        while True:
            ends = out_edges[vertex]
            end = _choose_turn(vertex, ends, prev_dir)
            ends.remove(end)
            if not ends:
                del out_edges[vertex]
            prev_dir = (end[0] - vertex[0], end[1] - vertex[1])
            vertex = end
            if vertex == start:
                break
            ring.append(vertex)
        rings_by_label.setdefault(int(labels[r, c]), []).append(_drop_collinear(ring))
    polygons = []
    for label in sorted(rings_by_label):
        rings = sorted(rings_by_label[label], key=lambda rg: min((v[1], v[0]) for v in rg))
        outer, holes = rings[0], rings[1:]
        path = list(outer)
        anchor = outer[0]
        for hole in holes:
            path += [anchor, *hole, hole[0], anchor]
        polygons.append([float(v) for vertex in path for v in vertex])
    return polygons


def _choose_turn(
    vertex: tuple[int, int], ends: list[tuple[int, int]], prev_dir: tuple[int, int] | None
) -> tuple[int, int]:
    """At a pinch corner (two pixels touching diagonally) turn right, hugging the pixel."""
    if prev_dir is None or len(ends) == 1:
        return ends[0]
    right = (-prev_dir[1], prev_dir[0])  # rotate clockwise on screen (y down)
    for end in ends:
        if (end[0] - vertex[0], end[1] - vertex[1]) == right:
            return end
    return ends[0]


def _drop_collinear(ring: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep only the corners of a closed ring of unit steps."""
    n = len(ring)
    keep = []
    for i in range(n):
        a, b, c = ring[i - 1], ring[i], ring[(i + 1) % n]
        if (b[0] - a[0], b[1] - a[1]) != (c[0] - b[0], c[1] - b[1]):
            keep.append(b)
    return keep


def exact_polygons(rle: Mapping[str, Any]) -> list[list[float]] | None:
    """Pixel-edge polygons of an RLE mask, or ``None`` if they would not reproduce it.

    Parameters
    ----------
    rle : mapping
        Any RLE (see :func:`compressed_rle`).

    Returns
    -------
    list of list of float or None
        :func:`mask_to_polygons` of the mask when :func:`polygons_to_rle` gives back the
        same RLE; ``None`` for an empty mask or one that would not survive.
    """
    from napari_radiogal.annotations import decode_rle

    compressed = compressed_rle(rle)
    h, w = compressed["size"]
    polygons = mask_to_polygons(decode_rle(compressed))
    if not polygons:
        return None  # an empty mask has no polygon; keep it as RLE
    back = polygons_to_rle(polygons, h, w)
    return polygons if back["counts"] == compressed["counts"] else None
