"""From radio (and infrared) images to instances: :func:`segment` and :func:`segment_batch`.

The steps (ALGORITHM.md sections 5 and 8, with DESIGN decisions 2-7):

1. **prepare**: IR reprojected onto the radio grid, the paper's pre-processing
   (:func:`napari_radiogal.preprocess.preprocess`) with the parameters of the weights card.
2. **network**: at scale 1 one backbone pass per image and its mirror gives the class
   logits, the CAMs, the boundary map and the displacement field (decision 2); at the other
   scales only CAMs. Images are batched (``batch_size``), mirrors ride in the same batch.
   CAMs are summed on the stride-4 grid (aligned: a stride-16 cell covers 16 input pixels).
3. **instances**: classes from the classifier's sigmoid probabilities (decision 4); CAMs
   max-normalised per class; centroid refinement along the displacement field and
   clustering; one map per (class, cluster), times the pre-processed radio when
   ``radio_weighting``.
4. **random walk**: ``(maps * (1 - boundary)) @ T**256`` as 256 sparse steps, all images
   of a batch in one block-diagonal matrix (decision 3).
5. **masks and hosts**: maps upsampled to pixels and weighted by the class probability,
   per-pixel argmax against a background score, one whole mask per (class, cluster)
   (decision 5), score = class probability x propagated CAM peak (decision 6), one host per
   instance (decision 7, :mod:`napari_radiogal.inference.hosts`).

Everything is a pure function of (image arrays, :class:`InferenceConfig`, weights file):
:func:`load_model` caches loaded weights per process, so a Dask ``map`` over a catalogue
only needs to call :func:`segment` with ``model=PATH`` in each task.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.errors import InputImageError, InputImageWarning, RadiogalError, WeightsError
from napari_radiogal.inference import hosts as _hosts
from napari_radiogal.inference import instances as _inst
from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.inference.prediction import Prediction
from napari_radiogal.inference.random_walk import propagate_batch

__all__ = [
    "InferenceCancelled",
    "LoadedModel",
    "ImageInput",
    "load_model",
    "clear_model_cache",
    "segment",
    "segment_batch",
    "STAGES",
]

log = logging.getLogger(__name__)

#: The stages reported through ``progress`` (per batch), in order.
STAGES = ("prepare", "network", "instances", "random walk", "masks and hosts")

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


class InferenceCancelled(RadiogalError):
    """Raised by :func:`segment` / :func:`segment_batch` when ``cancel()`` returned True."""


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------
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
    """

    network: Any
    card: Any
    device: Any
    path: Path | None = None

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
            "training": _jsonable(self.card.training),
            "version": self.card.version,
        }


_MODEL_CACHE: dict[tuple, LoadedModel] = {}
_MODEL_CACHE_LOCK = threading.Lock()


def load_model(path: str | os.PathLike | None = None, *, device: Any = "auto") -> LoadedModel:
    """Load (or fetch from this process's cache) a verified model.

    Parameters
    ----------
    path : path-like, optional
        ``NAME``, ``NAME.safetensors`` or ``NAME.json``; ``None`` = the bundled default
        model (:func:`napari_radiogal.models.default_weights_path`).
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
    from napari_radiogal.models.weights import default_weights_path, load_weights, weights_paths

    torch_device = resolve_device(device)
    if path is None:
        tensor_path = default_weights_path()
        if not tensor_path.is_file():
            raise WeightsError(
                f"no default model is bundled with this installation (expected {tensor_path}). "
                "Train one on simulated data (radiogal simulate, then radiogal train; see "
                "training/README.md) and pass it with --model PATH (CLI) or "
                "model='PATH.safetensors' (Python)."
            )
    else:
        tensor_path, _ = weights_paths(path)
        if not tensor_path.is_file():
            raise WeightsError(
                f"weights file {tensor_path} not found; pass the NAME.safetensors written by "
                "radiogal train (its NAME.json card must sit beside it)."
            )
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


def clear_model_cache() -> None:
    """Forget every model loaded by :func:`load_model` in this process."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()


