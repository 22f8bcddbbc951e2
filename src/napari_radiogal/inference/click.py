"""Click to segment one source: the model on one window of its own geometry around a point.

:func:`segment_at` cuts from the user's image a window that becomes, after the pipeline's
resampling, exactly one cut-out of the model's training size (its weights card's
``cutout_size`` on the model grid: ``cutout_size x factor`` of the user's pixels, where
``factor`` is the resampling of :func:`~napari_radiogal.inference.resolution.plan_input`),
centred on the click and shifted inside the image at its edges. The window goes through
:func:`~napari_radiogal.inference.segment` as an image of its own (WCS, beam and infrared
included), and of its instances only the one the click means is kept: the one under
it, else the one around it (a click between the lobes of a double), else the nearest
within a beam. The result is placed back on the
whole image's pixel grid (:class:`ClickResult`).

With the model loaded (:func:`~napari_radiogal.inference.load_model` caches it, so pass
the :class:`~napari_radiogal.inference.LoadedModel` or its path each time), a click costs
one network pass over one cut-out: ``benchmarks/click_speed.py`` measures it.

Positions are ``(row, col)`` for the click, ``(x, y)`` = ``(col, row)`` for hosts, 0-based
pixel centres of the whole image.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme
from napari_radiogal.errors import InputImageError
from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.inference.windows import PlacedMask, WindowDetection, window_detection
from napari_radiogal.io.geometry import Window

__all__ = ["ClickResult", "segment_at", "click_window", "SEARCH_RADIUS_BEAMS"]

#: When no instance covers the clicked pixel, the nearest one within this many beams
#: (geometric-mean FWHM) of it is taken: a click on the faint gap between two lobes, or
#: just beside a compact source, still means that source.
SEARCH_RADIUS_BEAMS = 1.0


@dataclass(frozen=True)
class ClickResult:
    """The one instance found at a click, on the whole image's pixel grid.

    Attributes
    ----------
    point : (float, float)
        The click, ``(row, col)`` in image pixels.
    window : Window
        The window that was segmented, in image pixels.
    image_shape : (int, int)
        ``(H, W)`` of the whole image.
    mask : PlacedMask or None
        The instance's pixels placed in the image (its bounding box and the mask inside
        it); ``None`` when nothing was found.
    category_id : int or None
        COCO category id of its class.
    class_name : str or None
    score : float or None
        Its detection score (class probability x propagated CAM peak).
    host : (float, float) or None
        ``(x, y)`` of its host in image pixels.
    host_ra, host_dec : float or None
        The host's sky position in degrees (images with a WCS).
    distance_px : float
        From the click to the nearest pixel of the instance (0 when it covers the click;
        NaN when nothing was found).
    message : str
        One sentence for the user: what was found, or why nothing was.
    seconds : float
        Wall-clock time of the whole call.
    extra : dict
        The instance's ``extra`` (``host_from``, ``class_probability``, ...) and ``cut``:
        whether the mask touches an edge of the window inside the image (the source may
        extend beyond what the model saw).
    scheme : ClassScheme
        The model's classes.
    provenance : dict
        The window prediction's provenance (model, settings, device), for the record.
    """

    point: tuple[float, float]
    window: Window
    image_shape: tuple[int, int]
    message: str
    mask: PlacedMask | None = None
    category_id: int | None = None
    class_name: str | None = None
    score: float | None = None
    host: tuple[float, float] | None = None
    host_ra: float | None = None
    host_dec: float | None = None
    distance_px: float = math.nan
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    scheme: ClassScheme = RADIOGALAXYNET
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether an instance was found."""
        return self.mask is not None

    def full_mask(self) -> np.ndarray:
        """The instance as a boolean ``(H, W)`` mask of the whole image (all False if none)."""
        if self.mask is None:
            return np.zeros(self.image_shape, dtype=bool)
        return self.mask.to_array(self.image_shape)

    @property
    def host_rowcol(self) -> tuple[float, float] | None:
        """The host as ``(row, col)`` (napari's point order), or ``None``."""
        return None if self.host is None else (self.host[1], self.host[0])


