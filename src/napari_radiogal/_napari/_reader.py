"""napari reader: radio and WISE FITS images, and our COCO files.

* Each FITS file is told radio or infrared by
  :func:`napari_radiogal.io.surveys.fits_kind` (re-exported here).
* A **radio** file becomes an Image layer in Jy/beam with an asinh-stretched ``inferno``
  colormap; an **infrared** file a ``gray`` Image layer with zscale limits. NaN is blank.
  Both are shown north up (see :mod:`._display`) and carry in ``metadata``: ``wcs``,
  ``beam`` (degrees), ``unit``, ``noise_sigma`` (radio, Jy/beam), ``frequency_hz``,
  ``pixel_scale_arcsec``, ``path``, ``header`` and the read image object (``image``).
* An infrared file opened together with a radio file, or after one (the radio layer of
  the current viewer), is **reprojected onto the radio grid**, so both align pixel for
  pixel; its metadata then says ``reprojected_onto``.
* Images larger than :data:`LAZY_PIXELS` are memory-mapped (``lazy=True`` reads of
  :func:`napari_radiogal.io.fits.read_radio`): napari reads what it draws, and the
  segmentation widget's worker reads the pixels it segments.
* A COCO ``.json`` written by this plugin (export or autosave sidecar) is opened as the
  instance Labels and host Points layers on the grid it was made on.
* A **folder** (``napari folder/``, *File > Open Folder...*), or several radio images
  opened together, opens in the image browser (:mod:`._browser`): the cut-outs are listed
  without opening them, the first pair is shown as above, and a dock switches between them
  with one autosave per image.

Errors in a file (our :class:`~napari_radiogal.errors.RadiogalError`, or what astropy raises
on a broken file) become a napari error notification and the reader returns napari's "no
layers" sentinel, so the viewer keeps working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.io.pairing import read_image_header
from napari_radiogal.io.paths import fits_stem, is_fits_path
from napari_radiogal.io.surveys import fits_kind

log = logging.getLogger(__name__)

__all__ = [
    "napari_get_reader",
    "fits_kind",
    "read_fits_paths",
    "read_folder",
    "pair_layer_data",
    "radio_layer_data",
    "infrared_layer_data",
]

LayerData = tuple[Any, dict[str, Any], str]
#: Folders of these suffixes are images of other formats, not folders of cut-outs.
OTHER_FOLDER_FORMATS = (".zarr", ".n5")
_NO_LAYERS: list = [(None,)]


def _is_fits(path: str | os.PathLike) -> bool:
    return is_fits_path(path)


def napari_get_reader(path: str | Sequence[str]) -> Callable | None:
    """npe2 reader hook: a reader for FITS files, folders of them and our COCO JSON, or ``None``."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if paths and any(Path(p).is_dir() for p in paths):
        # folder formats of other readers (a zarr store is a folder too) are theirs
        other = any(Path(p).name.lower().endswith(OTHER_FOLDER_FORMATS) for p in paths)
        return None if other else read_folder
    if paths and all(_is_fits(p) for p in paths):
        return read_fits_paths
    if len(paths) == 1 and str(paths[0]).lower().endswith(".json") and _looks_like_coco(paths[0]):
        return read_coco_path
    return None


