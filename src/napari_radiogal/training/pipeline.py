"""The whole weakly supervised recipe: CAM -> ReCAM -> pseudo-labels -> IRNet -> weights file.

Layout of a run folder ``OUT``::

    OUT/config.yaml              the resolved recipe
    OUT/train_log.jsonl          one JSON record per logged step and per epoch
    OUT/cam/{last,best}.pt       stage A checkpoints (best = lowest validation loss)
    OUT/recam/last.pt            stage B
    OUT/pseudo_labels.npz        stage D output (uint8 label maps of the training images)
    OUT/irn/last.pt              stage E
    OUT/model.safetensors/.json  the exported weights + card
    OUT/cache/                   pre-processed channels (reused across runs)

A folder that holds a run is only written into with ``resume`` (same recipe) or
``overwrite`` (:mod:`napari_radiogal.training.runs`), and only once the data files have been
read and checked.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.atomic import atomic_path, atomic_write_text
from napari_radiogal.io.coco import dataset_root
from napari_radiogal.io.geometry import geometry_of_records
from napari_radiogal.models.config import ModelConfig
from napari_radiogal.models.network import RadioGalaxyNet, build_model
from napari_radiogal.models.weights import WeightsCard, init_from_weights, save_weights
from napari_radiogal.training.checkpoint import load_checkpoint, load_model_state
from napari_radiogal.training.config import STAGES, TrainConfig
from napari_radiogal.training.data import (
    PreparedImages,
    check_datasets,
    class_counts,
    prepare_datasets,
    read_npz,
)
from napari_radiogal.training.distributed import DistContext, barrier, init_distributed
from napari_radiogal.training.engine import StageResult, class_balance_weights, run_stage
from napari_radiogal.training.pseudo_labels import (
    bridge_instances,
    make_pseudo_label,
    multiscale_cams,
)
from napari_radiogal.training.runs import check_run_folder, clear_run
from napari_radiogal.training.stages import (
    CamLoss,
    ClassificationDataset,
    ClassifyLoss,
    HostDataset,
    HostLoss,
    IrnDataset,
    IrnLoss,
    RecamLoss,
    StagePlan,
    image_class_loss,
    set_trainable,
)

__all__ = [
    "train",
    "seed_everything",
    "validation_metrics",
    "compute_pseudo_labels",
    "mean_displacement",
]

log = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG other libraries may use)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        # warn_only: bilinear upsampling has no deterministic CUDA backward
        torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def validation_metrics(
    model: RadioGalaxyNet, images: PreparedImages, device: torch.device, batch_size: int = 8
) -> dict[str, float]:
    """Classification numbers over whole (un-augmented) validation images.

    Returns
    -------
    dict
        ``loss``: mean multi-label soft-margin loss (what selects the checkpoint);
        ``accuracy``: share of the images with exactly one class whose highest logit is
        that class (NaN when there are none), the number a catalogue user reads.
    """
    was_training = model.training
    model.eval()
    data = ClassificationDataset(images, None, 0, augment=False)
    total, n, right, single = 0.0, 0, 0, 0
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        shapes = {tuple(x.shape) for x, _ in items}
        groups = [items] if len(shapes) == 1 else [[it] for it in items]
        for group in groups:
            x = torch.stack([g[0] for g in group]).to(device)
            y = torch.stack([g[1] for g in group]).to(device)
            logits = model(x).float()
            total += float(F.multilabel_soft_margin_loss(logits, y, reduction="sum"))
            n += len(group)
            one = y.sum(dim=1) == 1
            single += int(one.sum())
            right += int((logits.argmax(dim=1) == y.argmax(dim=1))[one].sum())
    model.train(was_training)
    return {
        "loss": total / max(n, 1),
        "accuracy": right / single if single else float("nan"),
    }


@torch.no_grad()
def image_classifier_metrics(
    model: RadioGalaxyNet, images: PreparedImages, device: torch.device, batch_size: int = 16
) -> dict[str, float]:
    """The image classifier's numbers over whole validation images (stage F).

    Returns
    -------
    dict
        ``loss``: mean softmax cross-entropy towards the images' classes (no smoothing);
        ``accuracy``: share of the single-class images whose highest logit is their class.
    """
    net = model.image_classifier
    was_training = net.training
    net.eval()
    data = ClassificationDataset(images, None, 0, augment=False)
    total, n, right, single = 0.0, 0, 0, 0
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        # the classifier resizes every image to one size, so any shapes batch together
        x = torch.cat([net.resize(it[0][None]) for it in items]).to(device)
        y = torch.stack([it[1] for it in items]).to(device)
        logits = net(x).float()
        per_image, has_class = image_class_loss(logits, y, 0.0)
        total += float(per_image.sum())
        n += int(has_class.sum())
        one = y.sum(dim=1) == 1
        single += int(one.sum())
        right += int((logits.argmax(dim=1) == y.argmax(dim=1))[one].sum())
    net.train(was_training)
    return {
        "loss": total / max(n, 1),
        "accuracy": right / single if single else float("nan"),
    }


@torch.no_grad()
def compute_pseudo_labels(
    model: RadioGalaxyNet,
    images: PreparedImages,
    config: TrainConfig,
    device: torch.device,
    *,
    progress: bool = True,
) -> list[np.ndarray]:
    """Stage D: a uint8 label map ``(H, W)`` per training image (0 bg, k+1 class, 255 ignore).

    Images that ``config.pseudo_labels.masks`` selects (mixed supervision:
    :meth:`~napari_radiogal.training.data.PreparedImages.is_mask_supervised`) take the label
    of their annotated masks; the others the confident CAM pseudo-label.
    """
    from tqdm.auto import tqdm

    model.eval()
    cfg = config.pseudo_labels
    bridged = multi_component_classes(images.scheme) if cfg.bridge_gap > 0 else []
    labels = []
    for i in tqdm(range(len(images)), desc="pseudo-labels", disable=not progress, leave=False):
        if images.is_mask_supervised(i, cfg.masks):
            label = images.mask_label(i)
            if bridged:
                label = bridge_instances(label, images.instance_masks(i), bridged)
            labels.append(label)
            continue
        x = torch.from_numpy(images.channels(i)).to(device)
        cams = multiscale_cams(model, x, cfg.scales, cfg.flip).cpu().numpy()
        present = images.labels[i] > 0
        labels.append(make_pseudo_label(cams, present, images.islands(i), cfg, bridged))
    return labels


def multi_component_classes(scheme) -> list[int]:
    """Indices of the classes whose sources may have several islands (not R / Compact).

    Examples
    --------
    >>> from napari_radiogal.classes import FIRST, RADIOGALAXYNET
    >>> multi_component_classes(RADIOGALAXYNET), multi_component_classes(FIRST)
    ([0, 1, 2], [0, 1, 3])
    """
    from napari_radiogal.classes import SINGLE_COMPONENT_CLASSES

    return [k for k, name in enumerate(scheme.names) if name not in SINGLE_COMPONENT_CLASSES]


@torch.no_grad()
def mean_displacement(
    model: RadioGalaxyNet, images: PreparedImages, device: torch.device
) -> torch.Tensor:
    """Mean raw displacement ``(2,)`` over all stride-4 cells of the training images.

    Computed on the images themselves, as inference sees them (the authors average over
    512 canvases that are mostly padding: ALGORITHM 11.14).
    """
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    cells = 0
    for i in range(len(images)):
        x = torch.from_numpy(images.channels(i))[None].to(device)
        _, d = model.irn_heads(model.backbone(x))
        total += d.double().sum(dim=(0, 2, 3)).cpu()
        cells += d.shape[-1] * d.shape[-2]
    return (total / max(cells, 1)).float()


def _load_model_state(model: RadioGalaxyNet, path: Path, device) -> None:
    load_model_state(model, load_checkpoint(path, map_location=device), path)


def _stage_list(stage: str, config: TrainConfig) -> list[str]:
    if stage == "all":  # the optional stages only when their recipe trains them
        return [
            s
            for s in STAGES
            if (s != "classify" or config.classify.epochs > 0)
            and (s != "host" or (config.host.epochs > 0 and config.pseudo_labels.masks != "none"))
        ]
    if stage not in STAGES:
        raise ConfigError(f"--stage {stage!r}; choose one of {[*STAGES, 'all']}.")
    if stage == "host":
        if config.host.epochs < 1 or config.pseudo_labels.masks == "none":
            raise ConfigError(
                "--stage host trains the host head on annotated hosts: it needs host.epochs "
                f">= 1 (got {config.host.epochs}) and --masks all|reviewed (got "
                f"{config.pseudo_labels.masks!r}), which say whose hosts supervise."
            )
        if config.init is None:
            raise ConfigError(
                "--stage host alone adds a host head to a trained model; name that model "
                "with --init (a weights file or a bundled name, e.g. --init default), or run "
                "--stage all."
            )
    if stage == "classify":
        if config.classify.epochs < 1:
            raise ConfigError(
                "--stage classify with classify.epochs=0 trains nothing; set "
                "--set classify.epochs=N (the FIRST recipe: 70)."
            )
        if config.init is None:
            raise ConfigError(
                "--stage classify alone adds an image classifier to a trained model; name "
                "that model with --init (a weights file or a bundled name, e.g. --init "
                "first), or run --stage all."
            )
    return [stage]


def train(
    config: TrainConfig,
    *,
    data: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    val: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    stage: str = "all",
    resume: bool = False,
    overwrite: bool = False,
    allow_change: Sequence[str] = (),
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    command: Sequence[str] | None = None,
    name: str | None = None,
    stop_after_steps: int | None = None,
    progress: bool = True,
) -> Path | None:
    """Run the recipe (or one stage of it) and export the weights.

    Parameters
    ----------
    config : TrainConfig
    data : path or sequence of paths
        Training COCO file(s) (only image-level labels are used); several files are one
        training set (:func:`~napari_radiogal.training.data.prepare_datasets`).
    out : path
        Run folder (see module docstring).
    val : path or sequence of paths, optional
        Validation COCO file(s), used to select the stage-A checkpoint. Never the test split.
    stage : {"cam", "recam", "irn", "all"}
    resume : bool
        Continue interrupted stages from their ``last.pt``; stages already finished are
        skipped. The recipe must be the one in ``OUT/config.yaml`` (the top-level keys and
        the sections of the stages run that have started), apart from ``allow_change``.
    overwrite : bool
        Train into a folder that holds a run, from the start: the checkpoints of the stages
        run and the later ones, the pseudo-labels and the exported model are deleted (once
        the data files are checked). Without ``resume`` or ``overwrite`` such a folder is
        refused.
    allow_change : sequence of str
        Recipe keys (``"cam.epochs"``) or sections (``"irn"``) that may differ on resume.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    cache_dir : path, optional
        Pre-processing cache (default ``OUT/cache``).
    command : list of str, optional
        The command line, recorded in the weights card.
    name : str, optional
        Model name for the card (default: ``radiogal-<backbone>``).
    stop_after_steps : int, optional
        Interrupt each stage after this many steps (tests).
    progress : bool
        Progress bars.

    Returns
    -------
    Path or None
        The exported ``OUT/model.safetensors`` (None on processes other than rank 0).
    """
    data_files = _as_paths(data)
    val_files = _as_paths(val) if val is not None else []
    out = Path(out)
    stages = _stage_list(stage, config)
    # nothing is written before the run folder, --init and the data files are checked
    check_run_folder(
        out, config, stages, resume=resume, overwrite=overwrite, allow_change=allow_change
    )
    parent_path = _check_init(config)  # a bad --init fails before any pre-processing
    scheme = check_datasets(data_files)
    if val_files:
        check_datasets(val_files, scheme=scheme)
    if "host" in stages and not check_supervised_hosts(data_files, config.pseudo_labels.masks):
        if stage == "host":
            raise ConfigError(
                f"--stage host: no training image has instances with a mask and a host under "
                f"--masks {config.pseudo_labels.masks} (with 'reviewed', every instance of an "
                "image must be marked reviewed); mark hosts in napari and export again."
            )
        stages = [s for s in stages if s != "host"]
    ctx = init_distributed(device)
    barrier(ctx)  # every process has looked at the folder before rank 0 changes it
    seed_everything(config.seed, config.deterministic)
    cache = Path(cache_dir) if cache_dir is not None else out / "cache"

    if ctx.is_main:
        _warn_about_validation(data_files, val_files)
    # rank 0 fills the cache first; the others then only read it
    if ctx.is_main:
        train_images = prepare_datasets(data_files, config.preprocess, cache, rank=ctx.rank)
    barrier(ctx)
    if not ctx.is_main:
        train_images = prepare_datasets(data_files, config.preprocess, cache, rank=ctx.rank)
    val_images = None
    if val_files:
        if ctx.is_main:
            val_images = prepare_datasets(
                val_files, config.preprocess, cache, scheme=train_images.scheme, rank=ctx.rank
            )
        barrier(ctx)
        if not ctx.is_main:
            val_images = prepare_datasets(
                val_files, config.preprocess, cache, scheme=train_images.scheme, rank=ctx.rank
            )
    scheme = train_images.scheme
    host_images = (
        train_images.supervised_hosts(config.pseudo_labels.masks) if "host" in stages else []
    )
    if ctx.is_main:
        _start_run_folder(out, config, stages, overwrite)
        # str(): logging takes a lone dict argument as a mapping for %(name)s fields
        log.info("training classes: %s", str(class_counts(train_images.labels, scheme.names)))
    barrier(ctx)

    model_config = ModelConfig(
        backbone=config.backbone,
        in_channels=config.preprocess.num_channels,
        num_classes=scheme.num_classes,
        output_stride=config.output_stride,
        **_image_classifier_architecture(config, stages, parent_path),
        host_head_width=_host_head_width(config, stages, parent_path),
    )
    torch.manual_seed(config.seed)
    model = build_model(model_config, scheme=scheme, pretrained_path=config.pretrained_path).to(
        ctx.device
    )
    parent = None
    if parent_path is not None:
        parent = init_from_weights(model, parent_path, channels=config.preprocess.channels)
        if ctx.is_main:
            log.info(
                "starting from %r (%s); classes kept %s, new %s; channels kept %s, new %s",
                parent["name"],
                parent["file"],
                parent["classes_kept"],
                parent["classes_new"],
                parent["channels_kept"],
                parent["channels_new"],
            )
        if model.image_classifier is not None and "classify" not in stages and ctx.is_main:
            log.warning(
                "the parent's image classifier is kept as it is (it gives the class "
                "probabilities at inference) and does not learn from this data%s; add "
                "--set classify.epochs=N to train it too",
                f", and its rows for the new classes {parent['classes_new']} are untrained"
                if parent["classes_new"]
                else "",
            )
    model.set_fixed_bn(config.fixed_bn)
    results: dict[str, StageResult] = {}

    def validate() -> dict[str, float]:
        return validation_metrics(model, val_images, ctx.device)

    common: dict[str, Any] = dict(
        config=config,
        out_dir=out,
        ctx=ctx,
        resume=resume,
        stop_after_steps=stop_after_steps,
        progress=progress,
    )

    if "cam" in stages:
        set_trainable(model, ("backbone", "classifier"), freeze_stem=config.freeze_stem)
        results["cam"] = run_stage(
            name="cam",
            loss_module=CamLoss(model),
            param_groups=StagePlan.cam(config.cam).param_groups(model),
            train_set=ClassificationDataset(train_images, config.cam, config.seed),
            stage_cfg=config.cam,
            sample_weights=class_balance_weights(train_images.labels, config.cam.class_balance),
            validate=validate if val_images is not None else None,
            **common,
        )

    if "recam" in stages:
        source = out / "cam" / ("best.pt" if (out / "cam" / "best.pt").is_file() else "last.pt")
        if parent is None or source.is_file():
            _load_model_state(model, source, ctx.device)  # a resumed run loads its own state
        if ctx.is_main:
            log.info("recam: starting from %s", source if source.is_file() else parent_path)
        set_trainable(model, ("backbone", "classifier", "recam"), freeze_stem=config.freeze_stem)
        results["recam"] = run_stage(
            name="recam",
            loss_module=RecamLoss(model, config.recam.recam_weight),
            param_groups=StagePlan.recam(config.recam).param_groups(model),
            train_set=ClassificationDataset(train_images, config.recam, config.seed),
            stage_cfg=config.recam,
            sample_weights=class_balance_weights(train_images.labels, config.recam.class_balance),
            validate=validate if val_images is not None else None,
            **common,
        )

    if "irn" in stages:
        source = out / "recam" / "last.pt"
        if not source.is_file():
            source = out / "cam" / ("best.pt" if (out / "cam" / "best.pt").is_file() else "last.pt")
        if parent is not None and not source.is_file():
            source = parent_path  # --init with --stage irn: pseudo-labels of the parent's CAMs
        else:
            _load_model_state(model, source, ctx.device)
        labels = _pseudo_labels(model, train_images, config, ctx, out, source, progress)
        set_trainable(model, ("boundary", "displacement"), freeze_stem=True)
        results["irn"] = run_stage(
            name="irn",
            loss_module=IrnLoss(model, config.irn.radius),
            param_groups=StagePlan.irn(config.irn).param_groups(model),
            train_set=IrnDataset(train_images, labels, config.irn, config.seed),
            stage_cfg=config.irn,
            **common,
        )
        if ctx.is_main:
            model.mean_displacement.copy_(mean_displacement(model, train_images, ctx.device))
            log.info("mean displacement (dy, dx) = %s cells", model.mean_displacement.tolist())

    if "host" in stages:
        # on the backbone the stages before left (or the parent's), frozen; the images
        # with annotated hosts only
        if ctx.is_main:
            log.info(
                "host head: %d images, %d hosts",
                len(host_images),
                sum(len(h) for _, h in host_images),
            )
        set_trainable(model, ("host",), freeze_stem=True)
        results["host"] = run_stage(
            name="host",
            loss_module=HostLoss(model),
            param_groups=StagePlan.host(config.host).param_groups(model),
            train_set=HostDataset(train_images, host_images, config.host, config.seed),
            # a user's handful of corrected images still makes full batches
            stage_cfg=dataclasses.replace(
                config.host,
                batch_size=max(1, min(config.host.batch_size, len(host_images) // ctx.world_size)),
            ),
            **common,
        )

    if "classify" in stages:
        # the image classifier trains alone: whatever the stages before left in the model
        # (or the --init parent's weights) is exported with it unchanged
        set_trainable(model, ("image_classifier",), freeze_stem=True)
        results["classify"] = run_stage(
            name="classify",
            loss_module=ClassifyLoss(model, config.classify.label_smoothing),
            param_groups=StagePlan.classify(config.classify).param_groups(model),
            train_set=ClassificationDataset(train_images, config.classify, config.seed),
            stage_cfg=config.classify,
            sample_weights=class_balance_weights(
                train_images.labels, config.classify.class_balance
            ),
            validate=(
                (lambda: image_classifier_metrics(model, val_images, ctx.device))
                if val_images is not None
                else None
            ),
            **common,
        )

    if not ctx.is_main:
        return None
    card = WeightsCard(
        name=name or f"radiogal-{config.backbone}",
        architecture=model_config,
        classes=scheme,
        preprocess=config.preprocess,
        geometry=_with_noise_convention(
            training_geometry(data_files, train_images.records), config.preprocess
        ),
        training={
            "data": _card_paths(data_files),
            "val": _card_paths(val_files) if val_files else None,
            "parent": parent,
            "images": len(train_images),
            "class_counts": class_counts(train_images.labels, scheme.names),
            "stages": stages,
            "command": list(command) if command else None,
            "config": config.to_dict(),
            "world_size": ctx.world_size,
            "device": str(ctx.device),
            "history": {k: r.history for k, r in results.items()},
        },
        metrics={
            f"{k}_best_val_loss": r.best_val for k, r in results.items() if r.best_val is not None
        },
        # a fine-tuned model is segmented as its parent was (the settings chosen for it on
        # validation data, e.g. unclaimed_islands), until benchmarks choose new ones
        inference=_parent_inference(parent_path),
    )
    model.cpu()
    path = save_weights(model, card, out / "model")
    model.to(ctx.device)
    return path


def training_geometry(
    data: str | os.PathLike | Sequence[str | os.PathLike], records: list, *, max_files: int = 500
):
    """The geometry of the training images for the weights card.

    From the COCO records' ``beam`` and ``radio_wcs`` when they carry them (simulator
    output, our exports), else from the headers of up to ``max_files`` radio FITS files
    (read lazily: headers only). ``None`` for data without either (RadioGalaxyNET PNGs).
    """
    from napari_radiogal.annotations import ImageRecord
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.training.data import image_sources, read_training_coco

    geometry = geometry_of_records(records)
    if geometry is not None:
        return geometry
    sources = [
        s
        for path in _as_paths(data)
        for s in image_sources(path, read_training_coco(path))
        if s.kind == "fits"
    ]
    headers = []
    for i, source in enumerate(sources[:max_files]):
        image = read_radio(source.radio, lazy=True)
        if image.beam is None or image.wcs is None:
            continue
        h, w = image.shape
        headers.append(
            ImageRecord(
                id=i + 1,
                file_name=source.radio.name,
                height=h,
                width=w,
                radio_wcs=image.wcs.to_header_string(relax=True),
                beam=tuple(float(b) for b in image.beam),
            )
        )
    return geometry_of_records(headers)


def _with_noise_convention(geometry, preprocess):
    """The card's geometry, saying which pixel convention the network was trained on."""
    if geometry is None or preprocess.noise_convention is None:
        return geometry

    return dataclasses.replace(geometry, noise=preprocess.noise_convention)


