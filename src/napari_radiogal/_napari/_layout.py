"""Where the plugin's docks go in napari's window, so that the sky keeps the room.

On a 1366 x 768 laptop the plugin's docks and napari's own layer docks must leave the
canvas at least half of the window width, and the instance table must still show several
rows. :func:`arrange_docks` stacks the docks when the window is tall enough for both and
tabs them otherwise; once Qt has laid the window out, :func:`settle` narrows the side docks
to what they need and refits the image to the canvas (napari fits the view when an image
opens, before the docks took their share).
Only public Qt (``QMainWindow``) and napari (``viewer.reset_view``) API is used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow

log = logging.getLogger(__name__)

__all__ = ["arrange_docks", "settle", "toggle_button", "CANVAS_SHARE", "LEFT_DOCK_WIDTH"]

#: The share of the window width the canvas keeps at least.
CANVAS_SHARE = 0.5
#: Width (px) asked for napari's layer controls and layer list on the left (their content
#: may need more: the Labels controls take ~320 px, and get it).
LEFT_DOCK_WIDTH = 260
#: Width (px) of the splitter handles and frames between the canvas and the docks.
_HANDLES_PX = 30
#: Vertical room (px) taken by the window's menu, status bar and dock title bars.
_CHROME_PX = 90


def toggle_button(**kwargs):
    """A magicgui ``ToggleButton`` that switches on and off on its own.

    magicgui 0.10 draws a ``ToggleButton`` as a ``QRadioButton``, which Qt makes exclusive
    with the other radio buttons of its parent: two toggles in one form (the *Advanced*
    group and *Click to segment*) would switch each other off, and the one that is on
    could not be switched off at all. ``kwargs`` go to ``ToggleButton``.
    """
    from magicgui.widgets import ToggleButton

    toggle = ToggleButton(**kwargs)
    if hasattr(toggle.native, "setAutoExclusive"):
        toggle.native.setAutoExclusive(False)
    return toggle


def _main_window(dock: QDockWidget) -> QMainWindow | None:
    window = dock.parentWidget()
    return window if isinstance(window, QMainWindow) else None


def arrange_docks(viewer, docks: Sequence[QDockWidget], *, raise_index: int = -1) -> str:
    """Stack (tall window) or tab (short window) the plugin's right-hand docks.

    The widths are shared and the view refitted once Qt has laid the window out
    (:func:`settle`), when the docks' real sizes are known.

    Parameters
    ----------
    viewer : napari.Viewer
    docks : sequence of QDockWidget
        napari's dock widgets of the plugin, in the order they should appear (top first).
    raise_index : int
        Which dock is in front when they are tabbed.

    Returns
    -------
    {"stacked", "tabbed", "none"}
        What was done (``"none"`` when the docks are not in a main window).
    """
    docks = list(docks)
    window = _main_window(docks[0]) if docks else None
    if window is None:
        return "none"
    tall = window.height() >= sum(d.widget().sizeHint().height() for d in docks) + _CHROME_PX
    if tall:
        for above, below in zip(docks, docks[1:], strict=False):
            window.splitDockWidget(above, below, Qt.Orientation.Vertical)
        heights = [d.widget().sizeHint().height() for d in docks]
        window.resizeDocks(docks, heights, Qt.Orientation.Vertical)
    else:
        for other in docks[1:]:
            window.tabifyDockWidget(docks[0], other)
    # after the layout requests now queued: the docks have their real sizes then
    timer = QTimer(docks[0])
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: settle(viewer, docks, front=docks[raise_index]))
    timer.timeout.connect(timer.deleteLater)
    timer.start(0)
    return "stacked" if tall else "tabbed"


def settle(viewer, docks: Sequence[QDockWidget], *, front: QDockWidget | None = None) -> None:
    """Share the width between the canvas and the docks, bring ``front`` forward and fit
    the image to the canvas that is left.

    napari fits the view when the first image opens, before the docks took their share of
    the window; this refits it.

    Parameters
    ----------
    viewer : napari.Viewer
    docks : sequence of QDockWidget
        The plugin's docks (right-hand side).
    front : QDockWidget, optional
        The dock to show when they are tabbed.
    """
    window = _main_window(docks[0])
    if window is None:
        return
    _share_width(window, docks)
    if front is not None:
        front.raise_()
    if len(viewer.layers):
        viewer.reset_view()


def _share_width(window: QMainWindow, docks: Sequence[QDockWidget]) -> None:
    """Give the right docks the width they ask for, within the canvas's share."""
    left = [
        d
        for d in window.findChildren(QDockWidget)
        if not d.isHidden() and window.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea
    ]
    left_width = 0
    if left:  # napari's layer controls and list: as narrow as their content allows
        left_width = max(LEFT_DOCK_WIDTH, *(d.minimumSizeHint().width() for d in left))
        window.resizeDocks(left, [left_width] * len(left), Qt.Orientation.Horizontal)
    room = int(window.width() * (1 - CANVAS_SHARE)) - left_width - _HANDLES_PX
    wanted = max(d.widget().sizeHint().width() for d in docks)
    right = max(min(wanted, room), max(d.minimumSizeHint().width() for d in docks))
    window.resizeDocks(list(docks), [right] * len(docks), Qt.Orientation.Horizontal)
    log.debug("docks: left %d px, right %d px of %d", left_width, right, window.width())
