"""From radio (and infrared) images to instances: :func:`segment` and :func:`segment_batch`.

The stages (:data:`STAGES`; ALGORITHM.md sections 5 and 8, with DESIGN decisions 2-7):

1. **prepare** (:mod:`~napari_radiogal.inference.inputs`): IR reprojected onto the radio
   grid, the paper's pre-processing (:func:`napari_radiogal.preprocess.preprocess`) with the
   parameters of the weights card.
2. **network** (:mod:`~napari_radiogal.inference.network`): at scale 1 one backbone pass
   per image and its mirror gives the class logits, the CAMs, the boundary map and the
   displacement field (decision 2); at the other scales only CAMs. Images are batched
   (``batch_size``), mirrors ride in the same batch.
   CAMs are summed on the stride-4 grid (:mod:`~napari_radiogal.inference.grid`; aligned: a
   stride-16 cell covers 16 input pixels).
3. **instances**: classes from the classifier's sigmoid probabilities (decision 4; the
   softmax of the image classifier instead when the model has one, :func:`class_probabilities`); CAMs
   max-normalised per class; centroid refinement along the displacement field and
   clustering; one map per (class, cluster), times the pre-processed radio when
   ``radio_weighting``.
4. **random walk**: ``(maps * (1 - boundary)) @ T**256`` as 256 sparse steps, all images
   of a batch in one block-diagonal matrix (decision 3).
5. **masks and hosts**: maps upsampled to pixels and weighted by the class probability,
   per-pixel argmax against a background score, one whole mask per (class, cluster)
   (decision 5), score = class probability x propagated CAM peak (decision 6), one host per
   instance (decision 7, :mod:`napari_radiogal.inference.hosts`).

**Geometry** (:mod:`~napari_radiogal.inference.resolution`): before stage 1 every input is
planned against the model's training geometry (its weights card): an image whose pixels
per beam lie outside the model's range is resampled onto it, and one larger than the
model's cut-out runs as overlapping windows of the cut-out size. Each window goes through
the five stages as a cut-out of its own; the windows' detections are merged
(:func:`~napari_radiogal.inference.windows.merge_windows`) and mapped back onto the input's
own pixels and WCS. An input that needs neither runs exactly as before.

Everything is a pure function of (image arrays, :class:`InferenceConfig`, weights file):
:func:`~napari_radiogal.inference.model.load_model` caches loaded weights per process, so a
Dask ``map`` over a catalogue only needs to call :func:`segment` with ``model=PATH`` in each
task. ``network_step=`` and ``timer=`` let benchmarks memoise the network pass and time the
stages without touching this module's internals.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.ab_rule import is_resolved, measure_morphology
from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.errors import InferenceCancelled
from napari_radiogal.inference import hosts as _hosts
from napari_radiogal.inference import instances as _inst
from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.inference.grid import cells_of, clip_xy, pool4, upsample4
from napari_radiogal.inference.inputs import (
    ImageInput,
    PreparedImage,
    as_input,
    infrared_on_grid,
    input_files,
    is_lazy_image,
    open_fits_paths,
    prepare_input,
    radio_array,
)
from napari_radiogal.inference.model import LoadedModel, choose_bundled_model, resolve_model
from napari_radiogal.inference.network import network_outputs
from napari_radiogal.inference.prediction import Prediction
from napari_radiogal.inference.random_walk import propagate_batch
from napari_radiogal.inference.resolution import (
    InputPlan,
    check_memory,
    detection_to_input,
    plan_input,
    resampled_arrays,
)
from napari_radiogal.inference.timing import StageTimer
from napari_radiogal.inference.windows import WindowDetection, merge_windows, window_detection
from napari_radiogal.io.geometry import Window
from napari_radiogal.io.masks import encode_placed_mask
from napari_radiogal.models.config import HOST_HEAD_MARGIN_CELLS
from napari_radiogal.stats import brightness_centroid

__all__ = ["segment", "segment_batch", "STAGES", "NetworkStep"]

log = logging.getLogger(__name__)

#: The stages reported through ``progress`` (per batch), in order.
STAGES = ("prepare", "network", "instances", "random walk", "masks and hosts")

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]

#: ``network_step(lm, channels, config)``: the ``network`` stage, with the signature and
#: result of :func:`~napari_radiogal.inference.network.network_outputs`.
NetworkStep = Callable[[LoadedModel, list[np.ndarray], InferenceConfig], "dict | None"]


def segment(
    radio: Any,
    infrared: Any = None,
    *,
    model: Any = None,
    config: InferenceConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    class_ids: Sequence[int] | None = None,
    image_id: int = 1,
    file_name: str | None = None,
    network_step: NetworkStep | None = None,
    timer: StageTimer | None = None,
) -> Prediction:
    """Find the radio galaxies of one image: masks, classes, scores and hosts.

    Parameters
    ----------
    radio : RadioImage, path or ndarray, shape (H, W)
        Radio surface brightness in Jy/beam, ``(row, col)``, NaN = blanked. A
        :class:`~napari_radiogal.io.fits.RadioImage` (or a FITS path, read with
        :func:`~napari_radiogal.io.fits.read_radio`) brings its WCS (host RA/Dec, sky
        regions), beam (integrated fluxes) and file (checksum in the provenance).
    infrared : InfraredImage, path or ndarray, shape (H, W), optional
        WISE W1-like image: an ``InfraredImage`` (or a FITS path) on its own grid
        (reprojected onto the radio grid) or an array already on the radio grid. Without it, hosts come from the
        radio image by ``config.radio_host`` (the radio core, the mask's brightness-weighted
        centroid, or the displacement field; ``extra["host_from"]`` says which).
    model : path, str or LoadedModel, optional
        Weights (``NAME.safetensors`` with its card), a bundled model's name, or a
        :func:`load_model` result; ``None`` takes the bundled model that fits this image
        (:func:`~napari_radiogal.inference.model.choose_bundled_model`: its pixels per beam,
        and whether infrared is given; logged).
    config : InferenceConfig, optional
        Every setting of the run. ``None`` = the settings the model's card recommends over
        the library defaults (:meth:`LoadedModel.config`; e.g. a lower class threshold for
        the FIRST model); to change one of them and keep the rest, pass
        ``lm.config(class_threshold=0.3)``.
    progress : callable(done, total), optional
        Called after each stage (:data:`STAGES`).
    cancel : callable() -> bool, optional
        Checked between stages, between the batches of windows of a large image, inside
        the random walk and the merging of windows, so that a run stops within about a
        second of it returning True; then :class:`InferenceCancelled` is raised.
    class_ids : sequence of int, optional
        The image's COCO category ids, used only with ``config.oracle_classes``.
    image_id : int
        COCO id of the prediction's image record.
    file_name : str, optional
        ``file_name`` of the image record (default: the radio file's name).
    network_step : callable(lm, channels, config) -> dict, optional
        Replaces :func:`~napari_radiogal.inference.network.network_outputs` (same arguments
        and result), e.g. to memoise the network pass while varying later settings.
    timer : StageTimer, optional
        Accumulates the wall-clock and CPU time of every stage.

    Returns
    -------
    Prediction

    Raises
    ------
    InputImageError
        Image not 2-D, smaller than the network's minimum, or IR of another shape without WCS.
    MemoryBudgetError
        The image would need more than ``config.memory_budget_gb`` (an InputImageError;
        raised before any pixel is read).
    WeightsError
        No usable weights.
    InferenceCancelled

    Warns
    -----
    InputImageWarning
        All-NaN / all-zero radio (empty prediction), IR not overlapping (radio alone).
    """
    radio, infrared = open_fits_paths(radio, infrared)
    if model is None:
        beam = (config or InferenceConfig()).beam
        choice = choose_bundled_model(radio, has_infrared=infrared is not None, beam=beam)
        log.info("model chosen for the image: %s", choice.reason)
        model = choice.path
    item = ImageInput(
        radio=radio, infrared=infrared, image_id=image_id, file_name=file_name, class_ids=class_ids
    )
    out = list(
        segment_batch(
            [item],
            model=model,
            config=config,
            progress=progress,
            cancel=cancel,
            network_step=network_step,
            timer=timer,
        )
    )
    return out[0]


def segment_batch(
    images: Iterable[Any],
    *,
    model: Any = None,
    config: InferenceConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    total: int | None = None,
    network_step: NetworkStep | None = None,
    timer: StageTimer | None = None,
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
    network_step, timer
        As in :func:`segment`.

    Yields
    ------
    Prediction
        In input order.
    """
    lm = resolve_model(model, config or InferenceConfig())
    if config is None:
        config = lm.config()
    network_step = network_outputs if network_step is None else network_step
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

    run = _BatchRun(
        lm, config, _base_provenance(lm, config), network_step, timer, report, check_cancel
    )
    pending: list[ImageInput] = []
    position = 0
    for raw in images:
        position += 1
        item = as_input(raw, position)
        plan = plan_input(item.radio, lm.geometry, config, name=item.file_name)
        _check_memory(item, plan, config)
        item = _with_resolved_beam(item, plan)
        if not plan.is_trivial:
            if pending:
                yield from _run_batch(pending, run)
                pending = []
            yield _run_windowed(item, plan, run)
            continue
        if pending and (
            len(pending) >= config.batch_size
            or _shape_of(item.radio) != _shape_of(pending[0].radio)
        ):
            yield from _run_batch(pending, run)
            pending = []
        pending.append(item)
    if pending:
        yield from _run_batch(pending, run)


def _check_memory(item: ImageInput, plan: InputPlan, config: InferenceConfig) -> None:
    """Refuse an image over the memory budget before any of its pixels is read."""
    from napari_radiogal.io.beam import image_name

    shape = _shape_of(item.radio)
    if len(shape) < 2:
        return  # not an image: prepare_input says so
    images = [im for im in (item.radio, item.infrared) if im is not None]
    check_memory(
        shape[-2:],
        plan,
        config,
        has_infrared=item.infrared is not None,
        inputs_in_memory=sum(not is_lazy_image(im) for im in images),
        name=item.file_name or image_name(item.radio),
    )


def _with_resolved_beam(item: ImageInput, plan: InputPlan) -> ImageInput:
    """The item with the beam the plan resolved (user, preset or measured) on its image, so
    the catalogue's fluxes use it too."""
    if plan.beam is None or plan.beam.beam is None or plan.beam.source == "header":
        return item
    radio = item.radio
    if not dataclasses.is_dataclass(radio) or not hasattr(radio, "beam"):
        return item
    from napari_radiogal.io.fits import Beam

    return dataclasses.replace(item, radio=dataclasses.replace(radio, beam=Beam(*plan.beam.beam)))


def _run_windowed(item: ImageInput, plan: InputPlan, run: _BatchRun) -> Prediction:
    """One input through the model's geometry: resampled, in windows, merged, mapped back.

    Windows go through the stages a batch at a time and only their detections are kept, so
    the memory does not grow with the number of windows (resolution.memory_estimate).
    """
    lm, config, check_cancel = run.lm, run.config, run.check_cancel
    radio = item.radio
    data = radio_array(radio)
    check_cancel()
    ir, ir_path = infrared_on_grid(
        item.infrared, radio, data.shape, int(item.image_id), cancel=check_cancel
    )
    check_cancel()
    grid_radio, grid_ir = resampled_arrays(data, ir, plan)
    windows = plan.windows or [Window(0, 0, *grid_radio.shape)]
    sub_run = dataclasses.replace(run, report=_fractional(run.report, len(windows)))
    found = _WindowResults()
    batch: list[tuple[Window, ImageInput]] = []
    for win in windows:
        check_cancel()
        pixels = grid_radio[win.slices]
        if not np.isfinite(pixels).any():
            # windows without data (blanked mosaic edges) cost nothing and say nothing
            sub_run.report(len(STAGES))
            continue
        window_item = ImageInput(
            radio=_on_model_grid(pixels, radio, plan),
            infrared=None if grid_ir is None else grid_ir[win.slices],
            image_id=item.image_id,
            class_ids=item.class_ids,
        )
        batch.append((win, window_item))
        if len(batch) == config.batch_size:
            found.add(batch, _run_batch([b[1] for b in batch], sub_run))
            batch = []
    if batch:
        found.add(batch, _run_batch([b[1] for b in batch], sub_run))

    merged = merge_windows(found.detections, grid_radio.shape, cancel=check_cancel)
    del grid_radio, grid_ir  # the resampled images, when there are any
    instances = _instances_on_input_grid(merged, plan, data.shape, radio, item, config, run)

    prepared = PreparedImage(
        source=item,
        image_id=int(item.image_id),
        radio=data,
        ir=ir,
        wcs=getattr(radio, "wcs", None),
        beam=None if plan.beam is None or plan.beam.beam is None else plan.beam.beam,
        pixel_scale_arcsec=getattr(radio, "pixel_scale_arcsec", None),
        unit=getattr(radio, "unit", "Jy/beam") or "Jy/beam",
        inputs=input_files(getattr(radio, "path", None), ir_path),
    )
    if not found.windows:
        prepared.empty_reason = "the radio image has no finite pixel (all NaN / blanked)"
    prediction = _assemble(
        prepared, instances, lm, config, run.base_provenance, found.timings, net_state=None
    )
    if found.probabilities:
        prediction.class_probabilities = np.max(np.stack(found.probabilities), axis=0)
        prediction.image.extra["class_probabilities"] = {
            name: float(v)
            for name, v in zip(lm.scheme.names, prediction.class_probabilities, strict=True)
        }
    if found.noise:
        prediction.image.noise_sigma = float(np.median(found.noise))
    prediction.image.extra["geometry"] = plan.describe()
    prediction.provenance["geometry"] = {"model": lm.geometry.to_dict(), "input": plan.describe()}
    return prediction


@dataclass
class _WindowResults:
    """What a windowed run keeps of its windows' predictions (their pixels and maps go)."""

    windows: int = 0
    detections: list[WindowDetection] = dataclasses.field(default_factory=list)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    probabilities: list[np.ndarray] = dataclasses.field(default_factory=list)
    noise: list[float] = dataclasses.field(default_factory=list)

    def add(self, batch: list[tuple[Window, ImageInput]], predictions: list[Prediction]) -> None:
        for (win, _), pred in zip(batch, predictions, strict=True):
            self.windows += 1
            self.detections += [window_detection(win, inst) for inst in pred.instances]
            for stage, seconds in pred.timings.items():
                self.timings[stage] = self.timings.get(stage, 0.0) + seconds
            self.probabilities.append(pred.class_probabilities)
            if pred.image.noise_sigma:
                self.noise.append(pred.image.noise_sigma)


def _on_model_grid(pixels: np.ndarray, radio: Any, plan: InputPlan) -> Any:
    """A window's pixels as an image that knows its beam and pixel size on the model grid
    (for the radio-core hosts), or the bare array when the input had no sky geometry."""
    scale = getattr(radio, "pixel_scale_arcsec", None)
    if plan.beam is None or plan.beam.beam is None or not scale:
        return pixels
    from napari_radiogal.io.fits import Beam, RadioImage

    return RadioImage(
        pixels,
        None,
        beam=Beam(*plan.beam.beam),
        pixel_scale_arcsec=float(scale) * plan.resampling.factor,
    )


def _fractional(report: Callable[[int], None], parts: int) -> Callable[[int], None]:
    """A ``report`` for one window of ``parts``: whole image-stages once enough add up."""
    if parts <= 1:
        return report
    state = {"done": 0.0, "sent": 0}

    def report_part(n: int) -> None:
        state["done"] += n / parts
        whole = int(state["done"] + 1e-9)
        if whole > state["sent"]:
            report(whole - state["sent"])
            state["sent"] = whole

    return report_part


def _instances_on_input_grid(
    merged: list[WindowDetection],
    plan: InputPlan,
    shape: tuple[int, int],
    radio: Any,
    item: ImageInput,
    config: InferenceConfig,
    run: _BatchRun,
) -> list[Instance]:
    """Merged detections on the model grid -> instances on the input's own pixels and WCS."""
    wcs = getattr(radio, "wcs", None)
    out = []
    for det in merged:
        run.check_cancel()
        placed = detection_to_input(det.mask, plan.resampling)
        if placed is None:
            continue
        sub, (r0, c0) = placed
        if int(np.count_nonzero(sub)) < config.min_instance_pixels:
            continue
        host = None
        if det.host is not None:
            host = clip_xy(plan.resampling.to_input_xy(*det.host), shape)
        ra, dec = _hosts.sky_position(wcs, *host) if host is not None else (None, None)
        extra = dict(det.extra)
        extra["window"] = [det.window.row0, det.window.col0, det.window.height, det.window.width]
        centre = extra.get("centre")
        if centre is not None:
            extra["centre"] = [float(v) for v in plan.resampling.to_input_xy(*centre)]
        out.append(
            Instance(
                # the RLE straight from the placed mask: a full-image mask per source would
                # cost ~1 s each on a 12000² mosaic (encode_placed_mask)
                rle=encode_placed_mask(sub, r0, c0, shape),
                image_id=int(item.image_id),
                category_id=det.category_id,
                score=det.score,
                host=host,
                host_ra=ra,
                host_dec=dec,
                extra=extra,
            )
        )
    out.sort(key=lambda a: -a.score)
    for i, inst in enumerate(out, start=1):
        inst.id = i
    return out


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


@dataclass(frozen=True)
class _BatchRun:
    """What every batch of one :func:`segment_batch` call shares."""

    lm: LoadedModel
    config: InferenceConfig
    base_provenance: dict[str, Any]
    network_step: NetworkStep
    timer: StageTimer | None
    report: Callable[[int], None]
    check_cancel: Callable[[], None]


def _run_batch(items: list[ImageInput], run: _BatchRun) -> list[Prediction]:
    """The stages of :data:`STAGES` over one batch; one prediction per item, in order."""
    lm, config, report, check_cancel = run.lm, run.config, run.report, run.check_cancel
    n = len(items)
    clock = StageTimer(parent=run.timer)
    check_cancel()
    with clock("prepare"):
        prepared = [prepare_input(item, int(item.image_id), lm) for item in items]
    report(n)
    work = [p for p in prepared if p.preprocessed is not None]

    check_cancel()
    with clock("network"):
        net = run.network_step(lm, [p.preprocessed.channels for p in work], config)
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
            cancel=check_cancel,
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
                run.base_provenance,
                clock.per_image(n),
                net_state=_state_of(states, p),
            )
        )
    return predictions