def click_window(shape: tuple[int, int], point_rc: tuple[float, float], side: int) -> Window:
    """A square window of ``side`` pixels centred on a point, shifted inside the image.

    At an edge the window keeps its size and moves inward (the model sees a whole cut-out,
    as survey windows do); on an image smaller than ``side`` it is the whole image along
    that axis.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of the image.
    point_rc : (float, float)
        ``(row, col)`` of the centre, pixels.
    side : int
        Window side in the image's pixels.

    Returns
    -------
    Window

    Examples
    --------
    >>> click_window((500, 400), (250, 200), 210)
    Window(row0=145, col0=95, height=210, width=210)
    >>> click_window((500, 400), (3, 398), 210)   # at a corner: shifted inside
    Window(row0=0, col0=190, height=210, width=210)
    >>> click_window((100, 400), (50, 200), 210)  # a short image: all of its rows
    Window(row0=0, col0=95, height=100, width=210)
    """
    starts, sizes = [], []
    for n, centre in zip(shape, point_rc, strict=True):
        size = min(int(side), int(n))
        # the pixel holding the centre, minus half the side: no half-pixel ties to round
        start = int(math.floor(float(centre) + 0.5)) - size // 2
        starts.append(min(max(start, 0), int(n) - size))
        sizes.append(size)
    return Window(starts[0], starts[1], sizes[0], sizes[1])


def segment_at(
    radio: Any,
    infrared: Any,
    point_rc: tuple[float, float],
    *,
    model: Any = None,
    config: InferenceConfig | None = None,
    search_radius_beams: float = SEARCH_RADIUS_BEAMS,
    cancel: Any = None,
) -> ClickResult:
    """Segment the one source at a clicked position.

    Parameters
    ----------
    radio : RadioImage, path or ndarray, shape (H, W)
        Jy/beam, ``(row, col)``, NaN = blanked, as :func:`~napari_radiogal.inference.segment`
        takes it (a RadioImage brings its WCS and beam; one read with ``lazy=True`` is read
        only inside the window).
    infrared : InfraredImage, path, ndarray of shape (H, W), or None
        On the radio grid (the window is cut from it too) or an InfraredImage on its own
        grid (reprojected onto the window).
    point_rc : (float, float)
        The click, ``(row, col)`` in pixels of ``radio``.
    model : path, str or LoadedModel, optional
        As in :func:`~napari_radiogal.inference.segment`; pass a LoadedModel (or a path,
        whose load is cached) so that clicks share one loaded network.
    config : InferenceConfig, optional
        ``None`` = the model card's recommended settings.
    search_radius_beams : float
        When no instance covers the clicked pixel, the nearest within this many beams is
        taken (:data:`SEARCH_RADIUS_BEAMS`).
    cancel : callable() -> bool, optional
        As in :func:`~napari_radiogal.inference.segment`.

    Returns
    -------
    ClickResult
        ``found`` is False, with a ``message`` saying why, when the model found no source
        near the click.

    Raises
    ------
    InputImageError
        The click lies outside the image, or the image is not 2-D.
    WeightsError, InferenceCancelled
        As :func:`~napari_radiogal.inference.segment`.

    Examples
    --------
    >>> from napari_radiogal.sky import demo_cutout
    >>> demo = demo_cutout()
    >>> hit = segment_at(demo.radio, demo.infrared, (138, 130))   # doctest: +SKIP
    >>> hit.class_name, hit.found                                  # doctest: +SKIP
    ('FR-II', True)
    """
    from napari_radiogal.inference.inputs import open_fits_paths
    from napari_radiogal.inference.model import choose_bundled_model, resolve_model
    from napari_radiogal.inference.pipeline import segment
    from napari_radiogal.inference.resolution import plan_input

    t0 = time.perf_counter()
    radio, infrared = open_fits_paths(radio, infrared)
    shape = _image_shape(radio)
    point = (float(point_rc[0]), float(point_rc[1]))
    if not all(-0.5 <= p < n - 0.5 for p, n in zip(point, shape, strict=True)):
        raise InputImageError(
            f"the click at (row, col) = ({point[0]:.1f}, {point[1]:.1f}) lies outside the "
            f"image of shape (H, W) = {shape}."
        )
    if model is None:
        beam = (config or InferenceConfig()).beam or None
        model = choose_bundled_model(radio, has_infrared=infrared is not None, beam=beam).path
    lm = resolve_model(model, config or InferenceConfig())
    config = lm.config() if config is None else config
    plan = plan_input(radio, lm.geometry, config)
    config = _with_pinned_beam(config, plan)
    side = int(round(lm.geometry.cutout_size * plan.resampling.factor))
    window = click_window(shape, point, side)
    prediction = segment(
        _window_of(radio, window),
        _infrared_window(infrared, radio, window),
        model=lm,
        config=config,
        cancel=cancel,
    )
    beam_px = plan.pixels_per_beam or lm.geometry.pixels_per_beam
    radius = float(search_radius_beams) * beam_px
    local = (point[0] - window.row0, point[1] - window.col0)
    picked, distance = _pick(prediction.instances, local, radius)
    seconds = time.perf_counter() - t0
    if picked is None:
        return ClickResult(
            point,
            window,
            shape,
            _nothing_message(len(prediction.instances), point, window, radius, search_radius_beams),
            seconds=seconds,
            scheme=prediction.scheme,
            provenance=prediction.provenance,
        )
    found = _result(picked, distance, point, window, shape, prediction.scheme, seconds)
    return dataclasses.replace(found, provenance=prediction.provenance)


