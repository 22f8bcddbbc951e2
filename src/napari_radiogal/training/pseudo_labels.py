"""Stage D: multi-scale CAMs of the training images and confident pseudo-labels for IRNet.

Label values: 0 = background, ``k + 1`` = class index ``k`` (network order), 255 = ignore.

The authors refine their thresholded CAMs with a dense CRF on the byte-packed RGB image
(pydensecrf, unmaintained). Our inputs are physical float channels, and after pre-processing
every pixel outside a radio island is exactly empty sky, so the refinements offered here use
the radio islands instead (``PseudoLabelConfig.refine``); training/README.md gives the
measured comparison against plain thresholds on simulator masks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage

from napari_radiogal.models.cams import cams_to_image_grid, multiscale_flip_cams
from napari_radiogal.training.augment import IGNORE
from napari_radiogal.training.config import PseudoLabelConfig

__all__ = ["multiscale_cams", "make_pseudo_label"]


@torch.no_grad()
def multiscale_cams(
    model, image: torch.Tensor, scales: Sequence[float] = (1.0,), flip: bool = True
) -> torch.Tensor:
    """Max-normalised CAMs ``(K, H, W)`` of one image at its own resolution.

    Sum over scales (and horizontal flips) of ReLU(w_k . F) resampled onto the image grid
    (:func:`~napari_radiogal.models.cams.multiscale_flip_cams` with
    :func:`~napari_radiogal.models.cams.cams_to_image_grid`), then each class map divided by
    its maximum (+1e-5): values in [0, 1).

    Parameters
    ----------
    model : RadioGalaxyNet
        In eval mode.
    image : tensor (C, H, W)
        Pre-processed channels.
    """
    resample = functools.partial(
        cams_to_image_grid, image_size=image.shape[-2:], stride=model.config.output_stride
    )
    total = multiscale_flip_cams(model, image[None], resample, scales, flip=flip)[0]
    peak = total.flatten(1).amax(dim=1)[:, None, None]
    return total / (peak + 1e-5)


def make_pseudo_label(
    cams: np.ndarray,
    present: np.ndarray,
    islands: np.ndarray | None,
    config: PseudoLabelConfig,
) -> np.ndarray:
    """Confident labels ``(H, W)`` uint8 from max-normalised CAMs of one image.

    Parameters
    ----------
    cams : ndarray (K, H, W)
        Max-normalised CAMs in [0, 1] (all classes; only ``present`` ones are used).
    present : ndarray of bool (K,)
        The image-level label (classes in the image).
    islands : ndarray of bool (H, W), optional
        Radio islands (needed by the ``islands`` and ``island_vote`` refinements).
    config : PseudoLabelConfig

    Returns
    -------
    ndarray of uint8 (H, W)
        0 background, ``k + 1`` class ``k``, 255 ignore. An image without classes is all 0.
    """
    K, H, W = cams.shape
    classes = np.flatnonzero(present)
    if classes.size == 0:
        return np.zeros((H, W), np.uint8)
    sub = cams[classes]
    best = sub.argmax(axis=0)
    peak = sub.max(axis=0)
    label = np.full((H, W), IGNORE, np.uint8)
    fg = peak >= config.fg_threshold
    bg = peak < config.bg_threshold
    label[bg] = 0
    label[fg] = (classes[best] + 1)[fg]
    if config.refine == "none":
        return label
    if islands is None:
        raise ValueError(f"refine={config.refine!r} needs the radio-island mask.")
    # empty sky is background whatever the CAM says; foreground only on radio emission
    label[~islands] = 0
    if config.refine == "island_vote":
        lab, n = ndimage.label(islands, structure=np.ones((3, 3), bool))
        if n:
            index = np.arange(1, n + 1)
            means = np.stack([ndimage.mean(sub[j], lab, index) for j in range(len(classes))])
            winner = means.argmax(axis=0)
            win_mean = means.max(axis=0)
            island_label = np.where(win_mean >= config.fg_threshold, classes[winner] + 1, -1)
            voted = np.concatenate([[-1], island_label])[lab]
            label = np.where(voted > 0, voted, label).astype(np.uint8)
    return label
