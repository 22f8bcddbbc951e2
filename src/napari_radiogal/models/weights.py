"""Weights files: a safetensors tensor file plus a JSON card that says what the tensors are.

``NAME.safetensors`` holds the state dict (tensors only: nothing is ever unpickled).
``NAME.json`` (the card) holds the architecture, the classes with their COCO ids, the input
channels and the pre-processing parameters, how the model was trained, its metrics, the
sha256 of the safetensors file and the software version. :func:`load_weights` verifies the
checksum and that the tensors fit the architecture before any weight reaches the network.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_radiogal._version import __version__
from napari_radiogal.classes import FIRST_TO_RADIOGALAXYNET, ClassScheme
from napari_radiogal.errors import WeightsError, WeightsWarning
from napari_radiogal.io.atomic import atomic_path
from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY, ModelGeometry
from napari_radiogal.io.provenance import file_sha256
from napari_radiogal.models.config import ModelConfig
from napari_radiogal.preprocess import PreprocessConfig

if TYPE_CHECKING:
    import torch

    from napari_radiogal.models.network import RadioGalaxyNet

__all__ = [
    "CARD_FORMAT",
    "WeightsCard",
    "save_weights",
    "load_weights",
    "read_card",
    "default_weights_path",
    "bundled_weights_dir",
    "bundled_models",
    "find_weights",
    "init_from_weights",
    "weights_paths",
]

log = logging.getLogger(__name__)

#: Version of the card's JSON layout.
CARD_FORMAT = 1


@dataclass
class WeightsCard:
    """What a weights file is: architecture, classes, inputs, training and metrics.

    Parameters
    ----------
    name : str
        Short model name (e.g. ``"radiogal-r18-sim"``).
    architecture : ModelConfig
    classes : ClassScheme
        Logit order and COCO category ids.
    preprocess : PreprocessConfig
        Exactly how inputs were made (channels included).
    geometry : ModelGeometry or None
        Pixel scale, beam in pixels, cut-out size and pixels-per-beam range of the training
        images; inference brings every input to it. ``None`` in cards written before cards
        carried it (see :attr:`model_geometry`).
    training : dict
        Provenance: data files, command line, config, epochs, seed...
    metrics : dict
        Validation numbers (e.g. CAM mIoU), free-form.
    inference : dict
        Inference settings the model is meant to run with (``InferenceConfig`` field names,
        chosen on validation data, e.g. ``{"class_threshold": 0.15}``): they replace the
        library defaults, and anything a user sets replaces them
        (:meth:`napari_radiogal.inference.LoadedModel.config`).
    sha256 : str
        Hex digest of the safetensors file (filled in by :func:`save_weights`).
    version : str
        napari-radiogal version that wrote the file.
    created : str
        ISO 8601 UTC time of writing.
    """

    name: str
    architecture: ModelConfig
    classes: ClassScheme
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    geometry: ModelGeometry | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    inference: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    version: str = __version__
    created: str = ""

    def __post_init__(self) -> None:
        if self.architecture.in_channels != self.preprocess.num_channels:
            raise WeightsError(
                f"card {self.name!r}: the architecture takes {self.architecture.in_channels} "
                f"input channels but the pre-processing makes {self.preprocess.num_channels} "
                f"{list(self.preprocess.channels)}."
            )
        if self.architecture.num_classes != self.classes.num_classes:
            raise WeightsError(
                f"card {self.name!r}: the architecture has {self.architecture.num_classes} "
                f"outputs but the class list has {self.classes.num_classes} "
                f"{list(self.classes.names)}."
            )

    @property
    def model_geometry(self) -> ModelGeometry:
        """The training geometry; for a card without one, the EMU Pilot Survey geometry
        every model of that age was trained on (a :class:`WeightsWarning` says so)."""
        if self.geometry is not None:
            return self.geometry
        warnings.warn(
            f"weights card {self.name!r} records no training geometry (written by an older "
            'napari-radiogal); assuming the EMU Pilot Survey cut-outs of the paper: 2"/px, '
            "13\" x 11\" beam (6.0 px per beam), 210 px. Add a 'geometry' entry to the card "
            "(napari_radiogal.io.geometry.ModelGeometry.to_dict) if it was trained otherwise.",
            WeightsWarning,
            stacklevel=2,
        )
        return EMU_PILOT_GEOMETRY

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = {
            "format": CARD_FORMAT,
            "name": self.name,
            "architecture": self.architecture.to_dict(),
            "classes": self.classes.to_dict(),
            "input_channels": list(self.preprocess.channels),
            "preprocess": self.preprocess.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
            "sha256": self.sha256,
            "version": self.version,
            "created": self.created,
        }
        if self.geometry is not None:
            d["geometry"] = self.geometry.to_dict()
        if self.inference:
            d["inference"] = dict(self.inference)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WeightsCard:
        """Inverse of :meth:`to_dict` (:class:`WeightsError` on a malformed card)."""
        if not isinstance(d, Mapping):
            raise WeightsError(
                f"a weights card is a JSON object with the keys name, architecture, classes, "
                f"preprocess, sha256; got a {type(d).__name__}."
            )
        try:
            fmt = int(d.get("format", CARD_FORMAT))
            if fmt > CARD_FORMAT:
                raise WeightsError(
                    f"weights card format {fmt} is newer than this napari-radiogal "
                    f"({__version__}) understands ({CARD_FORMAT}); upgrade napari-radiogal."
                )
            return cls(
                name=str(d["name"]),
                architecture=ModelConfig.from_dict(d["architecture"]),
                classes=ClassScheme.from_dict(d["classes"]),
                preprocess=PreprocessConfig.from_dict(d.get("preprocess", {})),
                geometry=(ModelGeometry.from_dict(d["geometry"]) if d.get("geometry") else None),
                training=dict(d.get("training", {})),
                metrics=dict(d.get("metrics", {})),
                inference=dict(d.get("inference", {})),
                sha256=str(d.get("sha256", "")),
                version=str(d.get("version", "")),
                created=str(d.get("created", "")),
            )
        # OverflowError: int() of an infinity, float() of a huge integer
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, WeightsError):
                raise
            raise WeightsError(
                f"malformed weights card ({type(exc).__name__}: {exc}); expected the keys "
                "name, architecture, classes, preprocess, sha256."
            ) from exc


def weights_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(NAME.safetensors, NAME.json)`` for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def bundled_weights_dir() -> Path:
    """The folder of the models shipped with the package (``napari_radiogal/weights``)."""
    return Path(__file__).resolve().parents[1] / "weights"


def default_weights_path() -> Path:
    """The bundled default model: ``napari_radiogal/weights/default.safetensors`` (may not exist)."""
    return bundled_weights_dir() / "default.safetensors"


def bundled_models() -> dict[str, Path]:
    """The shipped models by every name a user may give: file stem and card name.

    Returns
    -------
    dict of str to Path
        ``{"default": .../default.safetensors, "radiogal-r18-sim": .../default.safetensors,
        ...}``; a model whose card cannot be read is listed by its file stem only.
    """
    names: dict[str, Path] = {}
    for tensor_path in sorted(bundled_weights_dir().glob("*.safetensors")):
        names[tensor_path.stem] = tensor_path
        try:
            names.setdefault(read_card(tensor_path).name, tensor_path)
        except WeightsError:
            continue
    return names


def find_weights(value: str | os.PathLike) -> Path:
    """The ``NAME.safetensors`` a user means: a path, or a bundled model's name.

    Parameters
    ----------
    value : str or path
        ``NAME``, ``NAME.safetensors`` or ``NAME.json`` of a file, or the stem or card name
        of a bundled model (``"default"``, ``"radiogal-r18-sim"``).

    Raises
    ------
    WeightsError
        Neither a file nor a bundled model; the message lists the bundled names.

    Examples
    --------
    >>> find_weights("default") == default_weights_path()
    True
    """
    tensor_path, _ = weights_paths(value)
    if tensor_path.is_file():
        return tensor_path
    bundled = bundled_models()
    if str(value) in bundled:
        return bundled[str(value)]
    raise WeightsError(
        f"weights file {tensor_path} not found, and no bundled model is called {str(value)!r}; "
        "give the NAME.safetensors written by radiogal train (its NAME.json card beside it), "
        f"or one of the bundled models {sorted(bundled)}."
    )


def _atomic_write(path: Path, write) -> None:
    with atomic_path(path) as tmp:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def save_weights(
    model: RadioGalaxyNet, card: WeightsCard, path: str | os.PathLike, *, half: bool = False
) -> Path:
    """Write ``path.safetensors`` and its card ``path.json``, both atomically.

    The card's ``architecture`` and ``classes`` must match the model; ``sha256`` and
    ``created`` are filled in (the passed card is updated in place too).

    Parameters
    ----------
    model : RadioGalaxyNet
    card : WeightsCard
    path : path
        ``NAME`` (``.safetensors`` / ``.json`` are added).
    half : bool
        Store floating-point tensors as float16 (half the file: how bundled models ship).
        :func:`load_weights` casts them back to the network's float32; the BatchNorm
        running statistics and weights of a trained ResNet are well inside float16's range
        (max 65504) and its 3 significant digits change no prediction we measured
        (README, bundled models).

    Returns
    -------
    Path
        The safetensors file.
    """
    from safetensors.torch import save_file

    if card.architecture != model.config:
        raise WeightsError(
            f"card architecture {card.architecture} differs from the model's {model.config}."
        )
    if card.classes.names != model.scheme.names or card.classes.coco_ids != model.scheme.coco_ids:
        raise WeightsError(
            f"card classes {list(card.classes.names)} differ from the model's "
            f"{list(model.scheme.names)}."
        )
    tensor_path, card_path = weights_paths(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    metadata = {"format": "pt", "napari_radiogal": __version__, "name": card.name}
    _atomic_write(tensor_path, lambda tmp: save_file(state, tmp, metadata=metadata))
    card.sha256 = file_sha256(tensor_path)
    card.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = json.dumps(card.to_dict(), indent=2)

    def write_card(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")

    _atomic_write(card_path, write_card)
    log.info(
        "weights written to %s (+ card %s), sha256 %s",
        tensor_path,
        card_path.name,
        card.sha256[:12],
    )
    return tensor_path


def read_card(path: str | os.PathLike) -> WeightsCard:
    """Read the JSON card of a weights file (no tensors loaded, no checksum verified)."""
    _, card_path = weights_paths(path)
    if not card_path.is_file():
        raise WeightsError(
            f"weights card {card_path} not found; a weights file NAME.safetensors needs its "
            "card NAME.json beside it (written by save_weights / radiogal train)."
        )
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WeightsError(
            f"weights card {card_path} is not UTF-8 text (a binary file?); the card is the "
            "NAME.json written beside NAME.safetensors."
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"cannot read weights card {card_path}: {exc}") from exc
    try:
        return WeightsCard.from_dict(data)
    except WeightsError as exc:
        raise WeightsError(f"weights card {card_path}: {exc}") from exc


def load_weights(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[RadioGalaxyNet, WeightsCard]:
    """Load a model from ``NAME.safetensors`` + ``NAME.json``, checking both first.

    Parameters
    ----------
    path : path
        ``NAME``, ``NAME.safetensors`` or ``NAME.json``.
    device : str or torch.device
        Where to put the tensors.
    verify : bool
        Check the sha256 of the safetensors file against the card (keep True unless the
        file was just verified).

    Returns
    -------
    (RadioGalaxyNet, WeightsCard)
        The model in eval mode, and its card.

    Raises
    ------
    WeightsError
        If a file is missing, the checksum differs, or the tensors do not fit the card's
        architecture (missing, unexpected or mis-shaped tensors).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from napari_radiogal.models.network import build_model

    tensor_path, _ = weights_paths(path)
    card = read_card(path)
    if not tensor_path.is_file():
        raise WeightsError(f"weights file {tensor_path} not found (its card exists).")
    if verify:
        actual = file_sha256(tensor_path)
        if actual != card.sha256:
            raise WeightsError(
                f"{tensor_path} has sha256 {actual[:16]}... but its card says "
                f"{card.sha256[:16] or '(none)'}...: the file is corrupt or was replaced. "
                "Download or export it again."
            )
    try:
        state = load_file(tensor_path, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"cannot read {tensor_path} as safetensors: {exc}") from exc
    model = build_model(card.architecture, scheme=card.classes)
    check_state_dict(model, state, source=str(tensor_path))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card


