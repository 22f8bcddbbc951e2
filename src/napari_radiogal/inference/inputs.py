"""Inputs of inference: :class:`ImageInput`, :func:`inputs_from_coco` and the ``prepare`` stage.

Preparing an image (:func:`prepare_input`) reads its arrays, puts the infrared on the radio
grid (:func:`infrared_on_grid`, reprojecting when the grids differ), checks the size and
applies the paper's pre-processing (:func:`napari_radiogal.preprocess.preprocess`) with the
parameters of the weights card.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.errors import InputImageError, InputImageWarning
from napari_radiogal.inference.model import LoadedModel
from napari_radiogal.io.paths import is_fits_path

__all__ = [
    "ImageInput",
    "inputs_from_coco",
    "as_input",
    "PreparedImage",
    "prepare_input",
    "infrared_on_grid",
    "radio_array",
    "image_pixels",
    "is_lazy_image",
    "open_fits_paths",
    "input_files",
    "same_grid",
]

log = logging.getLogger(__name__)


@dataclass
class ImageInput:
    """One image for :func:`~napari_radiogal.inference.segment_batch` and what travels with it.

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


def inputs_from_coco(
    json_path: str | os.PathLike,
    dataset: Any = None,
    radio_options: Mapping[str, Any] | None = None,
    ir_options: Mapping[str, Any] | None = None,
) -> Iterator[ImageInput]:
    """One :class:`ImageInput` per image of a COCO file, read lazily from its FITS files.

    Parameters
    ----------
    json_path : path
        The COCO file; relative image paths resolve against its data set root
        (:func:`napari_radiogal.io.coco.dataset_root`).
    dataset : CocoDataset, optional
        The file already read (default: read it here).
    radio_options, ir_options : mapping, optional
        Keyword arguments of :func:`~napari_radiogal.io.fits.read_radio` (``hdu``,
        ``plane``, ``require_wcs``) and of :func:`~napari_radiogal.io.fits.read_infrared`.

    Yields
    ------
    ImageInput
        With the image's id, file names and the category ids of its annotations and
        image-level classes (for the oracle-class protocol). Images of a firstgalaxydata
        zip (:func:`napari_radiogal.io.firstgalaxydata.read_firstgalaxydata`) are read from
        the zip as display values with their WCS and beam. Files are opened only when the item is reached, so a whole
        survey never sits in memory.

    Raises
    ------
    CocoFormatError
        If an image names no FITS radio file, or its FITS image is not of the size
        (``height``, ``width``) the file gives it.
    """
    from napari_radiogal.annotations import IMAGE_CLASSES_KEY
    from napari_radiogal.errors import CocoFormatError
    from napari_radiogal.io.coco import read_coco, resolve_image_path
    from napari_radiogal.io.firstgalaxydata import (
        is_firstgalaxydata_record,
        read_firstgalaxydata_image,
    )
    from napari_radiogal.io.fits import read_infrared, read_radio

    dataset = read_coco(json_path) if dataset is None else dataset
    classes_of: dict[int, list[int]] = {}
    for a in dataset.instances:
        classes_of.setdefault(a.image_id, []).append(a.category_id)
    for im in dataset.images:
        classes = classes_of.get(im.id, []) + list(im.extra.get(IMAGE_CLASSES_KEY, []))
        if is_firstgalaxydata_record(im):
            yield ImageInput(
                radio=read_firstgalaxydata_image(im),
                image_id=im.id,
                file_name=im.file_name,
                class_ids=classes,
            )
            continue
        radio_path = resolve_image_path(json_path, im, "radio_file") or resolve_image_path(
            json_path, im, "file_name"
        )
        if radio_path is None or not is_fits_path(radio_path):
            raise CocoFormatError(
                f"image {im.id} ({im.file_name}) names no FITS radio file; predict needs "
                "radio_file (or file_name) pointing at a FITS image.",
                path=json_path,
                field=f"images[id={im.id}]",
            )
        ir_path = resolve_image_path(json_path, im, "ir_file")
        radio = read_radio(radio_path, **(radio_options or {}))
        if radio.shape != (im.height, im.width):
            # the masks would not fit the file's image: evaluation would compare wrong pixels
            raise CocoFormatError(
                f"image {im.id}: {radio_path.name} is {radio.shape[0]}x{radio.shape[1]} "
                f"(rows x columns) but the file says height {im.height}, width {im.width}; "
                "fix the COCO file (or --hdu / --plane if another image of the FITS is meant).",
                path=json_path,
                field=f"images[id={im.id}]",
            )
        yield ImageInput(
            radio=radio,
            infrared=read_infrared(ir_path, **(ir_options or {})) if ir_path is not None else None,
            image_id=im.id,
            file_name=im.file_name,
            radio_file=im.radio_file,
            ir_file=im.ir_file,
            class_ids=classes,
        )