def _looks_like_coco(path: str | os.PathLike) -> bool:
    """A cheap check of the first kilobytes (the reader must not claim every JSON file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(65536)
    except (OSError, UnicodeDecodeError):
        return False
    return '"annotations"' in head or '"categories"' in head or '"images"' in head


def radio_layer_data(radio, *, name: str | None = None) -> LayerData:
    """Image layer-data tuple of a :class:`~napari_radiogal.io.fits.RadioImage`."""
    from napari_radiogal.stats import clipped_noise

    from ._display import (
        image_layer_name,
        layer_transform,
        radio_contrast_limits,
        shown_as,
        stretched_colormap,
    )

    data = np.asarray(radio.data)
    # the paper's clipped-MAD noise; on a regular subsample of big mosaics (same statistic)
    step = max(1, int(np.ceil(np.sqrt(data.size / 4_000_000))))
    sample = np.asarray(data[::step, ::step])
    noise = float(clipped_noise(sample)) if np.isfinite(sample).any() else None
    beam = None if radio.beam is None else tuple(float(b) for b in radio.beam)
    meta = {
        "radiogal_kind": "radio",
        "wcs": radio.wcs,
        "beam": beam,
        "unit": radio.unit,
        "noise_sigma": noise,
        "frequency_hz": radio.frequency_hz,
        "pixel_scale_arcsec": radio.pixel_scale_arcsec,
        "path": None if radio.path is None else str(radio.path),
        "header": radio.header,
        "image": radio,
    }
    kwargs = {
        "name": name or image_layer_name(radio.path, "radio"),
        "colormap": stretched_colormap("inferno", "asinh"),
        "contrast_limits": radio_contrast_limits(data, noise),
        "metadata": meta,
        "blending": "additive",
        **layer_transform(data.shape, radio.pixel_scale_arcsec),
    }
    shown, multiscale = shown_as(data)
    return shown, {**kwargs, **multiscale}, "image"


def infrared_layer_data(ir, *, name: str | None = None, onto=None) -> LayerData:
    """Image layer-data tuple of an :class:`~napari_radiogal.io.fits.InfraredImage`.

    Parameters
    ----------
    ir : InfraredImage
        On its own grid.
    onto : RadioImage, optional
        When given, ``ir`` is reprojected onto this radio grid first (same shape, WCS and
        layer transform as the radio layer).
    """
    from ._display import image_layer_name, layer_transform, shown_as, zscale_limits

    source_path = ir.path
    reprojected_onto = None
    if onto is not None:
        from napari_radiogal.io.align import reproject_to_grid

        ir = reproject_to_grid(ir, onto)
        reprojected_onto = None if onto.path is None else str(onto.path)
        scale = onto.pixel_scale_arcsec
    else:
        scale = ir.pixel_scale_arcsec
    data = np.asarray(ir.data)
    meta = {
        "radiogal_kind": "infrared",
        "wcs": ir.wcs,
        "beam": None,
        "unit": ir.unit,
        "magzp": getattr(ir, "magzp", None),
        "pixel_scale_arcsec": scale,
        "path": None if source_path is None else str(source_path),
        "header": ir.header,
        "reprojected_onto": reprojected_onto,
        "image": ir,
    }
    kwargs = {
        "name": name or image_layer_name(source_path, "infrared", ir.header),
        "colormap": "gray",
        "contrast_limits": zscale_limits(data),
        "blending": "additive",
        "metadata": meta,
        **layer_transform(data.shape, scale),
    }
    shown, multiscale = shown_as(data)
    return shown, {**kwargs, **multiscale}, "image"


def _stem(path: str | os.PathLike | None, default: str) -> str:
    return default if path is None else fits_stem(path)


def _radio_in_viewer():
    """The radio image of the current viewer's selected (or topmost) radio layer, if any."""
    try:
        import napari
    except ImportError:  # pragma: no cover
        return None
    viewer = napari.current_viewer()
    if viewer is None:
        return None
    active = viewer.layers.selection.active
    candidates = [active] if active is not None else []
    candidates += list(viewer.layers)[::-1]
    for layer in candidates:
        if layer is not None and layer.metadata.get("radiogal_kind") == "radio":
            return layer.metadata.get("image")
    return None


