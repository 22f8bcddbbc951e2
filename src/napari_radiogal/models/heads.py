"""Heads on top of the backbone: CAM classifier, ReCAM predictor, IRNet boundary/displacement;
the optional host head (trained from annotated hosts); and the optional image classifier, a
small network of its own beside the backbone.

Shapes are ``(B, C, h, w)`` throughout; ``K`` is the number of classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from napari_radiogal.models.backbones import Taps

__all__ = [
    "CamHead",
    "ReCamPredictor",
    "BoundaryHead",
    "DisplacementHead",
    "HostHead",
    "ImageClassifier",
    "normalise_cams",
    "irn_widths",
]


class CamHead(nn.Module):
    """Global average pooling then a 1x1 convolution without bias (paper section 3.2.1).

    Without a bias, ``w_k . GAP(F) == GAP(w_k . F)``: the logit of class ``k`` is the mean of
    its un-rectified activation map, and ``CAM_k = ReLU(w_k . F)``.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.weight_conv = nn.Conv2d(in_channels, num_classes, kernel_size=1, bias=False)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, K)`` of features ``(B, C, h, w)``."""
        pooled = features.mean(dim=(2, 3), keepdim=True)
        return self.weight_conv(pooled).flatten(1)

    def cams(self, features: torch.Tensor) -> torch.Tensor:
        """Class activation maps ``(B, K, h, w)``: ReLU(w_k . F), un-normalised."""
        return F.relu(self.weight_conv(features))


def normalise_cams(cams: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Divide each map of ``(B, K, h, w)`` by its spatial maximum (+ ``eps``): values in [0, 1)."""
    peak = cams.flatten(2).amax(dim=2)[..., None, None]
    return cams / (peak + eps)


class ReCamPredictor(nn.Module):
    """ReCAM's extra classifier ``W_re`` on class-wise features (ALGORITHM section 4).

    ``f_k = mean_p[Ahat_k(p) F(p)]`` with ``Ahat_k`` the max-normalised CAM of class ``k``;
    ``W_re f_k`` are logits over all classes, trained with softmax cross-entropy towards
    ``k``. Gradients flow through ``Ahat`` into the backbone and the CAM classifier.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.weight_conv = nn.Conv2d(in_channels, num_classes, kernel_size=1, bias=False)

    @staticmethod
    def class_features(features: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """Class-wise features ``(B, K, C)`` from features ``(B, C, h, w)`` and CAMs ``(B, K, h, w)``."""
        attention = normalise_cams(cams)
        return torch.einsum("bkhw,bchw->bkc", attention, features) / (
            features.shape[2] * features.shape[3]
        )

    def forward(self, class_features: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, K)``: row ``k`` classifies the class-``k`` feature vector."""
        b, k, c = class_features.shape
        flat = class_features.reshape(b * k, c, 1, 1)
        return self.weight_conv(flat).reshape(b, k, -1)


def irn_widths(backbone_channels: Sequence[int], scale: float) -> dict[str, int]:
    """IRNet head widths: the paper's for ResNet-50 times ``scale`` (multiples of 8).

    The paper's ResNet-50 widths are boundary 32 per tap; displacement 64 (s1), 128 (s2),
    256 (s3-s5), 256 after fusion. Narrower backbones use ``scale`` < 1 so that the heads do
    not outweigh taps of 64-512 channels.
    """

    def w(c: int) -> int:
        return max(8, int(round(c * scale / 8)) * 8)

    return {"edge": w(32), "dp1": w(64), "dp2": w(128), "dp3": w(256), "dp_fuse": w(256)}


def _gn(channels: int, paper_groups: int) -> nn.GroupNorm:
    groups = math.gcd(channels, paper_groups)
    return nn.GroupNorm(groups, channels)


