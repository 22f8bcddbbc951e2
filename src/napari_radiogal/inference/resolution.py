"""Any image to the model's geometry and back: the plan, the windows, the way home.

A weights card records the geometry its model was trained on
(:class:`~napari_radiogal.io.geometry.ModelGeometry`: pixel scale, beam in pixels, cut-out
size). :func:`plan_input` decides, before any pixel is touched, what an input needs:

* its beam (:func:`napari_radiogal.io.beam.resolve_beam`: header, ``config.beam``, survey
  preset, or measured from the noise, with a warning when not from the header);
* a :class:`~napari_radiogal.io.geometry.Resampling` onto the model's pixels per beam
  (none when the image is already inside the model's training range);
* windows of the model's cut-out size when the (resampled) image is larger than one.

:func:`resampled_arrays` then gives the radio and IR pixels on the model's grid, and
:func:`detection_to_input` brings a merged window detection
(:mod:`napari_radiogal.inference.windows`) back onto the user's own pixels. The pipeline
(:func:`napari_radiogal.inference.segment_batch`) runs the windows as ordinary cut-outs.

**Memory.** :func:`memory_estimate` gives, from the plan alone, the bytes a run of one input
needs, and :func:`check_memory` refuses an input over ``config.memory_budget_gb`` before any
work (:class:`MemoryBudgetError`). Windows go through the network a batch at a time and
only their detections are kept, so what grows with the image is a few whole-image arrays:
the radio and infrared pixels on the input grid (float32), the masks of the instances on it
while they are encoded, and, when the image is resampled, the float64 work arrays of
:func:`~napari_radiogal.io.geometry.resample` (see :data:`BYTES_PER_PIXEL`).

Bare arrays (no header, WCS or pixel scale) have no sky geometry: they are segmented on their
own pixels, as one image or in windows when larger than the cut-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_radiogal.errors import InputImageError
from napari_radiogal.io.beam import BeamChoice, image_name, resolve_beam
from napari_radiogal.io.geometry import (
    ModelGeometry,
    Resampling,
    Window,
    plan_resampling,
    resample,
    window_grid,
)

__all__ = [
    "InputPlan",
    "plan_input",
    "sampling_geometry",
    "resampled_arrays",
    "detection_to_input",
    "MemoryBudgetError",
    "MemoryEstimate",
    "memory_estimate",
    "check_memory",
    "BYTES_PER_PIXEL",
    "FIXED_BYTES",
]

#: An image up to this fraction larger than the cut-out runs whole: the network is fully
#: convolutional and its IRNet heads are trained on cut-outs scaled up to 1.3, while windows
#: cost two to four passes and can split a double whose lobes fall into different windows
#: (the demo FR-II at 1"/px, resampled to 269 px for the wide model, came out as two).
WINDOW_SLACK_FRACTION = 0.3


@dataclass(frozen=True)
class InputPlan:
    """What one input needs before the network sees it.

    Attributes
    ----------
    beam : BeamChoice or None
        The beam and where it came from (``None`` for bare arrays).
    pixels_per_beam : float or None
        The input's geometric-mean beam FWHM in its own pixels.
    resampling : Resampling
        Input grid -> model grid (identity when none is needed).
    windows : list of Window or None
        Windows on the model grid, or ``None`` when the image runs whole.
    """

    beam: BeamChoice | None
    pixels_per_beam: float | None
    resampling: Resampling
    windows: list[Window] | None

    @property
    def is_trivial(self) -> bool:
        """True when the input runs as it is (no resampling, no windows)."""
        return self.resampling.is_identity and self.windows is None

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for the prediction's provenance."""
        return {
            "beam_source": None if self.beam is None else self.beam.source,
            "pixels_per_beam": self.pixels_per_beam,
            "resampling_factor": self.resampling.factor,
            "model_grid_shape": list(self.resampling.output_shape),
            "windows": 0 if self.windows is None else len(self.windows),
        }


def _has_sky_geometry(radio: Any) -> bool:
    return any(getattr(radio, key, None) is not None for key in ("header", "wcs", "beam"))