# ---- step 3: classes, clusters, instance maps ---------------------------------------------
@dataclass
class _State:
    prepared: PreparedImage
    probabilities: np.ndarray  # (K,)
    class_weight: np.ndarray  # (K,) multiplies the score maps (probability, or 1 for oracle)
    classes: np.ndarray  # selected class indices
    cams: np.ndarray  # (K, h4, w4) max-normalised
    boundary: np.ndarray  # (h4, w4)
    host: np.ndarray | None  # (h4, w4) host-head logits, None without a host head
    centroids: np.ndarray  # (2, h4, w4)
    clusters: np.ndarray  # (h4, w4)
    maps: np.ndarray  # (m, h4, w4)
    keys: np.ndarray  # (m, 2) (class index, cluster id)


def _instance_states(work: list[PreparedImage], net, lm: LoadedModel, config: InferenceConfig):
    if not work:
        return []
    scheme = lm.scheme
    probabilities = class_probabilities(net)
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
        radio_weight = pool4(p.radio_scaled(), cams.shape[2:]) if config.radio_weighting else None
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
                host=net["host"][i] if "host" in net else None,
                centroids=centroids[i],
                clusters=clusters,
                maps=maps,
                keys=keys,
            )
        )
    return states


def class_probabilities(net: dict[str, np.ndarray]) -> np.ndarray:
    """Image-level class probabilities ``(B, K)`` of a batch's network outputs.

    The image classifier's softmax when the model has one (``image_logits``: trained for
    the label alone, it is the better classifier), else the CAM classifier's sigmoid
    (multi-label, the paper's).
    """
    if "image_logits" in net:
        z = net["image_logits"].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-net["logits"].astype(np.float64)))


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


