"""The three trained stages as (dataset, loss module, parameter groups).

* Stage A (``cam``): multi-label soft-margin loss on the classifier logits (paper eq. 1).
* Stage B (``recam``): the same plus ``lambda`` x ReCAM's softmax cross-entropy on the
  class-wise features of the image's classes (ALGORITHM 4).
* Stage E (``irn``): IRNet's affinity + displacement losses on pseudo-labels, with the
  backbone frozen (only the boundary and displacement heads train).
* Stage E2 (``host``, optional): softmax cross-entropy of the host head over each annotated
  instance's search region towards its annotated host (backbone frozen).
* Stage F (``classify``, optional): softmax cross-entropy of the image classifier alone.

Each loss module's ``forward(batch)`` returns ``(loss, logs)``; wrapping *that* module in
DistributedDataParallel makes gradient averaging work for any of the model's methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from napari_radiogal.inference.hosts import host_head_region
from napari_radiogal.models.config import HOST_HEAD_MARGIN_CELLS
from napari_radiogal.models.network import RadioGalaxyNet
from napari_radiogal.training.augment import (
    IGNORE,
    affine_points,
    apply_affine,
    augment_rng,
    draw_affine,
)
from napari_radiogal.training.config import (
    CamStageConfig,
    ClassifyStageConfig,
    HostStageConfig,
    IrnStageConfig,
    RecamStageConfig,
)
from napari_radiogal.training.data import PreparedImages
from napari_radiogal.training.irn import PairGeometry, irn_losses

__all__ = [
    "ClassificationDataset",
    "IrnDataset",
    "HostDataset",
    "MAX_HOSTS_PER_IMAGE",
    "host_targets",
    "host_loss",
    "CamLoss",
    "RecamLoss",
    "IrnLoss",
    "HostLoss",
    "ClassifyLoss",
    "image_class_targets",
    "image_class_loss",
    "recam_loss",
    "set_trainable",
    "StagePlan",
]


class ClassificationDataset(Dataset):
    """Augmented channels and image labels for stages A and B.

    Items are addressed by ``(epoch, index)`` (see :class:`EpochSampler`), so the random
    augmentation of an image depends only on ``(seed, epoch, index)``.

    Returns ``(channels (C, S, S) float32, labels (K,) float32)``; with ``augment=False``
    the image is returned whole (validation).
    """

    def __init__(
        self,
        images: PreparedImages,
        config: CamStageConfig | RecamStageConfig | ClassifyStageConfig | None,
        seed: int,
        *,
        augment: bool = True,
    ) -> None:
        self.images = images
        self.config = config
        self.seed = seed
        self.augment = augment and config is not None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        x = torch.from_numpy(self.images.channels(index))
        y = torch.from_numpy(self.images.labels[index])
        if not self.augment:
            return x, y
        cfg = self.config
        rng = augment_rng(self.seed, epoch, index)
        draw = draw_affine(
            rng,
            tuple(x.shape[1:]),
            cfg.crop_size,
            scale_range=cfg.scale_range,
            rotate=cfg.rotate,
            flip=cfg.flip,
        )
        x, _ = apply_affine(x, draw)
        return x, y


class IrnDataset(Dataset):
    """Augmented channels and stride-4 pseudo-labels for stage E.

    Each image is randomly scaled and flipped and placed at a random offset in a
    ``canvas_size`` canvas (image fill 0, label fill 255); the label is then taken every 4th
    pixel from pixel 0 (the stride-4 grid of the network, nearest neighbour).
    """

    def __init__(
        self, images: PreparedImages, labels: list[np.ndarray], config: IrnStageConfig, seed: int
    ) -> None:
        self.images = images
        self.labels = labels
        self.config = config
        self.seed = seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        cfg = self.config
        x = torch.from_numpy(self.images.channels(index))
        label = torch.from_numpy(self.labels[index].astype(np.int64))
        rng = augment_rng(self.seed, epoch, index, stream=2)
        draw = draw_affine(
            rng, tuple(x.shape[1:]), cfg.canvas_size, scale_range=cfg.scale_range, flip=cfg.flip
        )
        x, label = apply_affine(x, draw, label=label)
        return x, label[::4, ::4].contiguous()


#: Instances per image that enter the host loss (the rest of a crowded image is left out,
#: so that a batch's targets have one shape).
MAX_HOSTS_PER_IMAGE = 8


def host_targets(
    instance_map: np.ndarray,
    hosts: np.ndarray,
    grid: tuple[int, int],
    *,
    sigma: float,
    margin_px: float,
    max_hosts: int = MAX_HOSTS_PER_IMAGE,
) -> tuple[np.ndarray, np.ndarray]:
    """Search regions and target distributions of the host loss, on the stride-4 grid.

    Parameters
    ----------
    instance_map : ndarray of int, shape (S, S)
        ``j + 1`` inside instance ``j``; 0 (or :data:`~napari_radiogal.training.augment.IGNORE`)
        elsewhere. Pixels of the (augmented) image.
    hosts : ndarray, shape (N, 2)
        ``(x, y)`` pixels of instance ``j``'s host in row ``j``.
    grid : (h, w)
        The stride-4 grid (regions sampled at pixel ``(4 i, 4 j)``, as the IRNet labels; the
        target centred where inference puts cell centres, pixel ``4 i + 1.5``).
    sigma : float
        Width of the Gaussian target, in cells.
    margin_px : float
        :func:`~napari_radiogal.inference.hosts.host_head_region`'s margin, pixels.
    max_hosts : int
        ``M``, the number of rows returned.

    Returns
    -------
    regions : ndarray of bool, shape (M, h, w)
        Each instance's search region (all False for unused rows: an instance cut away by
        the augmentation, or whose host lies outside its region).
    targets : ndarray of float32, shape (M, h, w)
        The Gaussian around the host inside the region, summing to 1 (0 for unused rows).
    """
    h, w = grid
    regions = np.zeros((max_hosts, h, w), bool)
    targets = np.zeros((max_hosts, h, w), np.float32)
    rows, cols = np.mgrid[0:h, 0:w]
    for j, (x, y) in enumerate(np.asarray(hosts, dtype=np.float64)[:max_hosts]):
        mask = instance_map == j + 1
        if not mask.any():
            continue
        region = host_head_region(mask, margin_px)[::4, ::4][:h, :w]
        # cell i is centred on pixel 4 i + 1.5, as inference brings the logits to pixels
        # (napari_radiogal.inference.grid.upsample4)
        d2 = (cols - (x - 1.5) / 4.0) ** 2 + (rows - (y - 1.5) / 4.0) ** 2
        target = np.exp(-d2 / (2.0 * sigma**2)) * region
        if target.sum() < 1e-3:  # the host is out of the region's reach: no target
            continue
        regions[j] = region
        targets[j] = target / target.sum()
    return regions, targets


class HostDataset(Dataset):
    """Augmented channels, search regions and host targets for the host stage.

    Parameters
    ----------
    images : PreparedImages
    hosts : list of (index, list of Instance)
        The images with annotated hosts (:meth:`PreparedImages.supervised_hosts`): image
        index and its instances that have a mask and a host.
    config : HostStageConfig
    seed : int

    Returns ``(channels (C, S, S), regions (M, h, w) bool, targets (M, h, w) float32)``.
    """

    def __init__(
        self,
        images: PreparedImages,
        hosts: list[tuple[int, list]],
        config: HostStageConfig,
        seed: int,
    ) -> None:
        self.images = images
        self.hosts = hosts
        self.config = config
        self.seed = seed

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, key):
        epoch, item = key if isinstance(key, tuple) else (0, key)
        cfg = self.config
        index, instances = self.hosts[item]
        x = torch.from_numpy(self.images.channels(index))
        shape = (x.shape[-2], x.shape[-1])
        instance_map = np.zeros(shape, np.int64)
        for j, inst in enumerate(instances[:MAX_HOSTS_PER_IMAGE]):
            instance_map[inst.mask] = j + 1
        rng = augment_rng(self.seed, epoch, index, stream=3)
        draw = draw_affine(
            rng,
            shape,
            cfg.canvas_size,
            scale_range=cfg.scale_range,
            rotate=cfg.rotate,
            flip=cfg.flip,
        )
        x, moved = apply_affine(x, draw, label=torch.from_numpy(instance_map))
        moved = moved.numpy()
        moved[moved == IGNORE] = 0
        hosts = affine_points(draw, shape, np.array([inst.host for inst in instances]))
        grid = (-(-cfg.canvas_size // 4), -(-cfg.canvas_size // 4))
        regions, targets = host_targets(
            moved, hosts, grid, sigma=cfg.sigma, margin_px=4.0 * HOST_HEAD_MARGIN_CELLS
        )
        return x, torch.from_numpy(regions), torch.from_numpy(targets)


def host_loss(
    logits: torch.Tensor, regions: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy of host logits over each search region towards its target.

    Parameters
    ----------
    logits : tensor (B, h, w)
    regions : bool tensor (B, M, h, w)
    targets : tensor (B, M, h, w)
        Distributions over each region (:func:`host_targets`).

    Returns
    -------
    (loss, n) : the mean over the used rows (0 without any; the graph is kept so that every
    process of a DDP run has gradients) and their number.
    """
    b, m, h, w = regions.shape
    used = regions.flatten(2).any(dim=2)  # (B, M)
    z = logits.float()[:, None, :h, :w].expand(b, m, h, w)
    # an unused row's region is everything (its target is 0): no -inf-only softmax
    region = regions | ~used[..., None, None]
    logp = torch.log_softmax(z.masked_fill(~region, float("-inf")).flatten(2), dim=2)
    per_row = -(targets.flatten(2) * logp.masked_fill(~region.flatten(2), 0.0)).sum(dim=2)
    n = used.sum()
    return (per_row * used).sum() / n.clamp(min=1), n