#: Beyond this resampling factor (either way) an image is "far" from the model's geometry.
FAR_RESAMPLING = 2.0


def _warn_far_from_training(name: str, ppb: float, geometry: Any, factor: float) -> None:
    """Say that an image is far from the model's training geometry (it still runs)."""
    import warnings

    from napari_radiogal.errors import InputImageWarning

    lo, hi = geometry.pixels_per_beam_range
    warnings.warn(
        f"{name}: {ppb:.1f} pixels per beam, the model was trained at {lo:.1f}-{hi:.1f}; "
        f"resampled by {factor:.2f} to fit, but sources this far from the training "
        "resolution differ in more than sampling (sizes in beams, noise texture). Results "
        "are untested here: a model trained near this resolution (radiogal predict "
        "--model, see the bundled models) may do better.",
        InputImageWarning,
        stacklevel=3,
    )


def sampling_geometry(geometry: ModelGeometry, config: Any) -> ModelGeometry:
    """The model geometry with the sampling range inputs are brought to.

    ``config.pixels_per_beam_range`` (pixels per beam, ``(low, high)``) when set, else the
    card's training range: a model is often weakest at the ends of the range it saw, so
    the range it is run at can be narrower than the one it was trained on.

    Parameters
    ----------
    geometry : ModelGeometry
        The model's training geometry (its weights card).
    config : InferenceConfig

    Returns
    -------
    ModelGeometry

    Examples
    --------
    >>> from napari_radiogal.inference.config import InferenceConfig
    >>> wide = ModelGeometry(2.0, (6.5, 5.5), 210, pixels_per_beam_range=(2.6, 7.7))
    >>> sampling_geometry(wide, InferenceConfig()).pixels_per_beam_range
    (2.6, 7.7)
    >>> cfg = InferenceConfig(pixels_per_beam_range=(3.5, 7.0))
    >>> sampling_geometry(wide, cfg).target_pixels_per_beam(2.2)
    3.5
    """
    span = tuple(getattr(config, "pixels_per_beam_range", ()) or ())
    return replace(geometry, pixels_per_beam_range=span) if span else geometry


def plan_input(radio: Any, geometry: Any, config: Any, *, name: str | None = None) -> InputPlan:
    """Decide the resampling and windows of one radio input (cheap: no pixel is moved).

    Parameters
    ----------
    radio : RadioImage or ndarray, shape (H, W)
    geometry : ModelGeometry
        The model's training geometry.
    config : InferenceConfig
        ``resample``, ``pixels_per_beam_range``, ``beam``, ``window_overlap``,
        ``max_megapixels``.
    name : str, optional
        How warnings call the image.

    Returns
    -------
    InputPlan

    Raises
    ------
    InputImageError
        The resampled image would exceed ``config.max_megapixels``.
    """
    shape = tuple(int(n) for n in np.shape(getattr(radio, "data", radio))[-2:])
    beam: BeamChoice | None = None
    ppb = None
    if config.resample and (_has_sky_geometry(radio) or config.beam):
        beam = resolve_beam(radio, user=config.beam or None, name=name)
        scale = getattr(radio, "pixel_scale_arcsec", None)
        ppb = beam.pixels_per_beam(scale)
    resampling = plan_resampling(
        shape, ppb, sampling_geometry(geometry, config), max_pixels=int(config.max_megapixels * 1e6)
    )
    if ppb is not None and not 0.5 <= resampling.factor <= 2.0:
        _warn_far_from_training(name or image_name(radio), ppb, geometry, resampling.factor)
    out = resampling.output_shape
    size = geometry.cutout_size
    windows = None
    if max(out) > size * (1 + WINDOW_SLACK_FRACTION):
        overlap = min(int(config.window_overlap), size - 1)
        windows = window_grid(out, size, overlap)
    return InputPlan(beam=beam, pixels_per_beam=ppb, resampling=resampling, windows=windows)


