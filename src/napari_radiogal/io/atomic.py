"""Crash-safe file writing: everything the user made is written to a temporary file in the
target's folder and renamed over the target in one ``os.replace``.

A crash, a full disk or Ctrl-C never leaves a half-written file; readers see the old file or
the new one. The temporary file gets the permissions a plain ``open(path, "w")`` would have
given (``0666 & ~umask``), not ``mkstemp``'s private 0600. Temporary files are named
``.NAME.XXXXXXXX.tmp[SUFFIX]`` (hidden, recognisable), so that what a killed process left
can be found and removed (:func:`clean_temp_files`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_copy",
    "clean_temp_files",
]

# ".NAME." + mkstemp's 8 random characters + ".tmp" + an optional format suffix
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")


def _umask() -> int:
    # os.umask can only be read by setting it; do it once per call, restore at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    Parameters
    ----------
    path : path-like
        The final file. Its folder is created if missing.
    suffix : str
        Suffix of the temporary file after ``.tmp`` (some writers choose the format from
        it, e.g. ``".ecsv"`` for astropy tables or ``".png"`` for images).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
    >>> with atomic_path(target, suffix=".npy") as tmp:
    ...     np.save(tmp, np.arange(3))
    >>> np.load(target).tolist()
    [0, 1, 2]
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = ".tmp" if suffix == ".tmp" else ".tmp" + suffix
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=tail, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    mode = 0o666 & ~_umask()
    try:
        os.chmod(tmp, mode)
        yield tmp
        # again: a writer may replace the file rather than fill it (safetensors makes its
        # own, 0600), and the result must not be private beside its 0644 card
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (and durably when ``fsync``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(
    path: str | os.PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = True
) -> Path:
    """Write ``text`` to ``path`` atomically (and durably when ``fsync``)."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically, keeping its metadata (e.g. for backups)."""
    with atomic_path(dst) as tmp:
        shutil.copy2(src, tmp)
    return Path(dst)


def clean_temp_files(folder: str | os.PathLike, *, older_than: float = 60.0) -> list[Path]:
    """Remove the temporary files that killed writers left in a folder (not recursive).

    Only hidden files named as :func:`atomic_path` names them are removed, and only those
    not modified for ``older_than`` seconds (a live writer's file is younger).

    Parameters
    ----------
    folder : path-like
    older_than : float
        Seconds.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    removed = []
    for path in folder.iterdir():
        if not _TEMP_NAME.match(path.name) or not path.is_file():
            continue
        try:
            if now - path.stat().st_mtime >= older_than:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its writer finished meanwhile
            continue
    return removed
