"""Click to segment, and the keyboard shortcuts of correcting.

:class:`ClickSegmenter` is the segment widget's *Click to segment* mode: while it is on, a
left click (not a drag, which pans) on the canvas runs
:func:`napari_radiogal.inference.segment_at` at the clicked pixel of the widget's radio
layer, in a napari worker with the widget's model and options, and puts the one instance
found into the radio layer's annotation (made on the first click when there is none) with
:meth:`~._edits.AnnotationSession.replace_with`: one undo step, like every edit.

:func:`install_shortcuts` binds :data:`SHORTCUTS` on the viewer, once. Except for the click
mode, they are the buttons of the *Radio galaxy instances* table and act on its selection
(the table dock is opened when needed); they are viewer keys, so a key the active layer
binds itself (napari's own) wins, which is why the destructive ones take Shift.
"""

from __future__ import annotations

import logging
import time
from functools import partial

import numpy as np

from napari_radiogal.errors import EditError

from ._apply import add_annotations, session_of_radio_layer
from ._display import full_resolution
from ._layout import toggle_button

log = logging.getLogger(__name__)

__all__ = [
    "ClickSegmenter",
    "SHORTCUTS",
    "CLICK_KEY",
    "install_shortcuts",
    "shortcuts_help",
    "click_in_thread",
]

PLUGIN = "napari-radiogal"
SEGMENT_WIDGET = "Segment radio galaxies"
TABLE_WIDGET = "Radio galaxy instances"

#: The click-mode key (``C`` alone is napari's auto-contrast on image layers).
CLICK_KEY = "Shift+C"

#: ``(key, what it does)``, in the order the tooltip and README list them.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    (CLICK_KEY, "click to segment on / off"),
    ("N", "next least-confident instance not yet reviewed: select it, centre the view"),
    ("R", "mark the selected instances reviewed"),
    ("Shift+M", "merge the selected instances"),
    ("Shift+S", "split the selected instance (along the cut line, if one is drawn)"),
    ("Shift+D", "delete the selected instances"),
)

#: A press and release farther apart than this (canvas pixels) is a drag, not a click.
CLICK_TOLERANCE_PX = 4.0


def shortcuts_help() -> str:
    """The shortcuts as tooltip lines (``"Shift+C  click to segment on / off"``, ...)."""
    return "\n".join(f"{key}  {what}" for key, what in SHORTCUTS)


def click_in_thread(radio, infrared, model_path, settings, point_rc, cancel):
    """Worker body of a click: the model (loaded once, then cached) and :func:`segment_at`.

    Returns
    -------
    (ClickResult, str)
        The result and the device it ran on.
    """
    from napari_radiogal.inference import InferenceCancelled, segment_at

    from ._widget_segment import load_chosen_model

    model, config = load_chosen_model(radio, infrared, model_path, settings)
    if cancel():
        raise InferenceCancelled("click cancelled before it ran")
    result = segment_at(radio, infrared, point_rc, model=model, config=config, cancel=cancel)
    return result, str(model.device)


def click_toggle():
    """The *Click to segment* button, off, with the canvas keys in its tooltip."""
    toggle = toggle_button(value=False, text="Click to segment", label="")
    toggle.tooltip = (
        "While on, a left click on the radio image segments the one source there "
        "(and replaces the instance it stands for). Keys on the canvas:\n" + shortcuts_help()
    )
    return toggle


