"""``survey()``: a whole mosaic to one consolidated catalogue, resumable, on one or many workers.

Three steps, each its own function:

1. :func:`plan_survey` checks every input and decides the windows and batches, before any
   work and without writing anything: the mosaic must have a celestial WCS, the infrared
   mosaic must overlap it, the component catalogue must have RA/Dec columns and every
   component must lie on the mosaic. Its :attr:`SurveyPlan.key` digests what decides the
   result.
2. :func:`run_plan` runs the batches that the manifest
   (:class:`~napari_radiogal.survey.manifest.Manifest`) does not list yet, in this process
   or on a Dask cluster (:mod:`~napari_radiogal.survey.distributed`), recording each as it
   finishes.
3. :func:`write_catalogue` consolidates the detections of every window
   (:func:`~napari_radiogal.survey.consolidate.consolidate`), measures each source on the
   mosaic and writes the catalogue (ECSV, FITS table, VOTable), the DS9 and CRTF regions,
   the COCO file of the windows and ``provenance.json``.

The mosaics are memory-mapped and read one window (or one source's box) at a time, so the
memory of a run does not grow with the mosaic; it grows with the number of sources kept for
consolidation (their masks, cropped to their boxes). The catalogue is sorted by RA, then Dec,
and holds no time stamp: a run killed at any moment and started again gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.errors import ConfigError, InputImageError
from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.inference.windows import WindowDetection, is_cut, window_detection
from napari_radiogal.io.catalogue import DEFAULT_NAME_PREFIX
from napari_radiogal.io.export import DEFAULT_FORMATS
from napari_radiogal.io.geometry import Window
from napari_radiogal.survey.catalogue_input import Components, read_components
from napari_radiogal.survey.manifest import Manifest, plan_key
from napari_radiogal.survey.windows import (
    SurveyGeometry,
    blind_windows,
    catalogue_windows,
    mosaic_noise,
    survey_geometry,
)
from napari_radiogal.survey.work import BatchSpec, open_mosaics, run_batch, torch_threads

__all__ = [
    "SurveyPlan",
    "SurveyResult",
    "plan_survey",
    "run_plan",
    "write_catalogue",
    "survey",
    "OUTPUT_NAMES",
    "DEFAULT_MODEL",
]

log = logging.getLogger(__name__)

#: The model a survey uses unless told otherwise (the bundled default: EMU + WISE, 2"/px, 210 px
#: cut-outs).
DEFAULT_MODEL = "default"  # the bundled EMU + WISE model, whatever its card name

#: Output files in the survey folder, by role.
OUTPUT_NAMES = {
    "catalogue": "catalogue.ecsv",
    "catalogue_fits": "catalogue.fits",
    "catalogue_votable": "catalogue.vot",
    "regions": "sources.reg",
    "regions_crtf": "sources.crtf",
    "windows": "windows.json",
    "provenance": "provenance.json",
}

#: Role in :data:`OUTPUT_NAMES` of an output format whose role is not its own name.
_FORMAT_ROLES = {"coco": "windows"}

ProgressCallback = Callable[[int, int, int], None]


@dataclass(frozen=True)
class SurveyPlan:
    """Everything a survey run needs, checked; nothing is written yet.

    Attributes
    ----------
    mosaic, infrared : Path or None
        Input FITS files.
    components : Components or None
        The component catalogue, with ``component_xy`` its positions in mosaic pixels.
    component_xy : ndarray, shape (N, 2)
        ``(x, y)`` mosaic pixels of the components (empty without a catalogue).
    shape : tuple of int
        ``(H, W)`` of the mosaic.
    geometry : SurveyGeometry
        Window side, overlap, resampling factor and beam.
    windows : list of Window
        The windows to segment, in mosaic pixels.
    batches : list of BatchSpec
        ``config.batch_size`` consecutive windows each.
    mode : {"blind", "catalogue"}
    skipped : dict
        Blind windows skipped as blank or noise only.
    noise : float or None
        The mosaic's robust noise (blind mode), in its unit.
    model : LoadedModel
    config : InferenceConfig
    options : dict
        The survey's own options (``n_sigma``, ``duplicate_overlap``, column names,
        ``threads``).
    inputs : dict
        ``{role: {"path", "bytes", "sha256"}}`` of the input files.
    key : str
        Digest of the plan (:func:`~napari_radiogal.survey.manifest.plan_key`).
    """

    mosaic: Path
    infrared: Path | None
    components: Components | None
    component_xy: np.ndarray
    shape: tuple[int, int]
    geometry: SurveyGeometry
    windows: list[Window]
    batches: list[BatchSpec]
    mode: str
    skipped: dict[str, int]
    noise: float | None
    model: Any
    config: InferenceConfig
    options: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    key: str = ""

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (for ``--dry-run`` and the provenance)."""
        return {
            "mode": self.mode,
            "mosaic_shape": list(self.shape),
            "window_size": self.geometry.size,
            "window_overlap": self.geometry.overlap,
            "resampling_factor": self.geometry.factor,
            "beam_deg": list(self.geometry.beam),
            "beam_source": self.geometry.beam_source,
            "windows": len(self.windows),
            "batches": len(self.batches),
            "skipped_windows": dict(self.skipped),
            "noise": self.noise,
            "components": 0 if self.components is None else len(self.components),
        }


