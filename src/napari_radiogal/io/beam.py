"""The restoring beam of a radio image, when its header may not say.

Inference needs the beam to bring an image to the model's pixels per beam
(:mod:`napari_radiogal.io.geometry`), and the catalogue needs it to turn Jy/beam into Jy.
Real files often lack ``BMAJ``/``BMIN`` (FIRST cut-outs from the cut-out server, images
passed through tools that drop them). :func:`resolve_beam` takes the first that exists of:

1. the user's value (``--beam`` on the command line, the widget's beam field);
2. the header: ``BMAJ``/``BMIN``/``BPA``, or the AIPS / CASA ``HISTORY`` card the reader
   already parses (:func:`napari_radiogal.io.fits.read_radio`);
3. a survey preset (:mod:`napari_radiogal.io.surveys`) the header identifies by
   ``TELESCOP``/``SURVEY``/frequency/pixel scale, e.g. FIRST's 5.4" beam;
4. the image itself: the autocorrelation of its noise (:func:`napari_radiogal.stats.
   noise_beam`), which for a CLEANed image has the beam's shape.

Steps 3 and 4 issue a :class:`~napari_radiogal.errors.BeamWarning` saying what was used and
how to set it; when nothing works the beam stays unknown, with a warning too (the image
is then segmented on its own pixels). Never a silent guess.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_radiogal.errors import BeamWarning, ConfigError

__all__ = ["BeamChoice", "beam_from_arcsec", "resolve_beam", "image_name"]

#: How to set the beam, quoted by every warning.
HOW_TO_SET = (
    "Set it with --beam MAJOR[,MINOR,PA] (arcsec, arcsec, degrees) on the command line, the "
    "beam field of the napari widget, or BMAJ/BMIN/BPA (degrees) in the FITS header."
)


@dataclass(frozen=True)
class BeamChoice:
    """A beam and where it came from.

    Attributes
    ----------
    beam : tuple of float or None
        ``(major_deg, minor_deg, pa_deg)`` FWHM axes and position angle in degrees, or
        ``None`` when unknown.
    source : str
        ``"user"``, ``"header"``, ``"survey preset NAME"``, ``"measured from the noise"``
        or ``"unknown"``.
    """

    beam: tuple[float, float, float] | None
    source: str

    def pixels_per_beam(self, pixel_scale_arcsec: float | None) -> float | None:
        """Geometric-mean FWHM in pixels (``None`` without a beam or a pixel scale)."""
        if self.beam is None or not pixel_scale_arcsec:
            return None
        return math.sqrt(self.beam[0] * self.beam[1]) * 3600.0 / float(pixel_scale_arcsec)


def beam_from_arcsec(values: tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """``(major_deg, minor_deg, pa_deg)`` from a user's ``MAJOR[,MINOR[,PA]]`` in arcsec/deg.

    Examples
    --------
    >>> [round(v * 3600, 6) for v in beam_from_arcsec((5.4,))[:2]]
    [5.4, 5.4]
    >>> beam_from_arcsec((13, 11, 45))[2]
    45.0
    """
    values = tuple(float(v) for v in values)
    if not 1 <= len(values) <= 3:
        raise ConfigError(
            f"beam {values!r}: give MAJOR, or MAJOR,MINOR, or MAJOR,MINOR,PA "
            "(FWHM in arcsec, position angle in degrees), e.g. 5.4 or 13,11,45."
        )
    major = values[0]
    minor = values[1] if len(values) > 1 else major
    pa = values[2] if len(values) > 2 else 0.0
    if not (math.isfinite(major) and math.isfinite(minor) and 0 < minor <= major):
        raise ConfigError(
            f"beam {values!r}: the FWHM axes must be finite with 0 < MINOR <= MAJOR (arcsec)."
        )
    if not math.isfinite(pa):
        raise ConfigError(f"beam {values!r}: the position angle must be a finite number.")
    return major / 3600.0, minor / 3600.0, pa


def resolve_beam(
    image: Any,
    *,
    user: tuple[float, ...] | None = None,
    measure: bool = True,
    name: str | None = None,
) -> BeamChoice:
    """The beam of a radio image by the chain of the module docstring.

    Parameters
    ----------
    image : RadioImage or ndarray
        The radio image; a bare array has no header (steps 2-3 are skipped) and its beam
        can only be given or measured (then in pixels, returned for a 1"/px grid: see Notes).
    user : tuple of float, optional
        ``MAJOR[,MINOR[,PA]]`` in arcsec and degrees (takes precedence).
    measure : bool
        Allow step 4 (the noise autocorrelation; ~50 ms for 1k x 1k).
    name : str, optional
        How to call the image in warnings (default: its file name).

    Returns
    -------
    BeamChoice

    Warns
    -----
    BeamWarning
        When the beam came from a survey preset or the noise, or is unknown.

    Notes
    -----
    For a bare array without a pixel scale a measured beam is expressed as if the pixels
    were 1" (so :meth:`BeamChoice.pixels_per_beam` with ``pixel_scale_arcsec=1`` gives the
    FWHM in pixels).
    """
    if user:
        return BeamChoice(beam_from_arcsec(tuple(user)), "user")
    label = name or image_name(image)
    beam = getattr(image, "beam", None)
    if beam is not None:
        return BeamChoice(tuple(float(b) for b in beam), "header")
    header = getattr(image, "header", None)
    pixel_scale = getattr(image, "pixel_scale_arcsec", None)
    if header is not None:
        from napari_radiogal.io.surveys import match_survey

        preset = match_survey(
            header,
            frequency_hz=getattr(image, "frequency_hz", None),
            pixel_scale_arcsec=pixel_scale,
        )
        if preset is not None and preset.kind == "radio":
            choice = BeamChoice(
                (
                    preset.beam_major_arcsec / 3600.0,
                    preset.beam_minor_arcsec / 3600.0,
                    preset.beam_pa_deg,
                ),
                f"survey preset {preset.name}",
            )
            warnings.warn(
                f"{label}: no beam in the header (BMAJ/BMIN or HISTORY); using the "
                f"{preset.name} survey's {preset.beam_major_arcsec:g}\" x "
                f'{preset.beam_minor_arcsec:g}" beam, as the header names that survey. '
                + HOW_TO_SET,
                BeamWarning,
                stacklevel=2,
            )
            return choice
    if measure:
        from napari_radiogal.stats import noise_beam

        data = np.asarray(getattr(image, "data", image))
        measured = noise_beam(data)
        if measured is not None:
            scale = float(pixel_scale) if pixel_scale else 1.0
            major_px, minor_px, angle = measured
            # pixel-frame angle (from +x towards +y) -> sky PA (north through east) for a
            # north-up, east-left image
            pa = (angle - 90.0) % 180.0
            choice = BeamChoice(
                (major_px * scale / 3600.0, minor_px * scale / 3600.0, pa),
                "measured from the noise",
            )
            where = f' ({major_px * scale:.3g}" x {minor_px * scale:.3g}")' if pixel_scale else ""
            warnings.warn(
                f"{label}: no beam in the header and no survey preset matches it; measured "
                f"{major_px:.2f} x {minor_px:.2f} px{where} from the autocorrelation of its "
                "noise. " + HOW_TO_SET,
                BeamWarning,
                stacklevel=2,
            )
            return choice
    warnings.warn(
        f"{label}: the beam is unknown (no BMAJ/BMIN or HISTORY in the header, no survey "
        "preset, and the noise is not beam-shaped); segmenting on the image's own pixels "
        "as if it had the model's pixels per beam. " + HOW_TO_SET,
        BeamWarning,
        stacklevel=2,
    )
    return BeamChoice(None, "unknown")


def image_name(image: Any) -> str:
    """How warnings call an image: its file name, else "the radio image"."""
    path = getattr(image, "path", None)
    return "the radio image" if path is None else str(getattr(path, "name", path))
