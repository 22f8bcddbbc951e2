"""Correction by hand: one :class:`AnnotationSession` per annotated image.

A session binds an instance **Labels** layer and its host **Points** layer (and the
:class:`~._layers.ImageContext` they share) and keeps them consistent:

* napari's own Labels tools (paint, fill, erase, polygon, with undo) change the mask; after
  each stroke, undo or redo the session re-derives the features table (new labels get a row,
  erased ones lose theirs, fluxes and sizes are re-measured), debounced;
* what napari lacks is here: :meth:`~AnnotationSession.merge`, :meth:`~AnnotationSession.split`
  (by connected components or along a drawn line), :meth:`~AnnotationSession.delete`,
  :meth:`~AnnotationSession.add_instance`, :meth:`~AnnotationSession.replace_with` (a
  click's instance), :meth:`~AnnotationSession.set_class`,
  :meth:`~AnnotationSession.set_host`, :meth:`~AnnotationSession.set_reviewed`. Every mask
  change goes through ``Labels.data_setitem`` inside ``block_history`` (one undo step per
  action), never ``layer.data = ...``;
* hosts: at most one per instance. A point added with napari's Points tool attaches to the
  instance under it (else to the instance selected in the table) and replaces that
  instance's previous host; a host whose instance disappears is kept and flagged
  ``orphan`` (grey) rather than deleted;
* undo and redo: after every change the session records its state (features, hosts and the
  number of napari Labels history items the change added) in one bounded
  :class:`~._history.EditHistory`, so :meth:`~AnnotationSession.undo` and
  :meth:`~AnnotationSession.redo` step through class, host, reviewed and mask edits in the
  order they were made. Ctrl+Z / Ctrl+Shift+Z on the session's layers call them (napari's
  own Labels binding would undo pixels only and leave the table behind).

Rows of instances that vanish (merge, delete, erase) are remembered, so undoing the edit
brings back their class, score and host, not a blank row.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from napari_radiogal import editing
from napari_radiogal.annotations import CocoDataset
from napari_radiogal.errors import EditError

from ._history import HISTORY_LIMIT, EditHistory
from ._layers import (
    INSTANCE_COLUMNS,
    KIND_KEY,
    META_KEY,
    ImageContext,
    _orphan_row,
    data_fingerprint,
    host_features,
    instance_features,
    label_colormap,
    layers_to_dataset,
    measure_instances,
    pixel_to_sky,
)

log = logging.getLogger(__name__)

__all__ = [
    "AnnotationSession",
    "EditError",
    "SessionState",
    "UNDO_KEY",
    "REDO_KEY",
    "session_for",
    "sessions_in",
    "unwrap",
]

#: Debounce delay (ms) between a paint stroke and re-deriving the features.
SYNC_DELAY_MS = 150

#: ``instance_id`` of a host that a newly placed host replaces (removed at the next sync).
_REPLACED = -1

#: The session of each instance Labels / host Points layer. Weak keys: a session lives as
#: long as its layers (it holds only weak references to them, see ``labels``/``points``).
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Undo / redo keys on an annotation's Labels and Points layers (Cmd on macOS).
UNDO_KEY = "Ctrl+Z"
REDO_KEY = "Ctrl+Shift+Z"


def unwrap(obj):
    """The napari object behind the ``PublicOnlyProxy`` napari hands to plugin widgets.

    Used only for identity (registry keys); every attribute used is public API.
    """
    return getattr(obj, "__wrapped__", obj)


@dataclass(frozen=True, eq=False)
class SessionState:
    """What one undo step restores: the features tables and the host points.

    The masks are not copied: napari's Labels history holds their changes, and
    ``fingerprint`` (:func:`~._layers.data_fingerprint` of the label image) checks that
    stepping it brought back the pixels this state was recorded with.

    Attributes
    ----------
    fingerprint : str
    features : DataFrame
        The Labels features (one row per instance).
    hosts : ndarray
        ``(N, 2)`` host positions ``(row, col)`` in pixels.
    host_features : DataFrame
        The Points features.
    """

    fingerprint: str
    features: Any
    hosts: np.ndarray
    host_features: Any

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SessionState)
            and self.fingerprint == other.fingerprint
            and np.array_equal(self.hosts, other.hosts, equal_nan=True)
            and self.features.equals(other.features)
            and self.host_features.equals(other.host_features)
        )

    __hash__ = None  # mutable tables inside


class AnnotationSession:
    """The instance Labels + host Points of one image, kept consistent.

    Parameters
    ----------
    labels : napari.layers.Labels
        ``int (H, W)`` instance labels with an ``ImageContext`` in ``metadata["radiogal"]``.
    points : napari.layers.Points
        Host positions ``(row, col)`` with ``instance_id`` / ``orphan`` features.

    Attributes
    ----------
    changed : psygnal.Signal
        Emitted after every re-derivation of the features (the table and autosave listen).
    current : int or None
        The instance selected in the table (new hosts fall back to it).
    new_class : str
        Class given to instances painted with a fresh label.
    history : EditHistory
        The undo/redo steps of this annotation (see :meth:`undo`).
    """

    changed = Signal()

    def __init__(self, labels, points) -> None:
        labels, points = unwrap(labels), unwrap(points)
        self._labels = weakref.ref(labels)
        self._points = weakref.ref(points)
        self.ctx: ImageContext = labels.metadata[META_KEY]
        self.current: int | None = None
        self.new_class: str = self.ctx.scheme.names[0]
        self.edited = False
        self._retired: dict[int, dict[str, Any]] = {}
        self._retired_hosts: dict[int, tuple[float, float]] = {}
        # rows waiting for their label to be painted (new instance, split parts)
        self._pending_rows: dict[int, dict[str, Any]] = {}
        self._syncing = False
        self._timer = None
        _SESSIONS[labels] = self
        _SESSIONS[points] = self
        labels.events.paint.connect(self._on_labels_edit)
        labels.events.set_data.connect(self._on_labels_maybe_changed)
        points.events.data.connect(self._on_points_data)
        self._last_fingerprint = self._labels_fingerprint()
        # Labels history items added since the last recorded step (paint events)
        self._mask_steps = 0
        self.history = EditHistory(self._state(), limit=HISTORY_LIMIT)
        for layer in (labels, points):
            layer.bind_key(UNDO_KEY, _undo_key, overwrite=True)
            layer.bind_key(REDO_KEY, _redo_key, overwrite=True)

    # ------------------------------------------------------------------ queries
    @property
    def labels(self):
        """The instance Labels layer (``EditError`` once it has been deleted)."""
        layer = self._labels()
        if layer is None:
            raise EditError("the instance layer of this annotation was deleted")
        return layer

    @property
    def points(self):
        """The host Points layer (``EditError`` once it has been deleted)."""
        layer = self._points()
        if layer is None:
            raise EditError("the hosts layer of this annotation was deleted")
        return layer

    @property
    def alive(self) -> bool:
        """Whether both layers still exist."""
        return self._labels() is not None and self._points() is not None

    @property
    def scheme(self):
        return self.ctx.scheme

    def instance_ids(self) -> list[int]:
        """Ids (labels) of the instances in the features table, ascending."""
        return sorted(int(i) for i in self.labels.features["index"])

    def row(self, instance_id: int) -> dict[str, Any]:
        """The features of one instance as a dict (``EditError`` if unknown)."""
        f = self.labels.features
        hit = np.flatnonzero(np.asarray(f["index"]) == int(instance_id))
        if not hit.size:
            raise EditError(f"there is no instance {instance_id}; known: {self.instance_ids()}")
        return {k: f[k].iloc[int(hit[0])] for k in f.columns}

    def mask(self, instance_id: int) -> np.ndarray:
        """Boolean ``(H, W)`` mask of one instance."""
        return np.asarray(self.labels.data) == int(instance_id)

    def host_index(self, instance_id: int) -> int | None:
        """Index in the Points layer of the instance's host, or ``None``."""
        f = self.points.features
        if not len(f):
            return None
        hit = np.flatnonzero(
            (np.asarray(f["instance_id"]) == int(instance_id)) & ~np.asarray(f["orphan"], bool)
        )
        return int(hit[0]) if hit.size else None

    def next_free_id(self) -> int:
        """The smallest label above every label in use (data, table and remembered rows)."""
        return editing.next_free_label(self.labels.data, self.instance_ids() + list(self._retired))

    def to_dataset(self) -> CocoDataset:
        """The annotations as a one-image :class:`CocoDataset` (for export and autosave)."""
        self.sync()
        return layers_to_dataset(
            np.asarray(self.labels.data),
            self.labels.features,
            np.asarray(self.points.data),
            self.points.features,
            self.ctx,
        )

    # ------------------------------------------------------------------ edits
    def merge(self, ids: Sequence[int]) -> int:
        """Merge instances into one; returns the id kept.

        The most confident instance (human-made ones count as most confident) keeps its id,
        class and host; if it has no host it takes the host of the next one that has.
        Other hosts of the merged instances are removed. One undo step.
        """
        ids = [int(i) for i in dict.fromkeys(ids)]
        if len(ids) < 2:
            raise EditError(f"merging needs at least two instances; got {ids}")
        rows = {i: self.row(i) for i in ids}
        keep = editing.most_confident({i: rows[i]["score"] for i in ids})
        others = [i for i in ids if i != keep]
        self._write_labels(editing.merge_instances(self.labels.data, ids, keep))
        if self.host_index(keep) is None:
            for i in others:
                k = self.host_index(i)
                if k is not None:
                    self.points.features.loc[self.points.features.index[k], "instance_id"] = keep
                    break
        self._remove_hosts_of(others)
        self._after_edit(f"merged {others} into {keep}")
        return keep

    def split(self, instance_id: int, line: np.ndarray | None = None) -> list[int]:
        """Split an instance into its connected parts, optionally cut along a line first.

        Parameters
        ----------
        instance_id : int
        line : ndarray, optional
            ``(M, 2)`` polyline vertices ``(row, col)`` in pixels; the pixels it crosses are
            removed before finding the parts and then given to the nearest part.

        Returns
        -------
        list of int
            The ids of all parts, the largest (which keeps ``instance_id``, class and host)
            first. One undo step.
        """
        parent = self.row(instance_id)
        host_k = self.host_index(instance_id)
        host = None if host_k is None else np.asarray(self.points.data)[host_k]
        new_labels, ids = editing.split_instance(
            self.labels.data, instance_id, line, host=host, new_id=self.next_free_id()
        )
        for new_id in ids[1:]:
            self._pending_rows[new_id] = {
                "class": parent["class"],
                "score": np.nan,
                "reviewed": False,
            }
        self._write_labels(new_labels)
        self._after_edit(f"split {instance_id} into {ids}")
        return ids

    def delete(self, ids: int | Iterable[int]) -> None:
        """Delete instances (their pixels become background and their hosts go). One undo step."""
        ids = [int(ids)] if np.isscalar(ids) else [int(i) for i in ids]
        for i in ids:
            self.row(i)
        self._write_labels(editing.delete_instances(self.labels.data, ids))
        self._remove_hosts_of(ids)
        self._after_edit(f"deleted {ids}")

    def add_instance(
        self, mask: np.ndarray, class_name: str | None = None, *, overwrite: bool = False
    ) -> int:
        """Add a new instance from a boolean ``(H, W)`` mask; returns its id (next free label).

        Pixels already owned by another instance stay theirs unless ``overwrite``.
        """
        new_id = self.next_free_id()
        new_labels = editing.add_instance(self.labels.data, mask, new_id, overwrite=overwrite)
        name = self._check_class(class_name or self.new_class)
        self._pending_rows[new_id] = {"class": name, "score": np.nan, "reviewed": True}
        self._write_labels(new_labels)
        self._after_edit(f"added instance {new_id} ({name})")
        return new_id

    def replace_with(
        self,
        mask: np.ndarray,
        class_name: str,
        *,
        score: float | None = None,
        host: Sequence[float] | None = None,
        point: Sequence[float] | None = None,
    ) -> tuple[int, list[int]]:
        """Put an instance found by the model in place of those it overlaps (a click).

        Which instances it replaces, and which id it takes, is
        :func:`napari_radiogal.editing.replace_instances`; their hosts go, the new host (if
        any) comes, and the instance is not reviewed. One undo step.

        Parameters
        ----------
        mask : ndarray of bool, shape (H, W)
        class_name : str
        score : float, optional
            The model's score (``None``: NaN, as for an instance drawn by hand).
        host : (row, col), optional
            Host position in pixels.
        point : (row, col), optional
            The click: the instance under it is replaced in any case.

        Returns
        -------
        (int, list of int)
            The new instance's id and the ids it replaced.
        """
        name = self._check_class(class_name)
        new_labels, iid, replaced = editing.replace_instances(
            self.labels.data, mask, point=point, new_id=self.next_free_id()
        )
        row = {"class": name, "score": np.nan if score is None else float(score)}
        row["reviewed"] = False
        self._remove_hosts_of(replaced)
        if iid in replaced:  # the id is reused: its row stays, with the new values
            self._retired_hosts.pop(iid, None)
            for column, value in row.items():
                self._set_feature(iid, column, value, sync=False)
        else:
            self._pending_rows[iid] = row
        self._write_labels(new_labels)
        if host is not None:
            self._add_point(np.asarray(host, float), iid)
        self._after_edit(f"instance {iid} ({name}) in place of {replaced}")
        return iid, replaced

    def prepare_new_instance(self, class_name: str | None = None) -> int:
        """Get napari's brush ready to paint a new instance of a class; returns its id."""
        name = self._check_class(class_name or self.new_class)
        new_id = self.next_free_id()
        self._pending_rows[new_id] = {"class": name, "score": np.nan, "reviewed": True}
        self.labels.selected_label = new_id
        self.labels.mode = "paint"
        return new_id

    def set_class(self, instance_id: int, class_name: str) -> None:
        """Change an instance's class (colours, table and host follow)."""
        self._set_feature(instance_id, "class", self._check_class(class_name))

    def set_reviewed(self, instance_id: int | Iterable[int], reviewed: bool = True) -> None:
        """Mark instances as checked by a human (or not)."""
        ids = [int(instance_id)] if np.isscalar(instance_id) else list(instance_id)
        for i in ids:
            self._set_feature(i, "reviewed", bool(reviewed), sync=False)
        self._after_edit(f"reviewed={reviewed} for {ids}")

    def set_host(self, instance_id: int, rowcol: Sequence[float] | None) -> None:
        """Put the instance's host at ``(row, col)`` pixels, or remove it with ``None``."""
        self.row(instance_id)
        k = self.host_index(instance_id)
        if rowcol is None:
            if k is not None:
                self._remove_points([k])
            self._after_edit(f"removed the host of {instance_id}")
            return
        pos = np.asarray(rowcol, dtype=float).reshape(2)
        if k is not None:
            data = np.array(self.points.data, dtype=float)
            data[k] = pos
            with self.points.events.data.blocker():
                self.points.data = data
        else:
            self._add_point(pos, instance_id)
        self._after_edit(f"host of {instance_id} at {pos.tolist()}")

    def replace_content(self, labels_data, labels_kwargs, points_data, points_kwargs) -> None:
        """Show a new result in these same layers (a re-run over an unedited result).

        Removing and re-adding layers costs napari a garbage collection per layer (about a
        second on a laptop); updating data, features and metadata in place does not. The
        Labels undo history is cleared: its steps belong to the old masks.
        """
        self._syncing = True
        try:
            with self.points.events.data.blocker():
                self.points.data = np.asarray(points_data, float).reshape(-1, 2)
                self.points.features = points_kwargs["features"]
            self.points.metadata = points_kwargs["metadata"]
            self.labels.metadata = labels_kwargs["metadata"]
            self.labels.data = labels_data
            # napari has no public "clear undo history"; switching editing off and on does it
            # (Labels resets its history when it stops being editable)
            self.labels.editable = False
            self.labels.editable = True
            self.labels.features = labels_kwargs["features"]
            self.labels.colormap = labels_kwargs["colormap"]
            self.points.refresh_colors(update_color_mapping=False)
        finally:
            self._syncing = False
        self.ctx = labels_kwargs["metadata"][META_KEY]
        self.current = None
        self.edited = False
        self._retired.clear()
        self._retired_hosts.clear()
        self._pending_rows.clear()
        self._last_fingerprint = self._labels_fingerprint()
        self._mask_steps = 0
        self.history.reset(self._state())
        self.changed.emit()

    # ------------------------------------------------------------------ syncing
    def sync(self) -> None:
        """Re-derive both features tables from the label image and the host points."""
        # a debounced sync may fire after the layers (or the viewer) were closed: no-op
        if self._syncing or not self.alive:
            return
        self._syncing = True
        try:
            self._sync()
        finally:
            self._syncing = False
        self._last_fingerprint = self._labels_fingerprint()
        self._record()
        self.changed.emit()

    # ------------------------------------------------------------------ undo
    def undo(self) -> bool:
        """Undo the last edit (class, host, reviewed flag or mask); ``False`` if none.

        Edits still waiting for their debounced sync (a paint stroke just made) are
        recorded first, so they are what is undone.
        """
        self._flush()
        step = self.history.next_undo
        if step is None:
            return False
        self._step_labels(step.mask_steps, self.labels.undo, step.after, step.before)
        self.history.undo()
        self._restore(step.before, f"undid a step ({step.mask_steps} mask changes)")
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; ``False`` if there is none."""
        self._flush()
        step = self.history.next_redo
        if step is None:
            return False
        self._step_labels(step.mask_steps, self.labels.redo, step.before, step.after)
        self.history.redo()
        self._restore(step.after, f"redid a step ({step.mask_steps} mask changes)")
        return True

    def _flush(self) -> None:
        """Sync now if a debounced sync is pending (a stroke not recorded yet)."""
        if self._timer is not None and self._timer.isActive():
            self._timer.stop()
            self.sync()

    def _step_labels(self, n: int, step, start: SessionState, end: SessionState) -> None:
        """Step napari's Labels history ``n`` times, from the pixels of ``start`` to ``end``.

        Raises ``EditError`` (and forgets the history) when the pixels are not where the
        history expects them: a mask changed behind its back (``layer.data = ...`` or
        ``Labels.undo()`` called directly), or napari dropped its oldest items.
        """
        if self._labels_fingerprint() == start.fingerprint:
            self._syncing = True  # set_data from undo/redo: no re-derivation, we restore
            try:
                for _ in range(n):
                    step()
            finally:
                self._syncing = False
            if self._labels_fingerprint() == end.fingerprint:
                return
        self.sync()
        self.history.reset(self._state())
        self.changed.emit()
        raise EditError(
            "the masks were changed outside this annotation's history, so it cannot be "
            "undone further; the history starts again from here"
        )

    def _restore(self, state: SessionState, what: str) -> None:
        """Show a recorded state: its features and hosts (the masks are already back)."""
        self._syncing = True
        try:
            with self.points.events.data.blocker():
                self.points.data = state.hosts.copy()
                self.points.features = state.host_features.copy()
            self.labels.features = state.features.copy()
            self.labels.colormap = label_colormap(state.features, self.scheme)
            self.points.refresh_colors(update_color_mapping=False)
        finally:
            self._syncing = False
        for i in state.features["index"]:
            self._retired.pop(int(i), None)
            self._retired_hosts.pop(int(i), None)
        self._last_fingerprint = state.fingerprint
        log.debug("edit: %s", what)
        self.edited = True
        self.changed.emit()

    def _state(self) -> SessionState:
        return SessionState(
            fingerprint=self._last_fingerprint,
            features=self.labels.features.copy(),
            hosts=np.array(self.points.data, dtype=float).reshape(-1, 2),
            host_features=self.points.features.copy(),
        )

    def _record(self) -> None:
        """Record the state after a sync as an undo step (nothing when it did not change).

        Mask changes made without a Labels history item (``layer.data = ...``, or napari's
        ``Labels.undo()`` called directly) cannot be stepped back: the history restarts.
        """
        state, steps = self._state(), self._mask_steps
        self._mask_steps = 0
        if steps == 0 and state.fingerprint != self.history.current.fingerprint:
            log.debug("masks changed outside the history: it starts again here")
            self.history.reset(state)
            return
        self.history.record(state, mask_steps=steps)

    def _sync(self) -> None:
        data = np.asarray(self.labels.data)
        present = [int(v) for v in np.unique(data) if v != 0]
        old = self.labels.features
        old_rows = {int(r["index"]): dict(r) for _, r in old.iterrows()}
        for i in set(old_rows) - set(present):
            self._retired[i] = old_rows[i]
        measures = measure_instances(
            data,
            present,
            radio=self.ctx.radio,
            beam=self.ctx.beam,
            pixel_scale_arcsec=self.ctx.pixel_scale_arcsec,
        )
        rows = []
        for i in present:
            base = old_rows.get(i)
            if base is None and i in self._retired:
                # the instance came back (undo): restore its row and, if it was removed, its host
                base = self._retired.pop(i)
                host = self._retired_hosts.pop(i, None)
                if host is not None and not self._has_point_linked_to(i):
                    self._add_point(np.asarray(host), i)
            if base is None:
                pending = self._pending_rows.pop(i, None) or {
                    "class": self.new_class,
                    "score": np.nan,
                    "reviewed": True,
                }
                base = {"index": i, "instance_id": i, "host_ra": np.nan, "host_dec": np.nan}
                base.update(pending)
            base.update(measures[i])
            base["index"] = base["instance_id"] = i
            rows.append(base)
        # hosts: drop replaced ones; link, orphan flag, one per instance, sky position
        pf = self.points.features
        if len(pf):
            replaced = np.flatnonzero(np.asarray(pf["instance_id"]) == _REPLACED)
            self._remove_points([int(j) for j in replaced])
            pf = self.points.features
        hosts = np.asarray(self.points.data, dtype=float).reshape(-1, 2)
        by_id = {r["index"]: r for r in rows}
        host_rows, seen = [], set()
        ra, dec = pixel_to_sky(self.ctx.wcs, hosts[:, 1], hosts[:, 0])
        for k in range(len(hosts)):
            iid = int(pf["instance_id"].iloc[k]) if len(pf) > k else 0
            inst = by_id.get(iid)
            if inst is None or iid in seen:
                host_rows.append({**_orphan_row(ra[k], dec[k]), "instance_id": iid})
                continue
            seen.add(iid)
            inst["host_ra"], inst["host_dec"] = float(ra[k]), float(dec[k])
            host_rows.append({**{c: inst[c] for c in INSTANCE_COLUMNS}, "orphan": False})
        for r in rows:
            if r["index"] not in seen:
                r["host_ra"] = r["host_dec"] = np.nan
        features = instance_features(
            [{c: r[c] for c in ("index", *INSTANCE_COLUMNS)} for r in rows]
        )
        self.labels.features = features
        self.labels.colormap = label_colormap(features, self.scheme)
        with self.points.events.data.blocker():
            self.points.features = host_features(host_rows)
            self.points.refresh_colors(update_color_mapping=False)

    def _labels_fingerprint(self) -> str:
        return data_fingerprint(self.labels.data)

    def _schedule_sync(self) -> None:
        if self._timer is None:
            from qtpy.QtCore import QTimer

            self._timer = QTimer()
            self._timer.setSingleShot(True)
            self._timer.setInterval(SYNC_DELAY_MS)
            self._timer.timeout.connect(self.sync)
        self._timer.start()

    def _on_labels_edit(self, event=None) -> None:
        # every paint event is one item appended to napari's Labels undo history
        self._mask_steps += 1
        if self._syncing:
            return
        self.edited = True
        self._schedule_sync()

    def _on_labels_maybe_changed(self, event=None) -> None:
        # undo/redo only emit set_data (via refresh); skip refreshes that changed nothing
        if self._syncing or self._labels_fingerprint() == self._last_fingerprint:
            return
        self.edited = True
        self._schedule_sync()

    def _on_points_data(self, event) -> None:
        if self._syncing:
            return
        action = str(getattr(event, "action", ""))
        if action.endswith("added"):
            n = len(self.points.data)
            indices = [int(i) % n for i in event.data_indices] if n else []
            self._attach_new_hosts(indices)
        elif action.endswith("changed"):
            self._attach_new_hosts([int(i) for i in event.data_indices if self._is_orphan(int(i))])
        elif not action.endswith("removed"):
            return
        self.edited = True
        self._schedule_sync()

    def _is_orphan(self, k: int) -> bool:
        f = self.points.features
        return 0 <= k < len(f) and bool(f["orphan"].iloc[k])

    def _attach_new_hosts(self, indices: list[int]) -> None:
        """Link points just placed by the user to the instance under them (or the current one).

        A newly linked host replaces the instance's previous host (one host per instance).
        """
        if not indices:
            return
        data = np.asarray(self.labels.data)
        pos = np.asarray(self.points.data, dtype=float)
        f = self.points.features
        for k in indices:
            r, c = np.round(pos[k]).astype(int)
            inside = 0 <= r < data.shape[0] and 0 <= c < data.shape[1]
            iid = int(data[r, c]) if inside else 0
            if iid == 0 and self.current in self.instance_ids():
                iid = int(self.current)
            if iid == 0:
                continue
            for j in np.flatnonzero(np.asarray(f["instance_id"]) == iid):
                if int(j) not in indices and not bool(f["orphan"].iloc[int(j)]):
                    # the previous host: marked now, removed at the next sync, because
                    # napari is still inside its own add() (which selects by index)
                    f.loc[f.index[int(j)], "instance_id"] = _REPLACED
            f.loc[f.index[k], "instance_id"] = iid
            f.loc[f.index[k], "orphan"] = False

    # ------------------------------------------------------------------ helpers
    def _write_labels(self, new: np.ndarray) -> None:
        """Write the pixels where ``new`` differs from the label image, as one undo step.

        Through ``Labels.data_setitem`` (never ``layer.data = ...``), so napari's undo and
        redo work.
        """
        where = np.nonzero(new != np.asarray(self.labels.data))
        with self.labels.block_history():
            self.labels.data_setitem(where, new[where])

    def _after_edit(self, what: str) -> None:
        log.debug("edit: %s", what)
        self.edited = True
        self.sync()

    def _check_class(self, name: str) -> str:
        try:
            return self.scheme.name_of_id(self.scheme.id_of_name(str(name)))
        except KeyError:
            raise EditError(
                f"unknown class {name!r}; use one of {list(self.scheme.names)}"
            ) from None

    def _set_feature(self, instance_id: int, column: str, value: Any, *, sync: bool = True) -> None:
        f = self.labels.features
        hit = np.flatnonzero(np.asarray(f["index"]) == int(instance_id))
        if not hit.size:
            raise EditError(f"there is no instance {instance_id}; known: {self.instance_ids()}")
        f.loc[f.index[int(hit[0])], column] = value
        if sync:
            self._after_edit(f"{column}={value!r} for {instance_id}")

    def _remove_hosts_of(self, ids: Iterable[int]) -> None:
        f = self.points.features
        if not len(f):
            return
        ids = set(int(i) for i in ids)
        drop = [
            k
            for k in range(len(f))
            if int(f["instance_id"].iloc[k]) in ids and not f["orphan"].iloc[k]
        ]
        for k in drop:
            self._retired_hosts[int(f["instance_id"].iloc[k])] = tuple(
                np.asarray(self.points.data, float)[k]
            )
        self._remove_points(drop)

    def _remove_points(self, indices: list[int]) -> None:
        if indices:
            with self.points.events.data.blocker():
                self.points.remove(sorted(indices))

    def _has_point_linked_to(self, instance_id: int) -> bool:
        f = self.points.features
        return bool(len(f)) and bool(np.any(np.asarray(f["instance_id"]) == int(instance_id)))

    def _add_point(self, rowcol: np.ndarray, instance_id: int) -> None:
        with self.points.events.data.blocker():
            self.points.add(np.asarray(rowcol, float).reshape(1, 2))
            f = self.points.features
            f.loc[f.index[-1], "instance_id"] = int(instance_id)
            f.loc[f.index[-1], "orphan"] = False
        self.points.selected_data = set()


def _undo_key(layer) -> None:
    """Ctrl+Z on an annotation layer: undo the session's last edit."""
    session = _SESSIONS.get(unwrap(layer))
    if session is not None:
        _notify_errors(session.undo)