def as_input(raw: Any, position: int) -> ImageInput:
    """One item of :func:`~napari_radiogal.inference.segment_batch`'s ``images`` as an ImageInput.

    Parameters
    ----------
    raw : ImageInput, (radio, infrared) tuple, or a radio image / array
    position : int
        1-based position in the batch: the image id when the item has none.

    Returns
    -------
    ImageInput

    Examples
    --------
    >>> item = as_input(np.zeros((32, 32)), 3)
    >>> item.image_id, item.infrared is None
    (3, True)
    """
    if isinstance(raw, ImageInput):
        item = raw
    elif isinstance(raw, tuple):
        if len(raw) != 2:
            raise TypeError(f"image tuples must be (radio, infrared); got {len(raw)} items")
        item = ImageInput(radio=raw[0], infrared=raw[1])
    else:
        item = ImageInput(radio=raw)
    item.radio, item.infrared = open_fits_paths(item.radio, item.infrared)
    if item.image_id is None:
        item.image_id = position
    return item


def open_fits_paths(radio: Any, infrared: Any = None) -> tuple[Any, Any]:
    """Radio and infrared inputs with FITS paths opened (memory-mapped); others unchanged.

    So that ``segment("field.fits", "w1.fits")`` works like ``segment(read_radio(...),
    read_infrared(...))``: a path (``str`` or path-like) is read with
    :func:`~napari_radiogal.io.fits.read_radio` / :func:`~napari_radiogal.io.fits.read_infrared`
    (``lazy=True``: the pipeline reads the pixels it needs), with their checks and warnings.

    Examples
    --------
    >>> a = np.zeros((4, 4))
    >>> open_fits_paths(a)[0] is a
    True
    """
    from napari_radiogal.io.fits import read_infrared, read_radio

    if isinstance(radio, (str, os.PathLike)):
        radio = read_radio(radio, lazy=True)
    if isinstance(infrared, (str, os.PathLike)):
        infrared = read_infrared(infrared, lazy=True)
    return radio, infrared


@dataclass
class PreparedImage:
    """An input after the ``prepare`` stage: everything the later stages need.

    Attributes
    ----------
    source : ImageInput
    image_id : int
    radio : ndarray (H, W), float32
        Jy/beam, ``(row, col)``; a private copy of the input.
    ir : ndarray (H, W) or None
        The infrared on the radio grid.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the radio grid.
    beam : (bmaj, bmin, pa) or None
        Restoring beam in degrees (FWHM axes, position angle).
    pixel_scale_arcsec : float or None
        Pixel side in arcsec.
    unit : str
        Radio brightness unit.
    inputs : dict
        ``{"radio": {...}, "ir": {...}}``: role, path and sha256 of the input files.
    preprocessed : Preprocessed or None
        The network channels; None when the image is empty (see ``empty_reason``).
    empty_reason : str or None
        Why the image gets an empty prediction (all NaN, all zero, constant).
    """

    source: ImageInput
    image_id: int
    radio: np.ndarray
    ir: np.ndarray | None
    wcs: Any
    beam: tuple[float, float, float] | None
    pixel_scale_arcsec: float | None
    unit: str
    inputs: dict[str, Any]
    preprocessed: Any = None
    empty_reason: str | None = None

    def radio_scaled(self) -> np.ndarray:
        """The pre-processed radio channel ``(H, W)`` (rebuilt when the model does not take it)."""
        pre = self.preprocessed
        if "radio" in pre.config.channels:
            return pre.channel("radio")
        from napari_radiogal.preprocess import scale_islands

        return scale_islands(
            np.where(pre.radio_blank, 0.0, self.radio),
            pre.radio_islands,
            pre.radio_threshold,
            epsilon=pre.config.epsilon,
        )

    def ir_scaled(self) -> np.ndarray | None:
        """The pre-processed IR ``(H, W)`` on the radio grid (None without IR data)."""
        pre = self.preprocessed
        if self.ir is None or not np.isfinite(self.ir).any():
            return None
        if "ir" in pre.config.channels:
            return pre.channel("ir")
        from napari_radiogal.preprocess import scale_islands

        return scale_islands(
            np.where(pre.ir_blank, 0.0, self.ir),
            pre.ir_islands,
            pre.ir_threshold,
            epsilon=pre.config.epsilon,
        )


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


