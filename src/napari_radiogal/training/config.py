"""The training recipe: one frozen dataclass shared by the YAML files and the CLI.

A recipe (``napari_radiogal/training/configs/*.yaml``, shipped with the package) is a nested mapping whose keys are the fields below;
the CLI reads it, applies ``--set section.key=value`` overrides and the shortcut options
(``--epochs``, ``--batch-size``, ``--seed``...), and the result travels in every checkpoint
and in the weights card, so a model always says how it was trained.

Optimiser (all stages): SGD with **real** momentum 0.9, weight decay 1e-4 and a poly decay
``lr_t = lr_0 (1 - t/T)^0.9`` applied every iteration. The authors' ``PolyOptimizer`` passes
the weight decay into SGD's momentum slot, so their effective momentum is 1e-4 (ALGORITHM
11.4); we fix that on purpose. Because momentum 0.9 multiplies the steady-state step by ~10,
our recipes use smaller learning rates than the paper's where noted.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.provenance import jsonable
from napari_radiogal.models.config import BACKBONE_NAMES
from napari_radiogal.preprocess import PreprocessConfig

__all__ = [
    "STAGES",
    "MASK_SUPERVISION",
    "OptimConfig",
    "CamStageConfig",
    "RecamStageConfig",
    "PseudoLabelConfig",
    "IrnStageConfig",
    "HostStageConfig",
    "ClassifyStageConfig",
    "TrainConfig",
    "load_config",
    "check_finite",
]

#: The recipes shipped with the package (``--config NAME``).
RECIPES_DIR = Path(__file__).resolve().parent / "configs"

#: Stage names in the order ``--stage all`` runs them (``host`` only when the training data
#: has mask-supervised hosts, ``classify`` only when its ``epochs`` is above 0: the optional
#: host head and image classifier).
STAGES = ("cam", "recam", "irn", "host", "classify")

REFINEMENTS = ("none", "islands", "island_vote")
#: Values of :attr:`PseudoLabelConfig.masks` (which images are mask-supervised).
MASK_SUPERVISION = ("none", "all", "reviewed")


def check_finite(config: Any) -> None:
    """Refuse NaN and infinity in the float fields of a config dataclass.

    NaN passes every range check (all comparisons with it are false), so it has to be
    refused by name.

    Raises
    ------
    ConfigError
        Naming the field and its value.

    Examples
    --------
    >>> check_finite(OptimConfig(momentum=float("nan")))
    Traceback (most recent call last):
    ...
    napari_radiogal.errors.ConfigError: OptimConfig.momentum=nan; expected a finite number.
    """
    for f in fields(config):
        value = getattr(config, f.name)
        if any(isinstance(v, float) and not math.isfinite(v) for v in _items(value)):
            raise ConfigError(
                f"{type(config).__name__}.{f.name}={value}; expected a finite number."
            )


@dataclass(frozen=True)
class OptimConfig:
    """Shared optimiser and data fields of a stage.

    Parameters
    ----------
    epochs : int
        Passes over the training images (0 skips the stage's training).
    batch_size : int
        Images per step per process (with DDP the global batch is ``world_size`` times this).
    weight_decay, momentum, poly_power : float
        SGD weight decay, SGD momentum (real, see the module docstring), poly exponent.
    """

    epochs: int = 1
    batch_size: int = 4
    weight_decay: float = 1e-4
    momentum: float = 0.9
    poly_power: float = 0.9

    def __post_init__(self) -> None:
        check_finite(self)
        if self.epochs < 0 or self.batch_size < 1:
            raise ConfigError(
                f"{type(self).__name__}: epochs must be >= 0 and batch_size >= 1; got "
                f"epochs={self.epochs}, batch_size={self.batch_size}."
            )
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum={self.momentum}; expected 0 <= momentum < 1.")


@dataclass(frozen=True)
class CamStageConfig(OptimConfig):
    """Stage A: CAM classifier with the multi-label soft-margin loss.

    Augmentation: random scale in ``scale_range`` (the authors resize 210 -> 340, i.e. a
    fixed x1.62), flip, rotation by a random angle (fill = empty sky), random crop of
    ``crop_size`` (zero-padded when the scaled image is smaller).

    ``class_balance`` tempers how often each image is drawn (see
    :func:`napari_radiogal.training.engine.class_balance_weights`): 0 draws every image
    once per epoch (the paper); 1 draws each class equally often; 0.5 in between (square
    root of the class frequencies). Real catalogues are imbalanced (firstgalaxydata has 6x
    fewer Bent than FRI sources), and an under-drawn class is under-learnt.
    """

    epochs: int = 30
    lr: float = 0.01
    classifier_lr: float = 0.1
    crop_size: int = 210
    scale_range: tuple[float, float] = (1.619, 1.619)
    flip: bool = True
    rotate: bool = True
    class_balance: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_class_balance(self)


@dataclass(frozen=True)
class RecamStageConfig(OptimConfig):
    """Stage B: ReCAM, starting from the best stage-A checkpoint (selected on val loss)."""

    epochs: int = 15
    lr: float = 1e-5
    recam_lr: float = 1e-4
    recam_weight: float = 0.5
    crop_size: int = 210
    scale_range: tuple[float, float] = (1.619, 1.619)
    flip: bool = True
    rotate: bool = False
    class_balance: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_class_balance(self)


def _check_class_balance(stage: OptimConfig) -> None:
    if not 0.0 <= stage.class_balance <= 1.0:
        raise ConfigError(
            f"{type(stage).__name__}: class_balance={stage.class_balance}; expected a number "
            "from 0 (every image once per epoch) to 1 (every class equally often)."
        )


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Stage D: confident pseudo-labels from multi-scale CAMs of the training images.

    Parameters
    ----------
    scales : tuple of float
        CAM scales (the authors' 1.0, 0.5, 1.5, 2.0); each with its horizontal flip if
        ``flip``.
    fg_threshold, bg_threshold : float
        A pixel is foreground where its max-normalised CAM >= ``fg_threshold`` and
        background where every CAM < ``bg_threshold``; in between it is ignored (255).
    refine : {"none", "islands", "island_vote"}
        ``none``: plain thresholds. ``islands``: foreground only inside radio islands and
        every pixel outside islands is background (empty sky after pre-processing).
        ``island_vote``: as ``islands``, and a whole island becomes foreground of class k
        when its mean CAM_k reaches ``fg_threshold``. (The authors' dense CRF needs the
        unmaintained pydensecrf; see training/README.md for the measured comparison.)
    masks : {"none", "all", "reviewed"}
        Mixed supervision: which images take their stage-D labels from their annotated
        masks (class of each instance inside it, background elsewhere) instead of from the
        CAMs. ``none``: every image is weak (the paper). ``all``: every image with at least
        one instance mask. ``reviewed``: images all of whose instances are marked reviewed
        (corrected by hand in napari); the other images stay weak. The masks reach the
        IRNet boundary and displacement losses through these labels; the CAM stages learn
        from the image-level classes either way.
    bridge_gap : float
        Pixels. Islands of one multi-component class (not R / Compact) lying at most this far
        apart are one source for IRNet: the convex hull of each such group (each annotated
        instance, for mask-supervised images) is labelled with the class wherever it is
        background. Without it the gap of empty sky between the lobes of a double is
        background, so IRNet learns a boundary around every lobe and a displacement field
        that points each lobe to its own centre, and the lobes come out as two sources
        (:func:`~napari_radiogal.training.pseudo_labels.bridge_components`). 0 = off (the
        paper); masks at inference stay on the radio islands either way.
    """

    scales: tuple[float, ...] = (1.0, 0.5, 1.5, 2.0)
    flip: bool = True
    fg_threshold: float = 0.35
    bg_threshold: float = 0.10
    refine: str = "island_vote"
    masks: str = "none"
    bridge_gap: float = 0.0

    def __post_init__(self) -> None:
        check_finite(self)
        if self.refine not in REFINEMENTS:
            raise ConfigError(f"pseudo_labels.refine={self.refine!r}; choose one of {REFINEMENTS}.")
        if self.masks not in MASK_SUPERVISION:
            raise ConfigError(
                f"pseudo_labels.masks={self.masks!r}; choose one of {MASK_SUPERVISION}."
            )
        if not self.bridge_gap >= 0:
            raise ConfigError(
                f"pseudo_labels.bridge_gap={self.bridge_gap!r}: expected pixels >= 0 (0 = off)."
            )
        if not 0 <= self.bg_threshold <= self.fg_threshold <= 1:
            raise ConfigError(
                "pseudo_labels thresholds must satisfy 0 <= bg_threshold <= fg_threshold <= 1; "
                f"got bg={self.bg_threshold}, fg={self.fg_threshold}."
            )


@dataclass(frozen=True)
class IrnStageConfig(OptimConfig):
    """Stage E: IRNet boundary + displacement heads on the frozen trained backbone.

    ``canvas_size``: images (randomly scaled in ``scale_range`` and flipped) are placed at a
    random offset in a canvas of this size. The authors use 512 for 210 images, so ~80% of
    each canvas is padding that inference never sees (ALGORITHM 11.14); a canvas close to
    the inference size fixes that. ``radius``: pair radius on the stride-4 grid (ALGORITHM
    7.2; 11.8 discusses larger ones).
    """

    epochs: int = 3
    batch_size: int = 16
    boundary_lr: float = 0.1
    displacement_lr: float = 1.0
    radius: int = 10
    canvas_size: int = 256
    scale_range: tuple[float, float] = (0.5, 1.5)
    flip: bool = True


@dataclass(frozen=True)
class HostStageConfig(OptimConfig):
    """Stage E2 (optional): the host head, from annotated hosts, on the frozen backbone.

    Trains :class:`~napari_radiogal.models.heads.HostHead` on the images whose instances
    supervise (``pseudo_labels.masks``: ``all`` or ``reviewed``) and carry a host; it runs
    only when there are such images (a run on class labels alone has no host head). The
    loss is, for each instance, the softmax cross-entropy of the head's logits over the
    instance's search region (its hull widened by ``HOST_HEAD_MARGIN_CELLS``) towards a
    Gaussian of ``sigma`` stride-4 cells around the true host. AdamW with a linear warm-up
    over ``warmup_fraction`` of the steps, then the poly decay; augmentation as stage E (the
    image placed in a ``canvas_size`` canvas at a random scale) plus rotations, with the
    hosts moved exactly with their pixels. ``width``: the head's channels
    (``ModelConfig.host_head_width``); a parent's head keeps its own width.

    Why: the paper's host rule (the peak of CAM x IR) lands a median 11 px (22") from the
    true host on the simulated val split, and with the true hosts in place of it the
    default model's host AP50 there rises from 69.4 to 77.1: the corrected hosts a user
    makes are worth learning from (training/README.md).
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    width: int = 32
    sigma: float = 1.0
    canvas_size: int = 256
    scale_range: tuple[float, float] = (0.8, 1.25)
    flip: bool = True
    rotate: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(
                f"host: warmup_fraction={self.warmup_fraction}; expected a value in [0, 1)."
            )
        if self.width < 1 or not self.sigma > 0 or self.canvas_size < 64:
            raise ConfigError(
                f"host: width={self.width}, sigma={self.sigma}, canvas_size={self.canvas_size}; "
                "expected width >= 1, sigma > 0 (stride-4 cells) and canvas_size >= 64 px."
            )


@dataclass(frozen=True)
class ClassifyStageConfig(OptimConfig):
    """Stage F (optional): the image classifier, a small CNN for the image-level classes.

    :class:`~napari_radiogal.models.heads.ImageClassifier` trains on its own (the backbone
    and the heads are untouched), with AdamW, a linear warm-up over the first
    ``warmup_fraction`` of the steps and the poly decay after it, softmax cross-entropy
    with ``label_smoothing`` towards each image's class(es), and the CAM stages'
    augmentation (``crop_size`` = the image size keeps whole cut-outs). ``epochs: 0``
    (the default) builds no image classifier: the CAM classifier's probabilities are used,
    as in the paper. ``width`` and ``size`` are the network's (``ModelConfig``
    ``image_classifier_width`` / ``image_classifier_size``).

    Why: on real FIRST cut-outs the weakly supervised ResNet must both localise and
    classify, and classifies worse (78.5 % on firstgalaxydata valid) than a small network
    trained for the label alone (82.5 % after 70 epochs; training/README.md).
    """

    epochs: int = 0
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    width: int = 16
    size: int = 150
    crop_size: int = 300
    scale_range: tuple[float, float] = (0.9, 1.1)
    flip: bool = True
    rotate: bool = True
    class_balance: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_class_balance(self)
        if not (0 <= self.warmup_fraction < 1 and 0 <= self.label_smoothing < 1):
            raise ConfigError(
                f"classify: warmup_fraction={self.warmup_fraction} and label_smoothing="
                f"{self.label_smoothing}; expected each in [0, 1)."
            )
        if self.width < 1 or self.size < 32:
            raise ConfigError(
                f"classify: width={self.width}, size={self.size}; expected width >= 1 and "
                "size >= 32 pixels."
            )


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (recipe + run options).

    Parameters
    ----------
    backbone : str
        ``resnet18`` / ``resnet34`` / ``resnet50``.
    output_stride : int
        CAM feature stride (16 in the paper).
    pretrained_path : str, optional
        Local torchvision ResNet state dict to start the backbone from (random otherwise).
    init : str, optional
        Fine-tuning: a trained model (weights path or bundled name, e.g. ``"default"``) to
        start every stage from, classes and channels matched by name
        (:func:`napari_radiogal.models.weights.init_from_weights`). Overrides
        ``pretrained_path``.
    freeze_stem : bool
        Keep conv1 + bn1 fixed (the paper; sensible with a pretrained stem).
    fixed_bn : bool
        BatchNorm always in eval mode (the paper, with ImageNet statistics). Keep False when
        training from scratch: the running statistics would stay at their initial 0 / 1.
    preprocess : PreprocessConfig
        Input channels and the section 3.1 parameters.
    cam, recam, pseudo_labels, irn, host, classify : stage configs
    seed : int
        Seeds python, numpy and torch; augmentation draws derive from (seed, epoch, image).
    deterministic : bool
        ``torch.use_deterministic_algorithms(True)`` and no cuDNN autotuning.
    num_workers : int
        DataLoader worker processes.
    amp : bool
        Mixed precision (CUDA only; ignored on CPU and MPS).
    checkpoint_every_steps : int
        Extra checkpoints every N optimiser steps (0: only at the end of each epoch).
    log_every_steps : int
        Loss logging period.
    """

    backbone: str = "resnet50"
    output_stride: int = 16
    pretrained_path: str | None = None
    init: str | None = None
    freeze_stem: bool = True
    fixed_bn: bool = False
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    cam: CamStageConfig = field(default_factory=CamStageConfig)
    recam: RecamStageConfig = field(default_factory=RecamStageConfig)
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    irn: IrnStageConfig = field(default_factory=IrnStageConfig)
    host: HostStageConfig = field(default_factory=HostStageConfig)
    classify: ClassifyStageConfig = field(default_factory=ClassifyStageConfig)
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    amp: bool = True
    checkpoint_every_steps: int = 0
    log_every_steps: int = 10

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONE_NAMES:
            raise ConfigError(
                f"backbone={self.backbone!r}; choose one of {sorted(BACKBONE_NAMES)}."
            )

    # --- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Nested JSON/YAML-ready mapping (tuples become lists)."""
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainConfig:
        """Build from a nested mapping; unknown keys raise :class:`ConfigError` with a hint."""
        return _from_mapping(cls, data or {}, "")

    def with_overrides(self, assignments: Iterable[str]) -> TrainConfig:
        """Apply ``section.key=value`` strings (values parsed as YAML: ``3``, ``[1, 2]``, ``true``).

        Examples
        --------
        >>> cfg = TrainConfig().with_overrides(["cam.epochs=2", "backbone=resnet18"])
        >>> cfg.cam.epochs, cfg.backbone
        (2, 'resnet18')
        """
        import yaml

        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form section.key=value.")
            key, raw = item.split("=", 1)
            node = data
            parts = key.strip().split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ConfigError(f"override {item!r}: {part!r} is not a config section.")
                node = node[part]
            node[parts[-1]] = yaml.safe_load(raw)
        return TrainConfig.from_dict(data)

    def replace_stage(self, stages: Iterable[str], **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied to each named stage config (``None`` values skipped)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        updates = {s: dataclasses.replace(getattr(self, s), **changes) for s in stages}
        return dataclasses.replace(self, **updates)


def _from_mapping(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section {where or '(top)'} must be a mapping; got {data!r}.")
    if cls is PreprocessConfig:
        return PreprocessConfig.from_dict(data)
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise ConfigError(
                f"unknown config key {where + key!r}"
                + (f"; did you mean {where + hint[0]!r}?" if hint else ".")
                + f" Known keys here: {sorted(known)}."
            )
        sub = _SECTIONS.get(key)
        if sub is not None and cls is TrainConfig:
            kwargs[key] = _from_mapping(sub, value, f"{key}.")
        else:
            kwargs[key] = _typed(value, _default_of(known[key]), where + key)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid config section {where or '(top)'}: {exc}") from exc


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _typed(value: Any, default: Any, key: str) -> Any:
    """``value`` checked against the type of the field's default (``None``: anything goes).

    YAML already parsed ``3``, ``0.5``, ``true`` and ``[1, 2]``; what is left to catch is a
    value of the wrong kind, said with the key (``cam.epochs: expected an integer, got
    'abc'``) instead of a comparison error deep in ``__post_init__``.
    """
    if default is None or value is None:
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = number and float(value).is_integer(), "an integer"
        value = int(value) if ok else value
    elif isinstance(default, float):
        ok, kind = number, "a number"
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(default, tuple):
        ok, kind = isinstance(value, list | tuple), "a list such as [0.9, 1.1]"
        if ok and default and all(isinstance(v, float) for v in default):
            ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            kind = "a list of numbers such as [0.9, 1.1]"
            value = tuple(float(v) for v in value) if ok else value
        value = tuple(value) if ok else value
    else:
        return value
    if not ok:
        raise ConfigError(f"{key}: expected {kind}, got {value!r}.")
    if any(isinstance(v, float) and not math.isfinite(v) for v in _items(value)):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}.")
    return value


def _items(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


_SECTIONS: dict[str, type] = {
    "preprocess": PreprocessConfig,
    "cam": CamStageConfig,
    "recam": RecamStageConfig,
    "pseudo_labels": PseudoLabelConfig,
    "irn": IrnStageConfig,
    "host": HostStageConfig,
    "classify": ClassifyStageConfig,
}


def load_config(path: str | Path | None) -> TrainConfig:
    """Read a YAML recipe (``None`` gives the defaults, which are the paper's schedule)."""
    if path is None:
        return TrainConfig()
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} not found; the shipped recipes are in {RECIPES_DIR}."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