@dataclass
class SurveyResult:
    """What a survey run did.

    Attributes
    ----------
    plan : SurveyPlan
    complete : bool
        All batches finished (and the outputs written).
    batches_run : int
        Batches run by this call (the rest came from the manifest).
    n_sources : int
        Catalogue rows (0 until complete).
    paths : dict
        ``{role: Path}`` of the outputs written (:data:`OUTPUT_NAMES`).
    seconds : float
        Wall time of the call.
    """

    plan: SurveyPlan
    complete: bool = False
    batches_run: int = 0
    n_sources: int = 0
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


# ---- 1. plan ---------------------------------------------------------------------------
def plan_survey(
    mosaic: str | os.PathLike,
    *,
    infrared: str | os.PathLike | None = None,
    components: str | os.PathLike | None = None,
    model: Any = None,
    config: InferenceConfig | Mapping[str, Any] | None = None,
    n_sigma: float = 5.0,
    duplicate_overlap: float = 0.3,
    ra_column: str | None = None,
    dec_column: str | None = None,
    flux_column: str | None = None,
    id_column: str | None = None,
    threads: int = 1,
    checksums: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SurveyPlan:
    """Check the inputs and choose the windows of a survey (nothing is written).

    Parameters
    ----------
    mosaic : path-like
        Radio mosaic FITS (Jy/beam, celestial WCS, a beam in the header or ``config.beam``);
        memory-mapped.
    infrared : path-like, optional
        Infrared (WISE W1) mosaic FITS on any grid overlapping the radio one.
    components : path-like, optional
        A source finder's component catalogue (:func:`read_components`): windows are centred
        on its components (catalogue mode); without it the whole mosaic is tiled (blind).
    model : path, str or LoadedModel, optional
        Default :data:`DEFAULT_MODEL`.
    config : InferenceConfig, mapping or None
        The inference settings: an :class:`InferenceConfig` is used as it is; a mapping of
        fields (the user's choices) or ``None`` goes over the settings the model's card
        recommends (:meth:`~napari_radiogal.inference.LoadedModel.config`), as in
        :func:`~napari_radiogal.inference.segment` and ``radiogal predict``.
    n_sigma : float
        Blind mode: a window with no pixel above ``n_sigma`` times the mosaic's noise is
        skipped as noise only.
    duplicate_overlap : float
        Consolidation: overlap above which two detections are one source.
    ra_column, dec_column, flux_column, id_column : str, optional
        Catalogue column names (guessed when not given).
    threads : int
        Torch threads per worker (recorded in the plan: the last bits depend on it).
    checksums : bool
        Hash the input files (sha256, in the plan key and the provenance).
    progress : callable(done, total), optional
        Blind mode: windows checked for signal.

    Returns
    -------
    SurveyPlan

    Raises
    ------
    FitsFormatError
        Unreadable mosaic, or a mosaic without a celestial WCS.
    InputImageError
        The infrared mosaic does not overlap the radio one, or components lie off the mosaic.
    ConfigError
        A catalogue without RA/Dec columns, an unknown beam, bad options.
    """
    from napari_radiogal.inference import load_model
    from napari_radiogal.io.fits import read_infrared, read_radio

    if not n_sigma >= 0:
        raise ConfigError(f"n_sigma={n_sigma!r}: expected a number >= 0.")
    if int(threads) < 1:
        raise ConfigError(f"threads={threads!r}: expected at least 1.")
    mosaic = Path(mosaic)
    radio = read_radio(mosaic, lazy=True, require_wcs=True)
    ir_path = None if infrared is None else Path(infrared)
    if ir_path is not None:
        _check_overlap(read_infrared(ir_path, lazy=True, require_wcs=True), radio)
    table = None
    xy = np.zeros((0, 2))
    if components is not None:
        table = read_components(
            components,
            ra_column=ra_column,
            dec_column=dec_column,
            flux_column=flux_column,
            id_column=id_column,
        )
        xy = _components_on_mosaic(table, radio)
    if isinstance(config, InferenceConfig):
        device = config.device
    else:
        settings = dict(config or {})
        device = InferenceConfig().replace(**settings).device  # checked before the load
    lm = load_model(model if model is not None else DEFAULT_MODEL, device=device)
    if not isinstance(config, InferenceConfig):
        config = lm.config(**settings)
    geometry = survey_geometry(radio, lm.geometry, config)
    shape = radio.shape
    if geometry.size > min(shape):
        raise InputImageError(
            f"the mosaic {shape} is smaller than one window ({geometry.size} px); segment it "
            "with radiogal predict instead."
        )
    noise = None
    skipped = {"blank": 0, "noise": 0}
    if table is None:
        noise = mosaic_noise(radio)
        windows, skipped = blind_windows(
            radio,
            geometry.size,
            geometry.overlap,
            threshold=n_sigma * noise if np.isfinite(noise) else np.inf,
            progress=progress,
        )
        mode = "blind"
    else:
        order = np.lexsort((np.arange(len(table)), -np.nan_to_num(table.flux, nan=-np.inf)))
        windows, _ = catalogue_windows(
            xy, order, geometry.size, shape, margin=geometry.overlap // 2
        )
        mode = "catalogue"
    options = {
        "n_sigma": float(n_sigma),
        "duplicate_overlap": float(duplicate_overlap),
        "ra_column": ra_column,
        "dec_column": dec_column,
        "flux_column": flux_column,
        "id_column": id_column,
        "threads": int(threads),
    }
    inputs = _input_records(
        {"radio": mosaic, "ir": ir_path, "components": None if table is None else table.path},
        checksums,
    )
    batches = _batches(windows, mosaic, ir_path, lm, config)
    plan = SurveyPlan(
        mosaic=mosaic,
        infrared=ir_path,
        components=table,
        component_xy=xy,
        shape=shape,
        geometry=geometry,
        windows=windows,
        batches=batches,
        mode=mode,
        skipped=skipped,
        noise=noise,
        model=lm,
        config=config,
        options=options,
        inputs=inputs,
    )
    key = plan_key(
        {
            "inputs": {k: v.get("sha256") for k, v in inputs.items()},
            "model": lm.sha256,
            "config": config.to_dict(),
            "options": options,
            "windows": [dataclasses.astuple(w) for w in windows],
        }
    )
    return dataclasses.replace(plan, key=key)


def _check_overlap(ir: Any, radio: Any) -> None:
    """Refuse an infrared mosaic that covers no part of the radio one."""
    import warnings

    height, width = radio.shape
    xs, ys = np.meshgrid(np.linspace(0, width - 1, 17), np.linspace(0, height - 1, 17))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # points off a projection come back NaN
        sky = radio.wcs.pixel_to_world(xs.ravel(), ys.ravel())
        ir_x, ir_y = ir.wcs.world_to_pixel(sky)
    ir_h, ir_w = ir.shape
    inside = (ir_x > -0.5) & (ir_x < ir_w - 0.5) & (ir_y > -0.5) & (ir_y < ir_h - 0.5)
    if not inside.any():
        centre = radio.wcs.pixel_to_world((width - 1) / 2, (height - 1) / 2)
        ir_centre = ir.wcs.pixel_to_world((ir_w - 1) / 2, (ir_h - 1) / 2)
        raise InputImageError(
            f"the infrared mosaic {ir.path} does not overlap the radio mosaic {radio.path}: "
            f"their centres are {centre.separation(ir_centre).deg:.2f} deg apart. Give the "
            "infrared image of the same field, or leave --ir out."
        )


def _components_on_mosaic(table: Components, radio: Any) -> np.ndarray:
    """``(N, 2)`` pixel positions of the components; refuses any off the mosaic."""
    x, y = radio.wcs.world_to_pixel_values(table.ra, table.dec)
    xy = np.stack([np.asarray(x, float), np.asarray(y, float)], axis=1)
    height, width = radio.shape
    inside = (
        np.isfinite(xy).all(axis=1)
        & (xy[:, 0] > -0.5)
        & (xy[:, 0] < width - 0.5)
        & (xy[:, 1] > -0.5)
        & (xy[:, 1] < height - 0.5)
    )
    if not inside.all():
        bad = np.flatnonzero(~inside)
        shown = ", ".join(table.ids[bad[:5]].tolist())
        raise InputImageError(
            f"{len(bad)} of the {len(table)} components of {table.path} lie outside the "
            f"mosaic {radio.path} ({height} x {width} px), e.g. {shown}; give the catalogue "
            "of this mosaic's field (or cut it to the mosaic's footprint first)."
        )
    return xy


def _input_records(paths: dict[str, Path | None], checksums: bool) -> dict[str, dict[str, Any]]:
    from napari_radiogal.io.provenance import file_sha256

    out = {}
    for role, path in paths.items():
        if path is None:
            continue
        out[role] = {
            "path": str(path),
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path) if checksums else None,
        }
    return out


