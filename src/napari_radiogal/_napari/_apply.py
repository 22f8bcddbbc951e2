"""Put annotations onto a radio layer in a viewer, and take them off again (export).

One code path serves every source of annotations: a prediction coming back from the
segment widget's worker, a COCO file imported onto an image, and an autosave sidecar being
restored. Each becomes a Labels + Points pair (and radio contours over the IR image) bound
into an :class:`~._edits.AnnotationSession` with an :class:`~._autosave.Autosaver`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset

from ._autosave import (
    Autosaver,
    context_for_radio_layer,
    existing_sidecar,
    record_for_json,
    sidecar_path,
)
from ._display import full_resolution, layer_transform
from ._edits import AnnotationSession, session_for
from ._layers import KIND_KEY, META_KEY, ImageContext, contour_layer_data, dataset_to_layer_data

log = logging.getLogger(__name__)

__all__ = [
    "add_annotations",
    "add_contours",
    "restore_sidecar",
    "import_coco",
    "export_session",
    "radio_layers",
    "infrared_layers",
    "session_of_radio_layer",
]


def radio_layers(viewer) -> list:
    """Radio Image layers of a viewer (opened by this plugin's reader), top first."""
    return [lay for lay in list(viewer.layers)[::-1] if lay.metadata.get(KIND_KEY) == "radio"]


def infrared_layers(viewer) -> list:
    """Infrared Image layers of a viewer, top first."""
    return [lay for lay in list(viewer.layers)[::-1] if lay.metadata.get(KIND_KEY) == "infrared"]


def _radio_key(radio_layer) -> str:
    return str(radio_layer.metadata.get("path") or f"layer:{radio_layer.name}")


def session_of_radio_layer(viewer, radio_layer) -> AnnotationSession | None:
    """The newest annotation session made on a radio layer, if any."""
    key = _radio_key(radio_layer)
    for layer in list(viewer.layers)[::-1]:
        ctx = layer.metadata.get(META_KEY)
        if layer.metadata.get(KIND_KEY) == "instances" and getattr(ctx, "radio_key", None) == key:
            return session_for(layer, viewer)
    return None


def _pick_image(dataset: CocoDataset, radio_name: str | None, shape: tuple[int, int]) -> int:
    """The id of the dataset image that belongs to a radio image (file name, else size)."""
    from napari_radiogal.errors import CocoFormatError

    if len(dataset.images) == 1:
        return dataset.images[0].id
    for im in dataset.images:
        if radio_name and Path(str(im.radio_file or im.file_name)).name == radio_name:
            return im.id
    same_size = [im.id for im in dataset.images if (im.height, im.width) == tuple(shape)]
    if len(same_size) == 1:
        return same_size[0]
    raise CocoFormatError(
        f"the file has {len(dataset.images)} images and none is named {radio_name!r}; "
        "import a file made for this image",
        field="images",
    )


@dataclass
class PreparedLayers:
    """Everything :func:`add_annotations` needs, computed without touching the viewer.

    :func:`prepare_layers` may run in a worker thread (the segment widget does so), so the
    GUI thread only creates the layers.
    """

    ctx: ImageContext
    labels: tuple
    points: tuple
    contours: tuple | None = None


def radio_snapshot(radio_layer, ir_layer=None, *, info: dict | None = None) -> ImageContext:
    """The :class:`ImageContext` of a radio layer, taken in the GUI thread (cheap)."""
    ctx = context_for_radio_layer(radio_layer, ir_layer, info=info)
    ctx.radio_key = _radio_key(radio_layer)
    ctx.layer_name = radio_layer.name
    return ctx


def prepare_layers(
    dataset: CocoDataset, ctx: ImageContext, *, contours: bool = True
) -> PreparedLayers:
    """Layer data (Labels, Points and radio contours) of a dataset on a radio snapshot.

    Thread-safe: reads only ``dataset`` and ``ctx`` (from :func:`radio_snapshot`).
    """
    name = ctx.layer_name or Path(ctx.record.file_name).stem
    radio_name = Path(ctx.radio_path).name if ctx.radio_path else None
    image_id = _pick_image(dataset, radio_name, ctx.shape)
    ctx.record.id = image_id
    source = dataset.image(image_id)
    # keep what the source knows about the image (class probabilities, orphan hosts...)
    # but not its file paths: the radio layer's are the truth now
    for key, value in source.extra.items():
        if key not in ("radio_path", "ir_path"):
            ctx.record.extra.setdefault(key, value)
    if ctx.record.noise_sigma is None:
        ctx.record.noise_sigma = source.noise_sigma
    if not ctx.info:
        ctx.info = dict(dataset.info)
    labels, points = dataset_to_layer_data(dataset, ctx, name=name, image_id=image_id)
    contour_data = _contour_data(ctx, name) if contours else None
    return PreparedLayers(ctx=ctx, labels=labels, points=points, contours=contour_data)


def _contour_data(ctx: ImageContext, name: str, *, start: float = 3.0, factor: float = 2.0):
    """Contour layer data of the snapshot's radio image (``None`` without emission)."""
    from napari_radiogal.stats import clipped_noise

    if ctx.radio is None:
        return None
    data = np.asarray(ctx.radio)
    noise = ctx.record.noise_sigma or float(clipped_noise(data))
    pix = ctx.pixel_scale_arcsec
    beam = ctx.beam
    min_area = 10.0
    if beam is not None and pix:
        # islands smaller than half a beam are noise, not emission worth a contour
        min_area = 0.5 * np.pi * beam[0] * beam[1] * 3600.0**2 / (4 * np.log(2)) / pix**2
    paths, kwargs, kind = contour_layer_data(
        data,
        noise,
        layer_transform(data.shape, pix),
        name=name,
        start=start,
        factor=factor,
        min_area_px=min_area,
        metadata={"radio_key": ctx.radio_key},
    )
    return (paths, kwargs, kind) if paths else None


def add_annotations(
    viewer,
    dataset: CocoDataset | None,
    radio_layer,
    ir_layer=None,
    *,
    info: dict[str, Any] | None = None,
    autosave: bool = True,
    contours: bool = True,
    keep_edited: bool = True,
    prepared: PreparedLayers | None = None,
) -> AnnotationSession:
    """Show a dataset's instances on a radio layer as Labels + Points (+ contours).

    Parameters
    ----------
    viewer : napari.Viewer
    dataset : CocoDataset
        Predictions or annotations; the image matching ``radio_layer`` is used. May be
        ``None`` when ``prepared`` is given.
    radio_layer : napari.layers.Image
        A radio layer of this plugin's reader (gives WCS, beam, noise, path).
    ir_layer : napari.layers.Image, optional
        Its infrared image on the same grid (contours are drawn over it).
    info : dict, optional
        Provenance to keep (default: the dataset's ``info``).
    autosave : bool
        Attach an :class:`~._autosave.Autosaver` (sidecar next to the radio file).
    contours : bool
        Add radio contours over the IR image when none exist for this radio layer yet.
    keep_edited : bool
        Keep an earlier session with hand edits as "(previous)" layers (else it is saved
        to its sidecar and replaced).
    prepared : PreparedLayers, optional
        The layer data, already computed by :func:`prepare_layers` (e.g. in a worker).

    Returns
    -------
    AnnotationSession
        Bound to the new layers. An earlier session on the same radio layer without hand
        edits gets the new content in its own layers; one with hand edits is autosaved and
        kept as "(previous)" layers (or replaced, with ``keep_edited=False``).
    """
    if prepared is None:
        ctx = radio_snapshot(radio_layer, ir_layer, info=info)
        want_contours = contours and ir_layer is not None
        want_contours = want_contours and not _has_contours(viewer, ctx.radio_key)
        prepared = prepare_layers(dataset, ctx, contours=want_contours)
    ctx = prepared.ctx
    (ldata, lkw, _), (pdata, pkw, _) = prepared.labels, prepared.points
    old = session_of_radio_layer(viewer, radio_layer)
    if old is not None and not old.edited:
        # a re-run over an untouched result: reuse the layers (fast, keeps the user's
        # layer settings such as opacity or contour mode)
        old.replace_content(ldata, lkw, pdata, pkw)
        return old
    if old is not None:
        _retire(viewer, old, keep_edited=keep_edited)
    if (
        contours
        and ir_layer is not None
        and prepared.contours is not None
        and not _has_contours(viewer, ctx.radio_key)
    ):
        _add_contour_layer(viewer, prepared.contours, ir_layer)
    from napari.layers import Labels, Points

    # bind the session before the layers enter the viewer, so that listeners of
    # viewer.layers (the instance table) find a complete session
    labels, points = Labels(ldata, **lkw), Points(pdata, **pkw)
    session = AnnotationSession(labels, points)
    viewer.add_layer(labels)
    viewer.add_layer(points)
    if autosave:
        Autosaver(session)
    viewer.layers.selection.active = labels
    return session


def _retire(viewer, session: AnnotationSession, *, keep_edited: bool = True) -> None:
    """Remove an old session's layers, or keep them renamed when they hold hand edits."""
    if session.edited and getattr(session, "autosaver", None) is not None:
        session.autosaver.save_now()
    if session.edited and keep_edited:
        for layer in (session.labels, session.points):
            layer.name = f"{layer.name} (previous)"
            layer.metadata[META_KEY].radio_key = None
        from napari.utils.notifications import show_info

        show_info(
            "The earlier annotations had hand edits: they are kept as '(previous)' layers "
            "(and autosaved); delete them when you no longer need them."
        )
        return
    for layer in (session.points, session.labels):
        if layer in viewer.layers:
            viewer.layers.remove(layer)


def _has_contours(viewer, radio_key: str) -> bool:
    return any(
        lay.metadata.get(KIND_KEY) == "contours" and lay.metadata.get("radio_key") == radio_key
        for lay in viewer.layers
    )


def add_contours(viewer, radio_layer, ir_layer=None):
    """Add radio contours (3, 6, 12... sigma, a Shapes path layer) just above the IR image."""
    data = _contour_data(radio_snapshot(radio_layer, ir_layer), radio_layer.name)
    if data is None:
        log.info("no radio emission above 3 sigma: no contours")
        return None
    return _add_contour_layer(viewer, data, ir_layer)


def _add_contour_layer(viewer, data, ir_layer):
    paths, kwargs, _ = data
    layer = viewer.add_shapes(paths, **kwargs)
    if ir_layer is not None and ir_layer in viewer.layers:
        viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(ir_layer) + 1)
    return layer