def read_fits_paths(path: str | Sequence[str]) -> list[LayerData]:
    """Read radio and infrared FITS files into layers (IR reprojected onto the radio grid).

    Both kinds use additive blending, so whichever order napari stacks them in (it opens a
    list of files one at a time), the radio emission glows over the grey infrared sky.
    Several radio images in one list open in the image browser (:func:`read_folder`).
    """
    from napari.utils.notifications import show_error, show_info

    paths = [Path(path)] if isinstance(path, str | os.PathLike) else [Path(p) for p in path]
    try:
        if len(paths) > 1 and _radio_count(paths) > 1:
            return read_folder(paths)
        radios, irs = _read_all(paths)
    except (ValueError, OSError, TypeError) as exc:
        # RadiogalError subclasses are ValueErrors; astropy raises OSError on non-FITS files
        log.warning("could not open %s: %s", [str(p) for p in paths], exc)
        show_error(f"napari-radiogal could not open {', '.join(p.name for p in paths)}: {exc}")
        return _NO_LAYERS
    onto = radios[0] if radios else _radio_in_viewer()
    layers, aligned = _infrared_layers(irs, onto)
    layers += [radio_layer_data(radio) for radio in radios]
    if radios:
        layers += _realign_lonely_infrared(radios[0])
    if aligned and not radios:
        show_info(f"Infrared reprojected onto the radio grid of {_stem(onto.path, 'radio')}.")
    for radio in radios:
        _offer_autosave(radio.path)
    _install_sky_status()
    return layers


def pair_layer_data(radio_path: str | os.PathLike, ir_path=None) -> list[LayerData]:
    """Layer data of one radio image and its infrared image, as opening both files gives.

    Parameters
    ----------
    radio_path : path-like
        The radio FITS file.
    ir_path : path-like, optional
        Its infrared (WISE W1) file, reprojected onto the radio grid.

    Returns
    -------
    list of LayerData
        The infrared layer first (when given), then the radio layer, named ``NAME W1`` and
        ``NAME radio`` like :func:`read_fits_paths` names them.

    Raises
    ------
    InputImageError
        ``radio_path`` reads as an infrared image by its header.
    ValueError, OSError
        A file that cannot be read (what the readers raise).
    """
    from napari_radiogal.errors import InputImageError

    paths = [Path(radio_path)] + ([] if ir_path is None else [Path(ir_path)])
    radios, irs = _read_all(paths)
    if not radios or radios[0].path != paths[0]:
        raise InputImageError(
            f"{paths[0].name} reads as an infrared image by its header (MAGZP, BUNIT DN, "
            "TELESCOP WISE), not as the radio image of its pair. Fix its header or name, or "
            "list the pairs in a pairs.csv table (columns radio and ir)."
        )
    layers, _ = _infrared_layers(irs, radios[0])
    return [*layers, radio_layer_data(radios[0])]


def read_folder(path: str | Sequence[str]) -> list[LayerData]:
    """Open a folder (or several radio images) in the image browser of the current viewer.

    The browser (:func:`~._browser.open_browser`) adds the first pair's layers itself, so
    this returns napari's "no layers" sentinel; a folder that cannot be browsed (empty, no
    FITS file, ambiguous pairs) gives an error notification that says how to fix it.
    """
    import napari
    from napari.utils.notifications import show_error

    from ._browser import list_cutouts, open_browser

    paths = [Path(path)] if isinstance(path, str | os.PathLike) else [Path(p) for p in path]
    try:
        items = list_cutouts(paths)
    except (ValueError, OSError) as exc:
        log.warning("could not browse %s: %s", [str(p) for p in paths], exc)
        show_error(f"napari-radiogal could not open {', '.join(p.name for p in paths)}: {exc}")
        return _NO_LAYERS
    viewer = napari.current_viewer()
    if viewer is None:  # read outside any viewer (npe2 called directly): nowhere to browse
        show_error("napari-radiogal opens a folder of cut-outs in a viewer: open one first.")
        return _NO_LAYERS
    open_browser(viewer, items)
    return _NO_LAYERS


def _radio_count(paths: list[Path]) -> int:
    return sum(fits_kind(read_image_header(p), p) == "radio" for p in paths)


def _infrared_layers(irs: list, onto) -> tuple[list[LayerData], int]:
    """IR layers on the grid of ``onto`` (a radio image, or ``None``), and how many landed
    on it (the others missed it and keep their own grid)."""
    from napari.utils.notifications import show_error

    layers, aligned = [], 0
    for ir in irs:
        try:
            layers.append(infrared_layer_data(ir, onto=onto))
            aligned += onto is not None
        except ValueError as exc:  # InputImageError: no overlap with the radio image
            show_error(f"{_stem(ir.path, 'infrared')}: {exc} Shown on its own grid instead.")
            layers.append(infrared_layer_data(ir, onto=None))
    return layers, aligned