def _batches(windows: list[Window], mosaic: Path, ir: Path | None, lm: Any, config) -> list:
    size = int(config.batch_size)
    numbered = list(enumerate(windows))
    return [
        BatchSpec(
            index=i // size,
            windows=tuple(numbered[i : i + size]),
            mosaic=str(mosaic),
            infrared=None if ir is None else str(ir),
            model=str(lm.path),
            config=config.to_dict(),
        )
        for i in range(0, len(numbered), size)
    ]


# ---- 2. run ----------------------------------------------------------------------------
def run_plan(
    plan: SurveyPlan,
    manifest: Manifest,
    *,
    client: Any = None,
    progress: ProgressCallback | None = None,
    stop_after: int | None = None,
) -> int:
    """Run the batches of a plan that the manifest does not list yet.

    Parameters
    ----------
    plan : SurveyPlan
    manifest : Manifest
        Records each batch as it finishes.
    client : distributed.Client, optional
        Run the batches on this cluster (its workers' threads set by
        :func:`~napari_radiogal.survey.distributed.connect`); in this process otherwise, with
        ``plan.options["threads"]`` torch threads
        (:func:`~napari_radiogal.survey.work.torch_threads`).
    progress : callable(windows_done, windows_total, detections), optional
        After every batch (finished batches of earlier runs count as done).
    stop_after : int, optional
        Stop after this many batches of this call (a crash stand-in for tests).

    Returns
    -------
    int
        Batches run by this call.
    """
    pending = [b for b in plan.batches if b.index not in manifest.done]
    sizes = {b.index: len(b.windows) for b in plan.batches}
    state = {"windows": sum(sizes[i] for i in manifest.done), "detections": 0, "run": 0}
    total = len(plan.windows)
    if progress is not None:
        progress(state["windows"], total, state["detections"])

    def on_result(spec: BatchSpec, dataset: Any) -> bool:
        manifest.record(spec.index, dataset)
        state["windows"] += sizes[spec.index]
        state["detections"] += len(dataset.instances)
        state["run"] += 1
        if progress is not None:
            progress(state["windows"], total, state["detections"])
        return stop_after is None or state["run"] < stop_after

    if client is not None:
        from napari_radiogal.survey.distributed import run_batches

        run_batches(client, pending, on_result)
    else:
        with torch_threads(plan.options["threads"]):
            for spec in pending:
                if not on_result(spec, run_batch(spec)):
                    break
    return state["run"]