def _as_paths(value: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """One path or several, as a list of paths."""
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


def _card_paths(paths: list[Path]) -> str | list[str]:
    """The card's record of the data files: one string for one file (older cards' form).

    Several files are told apart by their data set folder's name
    (``["bench/annotations/train.json", "wide/annotations/train.json"]``).
    """
    from napari_radiogal.io.firstgalaxydata import parse_firstgalaxydata_spec

    if len(paths) == 1:
        return _path_in_dataset(paths[0])
    named = []
    for path in paths:
        if parse_firstgalaxydata_spec(path) is not None:
            named.append(str(path))
            continue
        named.append(f"{dataset_root(Path(path).resolve()).name}/{_path_in_dataset(path)}")
    return named


def _start_run_folder(out: Path, config: TrainConfig, stages: list[str], overwrite: bool) -> None:
    """Clear what ``overwrite`` replaces and write the resolved recipe ``OUT/config.yaml``."""
    import yaml

    if overwrite:
        clear_run(out, stages)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


def _image_classifier_architecture(
    config: TrainConfig, stages: list[str], parent_path: Path | None
) -> dict[str, int]:
    """``image_classifier_width`` / ``_size`` of the network this run builds.

    The run's own ``classify`` section when it trains one; else the parent's (``--init``),
    so that a fine-tuned model keeps its parent's trained image classifier; else none. A
    run that skips ``classify`` never builds an untrained image classifier, whose random
    probabilities inference would use.
    """
    if "classify" in stages:
        return {
            "image_classifier_width": config.classify.width,
            "image_classifier_size": config.classify.size,
        }
    if parent_path is not None:
        from napari_radiogal.models.weights import read_card

        arch = read_card(parent_path).architecture
        return {
            "image_classifier_width": arch.image_classifier_width,
            "image_classifier_size": arch.image_classifier_size,
        }
    return {}


def _parent_inference(parent_path: Path | None) -> dict[str, Any]:
    """The ``inference`` settings of the parent's card (``{}`` without a parent)."""
    if parent_path is None:
        return {}
    from napari_radiogal.models.weights import read_card

    return dict(read_card(parent_path).inference)


def _host_head_width(config: TrainConfig, stages: list[str], parent_path: Path | None) -> int:
    """``host_head_width`` of the network this run builds.

    A parent's head keeps its width (so its tensors carry over, trained further by a host
    stage or kept as they are); else the recipe's when the run trains one; else none.
    """
    if parent_path is not None:
        from napari_radiogal.models.weights import read_card

        width = read_card(parent_path).architecture.host_head_width
        if width:
            return width
    return config.host.width if "host" in stages else 0


def check_supervised_hosts(data_files: Sequence[Path], which: str) -> int:
    """Refuse annotated hosts the host head cannot learn from, before any pre-processing.

    Every host that supervises (:func:`~napari_radiogal.training.data.supervised_hosts`
    under ``which`` = ``pseudo_labels.masks``) must lie on its image and within the host
    head's search region of its mask
    (:func:`~napari_radiogal.inference.hosts.host_head_region`: the hull of the mask
    widened by ``HOST_HEAD_MARGIN_CELLS`` x 4 pixels).

    Returns
    -------
    int
        The number of supervising hosts (0: the host stage has nothing to learn from).

    Raises
    ------
    ConfigError
        Naming up to five such hosts (file, instance id, position) and how to fix them.
    """
    from napari_radiogal.inference.hosts import host_head_region
    from napari_radiogal.models.config import HOST_HEAD_MARGIN_CELLS
    from napari_radiogal.training.data import read_training_coco, supervised_hosts

    margin = 4.0 * HOST_HEAD_MARGIN_CELLS
    bad, n = [], 0
    for path in data_files:
        for record, instances in read_training_coco(path):
            for inst in supervised_hosts(instances, which):
                n += 1
                x, y = inst.host
                col, row = int(round(x)), int(round(y))
                on_image = 0 <= row < record.height and 0 <= col < record.width
                if on_image and host_head_region(inst.mask, margin)[row, col]:
                    continue
                where = (
                    "off the image" if not on_image else f"more than {margin:.0f} px from its mask"
                )
                bad.append(f"{record.file_name} instance {inst.id} host ({x:.1f}, {y:.1f}) {where}")
    if bad:
        raise ConfigError(
            f"{len(bad)} annotated host(s) cannot train the host head: "
            + "; ".join(bad[:5])
            + ("; ..." if len(bad) > 5 else "")
            + ". Move each host onto its source in napari (or delete the host: the mask "
            "still trains) and export again."
        )
    return n


def _check_init(config: TrainConfig) -> Path | None:
    """The parent weights file of a fine-tuning run, checked before any expensive work."""
    if config.init is None:
        return None
    from napari_radiogal.models.weights import find_weights, read_card

    path = find_weights(config.init)
    read_card(path)
    if config.pretrained_path is not None:
        log.warning(
            "init=%s and pretrained_path=%s both given: the backbone starts from init",
            config.init,
            config.pretrained_path,
        )
    return path


def _warn_about_validation(data_files: list[Path], val_files: list[Path]) -> None:
    """Warn when a validation file is a training file or looks like a test split."""
    train = {p.resolve() for p in data_files}
    for val in val_files:
        if val.resolve() in train:
            log.warning(
                "--val %s is a training file: the CAM checkpoint is then selected on "
                "training images; give a held-out validation split",
                val,
            )
        elif "test" in val.name.lower():
            log.warning(
                "--val %s looks like a test split: selecting a checkpoint on it "
                "leaks test data into training (ALGORITHM 11.2)",
                val,
            )


def _path_in_dataset(json_path: str | os.PathLike) -> str:
    """A COCO file's path relative to its data set root, as the weights card records it.

    The card travels with the weights: an absolute path would only name a folder of the
    training machine. ``/any/where/bench/annotations/train.json`` -> ``annotations/train.json``.
    """
    path = Path(json_path).resolve()
    return path.relative_to(dataset_root(path)).as_posix()


def _pseudo_labels(
    model: RadioGalaxyNet,
    images: PreparedImages,
    config: TrainConfig,
    ctx: DistContext,
    out: Path,
    source: Path,
    progress: bool,
) -> list[np.ndarray]:
    """Compute (rank 0) or reuse the stage-D labels; every process then reads the file."""
    path = out / "pseudo_labels.npz"
    stamp = f"{source}:{source.stat().st_mtime_ns}:{config.pseudo_labels}"
    fix = "delete it and run again: the pseudo-labels are computed again"
    if ctx.is_main:
        fresh = False
        if path.is_file():
            stored = read_npz(path, fix=fix)
            fresh = str(stored.get("stamp")) == stamp and len(stored) - 1 == len(images)
        if not fresh:
            which = config.pseudo_labels.masks
            if which != "none":
                n = sum(images.is_mask_supervised(i, which) for i in range(len(images)))
                log.info(
                    "mixed supervision (pseudo_labels.masks=%s): %d of %d images labelled by "
                    "their masks, the others by their CAMs",
                    which,
                    n,
                    len(images),
                )
            labels = compute_pseudo_labels(model, images, config, ctx.device, progress=progress)
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez_compressed(
                    tmp, stamp=np.array(stamp), **{f"l{i}": lab for i, lab in enumerate(labels)}
                )
            fg = np.mean([np.isin(lab, (0, 255), invert=True).mean() for lab in labels])
            ign = np.mean([(lab == 255).mean() for lab in labels])
            log.info(
                "pseudo-labels: %.1f%% foreground, %.1f%% ignored pixels (%s)",
                100 * fg,
                100 * ign,
                path,
            )
    barrier(ctx)
    arrays = read_npz(path, [f"l{i}" for i in range(len(images))], fix=fix)
    return [arrays[f"l{i}"] for i in range(len(images))]
