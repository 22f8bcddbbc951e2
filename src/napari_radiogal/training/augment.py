"""Augmentation of float channels: random scale, rotation, flip and crop in ONE resampling.

Scale, rotation, flip and the crop (or placement in a larger canvas) are composed into one
affine map and applied with a single bilinear ``grid_sample``, so an image is interpolated
once, not three times. Everything outside the source image is filled with **0, the value of
empty sky after pre-processing** (the authors fill rotated corners with 0 in *normalised*
space, i.e. with the channel mean: ALGORITHM 11.6). Label maps follow the same geometry with
nearest-neighbour sampling and are filled with 255 (ignore).

Randomness comes from a ``numpy.random.Generator`` that the caller derives from
``(seed, epoch, image index)``, so an epoch's augmentations do not depend on what ran before
(this is what makes ``--resume`` exact and DDP ranks independent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["AffineDraw", "draw_affine", "apply_affine", "affine_points", "augment_rng", "IGNORE"]

#: Label value of pixels without a label (outside the image, or unsure pseudo-labels).
IGNORE = 255


@dataclass(frozen=True)
class AffineDraw:
    """One random geometry: source ``(H, W)`` -> output ``(S, S)``.

    Attributes
    ----------
    scale : float
        Zoom factor (> 1 enlarges).
    angle_deg : float
        Counter-clockwise rotation about the scaled image's centre, degrees.
    flip : bool
        Mirror left-right.
    offset : tuple of int
        ``(row, col)`` of the output's top-left corner in the scaled image; negative values
        place the image inside a larger canvas.
    out_size : int
        Output side ``S``.
    """

    scale: float
    angle_deg: float
    flip: bool
    offset: tuple[int, int]
    out_size: int


def augment_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator for one image in one epoch (independent of run history and rank)."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


def draw_affine(
    rng: np.random.Generator,
    shape: tuple[int, int],
    out_size: int,
    *,
    scale_range: tuple[float, float] = (1.0, 1.0),
    rotate: bool = False,
    flip: bool = False,
) -> AffineDraw:
    """Draw a random scale, angle, flip and crop/placement offset.

    The offset is uniform over all integer positions: a random crop when the scaled image is
    larger than ``out_size``, a random placement in the canvas when it is smaller.
    """
    lo, hi = scale_range
    scale = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    angle = float(rng.uniform(0.0, 360.0)) if rotate else 0.0
    mirrored = bool(rng.random() < 0.5) if flip else False
    offset = []
    for n in shape:
        scaled = int(round(n * scale))
        a, b = sorted((0, scaled - out_size))
        offset.append(int(rng.integers(a, b + 1)))
    return AffineDraw(scale, angle, mirrored, (offset[0], offset[1]), int(out_size))


def _sampling_grid(draw: AffineDraw, shape: tuple[int, int], device=None) -> torch.Tensor:
    """``grid_sample`` grid ``(1, S, S, 2)`` mapping output pixels to the source image."""
    h, w = shape
    s = draw.out_size
    centre = torch.arange(s, dtype=torch.float64, device=device) + 0.5
    # output pixel centres in the scaled image's frame, relative to its centre
    y = (centre + draw.offset[0] - h * draw.scale / 2)[:, None].expand(s, s)
    x = (centre + draw.offset[1] - w * draw.scale / 2)[None, :].expand(s, s)
    if draw.flip:
        x = -x
    theta = math.radians(draw.angle_deg)
    c, si = math.cos(theta), math.sin(theta)
    # inverse rotation (output -> source), then inverse scale, back to source pixel coords
    ys = (c * y - si * x) / draw.scale + h / 2
    xs = (si * y + c * x) / draw.scale + w / 2
    grid = torch.stack([2 * xs / w - 1, 2 * ys / h - 1], dim=-1)
    return grid[None].float()


def affine_points(draw: AffineDraw, shape: tuple[int, int], xy: np.ndarray) -> np.ndarray:
    """Where points of the source image land in the output of :func:`apply_affine`.

    The exact inverse of the sampling grid: a point source at ``xy`` in the source image
    is at the returned position in ``apply_affine(image, draw)`` (host positions follow
    their image through the augmentation).

    Parameters
    ----------
    draw : AffineDraw
    shape : (H, W)
        The source image's shape.
    xy : ndarray, shape (N, 2)
        ``(x, y)`` = ``(col, row)`` in source pixels, pixel centres at integers.

    Returns
    -------
    ndarray of float64, shape (N, 2)
        ``(x, y)`` in output pixels (may fall outside ``[0, S)``).

    Examples
    --------
    >>> d = AffineDraw(scale=2.0, angle_deg=0.0, flip=True, offset=(0, 0), out_size=8)
    >>> affine_points(d, (4, 4), np.array([[0.0, 0.0]])).tolist()  # top-left -> top-right
    [[6.5, 0.5]]
    """
    h, w = shape
    xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
    # continuous source coordinates (pixel centres at i + 0.5), scaled, about the centre
    u = draw.scale * (xy[:, 1] + 0.5 - h / 2)
    v = draw.scale * (xy[:, 0] + 0.5 - w / 2)
    theta = math.radians(draw.angle_deg)
    c, si = math.cos(theta), math.sin(theta)
    # the grid maps output (y, x) to source by the rotation [[c, -si], [si, c]]: invert it
    y = c * u + si * v
    x = -si * u + c * v
    if draw.flip:
        x = -x
    rows = y - draw.offset[0] + h * draw.scale / 2 - 0.5
    cols = x - draw.offset[1] + w * draw.scale / 2 - 0.5
    return np.stack([cols, rows], axis=1)


def apply_affine(
    image: torch.Tensor, draw: AffineDraw, *, label: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample channels ``(C, H, W)`` (bilinear, fill 0) and a label ``(H, W)`` (nearest, fill 255).

    Returns
    -------
    (image (C, S, S) float32, label (S, S) int64 or None)
    """
    shape = (image.shape[-2], image.shape[-1])
    grid = _sampling_grid(draw, shape, image.device)
    out = F.grid_sample(
        image[None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    out_label = None
    if label is not None:
        # shift labels by +1 so that zero padding marks "outside" and maps to IGNORE
        shifted = (label.float() + 1.0)[None, None]
        sampled = F.grid_sample(
            shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False
        )[0, 0].long()
        out_label = torch.where(sampled == 0, torch.full_like(sampled, IGNORE), sampled - 1)
    return out, out_label