def _redo_key(layer) -> None:
    """Ctrl+Shift+Z on an annotation layer: redo."""
    session = _SESSIONS.get(unwrap(layer))
    if session is not None:
        _notify_errors(session.redo)


def _notify_errors(action) -> None:
    try:
        action()
    except EditError as exc:
        from napari.utils.notifications import show_warning

        show_warning(str(exc))


def session_for(layer, viewer=None) -> AnnotationSession | None:
    """The session of an instance Labels or host Points layer (created on first use).

    Parameters
    ----------
    layer : napari layer
        Any layer of an annotation (Labels, Points or contours).
    viewer : napari.Viewer, optional
        Where to look for the partner layer when no session exists yet.
    """
    if layer is None:
        return None
    existing = _SESSIONS.get(unwrap(layer))
    if existing is not None:
        return existing
    ctx = layer.metadata.get(META_KEY)
    if ctx is None or viewer is None:
        return None
    partners = {
        other.metadata.get(KIND_KEY): other
        for other in viewer.layers
        if getattr(other.metadata.get(META_KEY), "session", None) == ctx.session
    }
    labels, points = partners.get("instances"), partners.get("hosts")
    if labels is None:
        return None
    if points is None:
        from ._layers import points_kwargs

        kwargs = points_kwargs(host_features([]), ctx, labels.name.removesuffix(" instances"))
        points = viewer.add_points(np.zeros((0, 2)), **kwargs)
    return AnnotationSession(labels, points)


def sessions_in(viewer) -> list[AnnotationSession]:
    """Sessions of every instance Labels layer in a viewer, top layer first."""
    out = []
    for layer in list(viewer.layers)[::-1]:
        if layer.metadata.get(KIND_KEY) == "instances":
            s = session_for(layer, viewer)
            if s is not None:
                out.append(s)
    return out
