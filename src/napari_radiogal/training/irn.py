"""Stage E: IRNet's pixel pairs, affinities and losses (ALGORITHM 7.2-7.4).

All on the stride-4 grid. A pair is a source cell ``i`` and a destination ``j = i + delta``
with ``delta = (dy, dx)`` in the half-disc ``dy > 0 or (dy == 0 and dx > 0)``,
``dy^2 + dx^2 < radius^2``; the other half is implied by symmetry. The affinity of a pair is
``1 - max B`` along the cells of the straight path from ``i`` to ``j``.
"""

from __future__ import annotations

import math

import torch

from napari_radiogal.training.augment import IGNORE

__all__ = ["PairGeometry", "irn_losses"]

_EPS = 1e-5


def _half_disc_offsets(radius: int) -> list[tuple[int, int]]:
    out = []
    for dy in range(0, radius):
        for dx in range(-radius + 1, radius):
            if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius * radius:
                out.append((dy, dx))
    return out


def _path_cells(dy: int, dx: int) -> list[tuple[int, int]]:
    """Cells in the box spanned by (0, 0) and (dy, dx) closer than 1 to the line through them."""
    norm = math.hypot(dy, dx)
    cells = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            if abs(y * dx - x * dy) / norm < 1.0:
                cells.append((y, x))
    return cells


class PairGeometry:
    """Offsets, paths and the source window of IRNet pairs for one radius.

    Parameters
    ----------
    radius : int
        Pairs reach up to ``radius - 1`` cells (10 in the paper: 152 offsets).

    Attributes
    ----------
    offsets : list of (dy, dx)
    paths : list of list of (y, x)
        Path cells of each offset, relative to the source (both ends included).
    margin : int
        ``radius - 1``: sources leave this many cells at the bottom, left and right.
    """

    def __init__(self, radius: int) -> None:
        if radius < 2:
            raise ValueError(f"pair radius must be >= 2 grid cells; got {radius}.")
        self.radius = radius
        self.offsets = _half_disc_offsets(radius)
        self.paths = [_path_cells(dy, dx) for dy, dx in self.offsets]
        self.cells = sorted({cell for path in self.paths for cell in path})
        self.margin = radius - 1

    def window(self, h: int, w: int) -> tuple[int, int]:
        """Size ``(h', w')`` of the source window on an ``h x w`` grid."""
        hh, ww = h - self.margin, w - 2 * self.margin
        if hh < 1 or ww < 1:
            raise ValueError(
                f"a {h}x{w} stride-4 grid is too small for pair radius {self.radius}; use a "
                f"larger canvas (>= {4 * (2 * self.margin + 1)} px) or a smaller radius."
            )
        return hh, ww

    def _shift(self, t: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        hh, ww = self.window(t.shape[-2], t.shape[-1])
        x0 = self.margin + dx
        return t[..., dy : dy + hh, x0 : x0 + ww]

    def sources(self, t: torch.Tensor) -> torch.Tensor:
        """The source window of a ``(..., h, w)`` tensor."""
        return self._shift(t, 0, 0)

    def destinations(self, t: torch.Tensor) -> torch.Tensor:
        """``(..., O, h', w')``: the destination of every offset for every source."""
        return torch.stack([self._shift(t, dy, dx) for dy, dx in self.offsets], dim=-3)

    def affinities(self, boundary: torch.Tensor) -> torch.Tensor:
        """``(B, O, h', w')`` affinities ``1 - max B`` along each pair's path.

        ``boundary`` is ``(B, 1, h, w)`` (or ``(B, h, w)``) in [0, 1].
        """
        b = boundary[:, 0] if boundary.dim() == 4 else boundary
        # one view per distinct path cell, then a chain of element-wise maxima per path:
        # much cheaper to differentiate than stacking every path (profiled: ~3x)
        views = {cell: self._shift(b, *cell) for cell in self.cells}
        maxima = []
        for cells in self.paths:
            m = views[cells[0]]
            for cell in cells[1:]:
                m = torch.maximum(m, views[cell])
            maxima.append(m)
        return 1.0 - torch.stack(maxima, dim=1)

    def pair_labels(self, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boolean ``(B, O, h', w')`` masks: background-positive, foreground-positive, negative.

        ``label`` is ``(B, h, w)`` with 0 background, ``k + 1`` class, 255 ignore. Positives
        share a label (same *class*: instances are not distinguished); negatives are valid
        pairs with different labels.
        """
        src = self.sources(label)[:, None]
        dst = self.destinations(label)
        valid = (src != IGNORE) & (dst != IGNORE)
        same = src == dst
        bg_pos = valid & same & (src == 0)
        fg_pos = valid & same & (src > 0)
        neg = valid & ~same
        return bg_pos, fg_pos, neg

    def offset_tensor(self, like: torch.Tensor) -> torch.Tensor:
        """``(2, O, 1, 1)`` offsets (dy, dx) in grid cells."""
        o = torch.tensor(self.offsets, dtype=like.dtype, device=like.device)
        return o.t()[:, :, None, None]


def irn_losses(
    geometry: PairGeometry,
    boundary: torch.Tensor,
    displacement: torch.Tensor,
    label: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """IRNet's losses over a batch (ALGORITHM 7.4).

    Parameters
    ----------
    geometry : PairGeometry
    boundary : tensor (B, 1, h, w)
        Boundary probabilities.
    displacement : tensor (B, 2, h, w)
        Raw displacement (dy, dx) in grid cells.
    label : tensor (B, h, w) int64
        Pseudo-labels on the same grid.

    Returns
    -------
    dict
        ``loss`` (the total), ``pos``, ``neg``, ``dp_fg``, ``dp_bg`` (scalars). Every
        denominator carries +1e-5, so a batch without some kind of pair gives 0 for it.

    Notes
    -----
    ``D(i) - D(j) = delta_ij`` when ``i`` and ``j`` point at the same centroid, so the
    foreground term is ``|D(i) - D(j) - delta|_1`` and the background term ``|D(i) - D(j)|_1``
    (a constant field), each averaged over pairs and the two components.
    """
    boundary = boundary.float()
    displacement = displacement.float()
    bg_pos, fg_pos, neg = geometry.pair_labels(label)
    aff = geometry.affinities(boundary)
    bg_n, fg_n, neg_n = (m.sum() for m in (bg_pos, fg_pos, neg))
    bg_pos_loss = (-torch.log(aff + _EPS) * bg_pos).sum() / (bg_n + _EPS)
    fg_pos_loss = (-torch.log(aff + _EPS) * fg_pos).sum() / (fg_n + _EPS)
    neg_loss = (-torch.log(1.0 + _EPS - aff) * neg).sum() / (neg_n + _EPS)
    pos_loss = 0.5 * bg_pos_loss + 0.5 * fg_pos_loss

    d_src = geometry.sources(displacement)[:, :, None]  # (B, 2, 1, h', w')
    d_dst = geometry.destinations(displacement)  # (B, 2, O, h', w')
    diff = d_src - d_dst
    fg_err = (diff - geometry.offset_tensor(diff)).abs().sum(dim=1)  # (B, O, h', w')
    bg_err = diff.abs().sum(dim=1)
    dp_fg = (fg_err * fg_pos).sum() / (2 * fg_n + _EPS)
    dp_bg = (bg_err * bg_pos).sum() / (2 * bg_n + _EPS)
    total = (pos_loss + neg_loss) / 2 + (dp_fg + dp_bg) / 2
    return {
        "loss": total,
        "pos": pos_loss.detach(),
        "neg": neg_loss.detach(),
        "dp_fg": dp_fg.detach(),
        "dp_bg": dp_bg.detach(),
    }
