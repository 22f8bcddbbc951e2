"""The stride-4 grid of the IRNet heads and the moves between it and the image's pixels.

Cell ``(i, j)`` of the grid covers image pixels ``[4i, 4i + 4) x [4j, 4j + 4)``, ``(row,
col)``; an ``(H, W)`` image has a ``(ceil(H / 4), ceil(W / 4))`` grid (:func:`grid_shape`).
The CAMs, the boundary map, the displacement field and the instance maps of inference live
on it; masks and hosts are read at pixel scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "grid_shape",
    "pool4",
    "upsample4",
    "fit_to_grid",
    "cams_to_stride4",
    "cells_of",
    "clip_xy",
]


def grid_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The stride-4 grid ``(ceil(H / 4), ceil(W / 4))`` of an ``(H, W)`` image.

    Examples
    --------
    >>> grid_shape((210, 212))
    (53, 53)
    """
    return -(-int(shape[0]) // 4), -(-int(shape[1]) // 4)


def pool4(image: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Area-average an image onto the stride-4 grid.

    Parameters
    ----------
    image : ndarray (H, W)
        ``(row, col)``; NaN counts as 0.
    grid : (h4, w4)
        The grid shape; the image is zero-padded to ``(4 * h4, 4 * w4)`` first.

    Returns
    -------
    ndarray (h4, w4), float32
        The mean of each cell's 16 pixels.

    Examples
    --------
    >>> pool4(np.ones((6, 8)), (2, 2))
    array([[1. , 1. ],
           [0.5, 0.5]], dtype=float32)
    """
    h4, w4 = grid
    padded = np.zeros((h4 * 4, w4 * 4), dtype=np.float32)
    h, w = image.shape
    padded[:h, :w] = np.nan_to_num(image)
    return padded.reshape(h4, 4, w4, 4).mean(axis=(1, 3))


def upsample4(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear x4 from the stride-4 grid to pixels, cropped to ``shape`` (aligned centres).

    Parameters
    ----------
    maps : ndarray (m, h4, w4)
        Maps on the stride-4 grid.
    shape : (H, W)
        The image shape, at most ``(4 * h4, 4 * w4)``.

    Returns
    -------
    ndarray (m, H, W), float32
        Cell centres land on pixel ``4i + 1.5`` (``align_corners=False``); edges are clamped.
    """
    import torch
    import torch.nn.functional as F

    from napari_radiogal.inference.device import torch_threads

    if len(maps) == 0:
        return np.zeros((0, *shape), np.float32)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    # a few maps of 53 x 53: OpenMP fork/join would cost more than a second thread gains
    with torch_threads(1):
        up = F.interpolate(t, scale_factor=4, mode="bilinear", align_corners=False)[0]
    return up[:, : shape[0], : shape[1]].numpy()


def fit_to_grid(t, grid: tuple[int, int]):
    """Crop (or edge-pad) the last two axes of a tensor to ``grid``.

    Parameters
    ----------
    t : tensor (..., h, w)
    grid : (h4, w4)

    Returns
    -------
    tensor (..., h4, w4)
        Extra rows / columns at the bottom / right dropped, missing ones copied from the last.
    """
    import torch.nn.functional as F

    t = t[..., : grid[0], : grid[1]]
    pad_h, pad_w = grid[0] - t.shape[-2], grid[1] - t.shape[-1]
    if pad_h > 0 or pad_w > 0:
        t = F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")
    return t


def cams_to_stride4(cams, input_size: tuple[int, int], image_size: tuple[int, int]):
    """Resample CAMs of a rescaled input onto the image's stride-4 grid.

    Parameters
    ----------
    cams : tensor (n, K, h16, w16)
        CAMs of an input of ``input_size``, one cell per 16 input pixels.
    input_size : (H_in, W_in)
        Size of the rescaled network input.
    image_size : (H, W)
        Size of the original image.

    Returns
    -------
    tensor (n, K, h4, w4), float32
        A stride-16 cell covers ``16 * H / H_in`` image pixels: the maps are resized by
        exactly that many stride-4 cells so cell centres stay aligned, then fitted to
        :func:`grid_shape` ``(image_size)`` (:func:`fit_to_grid`).
    """
    import torch.nn.functional as F

    h, w = image_size
    factor = (4.0 * h / input_size[0], 4.0 * w / input_size[1])
    cams = F.interpolate(
        cams.float(),
        scale_factor=factor,
        mode="bilinear",
        align_corners=False,
        recompute_scale_factor=False,
    )
    return fit_to_grid(cams, grid_shape(image_size))


def cells_of(mask: np.ndarray, cluster_cells: np.ndarray) -> np.ndarray:
    """Grid cells of a cluster touched by a pixel mask (all the cluster's cells if none).

    Parameters
    ----------
    mask : ndarray of bool (H, W)
        Pixel mask, ``(row, col)``.
    cluster_cells : ndarray of bool (h4, w4)
        The cluster's cells on the stride-4 grid.

    Returns
    -------
    ndarray of bool (h4, w4)

    Examples
    --------
    >>> mask = np.zeros((8, 8), bool); mask[0, 0] = True
    >>> cells_of(mask, np.ones((2, 2), bool)).astype(int)
    array([[1, 0],
           [0, 0]])
    """
    h4, w4 = cluster_cells.shape
    padded = np.zeros((h4 * 4, w4 * 4), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    touched = padded.reshape(h4, 4, w4, 4).any(axis=(1, 3)) & cluster_cells
    return touched if touched.any() else cluster_cells


def clip_xy(xy: tuple[float, float] | None, shape: tuple[int, int]) -> tuple[float, float] | None:
    """Clip an ``(x, y)`` pixel position (0-based, x = column) into an ``(H, W)`` image.

    Examples
    --------
    >>> clip_xy((-2.0, 7.5), (5, 10))
    (0.0, 4.0)
    >>> clip_xy(None, (5, 10)) is None
    True
    """
    if xy is None:
        return None
    return (float(np.clip(xy[0], 0, shape[1] - 1)), float(np.clip(xy[1], 0, shape[0] - 1)))