# ---- step 5: masks, scores and hosts ------------------------------------------------------
def _masks_and_hosts(
    state: _State, propagated: np.ndarray, lm: LoadedModel, config: InferenceConfig
) -> list[Instance]:

    p = state.prepared
    shape = p.radio.shape
    if len(propagated) == 0:
        return []
    weights = state.class_weight[state.keys[:, 0]].astype(np.float32)
    scores = upsample4(propagated, shape) * weights[:, None, None]
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
    ir = p.ir_scaled()
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
    # (class index, cluster id or -1, mask, parts, score); -1: an island no map claimed
    found = [(*(int(v) for v in state.keys[i]), m, n, sc) for i, m, n, sc in candidates]
    if config.unclaimed_islands != "ignore":
        found += _unclaimed_islands(
            state, [c[2] for c in found], islands, finite, config, _beam_pixels(p, lm)
        )
    if not found:
        return []
    # instance CAMs (un-weighted, un-propagated, as the paper's host rule) at pixel scale
    cluster_cams = upsample4(
        np.stack(
            [
                state.cams[k] * (state.clusters == cluster if cluster >= 0 else 1.0)
                for k, cluster, *_ in found
            ]
        ),
        shape,
    )
    host_logits = None
    if state.host is not None and config.host_head:
        # a model that reads an infrared channel learned its hosts with one
        if ir is not None or "ir" not in lm.card.preprocess.channels:
            host_logits = upsample4(state.host[None], shape)[0]
    out = []
    for (k, cluster, mask, n_parts, score), inst_cam in zip(found, cluster_cams, strict=True):
        if cluster >= 0:
            centre = _hosts.displacement_centre(
                state.centroids, cells_of(mask, state.clusters == cluster)
            )
        else:  # a claimed-by-nobody island: its own centre of emission
            rows, cols = np.nonzero(mask)
            centre = (float(cols.mean()), float(rows.mean()))
        centre = clip_xy(centre, shape)
        if host_logits is not None:
            host = _hosts.host_from_head(
                np.where(finite, host_logits, np.nan),
                mask,
                4.0 * HOST_HEAD_MARGIN_CELLS,
                subpixel=config.subpixel_host,
            )
            host_from = "host head" if host is not None else None
        elif ir is not None:
            host = _ir_host(p, lm, config, inst_cam, ir, mask, finite)
            host_from = "ir" if host is not None else None
        else:
            host, host_from = centre, "displacement"
            if config.radio_host == "centroid":  # NaN pixels weigh nothing
                host, host_from = brightness_centroid(p.radio, mask), "radio centroid"
            elif config.radio_host == "core":
                found = _radio_core(p, mask, finite, _beam_pixels(p, lm))
                core = None if found is None else found[0]
                if core is not None:
                    host, host_from = core, "radio core"
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
                    # which step found it: a class map's cluster, or an island none claimed
                    "found_by": "class map" if cluster >= 0 else "radio island",
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


