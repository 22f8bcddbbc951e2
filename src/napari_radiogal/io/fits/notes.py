"""Warnings of the FITS readers: notes collected while reading, issued at the end.

The readers collect what they assumed or repaired as plain strings ("notes") and issue
them as :class:`~napari_radiogal.errors.FitsFormatWarning` from the public function, so
the warning points at the caller's line. astropy's own warnings are caught and judged
here: harmless fixes are logged at DEBUG level, the others become notes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import FITSFixedWarning

from napari_radiogal.errors import FitsFormatWarning

log = logging.getLogger(__name__)


def emit_notes(notes: list[str], path: str | os.PathLike | None) -> None:
    """Issue each note as a :class:`FitsFormatWarning`, prefixed with the file name.

    Call it from the public function the user called: ``stacklevel=3`` makes the warning
    point at the user's line.

    Parameters
    ----------
    notes : list of str
        What was assumed or repaired, one sentence each.
    path : path-like or None
        File the notes are about; its name prefixes every message.
    """
    prefix = f"{Path(path).name}: " if path is not None else ""
    for note in notes:
        warnings.warn(prefix + note, FitsFormatWarning, stacklevel=3)


@contextlib.contextmanager
def astropy_warnings(notes: list[str]) -> Iterator[None]:
    """Context manager catching astropy's warnings: harmless ones are logged, the rest noted.

    Parameters
    ----------
    notes : list of str
        Appended to when the block ends: our own ``FitsFormatWarning`` messages as they are,
        astropy's non-harmless warnings with "(read as astropy repaired it)".
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        message = str(item.message)
        if issubclass(item.category, FitsFormatWarning):
            notes.append(message)
        elif is_harmless_astropy_warning(item.category, message):
            log.debug("astropy: %s", message)
        else:
            notes.append(f"astropy reported: {message.strip()} (read as astropy repaired it).")


def is_harmless_astropy_warning(category: type[Warning], message: str) -> bool:
    """True for astropy warnings that need not reach the user (they are logged instead).

    Parameters
    ----------
    category : type of Warning
        The warning's class (``FITSFixedWarning``, ``VerifyWarning``, ...).
    message : str
        Its text.
    """
    if issubclass(category, FITSFixedWarning):
        # wcslib's fixes of dates, observatory position, units and NCP->SIN are correct
        # and lossless; "more axes than the image" is what .celestial handles.
        return any(
            token in message
            for token in (
                "datfix",
                "obsfix",
                "unitfix",
                "celfix",
                "spcfix",
                "cylfix",
                "more axes",
                "RADECSYS",
                "EPOCH",
                "EQUINOX",
            )
        )
    if issubclass(category, VerifyWarning):
        # BLANK on float data: handled by clean_float_plane, which says what it did.
        return "BLANK" in message
    return issubclass(category, ResourceWarning)
