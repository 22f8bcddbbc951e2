"""Exceptions and warnings of napari-radiogal.

Every exception of the package derives from :class:`RadiogalError`; the errors the user
can cause derive from the matching built-in too (mostly :class:`ValueError`), so callers
can catch either. :class:`InferenceCancelled` and :class:`TrainingInterrupted` are not
failures: the caller asked for the stop. Messages say what was received, what was expected
and how to fix it. Every warning derives from :class:`RadiogalWarning` and says what was
done instead.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "RadiogalError",
    "FitsFormatError",
    "CocoFormatError",
    "EvaluationError",
    "WeightsError",
    "InputImageError",
    "ConfigError",
    "EditError",
    "InferenceCancelled",
    "TrainingInterrupted",
    "RadiogalWarning",
    "FitsFormatWarning",
    "CocoFormatWarning",
    "EvaluationWarning",
    "InputImageWarning",
    "WeightsWarning",
    "BeamWarning",
]


class RadiogalError(Exception):
    """Base class of every error raised on purpose by napari-radiogal."""


class FitsFormatError(RadiogalError, ValueError):
    """A FITS file cannot be read as a radio or infrared image.

    Parameters
    ----------
    message : str
        What was received, what was expected, and how to fix it.
    path : str or Path, optional
        The file.
    hdu : int or str, optional
        The HDU index or name that was being read.
    keyword : str, optional
        The header keyword at fault, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        hdu: int | str | None = None,
        keyword: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.hdu = hdu
        self.keyword = keyword
        where = []
        if self.path is not None:
            where.append(self.path)
        if hdu is not None:
            where.append(f"HDU {hdu}")
        if keyword is not None:
            where.append(f"keyword {keyword}")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)


class CocoFormatError(RadiogalError, ValueError):
    """A COCO JSON file (or an in-memory dataset) breaks the schema of DESIGN.md.

    Parameters
    ----------
    message : str
        What was received, what was expected, and how to fix it.
    path : str or Path, optional
        The JSON file.
    field : str, optional
        Where in the file, e.g. ``"annotations[12].segmentation"``.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, field: str | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.field = field
        where = [w for w in (self.path, field) if w]
        prefix = f"[{': '.join(where)}] " if where else ""
        super().__init__(prefix + message)


class EvaluationError(RadiogalError, ValueError):
    """Ground truth and predictions cannot be compared (ids, sizes or categories disagree)."""


class WeightsError(RadiogalError, ValueError):
    """A weights file or its JSON card is missing, corrupt, or does not match the model."""


class InputImageError(RadiogalError, ValueError):
    """An image handed to preprocessing or inference cannot be used (too small, no data...)."""


class ConfigError(RadiogalError, ValueError):
    """A configuration value (CLI option, YAML recipe, dataclass field) is invalid."""


class EditError(RadiogalError, ValueError):
    """An edit of a label image cannot be done (unknown instance, nothing to split, ...).

    Raised by :mod:`napari_radiogal.editing` and the napari annotation session.
    """


class InferenceCancelled(RadiogalError):
    """Raised by :func:`~napari_radiogal.inference.segment` / ``segment_batch`` when the
    caller's ``cancel()`` returned True (checked between stages)."""


class TrainingInterrupted(RadiogalError, RuntimeError):
    """Raised after the checkpoint when ``stop_after_steps`` is reached (tests, time limits).

    Resume from that checkpoint with ``radiogal train --resume``.
    """


class RadiogalWarning(UserWarning):
    """Base class of every warning issued by napari-radiogal."""


class FitsFormatWarning(RadiogalWarning):
    """A FITS file was read, but something in it had to be fixed or assumed."""


class CocoFormatWarning(RadiogalWarning):
    """A COCO file was read, but something in it had to be fixed or assumed."""


class EvaluationWarning(RadiogalWarning):
    """The evaluation ran but its numbers need care (e.g. an empty prediction file)."""


class InputImageWarning(RadiogalWarning):
    """An input image was used, but with a fallback (e.g. no IR overlap, empty prediction)."""


class WeightsWarning(RadiogalWarning):
    """A weights card was used, but something it should say had to be assumed."""


class BeamWarning(RadiogalWarning):
    """An image's restoring beam did not come from its header: it was taken from a survey
    preset, measured from the image, or is unknown (the warning says which and how to set it)."""
