"""Loaded networks: :class:`LoadedModel`, :func:`load_model` and this process's model cache.

Loading verifies the weights file against its JSON card (sha256, architecture) once per
file, modification time and device; later calls, e.g. one per task of a Dask ``map`` over a
catalogue, get the cached network.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_radiogal.errors import WeightsError
from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.io.provenance import jsonable

__all__ = [
    "LoadedModel",
    "ModelChoice",
    "load_model",
    "clear_model_cache",
    "resolve_model",
    "choose_bundled_model",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network in eval mode on its device, with the card that describes it.

    Attributes
    ----------
    network : RadioGalaxyNet
    card : WeightsCard
    device : torch.device
    path : Path or None
        The safetensors file.
    geometry : ModelGeometry
        The training geometry inputs are brought to (the card's; for an older card without
        one, the assumed EMU Pilot Survey geometry, with a warning at load time).
    """

    network: Any
    card: Any
    device: Any
    path: Path | None = None
    geometry: Any = None

    def __post_init__(self) -> None:
        if self.geometry is None:
            object.__setattr__(self, "geometry", self.card.model_geometry)
        from napari_radiogal.errors import ConfigError

        try:
            self.config()
        except ConfigError as exc:
            raise WeightsError(
                f"weights card {self.card.name!r}: its recommended inference settings "
                f"{self.card.inference} are not valid here ({exc}); fix or remove the card's "
                "'inference' entry."
            ) from None

    @property
    def name(self) -> str:
        """The card's model name."""
        return self.card.name

    @property
    def sha256(self) -> str:
        """sha256 of the safetensors file (from the verified card)."""
        return self.card.sha256

    @property
    def scheme(self):
        """The :class:`~napari_radiogal.classes.ClassScheme` of the logits."""
        return self.card.classes

    def config(self, **settings: Any) -> InferenceConfig:
        """The inference settings for this model: the card's, then the caller's.

        Library defaults, replaced by the settings the card recommends (``inference`` in
        the card, chosen on validation data), replaced by ``settings``. What
        :func:`~napari_radiogal.inference.segment` uses when given no ``config``, and what
        ``radiogal predict`` builds from the options given on its command line.

        Parameters
        ----------
        **settings
            :class:`InferenceConfig` fields chosen by the user.

        Returns
        -------
        InferenceConfig

        Raises
        ------
        ConfigError
            A card or user setting that is not an :class:`InferenceConfig` field, or not valid.
        """
        return InferenceConfig().replace(**{**self.card.inference, **settings})

    @property
    def min_image_size(self) -> int:
        """Smallest image side the network accepts: two cells of its output stride."""
        return 2 * int(self.card.architecture.output_stride)

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description (name, sha256, file, architecture, classes, training)."""
        return {
            "name": self.card.name,
            "sha256": self.card.sha256,
            "path": None if self.path is None else str(self.path),
            "architecture": self.card.architecture.to_dict(),
            "classes": self.card.classes.to_dict(),
            "preprocess": self.card.preprocess.to_dict(),
            "geometry": self.geometry.to_dict(),
            "training": jsonable(self.card.training),
            "version": self.card.version,
        }


_MODEL_CACHE: dict[tuple, LoadedModel] = {}
_MODEL_CACHE_LOCK = threading.Lock()


def load_model(path: str | os.PathLike | None = None, *, device: Any = "auto") -> LoadedModel:
    """Load (or fetch from this process's cache) a verified model.

    Parameters
    ----------
    path : path-like, optional
        ``NAME``, ``NAME.safetensors`` or ``NAME.json``, or a bundled model's name
        (``"default"``, its card name; :func:`napari_radiogal.models.find_weights`);
        ``None`` = the bundled default model.
    device : str or torch.device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.

    Returns
    -------
    LoadedModel

    Raises
    ------
    WeightsError
        The file or its card is missing, its sha256 differs from the card, or the tensors
        do not fit the card's architecture.
    """
    import torch

    from napari_radiogal.inference.device import resolve_device
    from napari_radiogal.models.weights import default_weights_path, find_weights, load_weights

    torch_device = resolve_device(device)
    if path is None:
        tensor_path = default_weights_path()
        if not tensor_path.is_file():
            raise _no_default_model(tensor_path)
    else:
        tensor_path = find_weights(path)
    tensor_path = tensor_path.resolve()
    stat = tensor_path.stat()
    key = (str(tensor_path), stat.st_mtime_ns, stat.st_size, str(torch_device))
    with _MODEL_CACHE_LOCK:
        cached = _MODEL_CACHE.get(key)
        if cached is not None:
            return cached
        network, card = load_weights(tensor_path, device=torch_device)
        network.eval()
        if torch_device.type == "cpu":
            # oneDNN convolutions are 1.2-1.7x faster on NHWC tensors (measured on 2 cores)
            network.to(memory_format=torch.channels_last)
        loaded = LoadedModel(network=network, card=card, device=torch_device, path=tensor_path)
        _MODEL_CACHE[key] = loaded
        log.info(
            "loaded model %r (sha256 %s...) from %s on %s",
            card.name,
            card.sha256[:12],
            tensor_path,
            torch_device,
        )
        return loaded


def _no_default_model(expected: Path) -> WeightsError:
    return WeightsError(
        f"no default model is bundled with this installation (expected {expected}). "
        "Train one on simulated data (radiogal simulate, then radiogal train; see "
        "training/README.md) and pass it with --model PATH (CLI) or "
        "model='PATH.safetensors' (Python)."
    )


def clear_model_cache() -> None:
    """Forget every model loaded by :func:`load_model` in this process."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()


def resolve_model(model: Any, config: InferenceConfig) -> LoadedModel:
    """The :class:`LoadedModel` a ``model=`` argument names.

    Parameters
    ----------
    model : None, path-like or LoadedModel
        ``None`` = the bundled default; a path is loaded with :func:`load_model` on
        ``config.device`` (cached); a ``LoadedModel`` is returned as it is.
    config : InferenceConfig

    Returns
    -------
    LoadedModel

    Raises
    ------
    TypeError
        For any other kind of value.
    WeightsError
        As :func:`load_model`.
    """
    if isinstance(model, LoadedModel):
        return model
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_model(model, device=config.device)
    raise TypeError(
        f"model must be None (the bundled default), a weights path or a LoadedModel; got "
        f"{type(model).__name__}. Save a network with models.save_weights first."
    )


@dataclass(frozen=True)
class ModelChoice:
    """The bundled model that fits an image, and why.

    Attributes
    ----------
    path : Path
        Its ``NAME.safetensors``.
    name : str
        Its card name.
    reason : str
        One sentence for the user (CLI line, napari notification).
    """

    path: Path
    name: str
    reason: str


def choose_bundled_model(
    radio: Any,
    *,
    has_infrared: bool,
    beam: tuple[float, ...] | None = None,
    measure: bool = True,
) -> ModelChoice:
    """The bundled model whose training geometry and inputs fit this image best.

    The rule, in order:

    1. models whose training range of pixels per beam contains the image's (no
       resampling needed), else the one nearest in log pixels per beam;
    2. among those, a model whose input channels the image fills: a model with an ``ir``
       channel when an infrared image is given, a radio-only model when none is (a model
       trained with infrared and run without it sees a channel of zeros it never saw);
    3. the default model on a tie, and for images without a sky geometry (bare arrays,
       unknown beam).

    E.g. a FIRST cut-out (1.8"/px, 5.4" beam: 3 px per beam) without infrared gets the FIRST
    model; an EMU cut-out with its WISE image, or without it, gets the default model.

    Parameters
    ----------
    radio : RadioImage or ndarray
        The radio image (its header, WCS or beam decide; a bare array gets the default).
    has_infrared : bool
        Whether an infrared image comes with it.
    beam : tuple of float, optional
        The user's beam (arcsec, arcsec, degrees), as ``InferenceConfig.beam``.
    measure : bool
        Allow measuring the beam from the noise when neither the header nor a survey preset
        gives it (whole-image FFTs: seconds for a large mosaic). False for a quick answer
        on a GUI thread; such an image then gets the default.

    Returns
    -------
    ModelChoice

    Raises
    ------
    WeightsError
        No default model is bundled with this installation.
    """
    import math
    import warnings

    from napari_radiogal.errors import BeamWarning
    from napari_radiogal.io.beam import resolve_beam
    from napari_radiogal.models.weights import bundled_weights_dir, default_weights_path, read_card

    default = default_weights_path()
    if not default.is_file():
        raise _no_default_model(default)
    paths = sorted({default, *bundled_weights_dir().glob("*.safetensors")})
    cards = {p: read_card(p) for p in paths}

    def fallback(why: str) -> ModelChoice:
        return ModelChoice(default, cards[default].name, why)

    if len(cards) == 1:
        return fallback("the only bundled model")
    ppb = None
    if any(getattr(radio, k, None) is not None for k in ("header", "wcs", "beam")) or beam:
        with warnings.catch_warnings():  # the plan warns once about the beam, later
            warnings.simplefilter("ignore", BeamWarning)
            choice = resolve_beam(radio, user=beam or None, measure=measure)
        if choice.source != "unknown":
            ppb = choice.pixels_per_beam(getattr(radio, "pixel_scale_arcsec", None))
    if ppb is None:
        return fallback("the default model (the image has no known beam and pixel scale)")

    def score(path: Path) -> tuple[float, int, int]:
        geometry = cards[path].model_geometry
        lo, hi = geometry.pixels_per_beam_range
        distance = 0.0 if lo <= ppb <= hi else min(abs(math.log(ppb / lo)), abs(math.log(ppb / hi)))
        uses_ir = "ir" in cards[path].preprocess.channels
        return (round(distance, 3), int(uses_ir != has_infrared), int(path != default))

    best = min(paths, key=score)
    geometry = cards[best].model_geometry
    inputs = "radio and infrared" if has_infrared else "radio only"
    return ModelChoice(
        best,
        cards[best].name,
        f"{cards[best].name}: trained at {geometry.pixels_per_beam_range[0]:.1f}-"
        f"{geometry.pixels_per_beam_range[1]:.1f} px per beam, the image has {ppb:.1f} "
        f"({inputs})",
    )
