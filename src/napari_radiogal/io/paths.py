"""Where the files named in a data set are, and which files are FITS images.

* :func:`dataset_root` and :func:`resolve_image_path`: ``file_name``, ``radio_file`` and
  ``ir_file`` in a COCO file are relative to the data set root (the parent of an
  ``annotations/`` folder, else the JSON's folder); see :mod:`napari_radiogal.io.coco`.
* :data:`FITS_SUFFIXES`, :func:`is_fits_path` and :func:`fits_stem`: the one list of FITS
  file name endings and the one rule for a FITS file's name without them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from napari_radiogal.annotations import ImageRecord

__all__ = ["FITS_SUFFIXES", "is_fits_path", "fits_stem", "dataset_root", "resolve_image_path"]

#: File name endings of FITS images we read (lower case): plain, gzip-compressed, and
#: tile-compressed (``.fits.fz``).
FITS_SUFFIXES: tuple[str, ...] = (
    ".fits",
    ".fit",
    ".fts",
    ".fits.gz",
    ".fit.gz",
    ".fts.gz",
    ".fits.fz",
)


def is_fits_path(path: str | os.PathLike) -> bool:
    """True when the file name ends with one of :data:`FITS_SUFFIXES` (any case).

    Only the name is looked at; the file need not exist.

    Examples
    --------
    >>> is_fits_path("mosaic.FITS.gz"), is_fits_path("cutout.fz"), is_fits_path("a.png")
    (True, False, False)
    """
    return Path(os.fspath(path)).name.lower().endswith(FITS_SUFFIXES)


def fits_stem(path: str | os.PathLike) -> str:
    """The file name without its FITS suffix (the longest of :data:`FITS_SUFFIXES` matching).

    Names with no FITS suffix lose their last suffix only, like :attr:`pathlib.Path.stem`.
    Used to name layers and the files written next to an image (``NAME.radiogal.json``).

    Examples
    --------
    >>> fits_stem("data/J0101-30.fits.gz"), fits_stem("IMG.FTS"), fits_stem("a.b.png")
    ('J0101-30', 'IMG', 'a.b')
    """
    name = Path(os.fspath(path)).name
    lowered = name.lower()
    for suffix in sorted(FITS_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def dataset_root(json_path: str | os.PathLike) -> Path:
    """The folder that relative paths in a COCO file are relative to.

    ``root/annotations/NAME.json`` -> ``root``; any other ``folder/NAME.json`` -> ``folder``.

    Parameters
    ----------
    json_path : path-like
        The COCO JSON file (need not exist; it is resolved against the working directory).

    Returns
    -------
    Path
        Absolute folder.
    """
    folder = Path(json_path).resolve().parent
    return folder.parent if folder.name == "annotations" else folder


def resolve_image_path(
    dataset_path: str | os.PathLike,
    record: ImageRecord | Mapping[str, Any],
    key: str = "file_name",
    *,
    root: str | os.PathLike | None = None,
) -> Path | None:
    """The absolute path of an image's file named in a COCO file.

    Parameters
    ----------
    dataset_path : path-like
        The COCO JSON file the record came from.
    record : ImageRecord or mapping
        The ``images[]`` entry.
    key : {"file_name", "radio_file", "ir_file"}
        Which file.
    root : path-like, optional
        Override the data set root (default: :func:`dataset_root` of ``dataset_path``).

    Returns
    -------
    Path or None
        ``None`` when the record has no such file. Absolute paths are returned unchanged.
        A relative path is joined to the root; if that file does not exist but one relative
        to the JSON's own folder does (a file moved out of ``annotations/`` with its images),
        that one is returned; otherwise the root-based path (so the caller's error names it).
    """
    value = getattr(record, key, None) if isinstance(record, ImageRecord) else record.get(key)
    if value is None and isinstance(record, ImageRecord):
        value = record.extra.get(key)
    if value is None:
        return None
    rel = Path(str(value))
    if rel.is_absolute():
        return rel
    base = Path(root) if root is not None else dataset_root(dataset_path)
    primary = base / rel
    if not primary.exists() and root is None:
        beside_json = Path(dataset_path).resolve().parent / rel
        if beside_json.exists():
            return beside_json
    return primary
