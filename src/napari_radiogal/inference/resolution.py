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

Bare arrays (no header, WCS or pixel scale) have no sky geometry: they are segmented on their
own pixels, as one image or in windows when larger than the cut-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_radiogal.io.beam import BeamChoice, image_name, resolve_beam
from napari_radiogal.io.geometry import (
    Resampling,
    Window,
    plan_resampling,
    resample,
    window_grid,
)

__all__ = ["InputPlan", "plan_input", "resampled_arrays", "detection_to_input"]

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


def plan_input(radio: Any, geometry: Any, config: Any, *, name: str | None = None) -> InputPlan:
    """Decide the resampling and windows of one radio input (cheap: no pixel is moved).

    Parameters
    ----------
    radio : RadioImage or ndarray, shape (H, W)
    geometry : ModelGeometry
        The model's training geometry.
    config : InferenceConfig
        ``resample``, ``beam``, ``window_overlap``, ``max_megapixels``.
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
    resampling = plan_resampling(shape, ppb, geometry, max_pixels=int(config.max_megapixels * 1e6))
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
    """
    out_radio = resample(radio, plan.resampling)
    out_ir = None if infrared is None else resample(infrared, plan.resampling)
    return out_radio, out_ir


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
