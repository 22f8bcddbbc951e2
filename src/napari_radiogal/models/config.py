"""Architecture description of a model (torch-free, so weights cards can be read without torch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from napari_radiogal.errors import ConfigError

__all__ = ["ModelConfig", "BACKBONE_NAMES", "HOST_HEAD_MARGIN_CELLS"]

#: Backbones a ModelConfig may name (``models.backbones.register_backbone`` adds to it).
BACKBONE_NAMES: set[str] = {"resnet18", "resnet34", "resnet50"}

_BASIC_BLOCK_BACKBONES = ("resnet18", "resnet34")

#: How far (stride-4 cells) beyond the convex hull of an instance the host head looks for its
#: host, in training and at inference alike: 3 cells = 12 px, about two beams of the
#: simulated sky (6.5 px), where nearly every host of a radio galaxy lies.
HOST_HEAD_MARGIN_CELLS = 3


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a :class:`RadioGalaxyNet`; stored in the weights card.

    Parameters
    ----------
    backbone : str
        ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (the paper's).
    in_channels : int
        Number of input channels (``len(PreprocessConfig.channels)``).
    num_classes : int
        Number of classes ``K`` (``ClassScheme.num_classes``).
    output_stride : {8, 16, 32}
        Stride of the CAM feature map (16 in the paper: 14 x 14 CAMs for 210 x 210 input).
    irn_width_scale : float, optional
        Width of the IRNet heads relative to the paper's (ResNet-50) heads. ``None`` picks
        1.0 for ResNet-50 and 0.5 for the narrower ResNet-18/34 taps; the resolved value is
        what :meth:`to_dict` records.
    image_classifier_width : int
        Channels of the first layer of the optional image classifier
        (:class:`~napari_radiogal.models.heads.ImageClassifier`, trained by the ``classify``
        stage); 0 (the default, and every model without one): none, and the class
        probabilities come from the CAM classifier.
    image_classifier_size : int
        The side, in pixels, the image classifier resizes its input to.
    host_head_width : int
        Channels of the optional host head (:class:`~napari_radiogal.models.heads.HostHead`,
        trained in stage E from annotated hosts); 0 (the default, and every model trained on
        class labels only): none, and hosts come from the rules of
        :mod:`napari_radiogal.inference.hosts`.

    Examples
    --------
    >>> ModelConfig("resnet18", in_channels=2, num_classes=4).irn_width_scale
    0.5
    """

    backbone: str = "resnet50"
    in_channels: int = 2
    num_classes: int = 4
    output_stride: int = 16
    irn_width_scale: float | None = None
    image_classifier_width: int = 0
    image_classifier_size: int = 150
    host_head_width: int = 0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONE_NAMES:
            raise ConfigError(
                f"ModelConfig.backbone={self.backbone!r}; choose one of {sorted(BACKBONE_NAMES)}."
            )
        if self.num_classes < 1 or self.in_channels < 1:
            raise ConfigError(
                f"ModelConfig needs num_classes >= 1 and in_channels >= 1; got "
                f"{self.num_classes} and {self.in_channels}."
            )
        if self.output_stride not in (8, 16, 32):
            raise ConfigError(f"ModelConfig.output_stride={self.output_stride!r}; use 8, 16 or 32.")
        if self.irn_width_scale is None:
            scale = 0.5 if self.backbone in _BASIC_BLOCK_BACKBONES else 1.0
            object.__setattr__(self, "irn_width_scale", scale)
        elif not self.irn_width_scale > 0:
            raise ConfigError(f"irn_width_scale must be > 0; got {self.irn_width_scale!r}.")
        if self.image_classifier_width < 0 or self.image_classifier_size < 32:
            raise ConfigError(
                "ModelConfig needs image_classifier_width >= 0 (0: none) and "
                f"image_classifier_size >= 32; got {self.image_classifier_width} and "
                f"{self.image_classifier_size}."
            )
        if self.host_head_width < 0:
            raise ConfigError(
                f"ModelConfig needs host_head_width >= 0 (0: none); got {self.host_head_width}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ConfigError(
                f"unknown architecture parameters {sorted(extra)}; known: {sorted(known)}."
            )
        return cls(**d)