# ---- 3. consolidate and write ------------------------------------------------------------
def load_detections(plan: SurveyPlan, manifest: Manifest) -> list[WindowDetection]:
    """The detections of every finished batch, placed in mosaic pixels, in window order."""
    detections = []
    for spec in plan.batches:
        dataset = manifest.load(spec.index)
        windows = dict(spec.windows)
        by_image = {im.id: windows[im.id - 1] for im in dataset.images}
        for inst in dataset.instances:
            win = by_image[inst.image_id]
            det = window_detection(win, inst)
            det.extra["window_number"] = int(inst.image_id) - 1
            detections.append(det)
    return detections


def write_catalogue(
    plan: SurveyPlan,
    manifest: Manifest,
    out_dir: str | os.PathLike,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    name_prefix: str = DEFAULT_NAME_PREFIX,
) -> tuple[int, dict[str, Path]]:
    """Consolidate the finished windows of a plan and write the output set, as one.

    Parameters
    ----------
    plan : SurveyPlan
    manifest : Manifest
        Complete.
    out_dir : path-like
    formats : sequence of str
        Keys of :data:`~napari_radiogal.io.export.OUTPUT_FORMATS` (the COCO file is
        ``windows.json``); ``provenance.json`` is always written.
    name_prefix : str
        Prefix of the catalogue's source names.

    Returns
    -------
    (n_sources, paths)
        ``paths`` by role (:data:`OUTPUT_NAMES`). The files are published together
        (:func:`napari_radiogal.io.outputset.write_set`); a previous survey's are kept as
        ``NAME.bak``.
    """
    from napari_radiogal.io.atomic import atomic_write_text
    from napari_radiogal.io.export import OUTPUT_FORMATS, write_output
    from napari_radiogal.io.outputset import write_set
    from napari_radiogal.survey.consolidate import assign_components, consolidate
    from napari_radiogal.survey.outputs import (
        catalogue_table,
        source_regions,
        windows_dataset,
    )

    out_dir = Path(out_dir)
    detections = load_detections(plan, manifest)
    merged = consolidate(
        detections, plan.shape, duplicate_overlap=plan.options["duplicate_overlap"]
    )
    cut = [is_cut(d, plan.shape) for d in merged]
    absorbed = assign_components(merged, plan.component_xy)
    radio, _ = open_mosaics(str(plan.mosaic), None if plan.infrared is None else str(plan.infrared))
    provenance = survey_provenance(plan)
    undated = {k: v for k, v in provenance.items() if k != "date"}
    table, order = catalogue_table(
        merged, cut, absorbed, plan, radio, undated, name_prefix=name_prefix
    )
    sources = [merged[i] for i in order]
    objects = {
        "catalogue": table,
        "regions": source_regions(sources, table, radio.wcs, plan.model.scheme),
        "dataset": windows_dataset(sources, table, plan, undated),
    }

    def writer(fmt: str):
        return lambda path: write_output(path, fmt, objects[OUTPUT_FORMATS[fmt].content])

    roles = [_FORMAT_ROLES.get(f, f) for f in formats]
    writers = {OUTPUT_NAMES[role]: writer(f) for f, role in zip(formats, roles, strict=True)}
    text = json.dumps(provenance, indent=1) + "\n"
    writers[OUTPUT_NAMES["provenance"]] = lambda path: atomic_write_text(path, text)
    write_set(out_dir, "survey", writers, also_retire=OUTPUT_NAMES.values())
    return len(table), {role: out_dir / OUTPUT_NAMES[role] for role in [*roles, "provenance"]}