def restore_sidecar(viewer, radio_path: str | os.PathLike) -> AnnotationSession | None:
    """Put the autosaved annotations of a radio file back onto its layer."""
    from napari.utils.notifications import show_error, show_info

    from napari_radiogal.io.coco import read_coco

    radio_path = Path(radio_path)
    layer = next(
        (
            lay
            for lay in radio_layers(viewer)
            if lay.metadata.get("path") and Path(lay.metadata["path"]) == radio_path
        ),
        None,
    )
    side = existing_sidecar(radio_path) or sidecar_path(radio_path)
    if layer is None:
        show_error(f"Open {radio_path.name} first, then restore its edits.")
        return None
    try:
        dataset = read_coco(side)
        session = add_annotations(
            viewer, dataset, layer, _partner_ir(viewer, layer), keep_edited=False
        )
    except (OSError, ValueError) as exc:
        show_error(f"Could not restore {side.name}: {exc}")
        return None
    show_info(f"Restored {len(session.instance_ids())} instances from {side.name}.")
    return session


def _partner_ir(viewer, radio_layer):
    """The IR layer on the same grid as a radio layer (reprojected onto it), if any."""
    path = radio_layer.metadata.get("path")
    shape = np.shape(full_resolution(radio_layer))
    irs = infrared_layers(viewer)
    for ir in irs:
        if path and ir.metadata.get("reprojected_onto") == path:
            return ir
    for ir in irs:
        if np.shape(full_resolution(ir)) == shape:
            return ir
    return None


