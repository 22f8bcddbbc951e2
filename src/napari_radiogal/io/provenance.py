"""Provenance of the files we write: checksums, an ``info`` block, JSON-safe values.

:func:`provenance_info` builds the COCO ``info`` block (software versions, model, parameters,
checksummed inputs); :func:`file_sha256` hashes a file in constant memory; :func:`jsonable`
is the one normaliser that turns configs, numpy values and paths into what ``json.dumps``
accepts with ``allow_nan=False``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from napari_radiogal._version import __version__

__all__ = ["jsonable", "file_sha256", "provenance_info"]


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``, recursively.

    * mappings -> ``dict`` with ``str`` keys; dataclass instances -> ``dict`` of their
      fields (like :func:`dataclasses.asdict`);
    * lists, tuples (named tuples too) and numpy arrays -> ``list``;
    * numpy scalars -> the Python ``int`` / ``float`` / ``bool`` / ``str`` they hold;
    * NaN and +-inf (Python or numpy floats) -> ``None``, which JSON writes as ``null``;
    * paths -> ``str``.

    Anything else (``str``, ``int``, ``bool``, ``None``, and objects JSON cannot store) is
    returned as it is, so ``json.dumps`` still refuses what cannot be written.

    Parameters
    ----------
    value : object
        E.g. a config dataclass, an ``info`` dict, the ``extra`` fields of an annotation.

    Returns
    -------
    object
        Built from new containers; ``value`` is not modified.

    Examples
    --------
    >>> jsonable({"beam": (np.float32(0.5), 1), "noise": float("nan"), 3: Path("a/b.fits")})
    {'beam': [0.5, 1], 'noise': None, '3': 'a/b.fits'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    return value


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks (constant memory for big mosaics).

    Parameters
    ----------
    path : path-like
    chunk_size : int
        Bytes read at a time.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def provenance_info(
    *,
    description: str = "",
    model_name: str | None = None,
    model_sha256: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    root: str | os.PathLike | None = None,
    checksums: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A COCO ``info`` block that says how a file was made.

    Parameters
    ----------
    description : str
        Free text (COCO's own ``description`` key).
    model_name, model_sha256 : str, optional
        The weights used (from the weights card).
    parameters : mapping, optional
        Preprocessing / inference / simulation parameters (``dataclasses.asdict`` of the
        configs), stored as given.
    inputs : iterable of path-like
        Input files (radio and IR FITS...); each is listed with its size and sha256.
    root : path-like, optional
        Input paths are stored relative to this folder when they are inside it (use the
        data set root so the file stays valid when the folder moves).
    checksums : bool
        Compute sha256 of the inputs (reads every byte; turn off for huge mosaics).
    **extra
        Further keys, stored as given.

    Returns
    -------
    dict
        ``{"description", "date_created" (ISO 8601 UTC), "year", "software": {"name",
        "version", "python", "numpy"}, "model": {"name", "sha256"} or None, "parameters",
        "input_files": [{"path", "bytes", "sha256"}], ...}``.
    """
    now = _dt.datetime.now(_dt.timezone.utc)
    files = []
    for p in inputs:
        p = Path(p)
        shown = p
        if root is not None:
            try:
                shown = p.resolve().relative_to(Path(root).resolve())
            except ValueError:
                shown = p
        entry: dict[str, Any] = {"path": shown.as_posix(), "bytes": p.stat().st_size}
        if checksums:
            entry["sha256"] = file_sha256(p)
        files.append(entry)
    info: dict[str, Any] = {
        "description": description,
        "date_created": now.isoformat(timespec="seconds"),
        "year": now.year,
        "software": {
            "name": "napari-radiogal",
            "version": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "model": None
        if model_name is None and model_sha256 is None
        else {"name": model_name, "sha256": model_sha256},
        "parameters": jsonable(dict(parameters or {})),
        "input_files": files,
    }
    info.update(jsonable(extra))
    return info
