"""The survey's record of finished work: resumable after a crash at any moment.

A survey output folder holds ``state/manifest.json`` and one COCO file per finished batch of
windows (``state/batches/batch_NNNNNN.json``). A batch file is written atomically first, then
the manifest that lists it, also atomically (:mod:`napari_radiogal.io.atomic`): after a
``kill -9`` the manifest names only batches whose file is complete, and a batch written but
not yet listed is simply run again (the same bytes). The manifest carries the *plan key*, a
digest of everything that decides the result (input checksums, model sha256, options,
windows); a rerun with another plan refuses to mix the two.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.atomic import atomic_write_text
from napari_radiogal.io.provenance import jsonable

__all__ = ["Manifest", "plan_key", "MANIFEST_NAME"]

#: The manifest's file name inside the state folder.
MANIFEST_NAME = "manifest.json"


def plan_key(plan: dict[str, Any]) -> str:
    """A sha256 digest of a JSON-ready plan (keys sorted, so order does not matter).

    Examples
    --------
    >>> plan_key({"a": 1, "b": [1, 2]}) == plan_key({"b": [1, 2], "a": 1})
    True
    """
    text = json.dumps(jsonable(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Manifest:
    """Finished batches of one survey plan, kept on disk.

    Parameters
    ----------
    state_dir : path-like
        The survey's state folder (created on the first :meth:`record`).
    key : str
        :func:`plan_key` of the run.
    n_batches : int
        Number of batches of the plan.

    Raises
    ------
    ConfigError
        The folder holds the manifest of another plan.
    """

    def __init__(self, state_dir: str | os.PathLike, key: str, n_batches: int) -> None:
        self.state_dir = Path(state_dir)
        self.key = key
        self.n_batches = int(n_batches)
        self.done: set[int] = set()
        path = self.path
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("plan_key") != key:
                raise ConfigError(
                    f"{self.state_dir.parent} holds a survey of other inputs or options "
                    f"(plan {str(saved.get('plan_key'))[:12]}..., this run {key[:12]}...); "
                    "pass --overwrite to start again there, or choose another --out."
                )
            self.done = {int(i) for i in saved.get("done", ()) if self.batch_path(i).is_file()}

    @property
    def path(self) -> Path:
        """The manifest file."""
        return self.state_dir / MANIFEST_NAME

    def batch_path(self, index: int) -> Path:
        """The COCO file of batch ``index``."""
        return self.state_dir / "batches" / f"batch_{int(index):06d}.json"

    @property
    def complete(self) -> bool:
        """True when every batch of the plan is finished."""
        return len(self.done) == self.n_batches

    def record(self, index: int, dataset: Any) -> None:
        """Write a finished batch, then list it in the manifest (both atomically).

        Parameters
        ----------
        index : int
            Batch number.
        dataset : CocoDataset
            Its windows and detections (:func:`napari_radiogal.survey.work.run_batch`).
        """
        from napari_radiogal.io.coco import write_coco

        write_coco(self.batch_path(index), dataset, backup=False, indent=None)
        self.done.add(int(index))
        self.save()

    def save(self) -> None:
        """Write the manifest atomically."""
        record = {
            "plan_key": self.key,
            "n_batches": self.n_batches,
            "done": sorted(self.done),
        }
        atomic_write_text(self.path, json.dumps(record, indent=1) + "\n")

    def load(self, index: int) -> Any:
        """The :class:`~napari_radiogal.annotations.CocoDataset` of a finished batch."""
        from napari_radiogal.io.coco import read_coco

        return read_coco(self.batch_path(index))
