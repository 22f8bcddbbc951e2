"""Multi-scale, mirrored class activation maps: the one loop that training and inference share.

Pseudo-labels (training stage D) and inference both sum the CAMs of an image over several
input scales and, optionally, its horizontal mirror (the authors' test-time augmentation).
They differ only in the grid the maps are summed on: training resamples onto the image's own
pixels (:func:`cams_to_image_grid`), inference onto the stride-4 grid of the IRNet heads
(:func:`napari_radiogal.inference.grid.cams_to_stride4`). :func:`multiscale_flip_cams` takes
that resampling as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["multiscale_flip_cams", "cams_to_image_grid", "scaled_size"]

#: ``resample(cams, input_size)``: maps ``(n, K, h16, w16)`` of an input of ``input_size``
#: ``(H_in, W_in)`` onto the grid the scales are summed on, ``(n, K, h_grid, w_grid)``.
Resample = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]

#: ``on_full_scale(outputs, n)``: the :meth:`RadioGalaxyNet.infer` outputs of a scale-1 pass
#: over ``n`` images (followed by their ``n`` mirrors when ``flip``).
FullScaleHook = Callable[[dict[str, torch.Tensor], int], None]


def scaled_size(size: Sequence[int], scale: float, min_side: int = 1) -> tuple[int, int]:
    """The network input size of an image of ``size`` ``(H, W)`` at ``scale``.

    Parameters
    ----------
    size : (H, W)
        Image size in pixels, ``(rows, cols)``.
    scale : float
        Resize factor.
    min_side : int
        Smallest side returned (pixels).

    Returns
    -------
    (int, int)
        ``round(H * scale)`` and ``round(W * scale)``, each at least ``min_side``.

    Examples
    --------
    >>> scaled_size((70, 58), 0.5)
    (35, 29)
    >>> scaled_size((70, 58), 0.1, min_side=16)
    (16, 16)
    """
    return (max(round(size[0] * scale), min_side), max(round(size[1] * scale), min_side))


@torch.no_grad()
def multiscale_flip_cams(
    network,
    images: torch.Tensor,
    resample: Resample,
    scales: Sequence[float] = (1.0,),
    *,
    flip: bool = True,
    min_side: int = 1,
    max_batch: int | None = None,
    channels_last: bool = False,
    on_full_scale: FullScaleHook | None = None,
) -> torch.Tensor:
    """Sum of un-normalised CAMs over input scales and mirrors, on the grid of ``resample``.

    For each scale the images are resized bilinearly (anti-aliased when shrinking), run
    through the network together with their horizontal mirrors (when ``flip``), the mirror
    CAMs flipped back and added to the originals, and the result resampled and summed.

    Parameters
    ----------
    network : RadioGalaxyNet
        In eval mode.
    images : tensor (B, C, H, W)
        Pre-processed channels, ``(row, col)`` on the last two axes.
    resample : callable(cams, input_size) -> tensor
        Maps the ``(n, K, h16, w16)`` CAMs of an input of size ``(H_in, W_in)`` onto the
        summing grid, e.g. ``functools.partial(cams_to_image_grid, image_size=(H, W),
        stride=16)``.
    scales : sequence of float
        Input scales.
    flip : bool
        Add the CAMs of the mirrored images.
    min_side : int
        Smallest side of a resized input (pixels).
    max_batch : int, optional
        Images per network pass at scales <= 1; larger scales take ``max_batch / scale**2``
        so a pass holds about as many pixels. Default: all images in one pass.
    channels_last : bool
        Hand the network NHWC tensors (faster oneDNN convolutions on CPU).
    on_full_scale : callable(outputs, n), optional
        When given, scale 1.0 runs :meth:`RadioGalaxyNet.infer` instead of ``cams`` (one
        backbone pass for every head) and hands each pass's outputs to this callback, in
        image order; ``n`` is the number of un-mirrored images of the pass.

    Returns
    -------
    tensor (B, K, h_grid, w_grid), float32
        The summed maps (not normalised), on the device of ``images``.

    Raises
    ------
    ValueError
        ``scales`` is empty.
    """
    b, _, h, w = images.shape
    total = None
    for scale in scales:
        size = scaled_size((h, w), scale, min_side)
        if max_batch is None:
            chunk = b
        else:
            chunk = max_batch if scale <= 1 else max(1, int(max_batch / scale**2))
        for start in range(0, b, chunk):
            x = images[start : start + chunk]
            if size != (h, w):
                x = F.interpolate(
                    x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1
                )
            n = x.shape[0]
            batch = torch.cat([x, torch.flip(x, dims=(3,))]) if flip else x
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            if scale == 1.0 and on_full_scale is not None:
                outputs = network.infer(batch)
                on_full_scale(outputs, n)
                cams = outputs["cams"]
            else:
                cams = network.cams(batch)
            cams = cams.float()
            if flip:
                cams = cams[:n] + torch.flip(cams[n:], dims=(3,))
            on_grid = resample(cams, size)
            if total is None:
                total = torch.zeros(
                    (b, *on_grid.shape[1:]), dtype=torch.float32, device=images.device
                )
            total[start : start + n] += on_grid
    if total is None:
        raise ValueError(f"multiscale_flip_cams needs at least one scale; got {scales!r}")
    return total


def cams_to_image_grid(
    cams: torch.Tensor, input_size: Sequence[int], image_size: Sequence[int], stride: int
) -> torch.Tensor:
    """Bilinearly resample stride-``stride`` maps onto the pixel grid of the original image.

    Parameters
    ----------
    cams : tensor (B, K, h, w)
        Maps computed on an input of ``input_size`` (the image rescaled), cell ``i`` covering
        input pixels ``[stride*i, stride*(i+1))``.
    input_size : (H_in, W_in)
        Size of the (rescaled) network input.
    image_size : (H, W)
        Size of the original image.
    stride : int
        Output stride of the maps (16).

    Returns
    -------
    tensor (B, K, H, W)
        Each original pixel centre is mapped exactly to its position on the cell grid (the
        authors resize to a padded size instead, which drifts by up to ~5%: ALGORITHM 11.13).
    """
    h, w = cams.shape[-2:]
    H, W = image_size
    sy, sx = input_size[0] / H, input_size[1] / W
    ys = (torch.arange(H, dtype=torch.float64) + 0.5) * sy / stride  # in cell units
    xs = (torch.arange(W, dtype=torch.float64) + 0.5) * sx / stride
    gy = (2 * ys / h - 1)[:, None].expand(H, W)
    gx = (2 * xs / w - 1)[None, :].expand(H, W)
    grid = torch.stack([gx, gy], dim=-1)[None].to(cams).expand(cams.shape[0], H, W, 2)
    return F.grid_sample(cams, grid, mode="bilinear", padding_mode="border", align_corners=False)