def _ir_host(
    p: PreparedImage,
    lm: LoadedModel,
    config: InferenceConfig,
    inst_cam: np.ndarray,
    ir: np.ndarray,
    mask: np.ndarray,
    finite: np.ndarray,
) -> tuple[float, float] | None:
    """The infrared host of one instance under ``config.host_region``."""
    beam_px = _beam_pixels(p, lm)
    weight = np.where(finite, np.clip(inst_cam, 0.0, None) * np.clip(np.nan_to_num(ir), 0, None), 0)
    if config.host_region == "core":
        return _hosts.host_near_core(
            weight,
            mask,
            _radio_core(p, mask, finite, beam_px),
            beam_px=beam_px,
            prior_beams=config.host_prior_beams,
            subpixel=config.subpixel_host,
        )
    return _hosts.host_search(
        weight, mask, config.host_region, beam_px=beam_px, subpixel=config.subpixel_host
    )


def _radio_core(
    p: PreparedImage, mask: np.ndarray, finite: np.ndarray, beam_px: float
) -> tuple[tuple[float, float], bool] | None:
    """The radio core of one instance and whether it is a radio peak
    (:func:`~napari_radiogal.inference.hosts.radio_core`); the core of detached lobes is
    looked for in their hull, where the segmentation may have left it out."""
    return _hosts.radio_core(
        np.where(finite, p.radio, 0.0),
        mask,
        noise_sigma=float(p.preprocessed.noise_sigma),
        beam_px=beam_px,
        core_region=_hosts.host_search_region(mask, "hull") & finite,
    )


