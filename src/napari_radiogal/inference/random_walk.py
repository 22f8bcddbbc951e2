"""Random-walk propagation of instance maps over boundary-aware affinities (IRNet, stage F).

The authors' code (ALGORITHM.md 8.6) builds a dense ``N x N`` transition matrix ``T`` on the
stride-4 grid (``N = 2,809`` cells for a 210-pixel cut-out) and raises it to the 256th power
by 8 squarings: 355 GFLOP and ~150 MB per image, growing as ``N**3``. The result is only ever
used as ``x @ T**256`` for a few maps ``x``, which is exactly 256 steps ``x <- x @ T`` with
the sparse ``T`` (69 non-zeros per row at radius 5). That is what :func:`propagate` does
(DESIGN decision 3): the same numbers up to float rounding, about 1000x fewer FLOPs, and
memory linear in ``N``. Several images are propagated together as one block-diagonal sparse
matrix (:func:`propagate_batch`).

Definitions (IRNet, Ahn et al. 2019; ALGORITHM.md 7.2 and 8.6), on a grid of boundary
probabilities ``B`` (``(h, w)``, in [0, 1]):

* neighbours of a cell: offsets ``(dy, dx)`` with ``dy**2 + dx**2 < radius**2`` (68 at
  radius 5) plus the cell itself;
* the *path* of an offset: the cells of the rectangle spanned by ``(0, 0)`` and
  ``(dy, dx)`` whose distance to the line through them is below 1 (both ends included);
* affinity ``a_ij = (1 - max_{k on path(i, j)} B_k) ** beta``, and ``a_ii = 1``;
* ``T = A`` with every column normalised to sum to 1; output ``(x * (1 - B)) @ T**steps``.

Since ``A`` is symmetric, ``x @ T`` is ``P @ x`` with the row-stochastic ``P = D^-1 A``:
each step replaces every cell by a weighted average of its neighbours, so propagated values
never leave the range of the input (the pipeline relies on this).

Grids are ``(row, col)``; a flattened index is ``row * w + col``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from napari_radiogal.inference.device import torch_threads

__all__ = [
    "half_offsets",
    "offset_path",
    "path_affinities",
    "transition_matrix",
    "propagate",
    "propagate_batch",
    "propagate_dense_reference",
]


@functools.lru_cache(maxsize=16)
def half_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """Neighbour offsets of one half-plane: ``dy > 0``, or ``dy == 0`` and ``dx > 0``.

    Parameters
    ----------
    radius : int
        Offsets satisfy ``dy**2 + dx**2 < radius**2``.

    Returns
    -------
    tuple of (dy, dx)
        34 offsets at radius 5; the other half is their negation.

    Examples
    --------
    >>> len(half_offsets(5)), half_offsets(2)
    (34, ((0, 1), (1, -1), (1, 0), (1, 1)))
    """
    out = []
    for dy in range(0, radius):
        for dx in range(-radius + 1, radius):
            if dy * dy + dx * dx < radius * radius and (dy > 0 or dx > 0):
                out.append((dy, dx))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def offset_path(dy: int, dx: int) -> tuple[tuple[int, int], ...]:
    """Grid cells crossed by the segment from ``(0, 0)`` to ``(dy, dx)``.

    A cell ``(y, x)`` of the spanned rectangle belongs to the path when its distance to the
    line through both ends is below 1; both ends are included.

    Examples
    --------
    >>> offset_path(0, 3)
    ((0, 0), (0, 1), (0, 2), (0, 3))
    >>> offset_path(2, 1)
    ((0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1))
    """
    length = float(np.hypot(dy, dx))
    cells = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            if abs(y * dx - x * dy) / length < 1.0:
                cells.append((y, x))
    return tuple(cells)


@functools.lru_cache(maxsize=32)
def _grid_structure(h: int, w: int, radius: int):
    """Sparse structure of the affinity matrix of an ``(h, w)`` grid (values not included).

    Returns
    -------
    indptr, indices : ndarray of int64
        CSR structure of ``A`` (rows sorted by column index).
    value_index : ndarray of int64, shape (nnz,)
        Where each stored entry reads its value from ``concat(half_affinity.ravel(), [1.0])``,
        ``half_affinity`` being the ``(n_half, h * w)`` output of :func:`path_affinities`
        (the last slot is the self-affinity 1).
    path_gather : ndarray of int64, shape (n_half, max_path_len)
        Flat offsets of each half-offset's path cells in the padded grid of
        :func:`path_affinities` (short paths repeat their last cell).
    """
    halves = half_offsets(radius)
    n = h * w
    yy, xx = np.divmod(np.arange(n), w)
    # Every neighbour offset with where its value comes from: (dy, dx, half index, sign)
    entries = [(0, 0, -1, 0)]
    for o, (dy, dx) in enumerate(halves):
        entries.append((dy, dx, o, +1))
        entries.append((-dy, -dx, o, -1))
    # sorting by the flat offset keeps the column indices of every CSR row sorted
    entries.sort(key=lambda e: e[0] * w + e[1])
    cols, reads = [], []
    for dy, dx, o, sign in entries:
        ty, tx = yy + dy, xx + dx
        valid = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        col = np.where(valid, ty * w + tx, -1)
        if sign == 0:
            read = np.full(n, len(halves) * n)  # the self-affinity slot
        elif sign > 0:  # a_(j, j+d): the path of d starts at j
            read = o * n + np.arange(n)
        else:  # a_(j, j-d) = a_(j-d, j): the path of d starts at j-d
            read = o * n + np.where(valid, col, 0)
        cols.append(col)
        reads.append(read)
    cols = np.stack(cols, axis=1)  # (n, n_entries), row-major = CSR order
    reads = np.stack(reads, axis=1)
    valid = cols >= 0
    indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int64)
    indices = cols[valid].astype(np.int64)
    value_index = reads[valid].astype(np.int64)

    padded_w = w + 2 * radius
    paths = [offset_path(dy, dx) for dy, dx in halves]
    longest = max(len(p) for p in paths)
    path_gather = np.empty((len(halves), longest), dtype=np.int64)
    for o, p in enumerate(paths):
        flat = [py * padded_w + px for py, px in p]
        path_gather[o] = flat + [flat[-1]] * (longest - len(flat))
    return indptr, indices, value_index, path_gather


def path_affinities(boundary: np.ndarray, radius: int = 5) -> np.ndarray:
    """``1 - max(B)`` along the path of every half-offset, from every cell.

    Parameters
    ----------
    boundary : ndarray, shape (h, w) or (n, h, w)
        Boundary probabilities in [0, 1] on the stride-4 grid.
    radius : int
        Neighbourhood radius in cells.

    Returns
    -------
    ndarray of float32, shape (n_half, h * w) or (n, n_half, h * w)
        Entry ``[o, i]`` is the affinity between cell ``i`` and cell ``i + half_offsets[o]``
        (before the power ``beta``); meaningless where that neighbour lies off the grid.
    """
    b = np.asarray(boundary, dtype=np.float32)
    squeeze = b.ndim == 2
    if squeeze:
        b = b[None]
    n_img, h, w = b.shape
    *_, path_gather = _grid_structure(h, w, radius)
    # pad with 1.0 (a wall) like the authors; padded cells only touch off-grid pairs
    padded = np.pad(b, ((0, 0), (radius, radius), (radius, radius)), constant_values=1.0)
    padded_w = w + 2 * radius
    yy, xx = np.divmod(np.arange(h * w), w)
    start = (yy + radius) * padded_w + (xx + radius)  # (N,)
    flat = padded.reshape(n_img, -1)
    # (n_img, n_half, path_len, N) gathered then max-reduced over the path
    gathered = flat[:, path_gather[:, :, None] + start[None, None, :]]
    out = 1.0 - gathered.max(axis=2)
    return out[0] if squeeze else out


def transition_matrix(boundary: np.ndarray, *, beta: float = 10.0, radius: int = 5):
    """The row-stochastic sparse transition matrix ``P = D^-1 A`` of one or more grids.

    Parameters
    ----------
    boundary : ndarray, shape (h, w) or (n, h, w)
        Boundary probabilities in [0, 1]. Several grids give one block-diagonal matrix.
    beta : float
        Power applied to the affinities.
    radius : int
        Neighbourhood radius in cells.

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n * h * w, n * h * w)
        ``propagated = P @ x`` for column vectors ``x``; equals ``(x.T @ T).T`` with the
        authors' column-normalised ``T``.
    """
    import scipy.sparse as sp

    indptr, indices, values = _csr_arrays(boundary, beta=beta, radius=radius)
    n = indptr.size - 1
    return sp.csr_matrix((values, indices, indptr), shape=(n, n))


def _csr_arrays(boundary: np.ndarray, *, beta: float, radius: int):
    b = np.asarray(boundary, dtype=np.float32)
    if b.ndim == 2:
        b = b[None]
    n_img, h, w = b.shape
    n = h * w
    indptr, indices, value_index, _ = _grid_structure(h, w, radius)
    half = path_affinities(b, radius)  # (n_img, n_half, N)
    # clip: a boundary head can overshoot [0, 1] by rounding; a negative base breaks **beta
    # float64 from here: 256 products accumulate rounding (float32 drifts by ~5e-5)
    half = np.clip(half.astype(np.float64), 0.0, 1.0) ** float(beta)
    ones = np.ones((n_img, 1), dtype=np.float64)
    source = np.concatenate([half.reshape(n_img, -1), ones], axis=1)  # (n_img, n_half*N + 1)
    values = np.take_along_axis(
        source, np.broadcast_to(value_index, (n_img, value_index.size)), axis=1
    )
    # row sums (every row holds at least its self-affinity 1, so never 0)
    counts = np.diff(indptr)
    sums = np.add.reduceat(values, indptr[:-1], axis=1)
    values = values / np.repeat(sums, counts, axis=1)
    nnz = indices.size
    all_indptr = np.concatenate(
        [[0], (indptr[1:][None, :] + nnz * np.arange(n_img)[:, None]).ravel()]
    )
    all_indices = (indices[None, :] + n * np.arange(n_img)[:, None]).ravel()
    return all_indptr, all_indices, values.ravel()


def propagate(
    maps: np.ndarray,
    boundary: np.ndarray,
    *,
    beta: float = 10.0,
    steps: int = 256,
    radius: int = 5,
) -> np.ndarray:
    """Random-walk propagation of maps on one grid: ``(maps * (1 - B)) @ T**steps``.

    Parameters
    ----------
    maps : ndarray, shape (m, h, w)
        Non-negative maps on the stride-4 grid (e.g. one instance CAM per map).
    boundary : ndarray, shape (h, w)
        Boundary probabilities in [0, 1].
    beta, steps, radius
        Affinity power, number of walk steps (``2**8`` in the paper), neighbourhood radius.

    Returns
    -------
    ndarray of float32, shape (m, h, w)

    Examples
    --------
    >>> b = np.zeros((8, 8), np.float32); b[:, 4] = 1.0       # a wall down column 4
    >>> x = np.zeros((1, 8, 8), np.float32); x[0, 3, 1] = 1.0
    >>> out = propagate(x, b, steps=64, radius=2)
    >>> bool(out[0, :, 5:].max() < 1e-6), bool(out[0, :, :4].min() > 0)
    (True, True)
    """
    return propagate_batch([maps], [boundary], beta=beta, steps=steps, radius=radius)[0]


def propagate_batch(
    maps: Sequence[np.ndarray],
    boundaries: Sequence[np.ndarray],
    *,
    beta: float = 10.0,
    steps: int = 256,
    radius: int = 5,
    device=None,
    threads: int | None = None,
    cancel: Callable[[], None] | None = None,
) -> list[np.ndarray]:
    """:func:`propagate` for several grids of one shape.

    On a GPU all grids go into one block-diagonal matrix (one launch per step for the whole
    batch). On the CPU each grid is walked on its own: one grid's matrix (1.4 MB at 53 x 53)
    stays in cache, a batch's block-diagonal matrix does not, and the walk is memory-bound.

    Parameters
    ----------
    maps : sequence of ndarray, each (m_i, h, w)
        The maps of each image (``m_i`` may differ, including 0).
    boundaries : sequence of ndarray, each (h, w)
    beta, steps, radius
        As in :func:`propagate`.
    device : torch.device or str, optional
        Where the sparse products run (default CPU).
    threads : int, optional
        CPU threads for the walk (default: torch's setting). One thread is 5-10x faster
        than two when other jobs share the cores.
    cancel : callable(), optional
        Called before each grid and every :data:`CANCEL_EVERY` steps; it stops the walk by
        raising (e.g. :class:`~napari_radiogal.errors.InferenceCancelled`).

    Returns
    -------
    list of ndarray of float32, each (m_i, h, w)
    """
    import torch

    if len(maps) != len(boundaries):
        raise ValueError(f"got {len(maps)} map stacks but {len(boundaries)} boundary maps")
    device = torch.device("cpu") if device is None else torch.device(device)
    if device.type == "cpu" and len(maps) > 1:
        return [
            _propagate_block(
                [m],
                [b],
                beta=beta,
                steps=steps,
                radius=radius,
                device=device,
                threads=threads,
                cancel=cancel,
            )[0]
            for m, b in zip(maps, boundaries, strict=True)
        ]
    return _propagate_block(
        maps,
        boundaries,
        beta=beta,
        steps=steps,
        radius=radius,
        device=device,
        threads=threads,
        cancel=cancel,
    )


#: Steps of the walk between two calls of ``cancel`` (about 2 ms on a 53 x 53 grid).
CANCEL_EVERY = 16


def _propagate_block(
    maps, boundaries, *, beta, steps, radius, device, threads=None, cancel=None
) -> list[np.ndarray]:
    """Walk several grids as one block-diagonal sparse matrix."""
    import torch

    if not maps:
        return []
    if cancel is not None:
        cancel()
    b = np.stack([np.asarray(x, dtype=np.float32) for x in boundaries])
    n_img, h, w = b.shape
    n = h * w
    counts = [int(np.shape(m)[0]) for m in maps]
    m_max = max(counts)
    if m_max == 0:
        return [np.zeros((0, h, w), np.float32) for _ in maps]
    # x: (n_img * N, m_max), image i's maps in its own row block, multiplied by (1 - B)
    x = np.zeros((n_img, n, m_max), dtype=np.float64)
    for i, (m, c) in enumerate(zip(maps, counts, strict=True)):
        if c:
            m = np.asarray(m, dtype=np.float64).reshape(c, n)
            x[i, :, :c] = (m * (1.0 - b[i].reshape(1, n))).T
    if steps > 0:
        indptr, indices, values = _csr_arrays(b, beta=beta, radius=radius)
        matrix = _sparse_csr(indptr, indices, values, n_img * n, device)
        state = torch.from_numpy(x.reshape(n_img * n, m_max)).to(device=device, dtype=matrix.dtype)
        # torch's thread setting by default: on an idle 2-core CPU two threads halve the
        # walk (24 -> 13 ms at 53 x 53); on cores shared with other jobs, OpenMP fork/join
        # per step makes them 5-10x slower than one thread, hence the threads option
        with torch.inference_mode(), torch_threads(threads if device.type == "cpu" else None):
            for step in range(steps):
                if cancel is not None and step % CANCEL_EVERY == 0:
                    cancel()
                state = matrix @ state
        x = state.cpu().numpy().reshape(n_img, n, m_max)
    return [
        np.ascontiguousarray(x[i, :, :c].T, dtype=np.float32).reshape(c, h, w)
        for i, c in enumerate(counts)
    ]


def _sparse_csr(indptr, indices, values, n, device):
    """A torch CSR tensor (float64; float32 on MPS, which has no float64)."""
    import warnings

    import torch

    dtype = torch.float32 if device.type == "mps" else torch.float64
    # int32 indices: half the memory traffic of int64 in a memory-bound product (~20% faster)
    index_dtype = torch.int32 if values.size < 2**31 - 1 else torch.int64
    with warnings.catch_warnings():
        # "Sparse CSR tensor support is in beta": we rely only on CSR @ dense
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support.*")
        return torch.sparse_csr_tensor(
            torch.from_numpy(indptr).to(index_dtype),
            torch.from_numpy(indices).to(index_dtype),
            torch.from_numpy(values).to(dtype),
            size=(n, n),
            device=device,
            check_invariants=False,
        )


def propagate_dense_reference(
    maps: np.ndarray,
    boundary: np.ndarray,
    *,
    beta: float = 10.0,
    exp_times: int = 8,
    radius: int = 5,
    dtype=np.float32,
) -> np.ndarray:
    """The authors' formulation, for verification and benchmarks only (``O(N**3)``).

    A dense affinity matrix on the boundary grid padded with 1.0 (``radius`` columns left and
    right, ``radius`` rows below), built from every source cell of the padded grid along the
    half-offsets, cropped back to the ``(h, w)`` grid, raised to ``beta``, column-normalised
    and squared ``exp_times`` times (``T**(2**exp_times)``); then ``(maps * (1 - B)) @ T``.

    Parameters
    ----------
    maps : ndarray, shape (m, h, w)
    boundary : ndarray, shape (h, w)
    beta, exp_times, radius
        The authors' 10, 8 and 5.
    dtype : numpy dtype
        float32 like the authors' GPU code; float64 for a tighter reference.

    Returns
    -------
    ndarray, shape (m, h, w)
    """
    import torch

    b = np.asarray(boundary, dtype=np.float64)
    h, w = b.shape
    ph, pw = h + radius, w + 2 * radius
    padded = np.pad(b, ((0, radius), (radius, radius)), constant_values=1.0)
    n_pad = ph * pw
    dense = np.zeros((n_pad, n_pad), dtype=np.float64)
    dense[np.arange(n_pad), np.arange(n_pad)] = 1.0
    for dy, dx in half_offsets(radius):
        path = offset_path(dy, dx)
        # sources whose whole path and destination stay inside the padded grid
        y0, y1 = max(0, -min(p[0] for p in path)), ph - max(p[0] for p in path)
        x0, x1 = max(0, -min(p[1] for p in path)), pw - max(p[1] for p in path)
        path_max = np.max([padded[y0 + py : y1 + py, x0 + px : x1 + px] for py, px in path], axis=0)
        ys, xs = np.mgrid[y0:y1, x0:x1]
        src = (ys * pw + xs).ravel()
        dst = ((ys + dy) * pw + (xs + dx)).ravel()
        dense[src, dst] = 1.0 - path_max.ravel()
        dense[dst, src] = 1.0 - path_max.ravel()
    dense = dense.reshape(ph, pw, ph, pw)[:h, radius : radius + w, :h, radius : radius + w]
    dense = dense.reshape(h * w, h * w)
    t = torch.from_numpy(np.clip(dense, 0.0, 1.0).astype(dtype)) ** beta
    t = t / t.sum(dim=0, keepdim=True)
    for _ in range(exp_times):
        t = t @ t
    x = np.asarray(maps, dtype=dtype).reshape(-1, h * w) * (1.0 - b.reshape(1, -1)).astype(dtype)
    out = torch.from_numpy(x) @ t
    return out.numpy().reshape(-1, h, w)