def _resolve_model(model: Any, config: InferenceConfig) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_model(model, device=config.device)
    raise TypeError(
        f"model must be None (the bundled default), a weights path or a LoadedModel; got "
        f"{type(model).__name__}. Save a network with models.save_weights first."
    )


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
@dataclass
class ImageInput:
    """One image for :func:`segment_batch`, with what should travel into its prediction.

    Parameters
    ----------
    radio : RadioImage or ndarray (H, W)
        Jy/beam, ``(row, col)``; NaN = blanked.
    infrared : InfraredImage or ndarray (H, W), optional
        An :class:`~napari_radiogal.io.fits.InfraredImage` on any grid (reprojected onto
        the radio one), or an array already on the radio grid.
    image_id : int, optional
        COCO image id of the prediction (default: position in the batch, from 1).
    file_name, radio_file, ir_file : str, optional
        Copied into the prediction's :class:`~napari_radiogal.annotations.ImageRecord`
        (default: the radio / IR file names, when the images came from files).
    class_ids : sequence of int, optional
        COCO category ids present on the image; used only with ``oracle_classes``.
    """

    radio: Any
    infrared: Any = None
    image_id: int | None = None
    file_name: str | None = None
    radio_file: str | None = None
    ir_file: str | None = None
    class_ids: Sequence[int] | None = None


#: File suffixes ``inputs_from_coco`` accepts as FITS radio images.
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".gz", ".fz")


def inputs_from_coco(json_path: str | os.PathLike, dataset: Any = None) -> Iterator[ImageInput]:
    """One :class:`ImageInput` per image of a COCO file, read lazily from its FITS files.

    Parameters
    ----------
    json_path : path
        The COCO file; relative image paths resolve against its data set root
        (:func:`napari_radiogal.io.coco.dataset_root`).
    dataset : CocoDataset, optional
        The file already read (default: read it here).

    Yields
    ------
    ImageInput
        With the image's id, file names and the category ids of its annotations (for the
        oracle-class protocol). Files are opened only when the item is reached, so a whole
        survey never sits in memory.

    Raises
    ------
    CocoFormatError
        If an image names no FITS radio file.
    """
    from napari_radiogal.errors import CocoFormatError
    from napari_radiogal.io.coco import read_coco, resolve_image_path
    from napari_radiogal.io.fits import read_infrared, read_radio

    dataset = read_coco(json_path) if dataset is None else dataset
    classes_of: dict[int, list[int]] = {}
    for a in dataset.instances:
        classes_of.setdefault(a.image_id, []).append(a.category_id)
    for im in dataset.images:
        radio_path = resolve_image_path(json_path, im, "radio_file") or resolve_image_path(
            json_path, im, "file_name"
        )
        if radio_path is None or radio_path.suffix.lower() not in _FITS_SUFFIXES:
            raise CocoFormatError(
                f"image {im.id} ({im.file_name}) names no FITS radio file; predict needs "
                "radio_file (or file_name) pointing at a FITS image.",
                path=json_path,
                field=f"images[id={im.id}]",
            )
        ir_path = resolve_image_path(json_path, im, "ir_file")
        yield ImageInput(
            radio=read_radio(radio_path),
            infrared=read_infrared(ir_path) if ir_path is not None else None,
            image_id=im.id,
            file_name=im.file_name,
            radio_file=im.radio_file,
            ir_file=im.ir_file,
            class_ids=classes_of.get(im.id, []),
        )


