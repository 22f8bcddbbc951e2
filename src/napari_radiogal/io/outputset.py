"""Output sets written as one: staged, committed, then published; one writer per folder.

A prediction writes several files that belong together (``STEM.json``, ``STEM.ecsv``,
``STEM.reg``...). Each file alone is atomic (:mod:`napari_radiogal.io.atomic`), but a crash
between two of them would leave a new ``STEM.json`` beside the previous run's ``STEM.reg``.
:func:`write_set` therefore

1. writes every file of the set into a staging folder ``OUT/.radiogal/staging-*/``
   (:func:`stage_files`), with the files it replaces linked there as ``NAME.bak``
   (:func:`stage_backups`);
2. commits the set by writing ``COMMITTED.json`` into the staging folder atomically: the
   sha256 of every staged file and the names the set retires (:func:`commit`);
3. moves the staged files into place and removes the retired ones (:func:`publish`), then
   records the set in ``OUT/.radiogal/sets/NAME.json`` (file names and sha256).

A run killed before step 2 leaves an uncommitted staging folder, removed by the next writer;
one killed during step 3 leaves a committed one, which the next writer publishes (rolls
forward). Either way the folder holds the previous set or the new one, never a mix.

**Backups.** Overwriting a set keeps the previous one as ``NAME.bak`` beside each file
(one generation: older backups are replaced, and backups of files the previous set did not
have are removed, so the ``.bak`` files are one whole set too).

**Lock.** :func:`output_lock` takes an exclusive ``flock`` on ``OUT/.radiogal/lock`` (Linux,
macOS) for as long as a writer works on the folder; a second writer gets a
:class:`~napari_radiogal.errors.StorageError` at once instead of both replacing each other's
files. The lock is re-entrant within a process (the command line takes it before inference,
the writers take it again). Taking it also recovers staging folders of killed runs and
removes their stale temporary files.

**Progress.** A long writer (``radiogal predict --data`` over thousands of images) keeps
the work it has finished in a :class:`ProgressRecord`, ``OUT/.radiogal/progress-NAME/``:
one file per finished piece, each written atomically, and what the run is (its inputs,
model and settings). Its set is written once every piece is done; the same command run
again after a kill finds the pieces and does only the rest. :func:`recover` leaves progress
records alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from napari_radiogal.io.atomic import atomic_write_text, clean_temp_files

try:  # Linux and macOS; elsewhere the folder is not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STATE_DIR",
    "BACKUP_SUFFIX",
    "output_lock",
    "recover",
    "write_set",
    "stage_files",
    "stage_backups",
    "commit",
    "publish",
    "discard",
    "read_set_manifest",
    "file_sha256",
    "ProgressRecord",
]

log = logging.getLogger(__name__)

#: Hidden folder in an output folder: the lock, staging folders and set manifests.
STATE_DIR = ".radiogal"
#: Suffix of the previous set's files after an overwrite.
BACKUP_SUFFIX = ".bak"
_MARKER = "COMMITTED.json"
_STAGING_PREFIX = "staging-"
_PROGRESS_PREFIX = "progress-"
_RUN_FILE = "run.json"

_held: dict[str, list[Any]] = {}  # realpath -> [file object, depth]
_held_lock = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of an output folder (created if needed).

    Re-entrant within a process. The first acquisition recovers what killed runs left
    (:func:`recover`).

    Parameters
    ----------
    folder : path-like

    Yields
    ------
    Path
        The folder.

    Raises
    ------
    StorageError
        When another process holds the lock (exit code 2 on the command line).
    """
    folder = Path(folder)
    key = os.path.realpath(folder)
    with _held_lock:
        held = _held.get(key)
        if held is not None:
            held[1] += 1
    if held is None:
        handle = _acquire(folder)
        with _held_lock:
            _held[key] = [handle, 1]
        try:
            recover(folder)
        except BaseException:
            _release(key)
            raise
    try:
        yield folder
    finally:
        _release(key)


def _acquire(folder: Path) -> _Lock:
    """Lock ``folder`` (creating it), or raise at once when another process has it."""
    from napari_radiogal.errors import StorageError

    created = not folder.exists()
    state = folder / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    path = state / "lock"
    while True:
        handle = open(path, "a+", encoding="utf-8")  # held until released
        if fcntl is None:
            break
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StorageError(
                f"{folder} is being written by {holder} (lock {path}); wait for it to "
                "finish or choose another output folder."
            ) from None
        # the previous holder may have removed the file (releasing a folder it wrote
        # nothing into): our lock is then on a file nobody else opens; take the new one
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            state.mkdir(parents=True, exist_ok=True)
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(f"radiogal process {os.getpid()}\n")
    handle.flush()
    return _Lock(folder, handle, created)