def _unclaimed_islands(
    state: _State,
    masks: list[np.ndarray],
    islands: np.ndarray,
    finite: np.ndarray,
    config: InferenceConfig,
    beam_px: float,
) -> list[tuple[int, int, np.ndarray, int, float]]:
    """Radio islands that no instance covers, each as an instance of its own.

    An island of at least ``config.min_instance_pixels`` pixels, none of which is in an
    instance, is a source the class maps did not claim (the CAMs of the selected classes
    miss it, e.g. a faint source beside a bright one). Under ``unclaimed_islands="resolved"``
    it must also be larger than a point source of its peak S/N
    (:func:`~napari_radiogal.ab_rule.is_resolved` at this image's beam), so that compact
    sources and noise peaks, which the classes do not describe, stay out. Its class is the
    one whose CAM times classifier probability is highest on it, over *all* classes; its
    score is that value times ``config.unclaimed_score_factor``, so that islands rank after
    the class maps' instances across images, not only within their own.

    Returns
    -------
    list of (class index, -1, mask, 1, score)
    """
    claimed = np.zeros(islands.shape, bool)
    for m in masks:
        claimed |= m
    ids = np.unique(islands[finite & (islands > 0) & ~claimed])
    if ids.size == 0:
        return []
    claimed_ids = np.unique(islands[claimed & (islands > 0)])
    ids = np.setdiff1d(ids, claimed_ids)
    weighted = upsample4(state.cams, islands.shape) * state.probabilities[:, None, None]
    if config.unclaimed_islands == "resolved":
        radio = np.where(finite, state.prepared.radio, np.nan)
        sigma = float(state.prepared.preprocessed.noise_sigma)
    out = []
    for i in ids:
        mask = islands == i
        if int(mask.sum()) < max(config.min_instance_pixels, 1):
            continue
        if config.unclaimed_islands == "resolved" and not _island_resolved(
            radio, sigma, mask, beam_px
        ):
            continue
        per_class = weighted[:, mask].max(axis=1)
        k = int(np.argmax(per_class))
        score = float(per_class[k]) * config.unclaimed_score_factor
        if score < config.score_threshold:
            continue
        out.append((k, -1, mask, 1, score))
    return out


def _island_resolved(radio: np.ndarray, sigma: float, mask: np.ndarray, beam_px: float) -> bool:
    """Whether one island is larger than a point source of its peak S/N (its ``b`` against
    :func:`~napari_radiogal.ab_rule.is_resolved`); an island with no 5 sigma contour is not."""
    if not (np.isfinite(sigma) and sigma > 0):
        return False
    morph = measure_morphology(radio, sigma, mask)
    if morph.category is None:
        return False
    return is_resolved(morph.b_px, float(np.nanmax(radio[mask])) / sigma, beam_px)


def _beam_pixels(p: PreparedImage, lm: LoadedModel) -> float:
    """Beam FWHM in this image's pixels: its own beam, else the model's training beam."""
    if p.beam is not None and p.pixel_scale_arcsec:
        return float(np.sqrt(p.beam[0] * p.beam[1]) * 3600.0 / p.pixel_scale_arcsec)
    return float(lm.geometry.pixels_per_beam)


def _state_of(states: list[_State], prepared: PreparedImage) -> _State | None:
    for s in states:
        if s.prepared is prepared:
            return s
    return None


# ---- assembling the Prediction -------------------------------------------------------------
def _assemble(
    p: PreparedImage,
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