def check_state_dict(model: torch.nn.Module, state: Mapping[str, Any], *, source: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            parts.append(f"{len(wrong)} mis-shaped (e.g. {wrong[:2]})")
        raise WeightsError(
            f"{source} does not fit its card's architecture: "
            + "; ".join(parts)
            + ". The card and the tensors come from different models."
        )


#: State-dict entries whose first axis is the class (one row per class of the scheme).
_CLASS_ROW_PREFIXES = ("classifier.", "recam.", "image_classifier.fc.")
#: The one state-dict entry whose second axis is the input channel.
_INPUT_CONV = "backbone.conv1.weight"

#: A channel new to the child that starts from a related channel of the parent: the same
#: sky in another scaling (the FIRST PNG convention is radio islands, linear instead of log).
CHANNEL_ALIASES: dict[str, str] = {"radio_display": "radio"}


def class_aliases() -> dict[str, str]:
    """Child class -> parent class of the same physical kind, across class schemes.

    From :data:`napari_radiogal.classes.FIRST_TO_RADIOGALAXYNET`: a FIRST model fine-tuned
    from a RadioGalaxyNET one starts its FRI and FRII rows from FR-I and FR-II.
    """
    return {k: v for k, v in FIRST_TO_RADIOGALAXYNET.items() if v is not None}


def _name_map(new: tuple[str, ...], old: tuple[str, ...], aliases: Mapping[str, str]):
    """``[(new index, old index)]`` for names in both, or whose alias is in ``old``."""
    pairs = []
    for i, name in enumerate(new):
        source = name if name in old else aliases.get(name)
        if source in old:
            pairs.append((i, old.index(source)))
    return pairs


def init_from_weights(
    model: RadioGalaxyNet, source: str | os.PathLike, *, channels: tuple[str, ...]
) -> dict[str, Any]:
    """Start ``model`` from a trained model's tensors (fine-tuning, ``radiogal train --init``).

    Every tensor of the parent is copied into the new network. Two kinds may differ in
    shape and are matched by name instead of position:

    * class rows of the CAM classifier and the ReCAM predictor, matched by class name: a
      class the parent knows keeps its row, a class new to the scheme keeps the new
      network's random row, and a parent class the new scheme drops is left out;
    * input channels of the first convolution, matched by channel name (``radio``,
      ``ir``...): a shared channel keeps its filters, a new channel starts at zero so the
      network first behaves exactly as its parent on the shared channels.

    A name the parent lacks may still start from a related one (:data:`CHANNEL_ALIASES`,
    :func:`class_aliases`: ``radio_display`` from ``radio``, ``FRI`` from ``FR-I``).

    Parameters
    ----------
    model : RadioGalaxyNet
        The new network (its own architecture, classes and channels).
    source : str or path
        The parent: a weights path or a bundled model's name (:func:`find_weights`).
    channels : tuple of str
        The new network's input channel names, in order (``PreprocessConfig.channels``).

    Returns
    -------
    dict
        What the weights card records as the parent: name, file name, sha256, and which
        classes and channels were kept or are new.

    Raises
    ------
    WeightsError
        The parent cannot be read, or its backbone or strides differ from the new
        network's (its tensors would not fit).
    """
    import torch

    path = find_weights(source)
    parent_model, card = load_weights(path)
    mine, theirs = model.config, card.architecture
    if (mine.backbone, mine.output_stride, mine.irn_width_scale) != (
        theirs.backbone,
        theirs.output_stride,
        theirs.irn_width_scale,
    ):
        raise WeightsError(
            f"--init {source}: the parent {card.name!r} is a {theirs.backbone} at output stride "
            f"{theirs.output_stride}, the new network a {mine.backbone} at {mine.output_stride}; "
            f"set backbone: {theirs.backbone} and output_stride: {theirs.output_stride} in the "
            "recipe to fine-tune it."
        )
    parent = parent_model.state_dict()
    state = model.state_dict()
    parent_channels = tuple(card.preprocess.channels)
    class_map = _name_map(model.scheme.names, card.classes.names, class_aliases())
    channel_map = _name_map(tuple(channels), parent_channels, CHANNEL_ALIASES)
    with torch.no_grad():
        for key, value in state.items():
            if key not in parent:  # a part the parent lacks (an image classifier) starts new
                continue
            source_value = parent[key]
            if key.startswith(_CLASS_ROW_PREFIXES) and source_value.shape[0] == theirs.num_classes:
                for new, old in class_map:
                    value[new] = source_value[old]
            elif key == _INPUT_CONV:
                value.zero_()
                for new, old in channel_map:
                    value[:, new] = source_value[:, old]
            else:
                value.copy_(source_value)
    model.load_state_dict(state)
    return {
        "name": card.name,
        "file": path.name,
        "sha256": card.sha256,
        "classes_kept": _kept(model.scheme.names, card.classes.names, class_map),
        "classes_new": _unmapped(model.scheme.names, class_map),
        "channels_kept": _kept(tuple(channels), parent_channels, channel_map),
        "channels_new": _unmapped(tuple(channels), channel_map),
    }


def _kept(new: tuple[str, ...], old: tuple[str, ...], pairs) -> list[str]:
    """Names that start from the parent; ``"child<-parent"`` when through an alias."""
    return [new[i] if new[i] == old[j] else f"{new[i]}<-{old[j]}" for i, j in pairs]


def _unmapped(new: tuple[str, ...], pairs) -> list[str]:
    """Names with nothing in the parent (they start fresh)."""
    mapped = {i for i, _ in pairs}
    return [n for i, n in enumerate(new) if i not in mapped]