def survey_provenance(plan: SurveyPlan) -> dict[str, Any]:
    """How the catalogue was made: software, model (name, sha256), options, inputs, plan.

    ``date`` is the only entry that changes between identical runs; the catalogue's
    metadata and the COCO file of the windows leave it out.
    """
    from napari_radiogal.io.provenance import jsonable, provenance_info

    info = provenance_info(
        description="napari-radiogal survey catalogue",
        model_name=plan.model.name,
        model_sha256=plan.model.sha256,
        parameters={"inference": plan.config.to_dict(), "survey": plan.options},
        checksums=False,
    )
    return jsonable(
        {
            "software": info["software"],
            "model": info["model"],
            "parameters": info["parameters"],
            "inputs": plan.inputs,
            "plan": plan.describe(),
            "plan_key": plan.key,
            "date": info["date_created"],
        }
    )


def survey(
    mosaic: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    infrared: str | os.PathLike | None = None,
    components: str | os.PathLike | None = None,
    model: Any = None,
    config: InferenceConfig | Mapping[str, Any] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    threads: int = 1,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    stop_after: int | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    name_prefix: str = DEFAULT_NAME_PREFIX,
    **plan_options: Any,
) -> SurveyResult:
    """Segment a whole mosaic and write one consolidated catalogue (resumable).

    Parameters
    ----------
    mosaic : path-like
        Radio mosaic FITS (see :func:`plan_survey`).
    out_dir : path-like
        Output folder (:data:`OUTPUT_NAMES`, and ``state/`` with the manifest). A folder
        holding an unfinished run of the same plan is resumed.
    infrared, components, model, config
        As in :func:`plan_survey`.
    workers : int
        0: run in this process; N: on a new local Dask cluster of N worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler (wins over ``workers``).
    threads : int
        Torch threads per worker (or in this process). The last bits of the scores depend
        on it, so it is part of the plan; use ``workers`` to use more cores.
    overwrite : bool
        Start again in ``out_dir``: the earlier run's state is deleted, and its outputs are
        kept as ``NAME.bak`` when the new ones replace them.
    progress : callable(windows_done, windows_total, detections), optional
    stop_after : int, optional
        Stop after this many batches (the outputs are then not written; a rerun resumes).
    formats : sequence of str
        Output formats (:func:`write_catalogue`).
    name_prefix : str
        Prefix of the catalogue's IAU-style source names.
    **plan_options
        ``n_sigma``, ``duplicate_overlap``, ``ra_column``, ``dec_column``, ``flux_column``,
        ``id_column``, ``checksums`` of :func:`plan_survey`.

    Returns
    -------
    SurveyResult

    Raises
    ------
    FitsFormatError, InputImageError, ConfigError
        Bad inputs (see :func:`plan_survey`), outputs that exist (without ``overwrite``), an
        unreachable scheduler: all before any work, with nothing written.
    StorageError
        When another process is writing into ``out_dir``.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    plan = plan_survey(
        mosaic,
        infrared=infrared,
        components=components,
        model=model,
        config=config,
        threads=threads,
        **plan_options,
    )
    from napari_radiogal.io.outputset import output_lock

    with output_lock(out_dir):
        return _survey_locked(
            plan,
            out_dir,
            start,
            workers=workers,
            scheduler=scheduler,
            threads=threads,
            overwrite=overwrite,
            progress=progress,
            stop_after=stop_after,
            formats=formats,
            name_prefix=name_prefix,
        )


def _survey_locked(
    plan: SurveyPlan, out_dir: Path, start: float, *, overwrite: bool, **options: Any
) -> SurveyResult:
    """The rest of :func:`survey`, with the output folder locked."""
    state_dir = out_dir / "state"
    manifest = None
    workers, scheduler, threads = options["workers"], options["scheduler"], options["threads"]
    if not overwrite:
        _refuse_foreign_outputs(out_dir)
        manifest = Manifest(state_dir, plan.key, len(plan.batches))
    client = cluster = None
    if (workers or scheduler) and (manifest is None or not manifest.complete):
        from napari_radiogal.survey.distributed import connect

        client, cluster = connect(workers=workers, scheduler=scheduler, threads=threads)
    if manifest is None:
        # the outputs stay until the new ones replace them (and keep them as NAME.bak)
        shutil.rmtree(state_dir, ignore_errors=True)
        manifest = Manifest(state_dir, plan.key, len(plan.batches))
    result = SurveyResult(plan)
    try:
        if not manifest.path.exists():
            manifest.save()
        result.batches_run = run_plan(
            plan,
            manifest,
            client=client,
            progress=options["progress"],
            stop_after=options["stop_after"],
        )
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    result.complete = manifest.complete
    if result.complete:
        result.n_sources, result.paths = write_catalogue(
            plan, manifest, out_dir, formats=options["formats"], name_prefix=options["name_prefix"]
        )
    result.seconds = time.perf_counter() - start
    return result


def _refuse_foreign_outputs(out_dir: Path) -> None:
    """Outputs without a manifest were not made by a resumable run of this plan."""
    if (out_dir / "state" / "manifest.json").exists():
        return
    existing = [str(out_dir / n) for n in OUTPUT_NAMES.values() if (out_dir / n).exists()]
    if existing:
        raise ConfigError(
            f"output file(s) already exist: {', '.join(existing)}; pass --overwrite to "
            "replace them or choose another --out."
        )