class ClickSegmenter:
    """The *Click to segment* mode of a :class:`~._widget_segment.SegmentWidget`.

    Parameters
    ----------
    widget : SegmentWidget
        Gives the radio and infrared layers, the model and the options.
    toggle : magicgui.widgets.ToggleButton
        The mode's button, made by :func:`click_toggle` and placed in the widget's form
        when the form is built (a widget inserted into a labelled magicgui form later widens
        the whole dock, past what a 1366 px screen leaves for the canvas).

    Attributes
    ----------
    toggle : magicgui.widgets.ToggleButton
        The mode's button (and :data:`CLICK_KEY`).
    worker
        The running click's worker, or ``None``.
    last_result : ClickResult or None
        The last click's result.
    last_seconds : float or None
        Seconds from the click to the instance in the layers.
    """

    def __init__(self, widget, toggle) -> None:
        self.widget = widget
        self.viewer = widget.viewer
        self.worker = None
        self.last_result = None
        self.last_seconds: float | None = None
        self.toggle = toggle
        self.toggle.changed.connect(self._on_toggle)
        # the viewer outlives the dock: its callback must go with the widget
        widget.native.destroyed.connect(partial(_forget_callback, self.viewer, self.on_mouse))

    @property
    def active(self) -> bool:
        """Whether clicks segment."""
        return bool(self.toggle.value)

    def _on_toggle(self, on: bool) -> None:
        callbacks = self.viewer.mouse_drag_callbacks
        if on and self.on_mouse not in callbacks:
            callbacks.append(self.on_mouse)
            layer = self.viewer.layers.selection.active
            if layer is not None and getattr(layer, "mode", "pan_zoom") != "pan_zoom":
                layer.mode = "pan_zoom"  # a click must not also paint or add a point
            self.widget.status.value = "Click to segment: left-click a source."
        elif not on:
            _forget_callback(self.viewer, self.on_mouse)

    def on_mouse(self, viewer, event):
        """Viewer mouse callback: a left click without a drag segments at its position."""
        if getattr(event, "button", 1) != 1 or getattr(event, "modifiers", ()):
            return
        start = np.asarray(getattr(event, "pos", (0.0, 0.0)), dtype=float)
        yield
        while event.type == "mouse_move":
            yield
        end = np.asarray(getattr(event, "pos", start), dtype=float)
        if np.hypot(*(end - start)) > CLICK_TOLERANCE_PX:
            return  # a drag: napari panned
        radio_layer = self.widget.radio.value
        if radio_layer is not None:
            row, col = np.asarray(radio_layer.world_to_data(event.position), float)[-2:]
            self.click_at(row, col)

    # ------------------------------------------------------------------ running
    def click_at(self, row: float, col: float):
        """Segment the source at ``(row, col)`` pixels of the radio layer; returns the worker.

        ``None`` (with a status message) when no radio layer is chosen, the click is off
        the image, or a click is still running.
        """
        from napari.qt.threading import create_worker

        from napari_radiogal.errors import RadiogalError

        from ._widget_segment import Job, layer_input

        w = self.widget
        radio_layer, ir_layer = w.radio.value, w.infrared.value
        if radio_layer is None:
            w.status.value = "Open a radio image first, then click on it."
            return None
        h, width = np.shape(full_resolution(radio_layer))[-2:]
        if not (-0.5 <= row < h - 0.5 and -0.5 <= col < width - 0.5):
            w.status.value = "The click is off the radio image."
            return None
        if self.worker is not None or w.running:
            w.status.value = "Still segmenting: click again when it is done."
            return None
        try:
            model_path, settings = w.chosen_model(), w.settings()
        except RadiogalError as exc:
            w.status.value = str(exc)
            return None
        job = Job.for_layers(radio_layer, ir_layer)
        worker = create_worker(
            click_in_thread,
            layer_input(radio_layer, copy=False),
            layer_input(ir_layer, copy=False),
            model_path,
            settings,
            (float(row), float(col)),
            lambda: False,
            _start_thread=False,
            _connect={
                "returned": partial(self._on_returned, job),
                "errored": w.report_error,
                "finished": self._on_finished,
                "warned": w.report_warning,
            },
        )
        self.worker = worker
        w.status.value = f"Segmenting at ({row:.0f}, {col:.0f})…"
        worker.start()
        return worker

    def _on_returned(self, job, result) -> None:
        click, device = result
        self.deliver(job, click, device=device)

    def _on_finished(self) -> None:
        self.worker = None

    def deliver(self, job, result, *, device: str | None = None):
        """Put a click's instance into the radio layer's annotation (the GUI thread's part).

        Parameters
        ----------
        job : Job
            The layers the click was computed for: dropped when they changed meanwhile.
        result : ClickResult
        device : str, optional
            Where the network ran (shown in the widget).

        Returns
        -------
        (AnnotationSession, int) or None
            The annotation and the new instance's id; ``None`` when nothing was found or
            the result was dropped.
        """
        from napari.utils.notifications import show_info, show_warning

        w = self.widget
        self.last_result = result
        reason = job.stale_reason(self.viewer)
        if reason is not None:
            w.status.value = f"Click dropped: {reason}."
            show_warning(f"Click result dropped: {reason}. Click again.")
            return None
        if device is not None:
            w.show_runs_on(device)
        if not result.found:
            w.status.value = f"{result.message} ({result.seconds:.2f} s)."
            show_info(result.message[0].upper() + result.message[1:] + ".")
            return None
        session = session_of_radio_layer(self.viewer, job.radio_layer)
        if session is None or not session.alive:
            session = add_annotations(
                self.viewer, _empty_dataset(job.radio_layer, result), job.radio_layer, job.ir_layer
            )
        try:
            iid, replaced = session.replace_with(
                result.full_mask(),
                result.class_name,
                score=result.score,
                host=result.host_rowcol,
                point=result.point,
            )
        except EditError as exc:
            w.status.value = str(exc)
            show_warning(str(exc))
            return None
        session.current = iid
        self.last_seconds = time.perf_counter() - job.started
        what = f"in place of {replaced}" if replaced else "new"
        msg = f"{result.message}: instance {iid} ({what}) in {self.last_seconds:.2f} s"
        w.status.value = msg + "."
        self.viewer.status = msg
        return session, iid