def recam_loss(recam_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ReCAM's loss: softmax CE of row ``k`` towards ``k`` for each positive class ``k``.

    Averaged over an image's positive classes, summed over images, divided by the batch size
    (images without a class add 0).
    """
    b, k, _ = recam_logits.shape
    targets = torch.arange(k, device=recam_logits.device).expand(b, k)
    ce = F.cross_entropy(
        recam_logits.reshape(b * k, k).float(), targets.reshape(-1), reduction="none"
    ).reshape(b, k)
    positive = labels > 0
    per_image = (ce * positive).sum(dim=1) / positive.sum(dim=1).clamp(min=1)
    return per_image.sum() / b


class CamLoss(nn.Module):
    """Stage A loss module."""

    def __init__(self, model: RadioGalaxyNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        logits = self.model(x)
        loss = F.multilabel_soft_margin_loss(logits.float(), y)
        return loss, {"loss": loss.detach()}


class RecamLoss(nn.Module):
    """Stage B loss module: MLSM + ``weight`` x ReCAM."""

    def __init__(self, model: RadioGalaxyNet, weight: float) -> None:
        super().__init__()
        self.model = model
        self.weight = weight

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        logits, recam_logits = self.model.recam_forward(x)
        cls = F.multilabel_soft_margin_loss(logits.float(), y)
        rec = recam_loss(recam_logits, y)
        loss = cls + self.weight * rec
        return loss, {"loss": loss.detach(), "cls": cls.detach(), "recam": rec.detach()}


class IrnLoss(nn.Module):
    """Stage E loss module (backbone frozen: its pass runs without autograd)."""

    def __init__(self, model: RadioGalaxyNet, radius: int) -> None:
        super().__init__()
        self.model = model
        self.geometry = PairGeometry(radius)

    def train(self, mode: bool = True) -> IrnLoss:
        """Train the heads; the backbone stays in eval mode (BatchNorm statistics frozen)."""
        super().train(mode)
        self.model.backbone.eval()
        return self

    def forward(self, x: torch.Tensor, label: torch.Tensor):
        with torch.no_grad():
            taps = self.model.backbone(x)
        boundary, displacement = self.model.irn_heads(taps)
        label = label[:, : boundary.shape[-2], : boundary.shape[-1]]
        losses = irn_losses(self.geometry, boundary, displacement, label)
        return losses["loss"], {k: v.detach() for k, v in losses.items()}


class HostLoss(nn.Module):
    """Host stage loss module (backbone frozen: its pass runs without autograd)."""

    def __init__(self, model: RadioGalaxyNet) -> None:
        super().__init__()
        if model.host is None:
            raise ValueError("HostLoss needs a model with a host head")
        self.model = model

    def train(self, mode: bool = True) -> HostLoss:
        """Train the host head; the rest of the network stays in eval mode."""
        super().train(mode)
        self.model.eval()
        self.model.host.train(mode)
        return self

    def forward(self, x: torch.Tensor, regions: torch.Tensor, targets: torch.Tensor):
        with torch.no_grad():
            taps = self.model.backbone(x)
        logits = self.model.host_logits(taps)[:, 0]
        loss, n = host_loss(logits, regions, targets)
        return loss, {"loss": loss.detach(), "hosts": n.detach().float()}


def image_class_targets(
    labels: torch.Tensor, smoothing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets ``(B, K)`` of the softmax loss, and which images have a class ``(B,)``.

    An image's classes share ``1 - smoothing`` equally (one class: all of it), and every
    class gets ``smoothing / K`` (label smoothing); an image without a class has no target.
    """
    k = labels.shape[1]
    count = labels.sum(dim=1, keepdim=True)
    has_class = count[:, 0] > 0
    targets = (1 - smoothing) * labels / count.clamp(min=1) + smoothing / k
    return targets, has_class


def image_class_loss(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy of each image ``(B,)`` towards :func:`image_class_targets`,
    and which images have a class ``(B,)`` (the others' loss is 0)."""
    targets, has_class = image_class_targets(labels, smoothing)
    per_image = torch.sum(-targets * F.log_softmax(logits.float(), dim=1), dim=1)
    return per_image * has_class, has_class


class ClassifyLoss(nn.Module):
    """Stage F loss module: softmax cross-entropy of the image classifier's logits."""

    def __init__(self, model: RadioGalaxyNet, label_smoothing: float) -> None:
        super().__init__()
        if model.image_classifier is None:
            raise ValueError("ClassifyLoss needs a model with an image classifier")
        self.model = model
        self.label_smoothing = label_smoothing

    def train(self, mode: bool = True) -> ClassifyLoss:
        """Train the image classifier; the rest of the network stays in eval mode."""
        super().train(mode)
        self.model.eval()
        self.model.image_classifier.train(mode)
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        per_image, has_class = image_class_loss(
            self.model.image_classifier(x), y, self.label_smoothing
        )
        loss = per_image.sum() / has_class.sum().clamp(min=1)
        return loss, {"loss": loss.detach()}


def set_trainable(model: RadioGalaxyNet, groups: tuple[str, ...], *, freeze_stem: bool) -> None:
    """``requires_grad`` True exactly for the named parameter groups (stem per ``freeze_stem``)."""
    for name, module in model.parameter_modules().items():
        for p in module.parameters():
            p.requires_grad_(name in groups)
    if "backbone" in groups:
        model.freeze_stem(freeze_stem)


@dataclass(frozen=True)
class StagePlan:
    """Which parameter groups a stage trains and with which learning rates."""

    groups: dict[str, float]

    @staticmethod
    def cam(cfg: CamStageConfig) -> StagePlan:
        return StagePlan({"backbone": cfg.lr, "classifier": cfg.classifier_lr})

    @staticmethod
    def recam(cfg: RecamStageConfig) -> StagePlan:
        return StagePlan({"backbone": cfg.lr, "classifier": cfg.lr, "recam": cfg.recam_lr})

    @staticmethod
    def irn(cfg: IrnStageConfig) -> StagePlan:
        return StagePlan({"boundary": cfg.boundary_lr, "displacement": cfg.displacement_lr})

    @staticmethod
    def host(cfg: HostStageConfig) -> StagePlan:
        return StagePlan({"host": cfg.lr})

    @staticmethod
    def classify(cfg: ClassifyStageConfig) -> StagePlan:
        return StagePlan({"image_classifier": cfg.lr})

    def param_groups(self, model: RadioGalaxyNet) -> list[dict]:
        groups = model.parameter_groups()
        return [
            {"params": groups[name], "lr": lr, "name": name}
            for name, lr in self.groups.items()
            if groups[name]
        ]
