"""Exceptions and warnings of napari-radiogal.

Every exception of the package derives from :class:`RadiogalError`; the errors the user
can cause derive from the matching built-in too (mostly :class:`ValueError`), so callers
can catch either. :class:`InferenceCancelled` and :class:`TrainingInterrupted` are not
failures: the caller asked for the stop. Messages say what was received, what was expected
and how to fix it. Every warning derives from :class:`RadiogalWarning` and says what was
done instead.
"""

from __future__ import annotations

import errno
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
    "StorageError",
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


class StorageError(RadiogalError, OSError):
    """A file cannot be written or read back for a reason outside the program.

    The disk is full, a folder is not writable, a file is missing, or a file the program
    wrote earlier (a pre-processing cache, the pseudo-labels) is truncated or corrupt. The
    message names the file and the fix.
    """

    @classmethod
    def from_os_error(cls, error: OSError) -> StorageError | None:
        """The error of the system's ``error`` with the fix, or ``None`` when it is not one
        the user's environment causes (a full disk, a permission, a missing path).

        Examples
        --------
        >>> import errno
        >>> error = OSError(errno.ENOSPC, "No space left on device", "out/model.safetensors")
        >>> print(StorageError.from_os_error(error))
        out/model.safetensors: No space left on device; free some space or write elsewhere (--out, --cache-dir).
        """
        fix = _OS_ERROR_FIXES.get(error.errno)
        if fix is None:
            return None
        names = [n for n in (error.filename, error.filename2) if n is not None]
        where = f"{' -> '.join(map(str, names))}: " if names else ""
        return cls(f"{where}{error.strerror or error}; {fix}.")


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


_NO_PERMISSION = "write somewhere you may (--out, --cache-dir) or change the permissions"
_OS_ERROR_FIXES = {
    errno.ENOSPC: "free some space or write elsewhere (--out, --cache-dir)",
    errno.EDQUOT: "free some space (disk quota) or write elsewhere (--out, --cache-dir)",
    errno.EACCES: _NO_PERMISSION,
    errno.EPERM: _NO_PERMISSION,
    errno.EROFS: "the file system is read-only; write elsewhere (--out, --cache-dir)",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "a folder was given where a file is expected; name the file",
    errno.EIO: "the disk or network share failed; check it and run again",
}