def _empty_dataset(radio_layer, result):
    """An annotation with no instance yet, on the click's image, in the model's classes."""
    from napari_radiogal.annotations import CocoDataset, ImageRecord

    h, w = result.image_shape
    record = ImageRecord(id=1, file_name=str(radio_layer.name), height=int(h), width=int(w))
    return CocoDataset(
        images=[record], instances=[], scheme=result.scheme, info=dict(result.provenance)
    )


def _forget_callback(viewer, callback, *_) -> None:
    callbacks = viewer.mouse_drag_callbacks
    if callback in callbacks:
        callbacks.remove(callback)


# ---------------------------------------------------------------------- shortcuts
def install_shortcuts(viewer) -> None:
    """Bind :data:`SHORTCUTS` on the viewer (again is harmless: the same functions)."""
    for (key, _), action in zip(SHORTCUTS, _ACTIONS, strict=True):
        viewer.bind_key(key, action, overwrite=True)


def _table(viewer):
    """The instance table (opened when it is not docked yet)."""
    _, table = viewer.window.add_plugin_dock_widget(PLUGIN, TABLE_WIDGET)
    return table


def _warn(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(message)


def toggle_click_mode(viewer) -> None:
    """:data:`CLICK_KEY`: switch the segment widget's click mode."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT_WIDGET)
    widget.click.toggle.value = not widget.click.toggle.value


def next_to_review(viewer) -> int | None:
    """``N``: select the next least-confident unreviewed instance (the table centres it)."""
    from napari_radiogal.editing import next_least_confident

    table = _table(viewer)
    session = table.session
    if session is None:
        _warn("No annotation to review yet: segment an image first.")
        return None
    f = session.labels.features
    ids = [int(i) for i in f["index"]]
    scores = dict(zip(ids, f["score"], strict=True))
    reviewed = dict(zip(ids, (bool(v) for v in f["reviewed"]), strict=True))
    current = (table.selected_ids() or [session.current])[0]
    iid = next_least_confident(scores, reviewed, current)
    if iid is None:
        from napari.utils.notifications import show_info

        show_info("Every instance is reviewed.")
        return None
    table.select([iid])
    return iid


def mark_reviewed(viewer) -> None:
    """``R``: mark the selected instances reviewed (only those: a key must not mark all)."""
    table = _table(viewer)
    ids = table.selected_ids()
    if table.session is None or not ids:
        _warn("Select the instances to mark reviewed (N selects the next one to review).")
        return
    try:
        table.session.set_reviewed(ids, True)
    except EditError as exc:
        _warn(str(exc))


def merge_selected(viewer) -> None:
    """``Shift+M``: the table's Merge."""
    _table(viewer).merge_selected()


def split_selected(viewer) -> None:
    """``Shift+S``: the table's Split."""
    _table(viewer).split_selected()


def delete_selected(viewer) -> None:
    """``Shift+D``: the table's Delete."""
    _table(viewer).delete_selected()


_ACTIONS = (
    toggle_click_mode,
    next_to_review,
    mark_reviewed,
    merge_selected,
    split_selected,
    delete_selected,
)