@dataclass
class _Prepared:
    """An input after step 1 (everything the later steps need)."""

    source: ImageInput
    image_id: int
    radio: np.ndarray  # float32 (H, W), Jy/beam
    ir: np.ndarray | None  # on the radio grid, or None
    wcs: Any
    beam: tuple[float, float, float] | None
    pixel_scale_arcsec: float | None
    unit: str
    inputs: dict[str, Any]
    preprocessed: Any = None  # Preprocessed, None when empty
    empty_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _file_sha256(path: Path) -> str | None:
    """sha256 of an input file (cached by path, size and mtime: mosaics are hashed once)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _SHA_CACHE.get(key)
    if digest is None:
        from napari_radiogal.io.coco import file_sha256

        digest = file_sha256(path)
        _SHA_CACHE[key] = digest
    return digest


_SHA_CACHE: dict[tuple, str] = {}


def _prepare(item: ImageInput, image_id: int, lm: LoadedModel) -> _Prepared:
    """Step 1 for one image: arrays, IR on the radio grid, checks, pre-processing."""
    from napari_radiogal.preprocess import preprocess

    radio = item.radio
    wcs = getattr(radio, "wcs", None)
    beam = getattr(radio, "beam", None)
    if beam is not None:
        beam = tuple(float(b) for b in beam)
    pixel_scale = getattr(radio, "pixel_scale_arcsec", None)
    unit = getattr(radio, "unit", "Jy/beam") or "Jy/beam"
    radio_path = getattr(radio, "path", None)
    data = np.asarray(getattr(radio, "data", radio))
    if data.ndim != 2:
        squeezed = np.squeeze(data)
        if squeezed.ndim != 2:
            raise InputImageError(
                f"the radio image must be 2-D (rows, cols); got shape {data.shape}. Read FITS "
                "files with napari_radiogal.io.fits.read_radio, which drops degenerate axes."
            )
        data = squeezed
    data = np.array(data, dtype=np.float32)  # a private copy (memory-mapped input is read once)
    h, w = data.shape
    minimum = lm.min_image_size
    if min(h, w) < minimum:
        raise InputImageError(
            f"the radio image is {h} x {w} pixels; the network needs at least "
            f"{minimum} x {minimum} (two cells of its output stride "
            f"{lm.card.architecture.output_stride}). Cut out a larger region."
        )

    inputs: dict[str, Any] = {}
    if radio_path is not None:
        inputs["radio"] = {
            "role": "radio",
            "path": str(radio_path),
            "sha256": _file_sha256(Path(radio_path)),
        }
    ir, ir_path = _infrared_on_grid(item.infrared, radio, data.shape, image_id)
    if ir_path is not None:
        inputs["ir"] = {"role": "ir", "path": str(ir_path), "sha256": _file_sha256(Path(ir_path))}

    prepared = _Prepared(
        source=item,
        image_id=image_id,
        radio=data,
        ir=ir,
        wcs=wcs,
        beam=beam,
        pixel_scale_arcsec=pixel_scale,
        unit=unit,
        inputs=inputs,
    )
    finite = np.isfinite(data)
    if not finite.any():
        prepared.empty_reason = "the radio image has no finite pixel (all NaN / blanked)"
    elif not np.any(data[finite] != 0):
        prepared.empty_reason = "the radio image is zero everywhere"
    elif np.ptp(data[finite]) == 0:
        prepared.empty_reason = "the radio image is constant"
    if prepared.empty_reason is not None:
        warnings.warn(
            f"image {image_id}: {prepared.empty_reason}; returning an empty prediction "
            "(no instances).",
            InputImageWarning,
            stacklevel=4,
        )
        return prepared
    prepared.preprocessed = preprocess(data, ir, lm.card.preprocess)
    return prepared


def _infrared_on_grid(infrared: Any, radio: Any, shape: tuple[int, int], image_id: int):
    """The IR data on the radio grid (or None) and the IR file path (or None)."""
    if infrared is None:
        return None, None
    ir_path = getattr(infrared, "path", None)
    if isinstance(infrared, np.ndarray) or not hasattr(infrared, "data"):
        ir = np.asarray(infrared, dtype=np.float32)
        if ir.shape != shape:
            raise InputImageError(
                f"the infrared array has shape {ir.shape} but the radio image has {shape}; "
                "pass an InfraredImage with a WCS (it is reprojected) or reproject it first "
                "with napari_radiogal.io.align.reproject_to_grid."
            )
        return ir, ir_path
    radio_wcs = getattr(radio, "wcs", None)
    ir_wcs = getattr(infrared, "wcs", None)
    if tuple(infrared.data.shape) == tuple(shape) and (
        ir_wcs is None or radio_wcs is None or _same_grid(ir_wcs, radio_wcs)
    ):
        if ir_wcs is None or radio_wcs is None:
            log.debug(
                "image %s: IR and radio have the same shape and no WCS to compare; "
                "assuming the IR is already on the radio grid",
                image_id,
            )
        return np.asarray(infrared.data, dtype=np.float32), ir_path
    if radio_wcs is None or ir_wcs is None:
        raise InputImageError(
            f"the infrared image ({infrared.data.shape}) is not on the radio grid ({shape}) and "
            "one of them has no WCS, so it cannot be reprojected; give both a celestial WCS "
            "or pass an IR array already on the radio grid."
        )
    from napari_radiogal.io.align import reproject_to_grid

    try:
        on_grid = reproject_to_grid(infrared, radio)
    except InputImageError as exc:
        warnings.warn(
            f"image {image_id}: {exc} Segmenting from radio alone (hosts from the "
            "displacement field).",
            InputImageWarning,
            stacklevel=5,
        )
        return None, None
    return np.asarray(on_grid.data, dtype=np.float32), ir_path


def _same_grid(a, b) -> bool:
    try:
        return bool(a.wcs.compare(b.wcs, tolerance=1e-9))
    except (AttributeError, ValueError, TypeError):
        return False


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------
def segment(
    radio: Any,
    infrared: Any = None,
    *,
    model: Any = None,
    config: InferenceConfig = InferenceConfig(),  # noqa: B008 - frozen, safe as a default
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    class_ids: Sequence[int] | None = None,
    image_id: int = 1,
    file_name: str | None = None,
) -> Prediction:
    """Find the radio galaxies of one image: masks, classes, scores and hosts.

    Parameters
    ----------
    radio : RadioImage or ndarray, shape (H, W)
        Radio surface brightness in Jy/beam, ``(row, col)``, NaN = blanked. A
        :class:`~napari_radiogal.io.fits.RadioImage` brings its WCS (host RA/Dec, sky
        regions), beam (integrated fluxes) and file (checksum in the provenance).
    infrared : InfraredImage or ndarray, shape (H, W), optional
        WISE W1-like image: an ``InfraredImage`` on its own grid (reprojected onto the radio
        grid) or an array already on the radio grid. Without it, hosts come from the
        displacement field (``extra["host_from"] == "displacement"``).
    model : path or LoadedModel, optional
        Weights (``NAME.safetensors`` with its card) or a :func:`load_model` result;
        ``None`` loads the bundled default.
    config : InferenceConfig
    progress : callable(done, total), optional
        Called after each stage (:data:`STAGES`).
    cancel : callable() -> bool, optional
        Checked between stages; when it returns True, :class:`InferenceCancelled` is raised.
    class_ids : sequence of int, optional
        The image's COCO category ids, used only with ``config.oracle_classes``.
    image_id : int
        COCO id of the prediction's image record.
    file_name : str, optional
        ``file_name`` of the image record (default: the radio file's name).

    Returns
    -------
    Prediction

    Raises
    ------
    InputImageError
        Image not 2-D, smaller than the network's minimum, or IR of another shape without WCS.
    WeightsError
        No usable weights.
    InferenceCancelled

    Warns
    -----
    InputImageWarning
        All-NaN / all-zero radio (empty prediction), IR not overlapping (radio alone).
    """
    item = ImageInput(
        radio=radio, infrared=infrared, image_id=image_id, file_name=file_name, class_ids=class_ids
    )
    out = list(segment_batch([item], model=model, config=config, progress=progress, cancel=cancel))
    return out[0]


def segment_batch(
    images: Iterable[Any],
    *,
    model: Any = None,
    config: InferenceConfig = InferenceConfig(),  # noqa: B008 - frozen, safe as a default
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    total: int | None = None,
) -> Iterator[Prediction]:
    """:func:`segment` over many images with one loaded model, batching the network passes.

    Parameters
    ----------
    images : iterable
        Items are :class:`ImageInput`, ``(radio, infrared)`` tuples, or a bare radio
        image/array. Consumed lazily: a generator that reads files keeps only one batch in
        memory.
    model, config, cancel
        As in :func:`segment`; ``config.batch_size`` images go through the network together
        (consecutive images of one shape).
    progress : callable(done, total), optional
        Called after every stage of every batch; ``done`` and ``total`` count
        image-stages (``total = n_images * len(STAGES)``, or 0 when the number of images is
        unknown).
    total : int, optional
        Number of images, when ``images`` has no ``len``.

    Yields
    ------
    Prediction
        In input order.
    """
    lm = _resolve_model(model, config)
    if total is None and hasattr(images, "__len__"):
        total = len(images)  # type: ignore[arg-type]
    total_units = (total or 0) * len(STAGES)
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, max(total_units, done) if total_units else 0)

    def check_cancel() -> None:
        if cancel is not None and cancel():
            raise InferenceCancelled("inference cancelled by the caller")

    base_provenance = _base_provenance(lm, config)
    pending: list[ImageInput] = []
    position = 0
    for raw in images:
        position += 1
        item = _as_input(raw, position)
        if pending and (
            len(pending) >= config.batch_size
            or _shape_of(item.radio) != _shape_of(pending[0].radio)
        ):
            yield from _run_batch(pending, lm, config, base_provenance, report, check_cancel)
            pending = []
        pending.append(item)
    if pending:
        yield from _run_batch(pending, lm, config, base_provenance, report, check_cancel)


def _as_input(raw: Any, position: int) -> ImageInput:
    if isinstance(raw, ImageInput):
        item = raw
    elif isinstance(raw, tuple):
        if len(raw) != 2:
            raise TypeError(f"image tuples must be (radio, infrared); got {len(raw)} items")
        item = ImageInput(radio=raw[0], infrared=raw[1])
    else:
        item = ImageInput(radio=raw)
    if item.image_id is None:
        item.image_id = position
    return item


def _shape_of(radio: Any) -> tuple[int, ...]:
    return tuple(np.shape(getattr(radio, "data", radio)))


def _base_provenance(lm: LoadedModel, config: InferenceConfig) -> dict[str, Any]:
    """The COCO ``info`` / catalogue ``meta`` shared by a run (``input_files`` is per image)."""
    from napari_radiogal.io.coco import provenance_info

    info = provenance_info(
        description="napari-radiogal predictions",
        parameters={"inference": config.to_dict(), "preprocess": lm.card.preprocess.to_dict()},
        device=str(lm.device),
    )
    info["model"] = lm.provenance()  # the card's full record, not only name and sha256
    return info


# --------------------------------------------------------------------------------------
# One batch
# --------------------------------------------------------------------------------------
def _run_batch(
    items: list[ImageInput],
    lm: LoadedModel,
    config: InferenceConfig,
    base_provenance: dict[str, Any],
    report: Callable[[int], None],
    check_cancel: Callable[[], None],
) -> list[Prediction]:
    n = len(items)
    clock = _StageClock(n)
    check_cancel()
    with clock("prepare"):
        prepared = [_prepare(item, int(item.image_id), lm) for item in items]
    report(n)
    work = [p for p in prepared if p.preprocessed is not None]

    check_cancel()
    with clock("network"):
        net = _network_outputs(lm, [p.preprocessed.channels for p in work], config)
    report(n)

    check_cancel()
    with clock("instances"):
        states = _instance_states(work, net, lm, config)
    report(n)

    check_cancel()
    with clock("random walk"):
        propagated = propagate_batch(
            [s.maps for s in states],
            [s.boundary for s in states],
            beta=config.beta,
            steps=config.random_walk_steps,
            radius=config.random_walk_radius,
            # sparse CSR products exist on CUDA and CPU (not on MPS)
            device=lm.device if lm.device.type == "cuda" else None,
        )
    report(n)

    check_cancel()
    with clock("masks and hosts"):
        results = {
            id(s.prepared): _masks_and_hosts(s, prop, lm, config)
            for s, prop in zip(states, propagated, strict=True)
        }
    report(n)

    predictions = []
    for p in prepared:
        state_instances = results.get(id(p))
        predictions.append(
            _assemble(
                p,
                state_instances,
                lm,
                config,
                base_provenance,
                clock.per_image(),
                net_state=_state_of(states, p),
            )
        )
    return predictions


class _StageClock:
    """Wall-clock milliseconds per stage of a batch, shared equally by its images."""

    def __init__(self, n_images: int) -> None:
        self.n = max(n_images, 1)
        self.ms: dict[str, float] = {}

    def __call__(self, name: str):
        clock = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                clock.ms[name] = (time.perf_counter() - self.t0) * 1e3
                return False

        return _Timer()

    def per_image(self) -> dict[str, float]:
        return {k: v / self.n for k, v in self.ms.items()}


# ---- step 2: the network ----------------------------------------------------------------
def _network_outputs(lm: LoadedModel, channels: list[np.ndarray], config: InferenceConfig):
    """Logits, summed multi-scale CAMs, boundary and displacement of a batch (numpy).

    Returns
    -------
    dict of ndarray
        ``logits`` (B, K) averaged over the mirror; ``cams`` (B, K, h4, w4) summed over scales
        and mirrors; ``boundary`` (B, h4, w4), mirror-averaged in logit space as the authors;
        ``displacement`` (B, 2, h4, w4) of the un-mirrored image. ``h4 = ceil(H / 4)``.
    """
    import torch
    import torch.nn.functional as F

    if not channels:
        return None
    network, device = lm.network, lm.device
    x_all = torch.from_numpy(np.stack(channels)).to(device)
    b, _, h, w = x_all.shape
    h4, w4 = -(-h // 4), -(-w // 4)
    k = lm.card.architecture.num_classes
    cams = torch.zeros((b, k, h4, w4), dtype=torch.float32, device=device)
    logits = boundary = displacement = None
    min_side = lm.min_image_size // 2
    with torch.inference_mode():
        for scale in config.scales:
            size = (max(round(h * scale), min_side), max(round(w * scale), min_side))
            chunk = config.batch_size if scale <= 1 else max(1, int(config.batch_size / scale**2))
            for start in range(0, b, chunk):
                x = x_all[start : start + chunk]
                if size != (h, w):
                    x = F.interpolate(
                        x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1
                    )
                nb = x.shape[0]
                batch = torch.cat([x, torch.flip(x, dims=(3,))]) if config.flip else x
                if device.type == "cpu":
                    batch = batch.contiguous(memory_format=torch.channels_last)
                if scale == 1.0:
                    out = network.infer(batch)
                    cam = out["cams"]
                    logits = _collect(logits, _mirror_mean(out["logits"], nb, config.flip))
                    boundary = _collect(
                        boundary, _mirror_boundary(out["boundary"], nb, config.flip, (h4, w4))
                    )
                    displacement = _collect(displacement, _fit(out["displacement"][:nb], (h4, w4)))
                else:
                    cam = network.cams(batch)
                if config.flip:
                    cam = cam[:nb] + torch.flip(cam[nb:], dims=(3,))
                # a stride-16 cell covers 16 input pixels = 16 * h / size[0] image pixels:
                # resize by exactly that many stride-4 cells so cell centres stay aligned
                factor = (4.0 * h / size[0], 4.0 * w / size[1])
                cam = F.interpolate(
                    cam.float(),
                    scale_factor=factor,
                    mode="bilinear",
                    align_corners=False,
                    recompute_scale_factor=False,
                )
                cams[start : start + nb] += _fit(cam, (h4, w4))
    return {
        "logits": logits.float().cpu().numpy(),
        "cams": cams.cpu().numpy(),
        "boundary": boundary.float().cpu().numpy()[:, 0],
        "displacement": displacement.float().cpu().numpy(),
    }


def _collect(acc, part):
    import torch

    return part if acc is None else torch.cat([acc, part])


def _mirror_mean(t, nb: int, flip: bool):
    return (t[:nb] + t[nb:]) / 2 if flip else t


def _mirror_boundary(b, nb: int, flip: bool, shape):
    import torch

    b = _fit(b, shape)
    if not flip:
        return b
    logit = torch.logit(b.clamp(1e-6, 1 - 1e-6))
    return torch.sigmoid((logit[:nb] + torch.flip(logit[nb:], dims=(3,))) / 2)


def _fit(t, shape):
    """Crop (or edge-pad) the last two axes of a tensor to ``shape``."""
    import torch.nn.functional as F

    t = t[..., : shape[0], : shape[1]]
    pad_h, pad_w = shape[0] - t.shape[-2], shape[1] - t.shape[-1]
    if pad_h > 0 or pad_w > 0:
        t = F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")
    return t


# ---- step 3: classes, clusters, instance maps ---------------------------------------------
@dataclass
class _State:
    prepared: _Prepared
    probabilities: np.ndarray  # (K,)
    class_weight: np.ndarray  # (K,) multiplies the score maps (probability, or 1 for oracle)
    classes: np.ndarray  # selected class indices
    cams: np.ndarray  # (K, h4, w4) max-normalised
    boundary: np.ndarray  # (h4, w4)
    centroids: np.ndarray  # (2, h4, w4)
    clusters: np.ndarray  # (h4, w4)
    maps: np.ndarray  # (m, h4, w4)
    keys: np.ndarray  # (m, 2) (class index, cluster id)


def _instance_states(work: list[_Prepared], net, lm: LoadedModel, config: InferenceConfig):
    if not work:
        return []
    scheme = lm.scheme
    probabilities = 1.0 / (1.0 + np.exp(-net["logits"].astype(np.float64)))
    cams = net["cams"]
    cams = cams / (cams.max(axis=(2, 3), keepdims=True) + 1e-5)
    centroids = _inst.refine_centroids(net["displacement"], config.centroid_iterations)
    states = []
    for i, p in enumerate(work):
        probs = probabilities[i]
        classes, weight = _select_classes(probs, p.source.class_ids, scheme, config)
        clusters = _inst.cluster_centroids(
            centroids[i], net["displacement"][i], config.displacement_threshold
        )
        radio_weight = _pool4(_radio_scaled(p), cams.shape[2:]) if config.radio_weighting else None
        maps, keys = _inst.instance_maps(cams[i], classes, clusters, radio_weight)
        if config.background_mode == "fixed" and len(maps):
            # the walk only averages: a map whose weighted peak is below the background
            # score cannot win a pixel, so it need not be propagated
            peak = maps.reshape(len(maps), -1).max(axis=1) * weight[keys[:, 0]]
            keep = peak > config.background_threshold
            maps, keys = maps[keep], keys[keep]
        states.append(
            _State(
                prepared=p,
                probabilities=probs,
                class_weight=weight,
                classes=classes,
                cams=cams[i],
                boundary=net["boundary"][i],
                centroids=centroids[i],
                clusters=clusters,
                maps=maps,
                keys=keys,
            )
        )
    return states


def _select_classes(probs: np.ndarray, class_ids, scheme, config: InferenceConfig):
    """Class indices to segment and the weight of each class in the score maps."""
    from napari_radiogal.errors import ConfigError

    if config.oracle_classes:
        if class_ids is None:
            raise ConfigError(
                "oracle_classes=True needs the image's class ids (class_ids=... or "
                "ImageInput.class_ids; radiogal predict --oracle-classes reads them from the "
                "COCO file). It exists only to compare with the paper's protocol."
            )
        try:
            classes = np.array(sorted({scheme.index_of_id(c) for c in class_ids}), dtype=int)
        except KeyError as exc:
            raise ConfigError(f"oracle class ids {list(class_ids)}: {exc}") from None
        return classes, np.ones(len(probs))
    classes = np.flatnonzero(probs >= config.class_threshold)
    if classes.size == 0 and config.always_top_class:
        classes = np.array([int(np.argmax(probs))])
    return classes, probs.astype(np.float64)


def _radio_scaled(prepared: _Prepared) -> np.ndarray:
    """The pre-processed radio channel (rebuilt when the model does not take it)."""
    pre = prepared.preprocessed
    if "radio" in pre.config.channels:
        return pre.channel("radio")
    from napari_radiogal.preprocess import scale_islands

    return scale_islands(
        np.where(pre.radio_blank, 0.0, prepared.radio),
        pre.radio_islands,
        pre.radio_threshold,
        epsilon=pre.config.epsilon,
    )


def _ir_scaled(prepared: _Prepared) -> np.ndarray | None:
    """The pre-processed IR on the radio grid (None without IR data)."""
    pre = prepared.preprocessed
    if prepared.ir is None or not np.isfinite(prepared.ir).any():
        return None
    if "ir" in pre.config.channels:
        return pre.channel("ir")
    from napari_radiogal.preprocess import scale_islands

    return scale_islands(
        np.where(pre.ir_blank, 0.0, prepared.ir),
        pre.ir_islands,
        pre.ir_threshold,
        epsilon=pre.config.epsilon,
    )


def _pool4(image: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """Area-average an ``(H, W)`` image onto the stride-4 grid (zero-padded to 4 x grid)."""
    h4, w4 = grid_shape
    padded = np.zeros((h4 * 4, w4 * 4), dtype=np.float32)
    h, w = image.shape
    padded[:h, :w] = np.nan_to_num(image)
    return padded.reshape(h4, 4, w4, 4).mean(axis=(1, 3))


def _upsample4(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear x4 from the stride-4 grid to pixels, cropped to ``shape`` (aligned centres)."""
    import torch
    import torch.nn.functional as F

    if len(maps) == 0:
        return np.zeros((0, *shape), np.float32)
    from napari_radiogal.inference.random_walk import _torch_threads

    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    # a few maps of 53 x 53: OpenMP fork/join would cost more than a second thread gains
    with _torch_threads(1):
        up = F.interpolate(t, scale_factor=4, mode="bilinear", align_corners=False)[0]
    return up[:, : shape[0], : shape[1]].numpy()


# ---- step 5: masks, scores and hosts ------------------------------------------------------
def _masks_and_hosts(
    state: _State, propagated: np.ndarray, lm: LoadedModel, config: InferenceConfig
) -> list[Instance]:
    from skimage.morphology import convex_hull_image

    p = state.prepared
    shape = p.radio.shape
    if len(propagated) == 0:
        return []
    weights = state.class_weight[state.keys[:, 0]].astype(np.float32)
    scores = _upsample4(propagated, shape) * weights[:, None, None]
    if config.background_mode == "relative":
        background = config.background_threshold * float(scores.max())
    else:
        background = config.background_threshold
    finite = np.isfinite(p.radio)
    islands = p.preprocessed.radio_islands
    valid = finite if config.mask_support == "walk" else finite & (islands > 0)
    label = _inst.label_from_scores(scores, background, valid=valid)
    if config.mask_support == "whole_islands":
        label = _inst.assign_whole_islands(
            label, np.where(finite, islands, 0), config.island_vote_fraction
        )
    ir = _ir_scaled(p)
    candidates = []
    for index in np.unique(label[label > 0]) - 1:
        mask, n_parts = _inst.remove_fragments(label == index + 1, config.min_fragment_fraction)
        area = int(mask.sum())
        if area == 0 or area < config.min_instance_pixels:
            continue
        score = float(scores[index][mask].max())
        if score < config.score_threshold:
            continue
        candidates.append((index, mask, n_parts, score))
    if not candidates:
        return []
    # instance CAMs (un-weighted, un-propagated, as the paper's host rule) at pixel scale
    cluster_cams = np.stack(
        [
            state.cams[state.keys[i, 0]] * (state.clusters == state.keys[i, 1])
            for i, *_ in candidates
        ]
    )
    cluster_cams = _upsample4(cluster_cams, shape)
    out = []
    for (index, mask, n_parts, score), inst_cam in zip(candidates, cluster_cams, strict=True):
        k, cluster = (int(v) for v in state.keys[index])
        cells = _cells_of(mask, state.clusters == cluster)
        centre = _hosts.displacement_centre(state.centroids, cells)
        centre = _clip_xy(centre, shape)
        if ir is not None:
            region = mask
            if config.host_region == "hull" and n_parts > 1:
                # the host of detached lobes may sit where there is no radio emission
                region = convex_hull_image(mask) & finite
            host = _hosts.ir_host(inst_cam, ir, region, subpixel=config.subpixel_host)
            host_from = "ir" if host is not None else None
        else:
            host, host_from = centre, "displacement"
        ra, dec = _hosts.sky_position(p.wcs, *host) if host is not None else (None, None)
        out.append(
            Instance.from_mask(
                mask,
                image_id=p.image_id,
                category_id=lm.scheme.id_of_index(k),
                score=score,
                host=host,
                host_ra=ra,
                host_dec=dec,
                extra={
                    "host_from": host_from,
                    "class_probability": float(state.probabilities[k]),
                    "n_components": int(n_parts),
                    "centre": None if centre is None else [float(centre[0]), float(centre[1])],
                },
            )
        )
    out.sort(key=lambda a: -a.score)
    for i, inst in enumerate(out, start=1):
        inst.id = i
    return out


def _cells_of(mask: np.ndarray, cluster_cells: np.ndarray) -> np.ndarray:
    """Grid cells of a cluster touched by a pixel mask (all the cluster's cells if none)."""
    h4, w4 = cluster_cells.shape
    padded = np.zeros((h4 * 4, w4 * 4), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    touched = padded.reshape(h4, 4, w4, 4).any(axis=(1, 3)) & cluster_cells
    return touched if touched.any() else cluster_cells


def _clip_xy(xy, shape):
    if xy is None:
        return None
    return (float(np.clip(xy[0], 0, shape[1] - 1)), float(np.clip(xy[1], 0, shape[0] - 1)))


def _state_of(states: list[_State], prepared: _Prepared) -> _State | None:
    for s in states:
        if s.prepared is prepared:
            return s
    return None


# ---- assembling the Prediction -------------------------------------------------------------
def _assemble(
    p: _Prepared,
    instances: list[Instance] | None,
    lm: LoadedModel,
    config: InferenceConfig,
    base_provenance: dict[str, Any],
    timings: dict[str, float],
    net_state: _State | None,
) -> Prediction:
    item = p.source
    h, w = p.radio.shape
    radio_path = p.inputs.get("radio", {}).get("path")
    ir_path = p.inputs.get("ir", {}).get("path")
    file_name = item.file_name or (Path(radio_path).name if radio_path else f"image_{p.image_id}")
    k = lm.scheme.num_classes
    probabilities = net_state.probabilities if net_state is not None else np.full(k, np.nan)
    extra: dict[str, Any] = {}
    if np.isfinite(probabilities).all():
        extra["class_probabilities"] = {
            name: float(v) for name, v in zip(lm.scheme.names, probabilities, strict=True)
        }
    for key in ("radio", "ir"):
        sha = p.inputs.get(key, {}).get("sha256")
        if sha:
            extra[f"{key}_sha256"] = sha
    if p.empty_reason:
        extra["empty_reason"] = p.empty_reason
    noise = None if p.preprocessed is None else float(p.preprocessed.noise_sigma)
    record = ImageRecord(
        id=int(p.image_id),
        file_name=file_name,
        height=int(h),
        width=int(w),
        radio_file=item.radio_file or radio_path,
        ir_file=item.ir_file or ir_path,
        radio_wcs=None if p.wcs is None else p.wcs.to_header_string(relax=True),
        beam=p.beam,
        noise_sigma=noise if noise is not None and np.isfinite(noise) else None,
        extra=extra,
    )
    provenance = dict(base_provenance)
    provenance["input_files"] = [dict(v, image_id=int(p.image_id)) for v in p.inputs.values()]
    maps = {}
    if net_state is not None:
        maps = {
            "cams": net_state.cams,
            "boundary": net_state.boundary,
            "clusters": net_state.clusters,
        }
    return Prediction(
        image=record,
        instances=list(instances or []),
        scheme=lm.scheme,
        class_probabilities=np.asarray(probabilities, dtype=np.float64),
        wcs=p.wcs,
        beam=p.beam,
        pixel_scale_arcsec=p.pixel_scale_arcsec,
        radio=p.radio,
        radio_unit=p.unit,
        provenance=provenance,
        timings=timings,
        maps=maps,
    )


def _jsonable(value: Any) -> Any:
    """Recursively turn numpy scalars / tuples / paths into JSON-ready values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
