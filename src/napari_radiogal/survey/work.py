"""One unit of survey work: a batch of windows through the model, wherever it runs.

:func:`run_batch` is the whole job of a worker: it opens the mosaics (memory-mapped, once
per process), loads the model (once per process: :func:`~napari_radiogal.inference.load_model`
caches it by path and device), cuts its windows out, reprojects the infrared onto each,
and segments them together (one network pass of ``batch_size`` windows). It takes and
returns plain picklable values, so the single-process loop and a Dask worker run exactly
the same code on exactly the same batches, and give the same numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_radiogal.io.geometry import Window

__all__ = [
    "BatchSpec",
    "run_batch",
    "open_mosaics",
    "window_file_name",
    "infrared_for",
    "on_radio_grid",
    "limit_threads",
    "torch_threads",
]


def limit_threads(n: int) -> int:
    """Let torch use ``n`` threads in this process (set in every Dask worker).

    Returns
    -------
    int
        The number of torch threads now.
    """
    import torch

    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, then restore the previous number.

    The last bits of a convolution depend on how many threads share it, so the survey
    fixes the number everywhere: one process and every worker of a cluster give the same
    bytes.
    """
    import torch

    before = torch.get_num_threads()
    limit_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class BatchSpec:
    """What a worker needs to run one batch of windows.

    Attributes
    ----------
    index : int
        Batch number (0-based); the manifest records finished batches by it.
    windows : tuple of (int, Window)
        Window numbers (0-based, survey-wide) and windows in mosaic pixels.
    mosaic : str
        Radio mosaic FITS path.
    infrared : str or None
        Infrared mosaic FITS path.
    model : str
        Weights file (``NAME.safetensors``).
    config : dict
        :meth:`InferenceConfig.to_dict` of the run.
    """

    index: int
    windows: tuple[tuple[int, Window], ...]
    mosaic: str
    infrared: str | None
    model: str
    config: dict[str, Any]


def window_file_name(number: int) -> str:
    """The COCO ``file_name`` of survey window ``number``.

    Examples
    --------
    >>> window_file_name(12)
    'window_000012'
    """
    return f"window_{number:06d}"


@functools.lru_cache(maxsize=4)
def open_mosaics(mosaic: str, infrared: str | None) -> tuple[Any, Any]:
    """The radio and infrared mosaics, memory-mapped, opened once per process.

    Parameters
    ----------
    mosaic : str
        Radio FITS path.
    infrared : str or None
        Infrared FITS path.

    Returns
    -------
    (RadioImage, InfraredImage or None)
        Lazy images: only the pixels a window needs are ever read.
    """
    from napari_radiogal.io.fits import read_infrared, read_radio

    with warnings.catch_warnings():
        # the driver read both files with their warnings shown before any work started
        warnings.simplefilter("ignore")
        radio = read_radio(mosaic, lazy=True, require_wcs=True)
        ir = None if infrared is None else read_infrared(infrared, lazy=True, require_wcs=True)
    return radio, ir


def on_radio_grid(ir: Any, radio: Any) -> bool:
    """Whether the infrared mosaic shares the radio mosaic's pixel grid (then windows are
    sliced out of it instead of reprojected)."""
    from napari_radiogal.inference.inputs import same_grid

    return tuple(ir.shape) == tuple(radio.shape) and same_grid(ir.wcs, radio.wcs)


def infrared_for(
    ir: Any, radio_window: Any, window: Window, *, same_grid: bool = False
) -> np.ndarray | None:
    """The infrared mosaic on one radio window's grid (NaN outside its footprint).

    Parameters
    ----------
    ir : InfraredImage or None
        The (lazy) infrared mosaic.
    radio_window : RadioImage
        The window (its WCS and shape define the grid).
    window : Window
        Where the window lies in the radio mosaic.
    same_grid : bool
        The infrared mosaic is on the radio mosaic's grid (:func:`on_radio_grid`): the
        window's pixels are read as they are.

    Returns
    -------
    ndarray of float32, shape ``radio_window.shape``, or None
        None without infrared or where it misses this window entirely (the window is then
        segmented from radio alone, as ``segment`` does).
    """
    if ir is None:
        return None
    from napari_radiogal.errors import InputImageError, InputImageWarning
    from napari_radiogal.inference.inputs import image_pixels
    from napari_radiogal.io.align import reproject_to_grid

    if same_grid:
        return image_pixels(ir, window.slices, warn=False)

    with warnings.catch_warnings():
        # windows at the edge of the infrared footprint are expected to be partly covered
        warnings.simplefilter("ignore", InputImageWarning)
        try:
            return reproject_to_grid(ir, radio_window).data
        except InputImageError:
            return None


def run_batch(spec: BatchSpec) -> Any:
    """Segment the windows of one batch.

    Parameters
    ----------
    spec : BatchSpec

    Returns
    -------
    CocoDataset
        One image per window (id = window number + 1, ``file_name`` from
        :func:`window_file_name`, ``extra["window"] = [row0, col0, height, width]`` in
        mosaic pixels), its instances with masks, hosts and scores in window pixels.
    """
    from napari_radiogal.inference import InferenceConfig, load_model, segment_batch
    from napari_radiogal.inference.inputs import ImageInput
    from napari_radiogal.inference.prediction import predictions_to_dataset
    from napari_radiogal.survey.windows import release_pages, window_image

    config = InferenceConfig.from_dict(spec.config)
    lm = load_model(spec.model, device=config.device)
    radio, ir = open_mosaics(spec.mosaic, spec.infrared)
    ir_same_grid = ir is not None and on_radio_grid(ir, radio)
    items = []
    for number, win in spec.windows:
        # no path: the survey checksums the mosaic once, not once per window
        piece = dataclasses.replace(window_image(radio, win), path=None)
        items.append(
            ImageInput(
                radio=piece,
                infrared=infrared_for(ir, piece, win, same_grid=ir_same_grid),
                image_id=number + 1,
                file_name=window_file_name(number),
            )
        )
    release_pages(radio, ir)  # the windows are copies now: keep the resident set flat
    predictions = list(segment_batch(items, model=lm, config=config, total=len(items)))
    for (_, win), p in zip(spec.windows, predictions, strict=True):
        p.image.extra["window"] = [win.row0, win.col0, win.height, win.width]
        p.image.radio_wcs = None  # the mosaic's WCS and the window box say it all
    return predictions_to_dataset(predictions, info={"batch": spec.index})