def _image_shape(radio: Any) -> tuple[int, int]:
    shape = np.shape(getattr(radio, "data", radio))
    if len(shape) != 2:
        raise InputImageError(
            f"the radio image must be 2-D (rows, cols) to be clicked on; got shape {shape}."
        )
    return int(shape[0]), int(shape[1])


def _with_pinned_beam(config: InferenceConfig, plan: Any) -> InferenceConfig:
    """The config with the beam found for the whole image, when not from its header.

    A beam measured from the noise (or taken from a survey preset) is the whole image's;
    measured again on one window it would differ from click to click, and be warned about
    at every click.
    """
    choice = plan.beam
    if config.beam or choice is None or choice.beam is None or choice.source == "header":
        return config
    major, minor, pa = choice.beam
    return config.replace(beam=(major * 3600.0, minor * 3600.0, pa))


def _window_of(image: Any, window: Window) -> Any:
    """A window of an image as an image of its own (WCS, header and unit moved with it)."""
    if isinstance(image, np.ndarray) or not hasattr(image, "data"):
        return np.array(np.asarray(image)[window.slices], dtype=np.float32)
    from napari_radiogal.io.align import cutout

    centre = (window.col0 + (window.width - 1) / 2, window.row0 + (window.height - 1) / 2)
    return cutout(image, centre, (window.height, window.width), mode="strict")


def _infrared_window(infrared: Any, radio: Any, window: Window) -> Any:
    """The infrared for a radio window: cut the same way when it is on the radio grid, else
    the whole image (the pipeline reprojects it onto the window's WCS)."""
    from napari_radiogal.inference.inputs import same_grid

    if infrared is None:
        return None
    shape = np.shape(getattr(infrared, "data", infrared))
    if tuple(shape) != _image_shape(radio):
        return infrared
    ir_wcs, radio_wcs = getattr(infrared, "wcs", None), getattr(radio, "wcs", None)
    if ir_wcs is None or radio_wcs is None or same_grid(ir_wcs, radio_wcs):
        return _window_of(infrared, window)
    return infrared


def _pick(instances: list, local_rc: tuple[float, float], radius: float):
    """The instance a click means, and the distance from the click to its nearest pixel.

    In order: the best-scored instance whose mask covers the clicked pixel; the nearest
    instance whose hull does (a click between the detached lobes of a double, where its
    host sits); the nearest instance within ``radius`` pixels. ``(None, nan)`` when none.
    """
    from napari_radiogal.inference.hosts import host_search_region

    r, c = (int(round(v)) for v in local_rc)
    under = [a for a in instances if a.mask[r, c]]
    if under:
        return max(under, key=lambda a: a.score), 0.0
    distances = [_distance(a.mask, local_rc) for a in instances]
    in_hull = [i for i, a in enumerate(instances) if host_search_region(a.mask, "hull")[r, c]]
    near = in_hull or [i for i, d in enumerate(distances) if d <= radius]
    if not near:
        return None, math.nan
    best = min(near, key=lambda i: distances[i])
    return instances[best], distances[best]


def _distance(mask: np.ndarray, rc: tuple[float, float]) -> float:
    """Pixels from ``rc`` to the nearest pixel of ``mask`` (inf for an empty mask)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return math.inf
    return float(np.min(np.hypot(rows - rc[0], cols - rc[1])))


def _nothing_message(n: int, point, window: Window, radius: float, beams: float) -> str:
    where = f"({point[0]:.0f}, {point[1]:.0f})"
    if n == 0:
        return (
            f"no source found at {where}: the model saw none in the "
            f"{window.height} x {window.width} px window around it"
        )
    return (
        f"no source at {where}: the model found {n} in the window around it, none under "
        f"the click, around it or within {radius:.1f} px ({beams:g} beam) of it"
    )


def _result(instance, distance, point, window, shape, scheme, seconds) -> ClickResult:
    from napari_radiogal.inference.windows import is_cut

    det: WindowDetection = window_detection(window, instance)
    name = scheme.name_of_id(det.category_id)
    where = "under the click" if distance == 0 else f"{distance:.1f} px from the click"
    return ClickResult(
        point=point,
        window=window,
        image_shape=shape,
        message=f"{name} (score {det.score:.2f}, {det.mask.area} px) {where}",
        mask=det.mask,
        category_id=det.category_id,
        class_name=name,
        score=det.score,
        host=det.host,
        host_ra=instance.host_ra,
        host_dec=instance.host_dec,
        distance_px=float(distance),
        seconds=seconds,
        extra={**det.extra, "cut": bool(is_cut(det, shape))},
        scheme=scheme,
    )