def _install_sky_status() -> None:
    """RA/Dec in the status bar of the viewer the files are opened in."""
    import napari

    from ._status import install_sky_status

    install_sky_status(napari.current_viewer())


def _realign_lonely_infrared(radio) -> list[LayerData]:
    """IR layers opened *before* any radio image are replaced by copies on this radio grid.

    napari opens a list of files one at a time, so "radio and IR together" may reach us as
    "IR, then radio".
    """
    import napari
    from napari.utils.notifications import show_info

    viewer = napari.current_viewer()
    if viewer is None:
        return []
    out = []
    for layer in list(viewer.layers):
        meta = layer.metadata
        if meta.get("radiogal_kind") != "infrared" or meta.get("reprojected_onto") is not None:
            continue
        if meta.get("image") is None:
            continue
        try:
            data, kwargs, kind = infrared_layer_data(meta["image"], onto=radio, name=layer.name)
        except ValueError as exc:  # no overlap: leave it alone
            log.info("%s stays on its own grid: %s", layer.name, exc)
            continue
        viewer.layers.remove(layer)
        out.append((data, kwargs, kind))
        show_info(f"{layer.name} reprojected onto the radio grid of {_stem(radio.path, 'radio')}.")
    return out


#: Images with more pixels than this are opened memory-mapped (``lazy=True``): nothing is
#: read until napari draws it, so opening a 10k x 10k mosaic does not hold up the viewer.
LAZY_PIXELS = 2048 * 2048


def _read_all(paths: list[Path]):
    radios, irs = [], []
    for p in paths:
        header = read_image_header(p)
        kind = fits_kind(header, p)
        (radios if kind == "radio" else irs).append(_read_image(p, kind, header))
    return radios, irs


def _read_image(path: Path, kind: str, header):
    """A radio or infrared image, memory-mapped when it is large and that keeps its values.

    A lazy read leaves pixels in the file's unit; a mJy/beam radio mosaic is read into
    memory instead, so the layer is in Jy/beam like every other radio layer.
    """
    import warnings

    from napari_radiogal.errors import FitsFormatWarning
    from napari_radiogal.io.fits import is_lazy, read_infrared, read_radio

    read = read_radio if kind == "radio" else read_infrared
    if int(header.get("NAXIS1", 0)) * int(header.get("NAXIS2", 0)) <= LAZY_PIXELS:
        return read(path)
    with warnings.catch_warnings():
        # "lazy=True but the file is compressed": the eager read below says what matters
        warnings.filterwarnings("ignore", message=".*lazy=True but", category=FitsFormatWarning)
        image = read(path, lazy=True)
    if is_lazy(image) and kind == "radio" and image.unit != "Jy/beam":
        return read(path)
    return image


def _offer_autosave(radio_path: Path | None) -> None:
    """If an autosave sidecar exists next to a radio file, offer to restore it."""
    if radio_path is None:
        return
    from ._autosave import offer_restore

    offer_restore(Path(radio_path))


def read_coco_path(path: str | Sequence[str]) -> list[LayerData]:
    """Open a COCO file of this plugin as instance Labels + host Points layers.

    The layers are placed on the grid the file describes (``height``, ``width``, and the
    pixel scale of ``radio_wcs``); open the radio FITS file too to see them over the image.
    """
    from napari.utils.notifications import show_error

    from ._autosave import context_from_record
    from ._layers import dataset_to_layer_data

    p = Path(path if isinstance(path, str | os.PathLike) else path[0])
    try:
        from napari_radiogal.io.coco import read_coco

        dataset = read_coco(p)
        if not dataset.images:
            raise ValueError("the file lists no images")
        record = dataset.images[0]
        ctx = context_from_record(record, dataset, p)
        return dataset_to_layer_data(dataset, ctx, name=Path(record.file_name).stem)
    except (ValueError, OSError, KeyError) as exc:
        show_error(f"napari-radiogal could not open {p.name} as COCO annotations: {exc}")
        return _NO_LAYERS
