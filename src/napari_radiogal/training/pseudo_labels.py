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

__all__ = ["multiscale_cams", "make_pseudo_label", "bridge_components", "bridge_instances"]


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
    bridged: Sequence[int] = (),
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
    bridged : sequence of int
        Class indices whose nearby islands are joined when ``config.bridge_gap`` > 0
        (:func:`bridge_components`; with an island refinement only).

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
    if config.bridge_gap > 0 and bridged:
        label = bridge_components(label, bridged, config.bridge_gap)
    return label


def _groups_within(parts: np.ndarray, n: int, gap: float) -> list[list[int]]:
    """Labels ``1..n`` of ``parts`` grouped (transitively) by a pixel distance <= ``gap``."""
    parent = list(range(n + 1))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(1, n):
        # distance of every pixel to part i; the nearest pixel of each later part
        distance = ndimage.distance_transform_edt(parts != i)
        nearest = ndimage.minimum(distance, parts, np.arange(i + 1, n + 1))
        for j, d in zip(range(i + 1, n + 1), np.atleast_1d(nearest), strict=True):
            if d <= gap + 1:  # +1: the distance between centres of touching-diagonal pixels
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(1, n + 1):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _fill_hull(label: np.ndarray, members: np.ndarray, value: int) -> None:
    """Give the background / ignored pixels of the convex hull of ``members`` the ``value``."""
    from skimage.morphology import convex_hull_image

    hull = convex_hull_image(members)
    label[hull & ((label == 0) | (label == IGNORE))] = value


def bridge_components(
    label: np.ndarray, bridged: Sequence[int], gap: float, *, min_part_fraction: float = 0.1
) -> np.ndarray:
    """Join the islands of a multi-component class that lie close together into one region.

    IRNet learns instances from pairs of pixels with the same label (ALGORITHM 7.4): the
    empty sky between the two lobes of a double is background in an island-refined label,
    so it learns a boundary around each lobe and a displacement field pointing each lobe to
    its own centre, and at inference a double comes out as two sources. Filling the convex
    hull of the lobes with the class links them through same-label pairs (one centre, no
    boundary between them); at inference the masks stay on the radio islands
    (``InferenceConfig.mask_support``), so the filled sky never enters a mask.

    Parameters
    ----------
    label : ndarray of uint8, shape (H, W)
        0 background, ``k + 1`` class ``k``, 255 ignore (:func:`make_pseudo_label`).
    bridged : sequence of int
        Class indices ``k`` whose sources may have several components (not R / Compact:
        :data:`~napari_radiogal.classes.SINGLE_COMPONENT_CLASSES`).
    gap : float
        Pixels: the parts (8-connected) of one class lying at most this far apart, directly
        or through other parts, form one group; each group of two or more is filled.
    min_part_fraction : float
        Parts smaller than this fraction of the class's largest part join no group (a
        noise island that the CAM claimed would otherwise stretch the hull across the sky).

    Returns
    -------
    ndarray of uint8, shape (H, W)
        A copy; only background and ignored pixels change, islands keep their labels.

    Examples
    --------
    >>> label = np.zeros((5, 9), np.uint8); label[2, 1] = label[2, 7] = 1  # two lobes, class 0
    >>> bridge_components(label, [0], gap=6)[2].tolist()
    [0, 1, 1, 1, 1, 1, 1, 1, 0]
    >>> bridge_components(label, [0], gap=4)[2].tolist()   # too far apart: two sources
    [0, 1, 0, 0, 0, 0, 0, 1, 0]
    >>> bridge_components(label, [], gap=6)[2].tolist()    # a single-component class
    [0, 1, 0, 0, 0, 0, 0, 1, 0]
    """
    out = np.array(label, dtype=np.uint8, copy=True)
    if gap <= 0:
        return out
    structure = np.ones((3, 3), bool)
    for k in bridged:
        parts, n = ndimage.label(label == k + 1, structure=structure)
        if n < 2:
            continue
        # specks (a noise island the CAM claimed) keep their label but stretch no hull
        areas = ndimage.sum_labels(np.ones_like(parts), parts, np.arange(1, n + 1))
        small = np.flatnonzero(areas < min_part_fraction * areas.max()) + 1
        parts[np.isin(parts, small)] = 0
        parts, n = ndimage.label(parts > 0, structure=structure)
        if n < 2:
            continue
        for group in _groups_within(parts, n, gap):
            if len(group) > 1:
                _fill_hull(out, np.isin(parts, group), k + 1)
    return out


def bridge_instances(
    label: np.ndarray, instances: Sequence[tuple[np.ndarray, int]], bridged: Sequence[int]
) -> np.ndarray:
    """:func:`bridge_components` for annotated masks: each instance's own hull is filled.

    Parameters
    ----------
    label : ndarray of uint8, shape (H, W)
        The label of the masks (0 background, ``k + 1`` inside each instance).
    instances : sequence of (mask, k)
        Each instance's boolean mask ``(H, W)`` and class index; an instance of a class in
        ``bridged`` made of several parts gets its convex hull filled (the annotation says
        which parts belong together, so no distance is needed).
    bridged : sequence of int

    Returns
    -------
    ndarray of uint8, shape (H, W)

    Examples
    --------
    >>> mask = np.zeros((3, 7), bool); mask[1, 1] = mask[1, 5] = True
    >>> label = mask.astype(np.uint8) * 2                    # class index 1
    >>> bridge_instances(label, [(mask, 1)], [1])[1].tolist()
    [0, 2, 2, 2, 2, 2, 0]
    """
    out = np.array(label, dtype=np.uint8, copy=True)
    bridged = set(int(k) for k in bridged)
    for mask, k in instances:
        if int(k) in bridged and ndimage.label(mask, structure=np.ones((3, 3), bool))[1] > 1:
            _fill_hull(out, mask, int(k) + 1)
    return out