class _Lock:
    """A held folder lock: its open file, and whether taking it created the folder."""

    def __init__(self, folder: Path, handle: Any, created: bool) -> None:
        self.folder, self.handle, self.created = folder, handle, created

    def release(self) -> None:
        """Unlock; a folder in which nothing was published is left as it was found."""
        state = self.folder / STATE_DIR
        try:
            if [p.name for p in state.iterdir()] == ["lock"]:
                (state / "lock").unlink()  # still locked: nobody can be using it
                state.rmdir()
                if self.created:
                    self.folder.rmdir()  # fails (and stays) when anything was written
        except OSError:
            pass
        self.handle.close()  # closing the file releases the flock


def _release(key: str) -> None:
    with _held_lock:
        held = _held[key]
        held[1] -= 1
        if held[1] > 0:
            return
        del _held[key]
    held[0].release()


def recover(folder: str | os.PathLike) -> None:
    """Finish or discard what killed writers left in an output folder.

    A committed staging folder is published (rolled forward), an uncommitted one removed;
    stale hidden temporary files of :mod:`~napari_radiogal.io.atomic` are deleted. Call with
    the folder's lock held (:func:`output_lock` does).
    """
    folder = Path(folder)
    state = folder / STATE_DIR
    if state.is_dir():
        for staging in sorted(state.glob(f"{_STAGING_PREFIX}*")):
            if (staging / _MARKER).is_file():
                log.info("publishing the output set a killed run committed in %s", staging)
                publish(folder, staging)
            else:
                log.info("removing the unfinished output set of a killed run: %s", staging)
                discard(staging)
    clean_temp_files(folder)


def read_set_manifest(folder: str | os.PathLike, name: str) -> dict[str, Any] | None:
    """The record of the last set ``name`` published in ``folder`` (``None`` if none).

    Returns
    -------
    dict or None
        ``{"set": name, "files": {file name: sha256}, "backups": {file name: sha256},
        "pid": int, "time": float}``.
    """
    path = Path(folder) / STATE_DIR / "sets" / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_set(
    folder: str | os.PathLike,
    name: str,
    writers: Mapping[str, Callable[[Path], Any]],
    *,
    also_retire: Iterable[str] = (),
) -> dict[str, Path]:
    """Write a set of files into ``folder`` as one (see the module docstring).

    Parameters
    ----------
    folder : path-like
        The output folder (created).
    name : str
        The set's name (its record is ``.radiogal/sets/NAME.json``), e.g. the file stem.
    writers : mapping of file name -> callable(path)
        Each writes its file at the path it is given (inside the staging folder).
    also_retire : iterable of str
        Other file names that belong to this kind of set (e.g. the formats not asked for
        this time): an existing one is backed up and removed, so that no file of an older
        set stays beside the new one.

    Returns
    -------
    dict
        ``{file name: final Path}`` in the order of ``writers``.
    """
    folder = Path(folder)
    with output_lock(folder):
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=folder / STATE_DIR))
        try:
            stage_files(staging, writers)
            previous = read_set_manifest(folder, name) or {}
            candidates = [*writers, *previous.get("files", {}), *also_retire]
            retire = stage_backups(folder, staging, list(writers), dict.fromkeys(candidates))
            commit(staging, name, list(writers), retire)
        except BaseException:
            discard(staging)  # not committed: the previous set stays as it was
            raise
        publish(folder, staging)
    return {file: folder / file for file in writers}


def discard(staging: Path) -> None:
    """Remove an uncommitted staging folder (a write that failed before its commit)."""
    shutil.rmtree(staging, ignore_errors=True)


def stage_files(staging: Path, writers: Mapping[str, Callable[[Path], Any]]) -> None:
    """Step 1: write every file of the set into ``staging`` and flush it to disk."""
    for file, write in writers.items():
        path = staging / file
        write(path)
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def stage_backups(
    folder: Path, staging: Path, files: list[str], candidates: Iterable[str]
) -> list[str]:
    """Step 1b: link the files the set replaces into ``staging`` as ``NAME.bak``.

    Parameters
    ----------
    folder, staging : Path
    files : list of str
        The new set's file names.
    candidates : iterable of str
        Every file name an earlier set of this kind may have.

    Returns
    -------
    list of str
        Names in ``folder`` to remove on publishing: earlier files the new set does not
        replace (their backup is staged) and backups of files the previous set did not have.
    """
    retire = []
    for file in candidates:
        live, bak = folder / file, folder / (file + BACKUP_SUFFIX)
        if live.is_file():
            _link_or_copy(live, staging / (file + BACKUP_SUFFIX))
            if file not in files:
                retire.append(file)
        elif bak.exists():
            retire.append(file + BACKUP_SUFFIX)  # an older generation: not this backup set
    return retire


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # the old inode stays when the new file replaces the name
    except OSError:
        shutil.copy2(src, dst)