def prepare_input(item: ImageInput, image_id: int, lm: LoadedModel) -> PreparedImage:
    """The ``prepare`` stage for one image: arrays, IR on the radio grid, checks, pre-processing.

    Parameters
    ----------
    item : ImageInput
    image_id : int
        COCO id of the image's prediction.
    lm : LoadedModel
        Gives the minimum image size and the pre-processing parameters of its card.

    Returns
    -------
    PreparedImage
        With ``preprocessed=None`` and an ``empty_reason`` for an image without signal.

    Raises
    ------
    InputImageError
        Radio not 2-D or smaller than the network's minimum; IR of another shape without WCS.

    Warns
    -----
    InputImageWarning
        Empty image (the prediction will be empty); IR not overlapping (radio alone).
    """
    from napari_radiogal.preprocess import preprocess

    radio = item.radio
    data = radio_array(radio)
    h, w = data.shape
    minimum = lm.min_image_size
    if min(h, w) < minimum:
        raise InputImageError(
            f"the radio image is {h} x {w} pixels; the network needs at least "
            f"{minimum} x {minimum} (two cells of its output stride "
            f"{lm.card.architecture.output_stride}). Cut out a larger region."
        )
    ir, ir_path = infrared_on_grid(item.infrared, radio, data.shape, image_id)
    inputs = input_files(getattr(radio, "path", None), ir_path)
    wcs = getattr(radio, "wcs", None)
    beam = getattr(radio, "beam", None)
    if beam is not None:
        beam = tuple(float(b) for b in beam)
    pixel_scale = getattr(radio, "pixel_scale_arcsec", None)
    unit = getattr(radio, "unit", "Jy/beam") or "Jy/beam"

    prepared = PreparedImage(
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


def radio_array(radio: Any) -> np.ndarray:
    """A private float32 ``(H, W)`` copy of a radio image's pixels (degenerate axes dropped).

    An image read with ``lazy=True`` is read here, blanked and converted to Jy/beam as an
    eager read would (:func:`image_pixels`).

    Raises
    ------
    InputImageError
        The pixels are not 2-D after squeezing.
    """
    if is_lazy_image(radio):
        return image_pixels(radio)
    data = np.asarray(getattr(radio, "data", radio))
    if data.ndim != 2:
        squeezed = np.squeeze(data)
        if squeezed.ndim != 2:
            raise InputImageError(
                f"the radio image must be 2-D (rows, cols); got shape {data.shape}. Read FITS "
                "files with napari_radiogal.io.fits.read_radio, which drops degenerate axes."
            )
        data = squeezed
    return np.array(data, dtype=np.float32)  # a private copy (memory-mapped input read once)


def is_lazy_image(image: Any) -> bool:
    """Whether ``image`` is a RadioImage / InfraredImage read with ``lazy=True`` (memory-mapped).

    Examples
    --------
    >>> is_lazy_image(np.zeros((4, 4)))
    False
    """
    from napari_radiogal.io.fits import InfraredImage, RadioImage, is_lazy

    return isinstance(image, RadioImage | InfraredImage) and is_lazy(image)


def image_pixels(
    image: Any, slices: tuple[slice, slice] | None = None, *, warn: bool = True
) -> np.ndarray:
    """A float32 copy of (a window of) an image's pixels; of a lazy image, only they are read.

    Pixels of a ``lazy=True`` read (memory-mapped, in the file's byte order and unit) get
    what an eager read gives them: ``BLANK`` and infinite values become NaN, mJy/beam and
    uJy/beam become Jy/beam (radio images).

    Parameters
    ----------
    image : RadioImage, InfraredImage or ndarray, shape (H, W)
    slices : (slice, slice), optional
        ``(rows, cols)`` to read; default the whole image.
    warn : bool
        Say in a ``FitsFormatWarning`` what was cleaned (BLANK, infinities); ``False`` for
        callers that read thousands of windows of one file (the survey), which would say
        the same thing for each.

    Returns
    -------
    ndarray of float32
        Native byte order, owning its memory.

    Examples
    --------
    >>> image_pixels(np.arange(6.0).reshape(2, 3), np.s_[:, 1:]).tolist()
    [[1.0, 2.0], [4.0, 5.0]]
    """
    from napari_radiogal.errors import FitsFormatWarning
    from napari_radiogal.io.fits import RadioImage
    from napari_radiogal.io.fits.header import jy_per_beam_factor
    from napari_radiogal.io.fits.images import as_float32
    from napari_radiogal.io.fits.reader import clean_float_plane

    data = image if isinstance(image, np.ndarray) else image.data  # ndarray.data is a buffer
    out = as_float32(data if slices is None else data[slices])
    if not is_lazy_image(image):
        return out
    notes: list[str] = []
    clean_float_plane(out, image.header, notes)
    factor = jy_per_beam_factor(image.unit) if isinstance(image, RadioImage) else None
    if factor not in (None, 1.0):
        out *= np.float32(factor)
    for note in notes if warn else ():
        warnings.warn(note, FitsFormatWarning, stacklevel=3)
    return out


def input_files(radio_path: Any, ir_path: Any) -> dict[str, Any]:
    """``{"radio": {...}, "ir": {...}}``: role, path and sha256 of the input files present."""
    inputs: dict[str, Any] = {}
    for role, path in (("radio", radio_path), ("ir", ir_path)):
        if path is not None:
            inputs[role] = {"role": role, "path": str(path), "sha256": _file_sha256(Path(path))}
    return inputs


def infrared_on_grid(
    infrared: Any,
    radio: Any,
    shape: tuple[int, int],
    image_id: int,
    *,
    cancel: Callable[[], None] | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """The infrared data on the radio grid and its file path.

    Parameters
    ----------
    infrared : InfraredImage, ndarray (H, W) or None
        An image with a WCS (reprojected when its grid differs) or an array already on
        the radio grid.
    radio : RadioImage or ndarray
        The radio image (its ``wcs``, when it has one, defines the grid).
    shape : (H, W)
        The radio image's shape.
    image_id : int
        For log and warning messages.
    cancel : callable(), optional
        Called between the blocks of a large reprojection (it raises to stop).

    Returns
    -------
    ir : ndarray (H, W), float32, or None
        None without infrared, or when it does not overlap the radio image.
    path : str or None
        The infrared file, when the image came from one.

    Raises
    ------
    InputImageError
        An array of another shape, or an image on another grid without a WCS on both sides.
    """
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
        ir_wcs is None or radio_wcs is None or same_grid(ir_wcs, radio_wcs)
    ):
        if ir_wcs is None or radio_wcs is None:
            log.debug(
                "image %s: IR and radio have the same shape and no WCS to compare; "
                "assuming the IR is already on the radio grid",
                image_id,
            )
        if is_lazy_image(infrared):
            return image_pixels(infrared), ir_path
        return np.asarray(infrared.data, dtype=np.float32), ir_path
    if radio_wcs is None or ir_wcs is None:
        raise InputImageError(
            f"the infrared image ({infrared.data.shape}) is not on the radio grid ({shape}) and "
            "one of them has no WCS, so it cannot be reprojected; give both a celestial WCS "
            "or pass an IR array already on the radio grid."
        )
    if shape[0] * shape[1] > REPROJECT_BLOCK**2:
        on_grid, error = _reprojected_in_blocks(infrared, radio, shape, cancel)
        if on_grid is not None:
            return on_grid, ir_path
    else:
        from napari_radiogal.io.align import reproject_to_grid

        try:
            return np.asarray(reproject_to_grid(infrared, radio).data, dtype=np.float32), ir_path
        except InputImageError as exc:
            error = exc
    warnings.warn(
        f"image {image_id}: {error} Segmenting from radio alone (hosts from the "
        "displacement field).",
        InputImageWarning,
        stacklevel=5,
    )
    return None, None


#: Side of the blocks in which a large radio grid gets its infrared (reprojection's work
#: arrays are float64 coordinates of every output pixel: 4096**2 of them would take 0.8 GB).
REPROJECT_BLOCK = 2048


def _reprojected_in_blocks(
    infrared: Any, radio: Any, shape: tuple[int, int], cancel: Callable[[], None] | None
) -> tuple[np.ndarray | None, InputImageError | None]:
    """The infrared on the radio grid, reprojected block by block, or ``(None, the error of
    the last block)`` when no block overlaps it.

    Bilinear interpolation gives every output pixel from its own four neighbours, so the
    blocks give the pixels of one whole-grid reprojection.
    """
    from napari_radiogal.io.align import reproject_to_grid
    from napari_radiogal.io.geometry import window_grid

    out = np.full(shape, np.nan, dtype=np.float32)
    overlapped, error = False, None
    for block in window_grid(shape, REPROJECT_BLOCK, 0):
        if cancel is not None:
            cancel()
        rows, cols = block.slices
        target = dataclasses.replace(radio, data=radio.data[rows, cols], wcs=radio.wcs[rows, cols])
        try:
            out[rows, cols] = reproject_to_grid(infrared, target).data
        except InputImageError as exc:
            error = exc  # this block lies outside the infrared image: NaN, as one whole pass
            continue
        overlapped = True
    return (out, None) if overlapped else (None, error)


def same_grid(a, b) -> bool:
    """Whether two celestial WCS describe the same pixel grid (to 1e-9 in every keyword).

    Parameters
    ----------
    a, b : astropy.wcs.WCS

    Returns
    -------
    bool
        False too when they cannot be compared.
    """
    try:
        return bool(a.wcs.compare(b.wcs, tolerance=1e-9))
    except (AttributeError, ValueError, TypeError):
        return False
