"""Which windows of a mosaic the model looks at, and at what size.

A survey window is a rectangle of the mosaic's own pixels that becomes, after the
pipeline's resampling (:func:`napari_radiogal.inference.resolution.plan_input`), one cut-out
of the model's size: :func:`survey_geometry` turns the model's geometry into a window side
and overlap in mosaic pixels. Two ways to place windows:

* :func:`blind_windows`: the evenly spaced grid of
  :func:`napari_radiogal.io.geometry.window_grid` over the whole mosaic, minus the windows
  that cannot hold a source: blanked (no finite pixel) or noise only (no pixel above
  ``n_sigma`` times the mosaic's robust noise, :func:`mosaic_noise`);
* :func:`catalogue_windows`: windows centred on the components of a source-finder
  catalogue, brightest first, one window for all components inside its inner part.

Every window of one survey has the same shape (windows are shifted inside the mosaic, not
clipped), so consecutive windows batch through the network. Positions are ``(x, y)`` =
``(col, row)``, 0-based pixel centres; windows are :class:`~napari_radiogal.io.geometry.Window`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_radiogal.errors import ConfigError
from napari_radiogal.inference.inputs import image_pixels
from napari_radiogal.io.geometry import Window, plan_resampling, window_grid

__all__ = [
    "SurveyGeometry",
    "survey_geometry",
    "release_pages",
    "window_image",
    "mosaic_noise",
    "blind_windows",
    "catalogue_windows",
]


#: Windows read between two :func:`release_pages` calls (64 windows of 210 px: 11 MB).
RELEASE_EVERY = 64


@dataclass(frozen=True)
class SurveyGeometry:
    """Window side and overlap on the mosaic, and the beam they were derived from.

    Attributes
    ----------
    size : int
        Window side in mosaic pixels.
    overlap : int
        Smallest overlap of neighbouring blind windows, mosaic pixels.
    factor : float
        Model-grid pixel size over mosaic pixel size (1 when no resampling is needed).
    beam : tuple of float
        ``(bmaj, bmin, bpa)`` in degrees.
    beam_source : str
        Where the beam came from (``"header"``, ``"user"``, ``"survey preset ..."``).
    """

    size: int
    overlap: int
    factor: float
    beam: tuple[float, float, float]
    beam_source: str


def survey_geometry(mosaic: Any, geometry: Any, config: Any) -> SurveyGeometry:
    """The window side and overlap that give cut-outs of the model's geometry.

    Parameters
    ----------
    mosaic : RadioImage
        With a pixel scale and a beam (header, ``config.beam`` or a survey preset; never
        measured, which would read the whole mosaic).
    geometry : ModelGeometry
        The model's training geometry (cut-out size, pixels per beam range).
    config : InferenceConfig
        ``beam``, ``resample``, ``pixels_per_beam_range``, ``window_overlap`` (on the
        model's grid).

    Returns
    -------
    SurveyGeometry

    Raises
    ------
    ConfigError
        The beam is unknown, or the mosaic has no pixel scale.
    """
    from napari_radiogal.inference.resolution import sampling_geometry
    from napari_radiogal.io.beam import resolve_beam

    choice = resolve_beam(mosaic, user=config.beam or None, measure=False)
    ppb = choice.pixels_per_beam(getattr(mosaic, "pixel_scale_arcsec", None))
    if choice.beam is None or ppb is None:
        raise ConfigError(
            "the mosaic's beam or pixel scale is unknown (no BMAJ/BMIN in its header, no "
            "survey preset); give it with --beam MAJOR,MINOR,PA (arcsec, degrees). A survey "
            "never measures it from the noise, which would read the whole mosaic."
        )
    factor = 1.0
    if config.resample:
        factor = plan_resampling((1, 1), ppb, sampling_geometry(geometry, config)).factor
    size = int(round(geometry.cutout_size * factor))
    overlap = min(int(round(config.window_overlap * factor)), size - 1)
    return SurveyGeometry(size, overlap, float(factor), tuple(choice.beam), choice.source)


def release_pages(*images: Any) -> None:
    """Drop the pages of memory-mapped images from this process's resident set.

    Pages read from a memory-mapped mosaic stay mapped, so reading every window of a 10k x
    10k mosaic would grow the resident set by the file's size (400 MB) although nothing
    holds them. ``madvise(MADV_DONTNEED)`` returns them (the OS page cache keeps them, a
    later read maps them again), so the peak RSS of a survey does not grow with the mosaic.
    Images that are not memory-mapped, and platforms without ``madvise``, are left alone.

    Parameters
    ----------
    *images : RadioImage, InfraredImage or None
    """
    import mmap

    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    for image in images:
        base = getattr(image, "data", None)
        while base is not None and not isinstance(base, mmap.mmap):
            base = getattr(base, "base", None)
        if isinstance(base, mmap.mmap):
            base.madvise(mmap.MADV_DONTNEED)


def window_image(image: Any, window: Window) -> Any:
    """A window of a (lazy) radio or infrared image as an image of its own, WCS included.

    Parameters
    ----------
    image : RadioImage or InfraredImage
    window : Window
        Inside the image.

    Returns
    -------
    RadioImage or InfraredImage
        Of shape ``(window.height, window.width)``: exactly ``image.data[window.slices]``,
        in Jy/beam for radio images (see :func:`napari_radiogal.io.align.cutout`).
    """
    from napari_radiogal.io.align import cutout

    centre = (window.col0 + (window.width - 1) / 2, window.row0 + (window.height - 1) / 2)
    return cutout(image, centre, (window.height, window.width), mode="strict")


def mosaic_noise(image: Any, *, max_rows: int = 64) -> float:
    """The paper's clipped-MAD noise of a mosaic from evenly spaced rows.

    Parameters
    ----------
    image : RadioImage
        Possibly lazy: only ``max_rows`` rows are read.
    max_rows : int
        Rows sampled.

    Returns
    -------
    float
        Noise in Jy/beam (NaN when the sampled rows are all blank).
    """
    from napari_radiogal.stats import clipped_noise

    height, width = image.data.shape
    rows = np.unique(np.linspace(0, height - 1, min(max_rows, height)).round().astype(int))
    sample = np.concatenate(
        [image_pixels(image, Window(int(r), 0, 1, width).slices, warn=False) for r in rows]
    )
    release_pages(image)
    return clipped_noise(sample)


def blind_windows(
    image: Any,
    size: int,
    overlap: int,
    *,
    threshold: float,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Window], dict[str, int]]:
    """The grid of windows over a mosaic, without the ones that cannot hold a source.

    Parameters
    ----------
    image : RadioImage
        Possibly lazy: the windows are read one at a time (memory of one window).
    size, overlap : int
        Window side and smallest overlap, mosaic pixels.
    threshold : float
        A window whose brightest finite pixel is not above it is noise only (skipped).
    progress : callable(done, total), optional
        Called after each window is checked.

    Returns
    -------
    windows : list of Window
        Row-major.
    skipped : dict
        ``{"blank": n, "noise": n}``: windows without a finite pixel, and noise-only ones.
    """
    shape = image.data.shape
    size = min(size, *shape)
    grid = window_grid(shape, size, min(overlap, size - 1))
    live: list[Window] = []
    skipped = {"blank": 0, "noise": 0}
    for i, win in enumerate(grid, start=1):
        pixels = image_pixels(image, win.slices, warn=False)
        finite = np.isfinite(pixels)
        if not finite.any():
            skipped["blank"] += 1
        elif not pixels[finite].max() > threshold:
            skipped["noise"] += 1
        else:
            live.append(win)
        if progress is not None:
            progress(i, len(grid))
        if i % RELEASE_EVERY == 0:
            release_pages(image)
    release_pages(image)
    return live, skipped


def catalogue_windows(
    xy: np.ndarray, order: np.ndarray, size: int, shape: tuple[int, int], *, margin: int
) -> tuple[list[Window], np.ndarray]:
    """Windows centred on catalogue components; one window serves all components in its core.

    Walking the components in ``order`` (brightest first), a component that lies in the
    core of a window already chosen (at least ``margin`` pixels inside each of its edges)
    joins it; otherwise a window is centred on it (shifted inside the mosaic).

    Parameters
    ----------
    xy : ndarray, shape (N, 2)
        ``(x, y)`` pixel positions of the components, inside the mosaic.
    order : ndarray of int, shape (N,)
        The order in which components claim windows.
    size : int
        Window side (at most the mosaic's shorter side).
    shape : tuple of int
        ``(H, W)`` of the mosaic.
    margin : int
        How far inside a window a component must lie to be served by it.

    Returns
    -------
    windows : list of Window
        Sorted row-major (by ``row0``, then ``col0``).
    owner : ndarray of int, shape (N,)
        Index into ``windows`` of the window each component was given.

    Examples
    --------
    >>> xy = np.array([[100.0, 100.0], [110.0, 105.0], [400.0, 100.0]])
    >>> wins, owner = catalogue_windows(xy, np.arange(3), 210, (500, 500), margin=50)
    >>> [(w.row0, w.col0) for w in wins], owner.tolist()
    ([(0, 0), (0, 290)], [0, 0, 1])
    """
    height, width = int(shape[0]), int(shape[1])
    if size > min(height, width):
        raise ConfigError(f"window side {size} px is larger than the mosaic {shape}.")
    margin = max(0, min(int(margin), (size - 1) // 2))
    centres: list[Window] = []
    owner = np.full(len(xy), -1, dtype=np.int64)
    # a coarse grid of cells finds the windows near a component without scanning all
    cell = max(size, 1)
    buckets: dict[tuple[int, int], list[int]] = {}
    for k in (int(i) for i in order):
        x, y = float(xy[k, 0]), float(xy[k, 1])
        cx, cy = int(x // cell), int(y // cell)
        for j in _nearby(buckets, cx, cy):
            w = centres[j]
            if (
                w.col0 + margin <= x <= w.col0 + w.width - 1 - margin
                and w.row0 + margin <= y <= w.row0 + w.height - 1 - margin
            ):
                owner[k] = j
                break
        if owner[k] >= 0:
            continue
        col0 = int(np.clip(round(x - (size - 1) / 2), 0, width - size))
        row0 = int(np.clip(round(y - (size - 1) / 2), 0, height - size))
        owner[k] = len(centres)
        centres.append(Window(row0, col0, size, size))
        buckets.setdefault((col0 // cell, row0 // cell), []).append(owner[k])
    ranking = sorted(range(len(centres)), key=lambda j: (centres[j].row0, centres[j].col0))
    new_index = np.empty(len(centres), dtype=np.int64)
    new_index[ranking] = np.arange(len(centres))
    return [centres[j] for j in ranking], new_index[owner] if len(owner) else owner


def _nearby(buckets: dict[tuple[int, int], list[int]], cx: int, cy: int) -> list[int]:
    """Windows whose corner lies in a cell next to ``(cx, cy)`` (a window spans one cell)."""
    out: list[int] = []
    for dx in (-1, 0):
        for dy in (-1, 0):
            out.extend(buckets.get((cx + dx, cy + dy), ()))
    return sorted(out)