def commit(staging: Path, name: str, files: list[str], retire: list[str]) -> None:
    """Step 2: mark the staged set complete (atomically), with the sha256 of each file."""
    staged = sorted(p.name for p in staging.iterdir())
    backups = [f for f in staged if f.endswith(BACKUP_SUFFIX) and f not in files]
    record = {
        "set": name,
        # backups first: publishing moves them before it replaces the names they keep
        "order": [*backups, *files],
        "files": {f: file_sha256(staging / f) for f in files},
        "backups": {f: file_sha256(staging / f) for f in backups},
        "retire": retire,
        "pid": os.getpid(),
        "time": time.time(),
    }
    atomic_write_text(staging / _MARKER, json.dumps(record, indent=1) + "\n")


def publish(folder: Path, staging: Path) -> None:
    """Step 3: move a committed set into place (idempotent, so a rerun can roll forward)."""
    record = json.loads((staging / _MARKER).read_text(encoding="utf-8"))
    for file in record["order"]:
        if (staging / file).exists():  # else already moved by a killed run
            os.replace(staging / file, folder / file)
    for file in record["retire"]:
        (folder / file).unlink(missing_ok=True)
    sets = folder / STATE_DIR / "sets"
    sets.mkdir(parents=True, exist_ok=True)
    summary = {k: record[k] for k in ("set", "files", "backups", "pid", "time")}
    atomic_write_text(sets / f"{record['set']}.json", json.dumps(summary, indent=1) + "\n")
    shutil.rmtree(staging, ignore_errors=True)


class ProgressRecord:
    """The pieces of work a run has finished before it writes its output set.

    Kept in ``OUT/.radiogal/progress-NAME/``: ``run.json`` holds the run's fingerprint
    (whatever the pieces depend on: inputs, model, settings) and ``KEY.json`` each finished
    piece, written atomically, so a killed run leaves whole pieces only. A record of another
    fingerprint is from another run: it is removed and the work starts again. Use it with
    the folder's :func:`output_lock` held; :meth:`clear` it once the set is published.

    Parameters
    ----------
    folder : path-like
        The output folder.
    name : str
        The set's name (one record per set).
    fingerprint : mapping
        JSON-ready description of the run.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> ProgressRecord(out, "s", {"model": "abc"}).save("part-0", {"n": 3})
    >>> ProgressRecord(out, "s", {"model": "abc"}).pieces()
    {'part-0': {'n': 3}}
    >>> ProgressRecord(out, "s", {"model": "xyz"}).pieces()  # another run: starts afresh
    {}
    """

    def __init__(
        self, folder: str | os.PathLike, name: str, fingerprint: Mapping[str, Any]
    ) -> None:
        self.path = Path(folder) / STATE_DIR / f"{_PROGRESS_PREFIX}{name}"
        # compared as stored: a tuple of the caller's comes back as a list
        self.fingerprint = json.loads(json.dumps(fingerprint))
        if self.path.exists() and _read_json(self.path / _RUN_FILE) != self.fingerprint:
            log.info("removing the progress record of another run: %s", self.path)
            self.clear()
        clean_temp_files(self.path)

    def pieces(self) -> dict[str, Any]:
        """``{key: piece}`` of every piece saved (a piece that cannot be read is left out:
        its work is done again)."""
        found = {}
        if self.path.is_dir():
            for path in sorted(self.path.glob("*.json")):
                piece = _read_json(path)
                if path.name != _RUN_FILE and piece is not None:
                    found[path.stem] = piece
        return found

    def save(self, key: str, piece: Any) -> None:
        """Keep one finished piece (JSON-ready; NaN allowed) as ``KEY.json``, atomically."""
        if not (self.path / _RUN_FILE).is_file():
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path / _RUN_FILE, json.dumps(self.fingerprint, indent=1))
        atomic_write_text(self.path / f"{key}.json", json.dumps(piece))

    def clear(self) -> None:
        """Remove the record (its set is published, or it belongs to another run)."""
        shutil.rmtree(self.path, ignore_errors=True)


def _read_json(path: Path) -> Any:
    """The JSON of a file, or ``None`` when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