def _crop_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return x[..., : size[0], : size[1]]


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class _Branch(nn.Sequential):
    """1x1 conv (no bias) -> GroupNorm -> optional bilinear upsampling -> ReLU."""

    def __init__(self, cin: int, cout: int, groups: int, upsample: int = 1) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 1, bias=False), _gn(cout, groups)]
        if upsample > 1:
            layers.append(nn.Upsample(scale_factor=upsample, mode="bilinear", align_corners=False))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _tap_upsampling(strides: Sequence[int]) -> list[int]:
    """Bilinear factor that brings each tap to the stride of ``s1`` (4)."""
    return [max(1, s // strides[0]) for s in strides]


class BoundaryHead(nn.Module):
    """IRNet's class-boundary branch (ALGORITHM 7.1): sigmoid map at stride 4.

    Each tap: 1x1 conv to ``edge`` channels, GroupNorm (4 groups), bilinear upsampling to
    stride 4 (before the ReLU), ReLU; crop to the ``s2`` grid, concatenate, 1x1 conv (with
    bias) to one logit.
    """

    def __init__(self, tap_channels: Sequence[int], tap_strides: Sequence[int], width: int) -> None:
        super().__init__()
        ups = _tap_upsampling(tap_strides)
        self.branches = nn.ModuleList(
            _Branch(c, width, 4, up) for c, up in zip(tap_channels, ups, strict=True)
        )
        self.fuse = nn.Conv2d(width * len(tap_channels), 1, 1, bias=True)

    def forward(self, taps: Taps) -> torch.Tensor:
        """Boundary logits ``(B, 1, h4, w4)`` on the stride-4 grid of ``taps.s2``."""
        size = taps.s2.shape[2:]
        edges = [_crop_to(branch(t), size) for branch, t in zip(self.branches, taps, strict=True)]
        return self.fuse(torch.cat(edges, dim=1))


class DisplacementHead(nn.Module):
    """IRNet's displacement-field branch (ALGORITHM 7.1): 2 channels at stride 4, grid cells.

    s1 -> ``dp1``, s2 -> ``dp2``, s3 -> ``dp3``, s4, s5 -> ``dp3`` upsampled to s3's stride;
    concatenate the deep three, fuse to ``dp_fuse``, upsample to stride 4; concatenate with
    s1', s2'; fuse; 1x1 to (dy, dx) without bias.
    """

    def __init__(
        self, tap_channels: Sequence[int], tap_strides: Sequence[int], widths: dict[str, int]
    ) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = tap_channels
        up4 = max(1, tap_strides[3] // tap_strides[2])
        up5 = max(1, tap_strides[4] // tap_strides[2])
        self.up_mid = max(1, tap_strides[2] // tap_strides[0])
        d1, d2, d3, df = widths["dp1"], widths["dp2"], widths["dp3"], widths["dp_fuse"]
        self.shallow1 = nn.Sequential(
            nn.Conv2d(c1, d1, 1, bias=False), _gn(d1, 8), nn.ReLU(inplace=True)
        )
        self.shallow2 = nn.Sequential(
            nn.Conv2d(c2, d2, 1, bias=False), _gn(d2, 16), nn.ReLU(inplace=True)
        )
        self.deep3 = nn.Sequential(
            nn.Conv2d(c3, d3, 1, bias=False), _gn(d3, 16), nn.ReLU(inplace=True)
        )
        self.deep4 = _Branch(c4, d3, 16, up4)
        self.deep5 = _Branch(c5, d3, 16, up5)
        self.fuse_deep = nn.Sequential(nn.Conv2d(3 * d3, df, 1, bias=False), _gn(df, 16))
        self.fuse_all = nn.Sequential(
            nn.Conv2d(d1 + d2 + df, df, 1, bias=False), _gn(df, 16), nn.ReLU(inplace=True)
        )
        self.to_displacement = nn.Conv2d(df, 2, 1, bias=False)

    def forward(self, taps: Taps) -> torch.Tensor:
        """Displacement ``(B, 2, h4, w4)`` (dy, dx) in stride-4 cells, before mean removal."""
        size4, size8 = taps.s2.shape[2:], taps.s3.shape[2:]
        deep = torch.cat(
            [
                self.deep3(taps.s3),
                _crop_to(self.deep4(taps.s4), size8),
                _crop_to(self.deep5(taps.s5), size8),
            ],
            dim=1,
        )
        deep = F.relu(_up(self.fuse_deep(deep), self.up_mid))
        shallow = torch.cat(
            [
                self.shallow1(taps.s1),
                self.shallow2(taps.s2),
                _crop_to(deep, size4),
            ],
            dim=1,
        )
        return self.to_displacement(self.fuse_all(shallow))


class HostHead(nn.Module):
    """Host-galaxy logits at stride 4, learned from annotated hosts (optional).

    The paper picks the host as the peak of ``instance CAM x IR`` (ALGORITHM 8.1): a rule
    that knows nothing of what a host looks like, and on our simulated sky lands a median
    11 px (22") from the true host of the sources it matches. Where users have corrected
    hosts (or the simulator gives them), this head learns the choice: each tap as in
    :class:`BoundaryHead` (1x1 conv, GroupNorm, upsampling to stride 4, ReLU), concatenated,
    a 3x3 conv (the neighbourhood: a host sits *between* lobes, on an infrared peak), GroupNorm,
    ReLU, and a 1x1 conv to one logit per cell. The logits are relative: training applies a
    softmax over each instance's search region (the hull of its mask widened by
    :data:`~napari_radiogal.models.config.HOST_HEAD_MARGIN_CELLS`) towards a Gaussian around its host, and inference takes
    the peak inside the same region.

    Parameters
    ----------
    tap_channels, tap_strides : sequences of int
        Channels and strides of the backbone's five taps.
    width : int
        Channels per tap branch and of the 3x3 layer.
    """

    def __init__(self, tap_channels: Sequence[int], tap_strides: Sequence[int], width: int) -> None:
        super().__init__()
        ups = _tap_upsampling(tap_strides)
        self.branches = nn.ModuleList(
            _Branch(c, width, 4, up) for c, up in zip(tap_channels, ups, strict=True)
        )
        self.context = nn.Sequential(
            nn.Conv2d(width * len(tap_channels), width, 3, padding=1, bias=False),
            _gn(width, 4),
            nn.ReLU(inplace=True),
        )
        self.to_logit = nn.Conv2d(width, 1, 1, bias=True)

    def forward(self, taps: Taps) -> torch.Tensor:
        """Host logits ``(B, 1, h4, w4)`` on the stride-4 grid of ``taps.s2``."""
        size = taps.s2.shape[2:]
        parts = [_crop_to(branch(t), size) for branch, t in zip(self.branches, taps, strict=True)]
        return self.to_logit(self.context(torch.cat(parts, dim=1)))


class ImageClassifier(nn.Module):
    """A small CNN that gives the image-level class logits, beside the CAM classifier.

    The CAM classifier must *localise* (its class maps seed the masks), and a weakly
    supervised ResNet that does both is a weaker *classifier* than a small network trained
    for the label alone: on firstgalaxydata's valid split the bundled FIRST model's CAM
    classifier is right for 78.5 % of the images, this network (width 16, 150 px, 70
    epochs) for 82.5 % (training/README.md). When a model has one, its softmax replaces the CAM classifier's sigmoid
    as the class probabilities of inference (which classes are segmented, and the weight of
    each class's score maps); the CAMs still come from the backbone.

    The input is resized to ``size`` x ``size`` (area averaging) whatever the window size:
    a 150 px view of a 300 px FIRST cut-out keeps 1.5 px per beam, enough for morphology,
    and costs a quarter of the pixels.

    Layers: a 5x5 stride-2 stem, four blocks of two 3x3 conv + BatchNorm + ReLU then a 2x2
    max pool (widths ``w, w, 2w, 4w, 8w``), global average pooling, dropout, a linear layer.

    Parameters
    ----------
    in_channels : int
    num_classes : int
        ``K``.
    width : int
        Channels of the stem.
    size : int
        Side the input is resized to, pixels.
    dropout : float
        Before the linear layer (training only).

    Examples
    --------
    >>> net = ImageClassifier(1, 4, width=8, size=64).eval()
    >>> tuple(net(torch.zeros(2, 1, 300, 300)).shape)
    (2, 4)
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, width: int, size: int, dropout: float = 0.3
    ) -> None:
        super().__init__()
        self.size = int(size)
        w = int(width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w, 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        widths = (w, w, 2 * w, 4 * w, 8 * w)
        self.blocks = nn.Sequential(
            *(_conv_pair_pool(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], num_classes)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, size, size)`` by area averaging (the network's input)."""
        if tuple(x.shape[-2:]) == (self.size, self.size):
            return x
        return F.interpolate(x.float(), size=(self.size, self.size), mode="area")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, K)`` of ``(B, C, H, W)`` pre-processed channels."""
        features = self.blocks(self.stem(self.resize(x))).mean(dim=(2, 3))
        return self.fc(self.dropout(features))


def _conv_pair_pool(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )
