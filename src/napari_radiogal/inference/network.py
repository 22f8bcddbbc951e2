"""The ``network`` stage: class logits, CAMs, boundary and displacement of a batch.

At scale 1 one backbone pass per image and its mirror gives every head (DESIGN decision 2);
the other scales add only CAMs. The CAMs are summed over scales and mirrors on the stride-4
grid by :func:`napari_radiogal.models.cams.multiscale_flip_cams`, the loop that training's
pseudo-labels use too.
"""

from __future__ import annotations

import functools

import numpy as np

from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.inference.grid import cams_to_stride4, fit_to_grid, grid_shape
from napari_radiogal.inference.model import LoadedModel

__all__ = ["network_outputs"]


def network_outputs(
    lm: LoadedModel, channels: list[np.ndarray], config: InferenceConfig
) -> dict[str, np.ndarray] | None:
    """Logits, summed multi-scale CAMs, boundary and displacement of a batch.

    Parameters
    ----------
    lm : LoadedModel
    channels : list of ndarray (C, H, W)
        The pre-processed channels of each image (all of one shape), ``(row, col)``.
    config : InferenceConfig
        ``scales``, ``flip`` and ``batch_size`` are used.

    Returns
    -------
    dict of ndarray, or None for an empty batch
        ``logits`` (B, K) averaged over the mirror; ``cams`` (B, K, h4, w4) summed over scales
        and mirrors; ``boundary`` (B, h4, w4), mirror-averaged in logit space as the authors;
        ``displacement`` (B, 2, h4, w4) of the un-mirrored image. ``(h4, w4)`` is
        :func:`~napari_radiogal.inference.grid.grid_shape` ``((H, W))``. A model with an
        image classifier adds ``image_logits`` (B, K), averaged over the mirror; a model with
        a host head ``host`` (B, h4, w4), its logits averaged with the flipped-back mirror's.
    """
    import torch

    from napari_radiogal.models.cams import multiscale_flip_cams

    if not channels:
        return None
    network, device = lm.network, lm.device
    x_all = torch.from_numpy(np.stack(channels)).to(device)
    h, w = x_all.shape[-2:]
    grid = grid_shape((h, w))
    heads: dict[str, list] = {"logits": [], "boundary": [], "displacement": []}
    if getattr(network, "image_classifier", None) is not None:  # test nets may lack one
        heads["image_logits"] = []
    if getattr(network, "host", None) is not None:
        heads["host"] = []

    def keep_heads(out, n: int) -> None:
        heads["logits"].append(_mirror_mean(out["logits"], n, config.flip))
        if "image_logits" in heads:
            heads["image_logits"].append(_mirror_mean(out["image_logits"], n, config.flip))
        heads["boundary"].append(_mirror_boundary(out["boundary"], n, config.flip, grid))
        if "host" in heads:
            heads["host"].append(_mirror_map(out["host"], n, config.flip, grid))
        heads["displacement"].append(fit_to_grid(out["displacement"][:n], grid))

    with torch.inference_mode():
        cams = multiscale_flip_cams(
            network,
            x_all,
            functools.partial(cams_to_stride4, image_size=(h, w)),
            config.scales,
            flip=config.flip,
            min_side=lm.min_image_size // 2,
            max_batch=config.batch_size,
            channels_last=device.type == "cpu",
            on_full_scale=keep_heads,
        )
    joined = {k: torch.cat(v) for k, v in heads.items()}
    outputs = {
        "logits": joined["logits"].float().cpu().numpy(),
        "cams": cams.cpu().numpy(),
        "boundary": joined["boundary"].float().cpu().numpy()[:, 0],
        "displacement": joined["displacement"].float().cpu().numpy(),
    }
    if "image_logits" in joined:
        outputs["image_logits"] = joined["image_logits"].float().cpu().numpy()
    if "host" in joined:
        outputs["host"] = joined["host"].float().cpu().numpy()[:, 0]
    return outputs


def _mirror_mean(t, n: int, flip: bool):
    """Mean of the first ``n`` rows and their mirrors (rows ``n:``), when ``flip``."""
    return (t[:n] + t[n:]) / 2 if flip else t


def _mirror_map(t, n: int, flip: bool, grid: tuple[int, int]):
    """Maps (logits) on ``grid``, averaged with their flipped-back mirrors, when ``flip``."""
    import torch

    t = fit_to_grid(t, grid)
    return (t[:n] + torch.flip(t[n:], dims=(3,))) / 2 if flip else t


def _mirror_boundary(b, n: int, flip: bool, grid: tuple[int, int]):
    """Boundary maps on ``grid``, averaged with their flipped-back mirrors in logit space."""
    import torch

    b = fit_to_grid(b, grid)
    if not flip:
        return b
    logit = torch.logit(b.clamp(1e-6, 1 - 1e-6))
    return torch.sigmoid((logit[:n] + torch.flip(logit[n:], dims=(3,))) / 2)