def import_coco(
    viewer, json_path: str | os.PathLike, radio_layer, ir_layer=None
) -> AnnotationSession:
    """Load a COCO file (ours or any RLE/polygon COCO) onto a radio layer."""
    from napari_radiogal.io.coco import read_coco

    dataset = read_coco(json_path)
    return add_annotations(
        viewer, dataset, radio_layer, ir_layer or _partner_ir(viewer, radio_layer)
    )


def export_session(
    session: AnnotationSession,
    out_dir: str | os.PathLike,
    stem: str | None = None,
    *,
    formats: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Export an annotation: the output set of ``radiogal predict``, written as one.

    Parameters
    ----------
    session : AnnotationSession
    out_dir : path-like
        Folder for the files (created).
    stem : str, optional
        File name stem (default: the radio file's).
    formats : sequence of str, optional
        Keys of :data:`~napari_radiogal.io.export.OUTPUT_FORMATS` (default: all: COCO JSON,
        ECSV, FITS table, VOTable, DS9 and CRTF regions).

    Returns
    -------
    dict
        ``{format name: Path}``. The COCO file keeps the instance ids (= labels),
        ``reviewed`` flags and the provenance; the catalogue and regions are those of
        ``radiogal predict`` plus the ``reviewed`` and ``drawn`` columns. An earlier export
        of the same stem is kept as ``NAME.bak`` (every file of it), the rule of
        ``radiogal predict --overwrite``.

    Raises
    ------
    StorageError
        When another process is writing into ``out_dir``.
    """
    from napari_radiogal.io.export import DEFAULT_FORMATS, output_paths, write_outputs

    from ._catalogue import catalogue_table, dataset_regions

    if stem is None:
        from napari_radiogal.io.paths import fits_stem

        stem = fits_stem(session.ctx.record.file_name)
    formats = tuple(DEFAULT_FORMATS if formats is None else formats)
    dataset = session.to_dataset()
    coco_path = output_paths(out_dir, stem, ["coco"])["coco"]
    return write_outputs(
        out_dir,
        stem,
        dataset=record_for_json(dataset, coco_path),
        catalogue=catalogue_table(dataset, session.ctx),
        regions=dataset_regions(dataset, session.ctx),
        formats=formats,
    )
