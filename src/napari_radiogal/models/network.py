"""The ReCAM + IRNet network: one backbone, a CAM classifier, ReCAM's predictor, IRNet's heads.

DESIGN decision 2: IRNet's boundary and displacement heads read the taps of the *trained*
CAM/ReCAM backbone, frozen and detached (the authors use a separate ImageNet backbone, which
we cannot download). So at inference one backbone pass at scale 1 gives the class logits,
the CAMs, the boundary map and the displacement field (:meth:`RadioGalaxyNet.infer`).
"""

from __future__ import annotations

import torch
from torch import nn

from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import ConfigError
from napari_radiogal.models.backbones import Taps, build_backbone
from napari_radiogal.models.config import ModelConfig
from napari_radiogal.models.heads import (
    BoundaryHead,
    CamHead,
    DisplacementHead,
    HostHead,
    ImageClassifier,
    ReCamPredictor,
    irn_widths,
)

__all__ = ["ModelConfig", "RadioGalaxyNet", "build_model"]


class RadioGalaxyNet(nn.Module):
    """ResNet backbone + CAM classifier + ReCAM predictor + IRNet boundary/displacement heads
    (+ an optional host head and an optional image classifier).

    Parameters
    ----------
    config : ModelConfig
    scheme : ClassScheme
        The classes, in logit order (``scheme.num_classes == config.num_classes``).
    pretrained_path : path, optional
        A local torchvision ResNet state dict to seed the backbone.

    Notes
    -----
    Inputs are ``(B, C_in, H, W)`` float tensors of pre-processed channels
    (:func:`napari_radiogal.preprocess.preprocess`), ``(row, col)`` order. Grids: the CAMs
    live on the stride-16 grid (``ceil(H/16)``), boundary and displacement on the stride-4
    grid of the ``s2`` tap (``ceil(H/4)``: 53 for 210).
    """

    def __init__(
        self, config: ModelConfig, scheme: ClassScheme, *, pretrained_path: str | None = None
    ) -> None:
        super().__init__()
        if scheme.num_classes != config.num_classes:
            raise ConfigError(
                f"the class scheme has {scheme.num_classes} classes {list(scheme.names)} but "
                f"the architecture asks for num_classes={config.num_classes}."
            )
        self.config = config
        self.scheme = scheme
        self.backbone = build_backbone(
            config.backbone,
            in_channels=config.in_channels,
            output_stride=config.output_stride,
            pretrained_path=pretrained_path,
        )
        feature_channels = self.backbone.channels[-1]
        strides = _tap_strides(config.output_stride)
        widths = irn_widths(self.backbone.channels, config.irn_width_scale)
        self.classifier = CamHead(feature_channels, config.num_classes)
        self.recam = ReCamPredictor(feature_channels, config.num_classes)
        self.boundary = BoundaryHead(self.backbone.channels, strides, widths["edge"])
        self.displacement = DisplacementHead(self.backbone.channels, strides, widths)
        # optional: host logits learned from annotated hosts (stage E with mixed supervision);
        # None keeps the state dict of models trained on class labels only unchanged
        self.host = (
            HostHead(self.backbone.channels, strides, config.host_head_width)
            if config.host_head_width
            else None
        )
        # optional: a small network for the image-level classes alone (trained by the
        # "classify" stage); None keeps the state dict of models without one unchanged
        self.image_classifier = (
            ImageClassifier(
                config.in_channels,
                config.num_classes,
                width=config.image_classifier_width,
                size=config.image_classifier_size,
            )
            if config.image_classifier_width
            else None
        )
        # IRNet's MeanShift: the mean displacement over training images, removed at inference
        self.register_buffer("mean_displacement", torch.zeros(2))
        self.fixed_bn = False

    # --- stage A: the CAM classifier -------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, K)`` (stage A, paper eq. 1)."""
        features = self.backbone(x).s5
        logits = self.classifier.logits(features)
        return logits

    def cams(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalised class activation maps ``(B, K, h16, w16)``: ReLU(w_k . F)."""
        features = self.backbone(x).s5
        return self.classifier.cams(features)

    # --- stage B: ReCAM ----------------------------------------------------------------------
    def recam_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage B outputs: class logits ``(B, K)`` and ReCAM logits ``(B, K, K)``.

        Row ``k`` of the ReCAM logits classifies the class-``k`` feature vector
        ``f_k = mean_p[Ahat_k(p) F(p)]``; the training loss reads the rows of the image's
        positive classes.
        """
        features = self.backbone(x).s5
        logits = self.classifier.logits(features)
        cams = self.classifier.cams(features)
        class_features = self.recam.class_features(features, cams)
        recam_logits = self.recam(class_features)
        return logits, recam_logits

    # --- stage E: IRNet on the frozen backbone ------------------------------------------------
    def irn_heads(self, taps: Taps) -> tuple[torch.Tensor, torch.Tensor]:
        """Boundary probability ``(B, 1, h4, w4)`` and raw displacement ``(B, 2, h4, w4)``.

        The taps are detached first: IRNet never changes the backbone (DESIGN decision 2).
        The displacement is *not* mean-subtracted here (training needs it raw).
        """
        taps = taps.detached()
        boundary = torch.sigmoid(self.boundary(taps))
        displacement = self.displacement(taps)
        return boundary, displacement

    def host_logits(self, taps: Taps) -> torch.Tensor:
        """Host logits ``(B, 1, h4, w4)`` of the host head on detached taps (it must exist)."""
        if self.host is None:
            raise ValueError("this model has no host head (ModelConfig.host_head_width=0)")
        return self.host(taps.detached())

    def irn(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Boundary ``(B, 1, h4, w4)`` in [0, 1] and mean-subtracted displacement ``(B, 2, h4, w4)``."""
        boundary, displacement = self.irn_heads(self.backbone(x))
        return boundary, displacement - self.mean_displacement.view(1, 2, 1, 1)

    # --- inference ----------------------------------------------------------------------------
    def infer(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything from ONE backbone pass: ``logits``, ``cams``, ``boundary``, ``displacement``.

        Shapes ``(B, K)``, ``(B, K, h16, w16)``, ``(B, 1, h4, w4)``, ``(B, 2, h4, w4)``; the
        displacement is mean-subtracted, in stride-4 cells, ``(dy, dx)``. A model with an
        image classifier adds its logits as ``image_logits`` ``(B, K)``, a model with a host
        head its logits as ``host`` ``(B, 1, h4, w4)``.
        """
        taps = self.backbone(x)
        logits = self.classifier.logits(taps.s5)
        cams = self.classifier.cams(taps.s5)
        boundary, displacement = self.irn_heads(taps)
        displacement = displacement - self.mean_displacement.view(1, 2, 1, 1)
        out = {"logits": logits, "cams": cams, "boundary": boundary, "displacement": displacement}
        if self.host is not None:
            out["host"] = self.host(taps)
        if self.image_classifier is not None:
            out["image_logits"] = self.image_classifier(x)
        return out

    # --- training-mode helpers ------------------------------------------------------------------
    def train(self, mode: bool = True) -> RadioGalaxyNet:
        """Like :meth:`torch.nn.Module.train`, but BatchNorms stay in eval mode if ``fixed_bn``."""
        super().train(mode)
        if mode and self.fixed_bn:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def set_fixed_bn(self, fixed: bool = True) -> None:
        """'Fixed' BatchNorm as in the paper: always running statistics (affine still trains)."""
        self.fixed_bn = fixed
        self.train(self.training)

    def freeze_stem(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) conv1 + bn1, as the paper does."""
        for module in self.backbone.stem_modules():
            for p in module.parameters():
                p.requires_grad_(not frozen)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by role: ``backbone``, ``classifier``, ``recam``, ``boundary``,
        ``displacement``, ``host``, ``image_classifier`` (stages give each group its own
        learning rate; the optional ones are empty for a model without them)."""
        return {
            name: [p for p in module.parameters() if p.requires_grad]
            for name, module in self.parameter_modules().items()
        }

    def parameter_modules(self) -> dict[str, nn.Module]:
        """The modules behind :meth:`parameter_groups` (an empty one for a missing group)."""
        names = ("backbone", "classifier", "recam", "boundary", "displacement")
        modules: dict[str, nn.Module] = {name: getattr(self, name) for name in names}
        modules["host"] = self.host or nn.Identity()
        modules["image_classifier"] = self.image_classifier or nn.Identity()
        return modules


def _tap_strides(output_stride: int) -> tuple[int, int, int, int, int]:
    return {
        32: (4, 4, 8, 16, 32),
        16: (4, 4, 8, 16, 16),
        8: (4, 4, 8, 8, 8),
    }[output_stride]


def build_model(
    config: ModelConfig, *, scheme: ClassScheme, pretrained_path: str | None = None
) -> RadioGalaxyNet:
    """A new, randomly initialised :class:`RadioGalaxyNet` (or backbone seeded from a file).

    Examples
    --------
    >>> import torch
    >>> from napari_radiogal.classes import RADIOGALAXYNET
    >>> net = build_model(ModelConfig("resnet18", 2, 4), scheme=RADIOGALAXYNET).eval()
    >>> out = net.infer(torch.zeros(1, 2, 210, 210))
    >>> [tuple(v.shape) for v in out.values()]
    [(1, 4), (1, 4, 14, 14), (1, 1, 53, 53), (1, 2, 53, 53)]
    """
    return RadioGalaxyNet(config, scheme, pretrained_path=pretrained_path)