def resampled_arrays(
    radio: np.ndarray, infrared: np.ndarray | None, plan: InputPlan
) -> tuple[np.ndarray, np.ndarray | None]:
    """Radio (and IR already on the radio grid) resampled onto the model grid.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Jy/beam on the input grid; NaN = blanked.
    infrared : ndarray, shape (H, W), or None
        Infrared on the same grid (NaN outside its footprint).
    plan : InputPlan

    Returns
    -------
    radio, infrared : ndarray of float32, shape ``plan.resampling.output_shape``
        The inputs themselves (not copies) when the plan needs no resampling and they are
        float32 already.
    """
    if plan.resampling.is_identity:
        # the same float32 values as resample() would copy out: no whole-image copies
        return _float32(radio), None if infrared is None else _float32(infrared)
    out_radio = resample(radio, plan.resampling)
    out_ir = None if infrared is None else resample(infrared, plan.resampling)
    return out_radio, out_ir


def _float32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def detection_to_input(
    mask_box: Any, resampling: Resampling
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A mask placed on the model grid -> the same sky on the input grid, as a box.

    Parameters
    ----------
    mask_box : PlacedMask
        Mask on the model grid.
    resampling : Resampling

    Returns
    -------
    (mask, (row0, col0)) or None
        The input-grid mask of the box the source covers and its corner; ``None`` when no
        input pixel centre falls inside the mask.
    """
    r0, c0, r1, c1 = mask_box.box
    rows_out = resampling.output_indices(0)
    cols_out = resampling.output_indices(1)
    rows_in = np.flatnonzero((rows_out >= r0) & (rows_out < r1))
    cols_in = np.flatnonzero((cols_out >= c0) & (cols_out < c1))
    if rows_in.size == 0 or cols_in.size == 0:
        return None
    sub = mask_box.mask[rows_out[rows_in][:, None] - r0, cols_out[cols_in][None, :] - c0]
    if not sub.any():
        return None
    return sub, (int(rows_in[0]), int(cols_in[0]))


#: Bytes per pixel of the input grid that a run holds at its peak, by what they are for
#: (counted from the arrays the code holds; ``benchmarks/memory.py`` measures the peak): the
#: caller's images when they were read into memory (float32 each; none for ``lazy=True``
#: reads), the radio pixels (float32), the infrared on the radio grid (float32), one instance's mask while it
#: is encoded and measured (bool, a copy for the RLE encoder, a float32 selection), and the
#: float64 work arrays of a resampling, per resampled image (input side: a float64 copy,
#: the blank mask, the filled and the filtered image; model-grid side: two float64
#: coordinate arrays, the float64 and the float32 result).
BYTES_PER_PIXEL = {
    "inputs in memory": 4,
    "radio": 4,
    "infrared": 4,
    "instance masks": 6,
    "resampling (input grid)": 25,
    "resampling (model grid)": 28,
}

#: Bytes a run needs whatever the image: the Python process with torch and the model, and
#: one batch of windows through the network and the random walk. Measured peaks
#: (``benchmarks/memory.py``): 1.25 GB at 1024² read into memory, 1.28 GB at 4096² and
#: 2.27 GB at 12000² memory-mapped; 1.3 GB keeps the estimate above each of them.
FIXED_BYTES = 1_300_000_000


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory one input needs, from its plan alone.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` of the input grid.
    parts : dict of str to int
        Bytes by what they are for (keys of :data:`BYTES_PER_PIXEL`, and ``"fixed"``).
    """

    shape: tuple[int, int]
    parts: dict[str, int]

    @property
    def total(self) -> int:
        """Bytes in all."""
        return int(sum(self.parts.values()))

    @property
    def total_gb(self) -> float:
        """:attr:`total` in GB (10**9 bytes)."""
        return self.total / 1e9


class MemoryBudgetError(InputImageError):
    """An image would need more memory than ``InferenceConfig.memory_budget_gb``.

    Raised before any pixel is read or computed.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` of the image.
    estimate_gb, budget_gb : float
        The estimated need and the budget, GB (10**9 bytes).
    """

    def __init__(
        self, message: str, *, shape: tuple[int, int], estimate_gb: float, budget_gb: float
    ):
        super().__init__(message)
        self.shape = shape
        self.estimate_gb = estimate_gb
        self.budget_gb = budget_gb


def memory_estimate(
    shape: tuple[int, int], plan: InputPlan, *, has_infrared: bool, inputs_in_memory: int = 0
) -> MemoryEstimate:
    """The bytes that segmenting one input needs at its peak (see :data:`BYTES_PER_PIXEL`).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the input grid, pixels.
    plan : InputPlan
        Its plan (:func:`plan_input`): whether it is resampled, onto which shape.
    has_infrared : bool
        Whether an infrared image comes with it.
    inputs_in_memory : int
        How many of the caller's images (radio, infrared) are arrays in memory rather than
        memory-mapped files; counted at the radio grid's size.

    Returns
    -------
    MemoryEstimate

    Examples
    --------
    >>> from napari_radiogal.io.geometry import Resampling
    >>> plan = InputPlan(None, None, Resampling(1.0, (4096, 4096), (4096, 4096)), [])
    >>> round(memory_estimate((4096, 4096), plan, has_infrared=True).total_gb, 2)
    1.53
    """
    pixels = int(shape[0]) * int(shape[1])
    images = 2 if has_infrared else 1
    parts = {
        "fixed": FIXED_BYTES,
        "radio": BYTES_PER_PIXEL["radio"] * pixels,
        "instance masks": BYTES_PER_PIXEL["instance masks"] * pixels,
    }
    if inputs_in_memory:
        parts["inputs in memory"] = BYTES_PER_PIXEL["inputs in memory"] * inputs_in_memory * pixels
    if has_infrared:
        parts["infrared"] = BYTES_PER_PIXEL["infrared"] * pixels
    if not plan.resampling.is_identity:
        out = plan.resampling.output_shape
        grid = int(out[0]) * int(out[1])
        parts["resampling"] = images * (
            BYTES_PER_PIXEL["resampling (input grid)"] * pixels
            + BYTES_PER_PIXEL["resampling (model grid)"] * grid
        )
    return MemoryEstimate(shape=(int(shape[0]), int(shape[1])), parts=parts)


def check_memory(
    shape: tuple[int, int],
    plan: InputPlan,
    config: Any,
    *,
    has_infrared: bool,
    inputs_in_memory: int,
    name: str,
) -> MemoryEstimate:
    """Refuse an input whose :func:`memory_estimate` exceeds ``config.memory_budget_gb``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the input grid.
    plan : InputPlan
    config : InferenceConfig
        ``memory_budget_gb``.
    has_infrared, inputs_in_memory
        As in :func:`memory_estimate`.
    name : str
        How the message calls the image.

    Returns
    -------
    MemoryEstimate
        When it fits.

    Raises
    ------
    MemoryBudgetError
        With the image size, the estimate (by part), the budget and the fixes.
    """
    estimate = memory_estimate(
        shape, plan, has_infrared=has_infrared, inputs_in_memory=inputs_in_memory
    )
    budget = float(config.memory_budget_gb)
    if estimate.total_gb <= budget:
        return estimate
    parts = ", ".join(f"{k} {v / 1e9:.2f}" for k, v in estimate.parts.items())
    need = estimate.total_gb
    raise MemoryBudgetError(
        f"{name} is {shape[0]} x {shape[1]} pixels and would need about {need:.1f} GB "
        f"({parts} GB), more than the memory budget of {budget:g} GB. Raise the budget "
        f"if the machine has the memory (radiogal predict --memory-budget-gb "
        f"{math.ceil(need * 1.2)}, "
        "InferenceConfig(memory_budget_gb=...) in Python or the widget's option), or cut out "
        "the region of interest (napari_radiogal.io.align.cutout); radiogal survey runs "
        "mosaics of any size.",
        shape=estimate.shape,
        estimate_gb=need,
        budget_gb=budget,
    )
