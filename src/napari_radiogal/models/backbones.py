"""ResNet backbones with output stride 16 and any number of input channels.

Built with torchvision and randomly initialised (``weights=None``): no ImageNet weights can
be downloaded in our setting (DESIGN decision 2). A local torchvision state-dict file can
seed the network instead (``pretrained_path``); its first convolution is adapted to the
number of input channels.

Strides follow the paper (conv1, layer2, layer3, layer4) = (2, 2, 2, 1), so the last feature
map has output stride 16: 14 x 14 for a 210 x 210 cut-out. For Bottleneck blocks (ResNet-50)
torchvision's ``replace_stride_with_dilation`` removes the stride of layer4 and dilates it by
2, keeping its receptive field; torchvision's BasicBlock (ResNet-18/34) refuses dilation, so
there the stride of layer4's first block (its first 3x3 conv and its 1x1 shortcut) is set to 1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from napari_radiogal.errors import ConfigError, WeightsError
from napari_radiogal.models.config import BACKBONE_NAMES

__all__ = ["BACKBONES", "Taps", "ResNetBackbone", "build_backbone", "register_backbone"]

log = logging.getLogger(__name__)


class Taps(NamedTuple):
    """Feature maps of the five backbone stages, each ``(B, C_i, h_i, w_i)``.

    ``s1`` stem (conv1 + bn + relu + maxpool, stride 4), ``s2`` layer1 (stride 4),
    ``s3`` layer2 (stride 8), ``s4`` layer3 (stride 16), ``s5`` layer4 (stride 16 at output
    stride 16). IRNet's heads read all five; the CAM head reads ``s5``.
    """

    s1: torch.Tensor
    s2: torch.Tensor
    s3: torch.Tensor
    s4: torch.Tensor
    s5: torch.Tensor

    def detached(self) -> Taps:
        """The same maps cut from the autograd graph (IRNet trains on a frozen backbone)."""
        return Taps(*(t.detach() for t in self))


#: name -> torchvision constructor. Extend with :func:`register_backbone`.
BACKBONES: dict[str, Callable[..., tv_resnet.ResNet]] = {
    "resnet18": tv_resnet.resnet18,
    "resnet34": tv_resnet.resnet34,
    "resnet50": tv_resnet.resnet50,
}


def register_backbone(name: str, constructor: Callable[..., tv_resnet.ResNet]) -> None:
    """Make a torchvision-style ResNet constructor available under ``name``."""
    BACKBONES[name] = constructor
    BACKBONE_NAMES.add(name)


class ResNetBackbone(nn.Module):
    """A torchvision ResNet cut before its pooling and classifier, returning all stage taps.

    Parameters
    ----------
    resnet : torchvision.models.ResNet
        The network whose stages are used (its ``avgpool`` and ``fc`` are dropped).

    Attributes
    ----------
    channels : tuple of int
        Channel widths of ``(s1, s2, s3, s4, s5)``: (64, 64, 128, 256, 512) for
        ResNet-18/34, (64, 256, 512, 1024, 2048) for ResNet-50.
    """

    def __init__(self, resnet: tv_resnet.ResNet) -> None:
        super().__init__()
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.channels = (
            resnet.conv1.out_channels,
            *(
                _out_channels(layer)
                for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
            ),
        )

    def stem_modules(self) -> tuple[nn.Module, nn.Module]:
        """conv1 and bn1, the part the paper keeps frozen."""
        return self.conv1, self.bn1

    def forward(self, x: torch.Tensor) -> Taps:
        """All five stage outputs of an input ``(B, C_in, H, W)``."""
        s1 = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        s2 = self.layer1(s1)
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        s5 = self.layer4(s4)
        return Taps(s1, s2, s3, s4, s5)


def _out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]
    bn = getattr(last, "bn3", None) or last.bn2
    return int(bn.num_features)


def _set_layer_stride_one(layer: nn.Sequential) -> None:
    """Remove the stride 2 of a ResNet layer (first block's strided conv and its shortcut)."""
    first = layer[0]
    strided = first.conv2 if isinstance(first, tv_resnet.Bottleneck) else first.conv1
    strided.stride = (1, 1)
    if first.downsample is not None:
        first.downsample[0].stride = (1, 1)


def build_backbone(
    name: str,
    *,
    in_channels: int,
    output_stride: int = 16,
    pretrained_path: str | Path | None = None,
) -> ResNetBackbone:
    """A randomly initialised (or locally seeded) ResNet backbone.

    Parameters
    ----------
    name : str
        A key of :data:`BACKBONES` (``"resnet18"``, ``"resnet34"``, ``"resnet50"``).
    in_channels : int
        Number of input channels (2 for radio + infrared).
    output_stride : {8, 16, 32}
        Total stride of the last stage (16 in the paper).
    pretrained_path : path, optional
        A torchvision state-dict file (e.g. ``resnet50-0676ba61.pth`` copied by hand).
        It is read with ``torch.load(weights_only=True)``; ``fc.*`` is ignored, and the
        3-channel ``conv1`` becomes ``in_channels`` channels by averaging over RGB (scaled
        by 3 / in_channels so the activations keep their size).

    Returns
    -------
    ResNetBackbone
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}.")
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"output_stride={output_stride!r}; choose 8, 16 or 32.")
    if in_channels < 1:
        raise ConfigError(f"in_channels={in_channels!r}; need at least one input channel.")
    # how many of (layer2, layer3, layer4) lose their stride
    n_unstrided = {32: 0, 16: 1, 8: 2}[output_stride]
    constructor = BACKBONES[name]
    probe = constructor(weights=None)
    bottleneck = isinstance(probe.layer1[0], tv_resnet.Bottleneck)
    if bottleneck:
        dilate = [False, False, False]
        for i in range(n_unstrided):
            dilate[2 - i] = True
        resnet = constructor(weights=None, replace_stride_with_dilation=dilate)
    else:
        resnet = probe
        for layer in (resnet.layer4, resnet.layer3)[:n_unstrided]:
            _set_layer_stride_one(layer)
    if pretrained_path is not None:
        _load_torchvision_state(resnet, Path(pretrained_path))
    if in_channels != resnet.conv1.in_channels:
        resnet.conv1 = _adapt_first_conv(resnet.conv1, in_channels)
    return ResNetBackbone(resnet)


def _adapt_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` for ``in_channels`` inputs, its kernel averaged over the old ones."""
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        mean = conv.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(mean.repeat(1, in_channels, 1, 1) * (conv.in_channels / in_channels))
    return new


def _load_torchvision_state(resnet: tv_resnet.ResNet, path: Path) -> None:
    if not path.is_file():
        raise WeightsError(f"pretrained backbone file {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise WeightsError(
            f"cannot read {path} as a torchvision state dict ({exc}); expected a file saved "
            "with torch.save(model.state_dict())."
        ) from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise WeightsError(
            f"{path} does not match torchvision's {type(resnet.layer1[0]).__name__} ResNet: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, mis-shaped {wrong[:3]}. "
            "Is it the state dict of the same ResNet depth?"
        )
    resnet.load_state_dict(state, strict=False)
    log.info("backbone seeded from %s", path)
