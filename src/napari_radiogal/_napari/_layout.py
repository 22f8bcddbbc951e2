"""Where the plugin's docks go in napari's window, so that the sky keeps the room.

On a 1366 x 768 laptop the plugin's docks and napari's own layer docks must leave the
canvas at least half of the window width, and the instance table must still show several
rows. :func:`arrange_docks` stacks the docks when the window is tall enough for both and
tabs them otherwise, narrows the side docks to what they need, and
:func:`fit_view_when_settled` refits the image to the canvas once Qt has laid the window
out (napari fits the view when an image opens, before the docks took their share).
Only public Qt (``QMainWindow``) and napari (``viewer.reset_view``) API is used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QWidget

log = logging.getLogger(__name__)

__all__ = ["arrange_docks", "fit_view_when_settled", "CANVAS_SHARE", "LEFT_DOCK_WIDTH"]

#: The share of the window width the canvas keeps at least.
CANVAS_SHARE = 0.5
#: Width (px) given to napari's layer controls and layer list on the left: their
#: widgets still fit, and the canvas gains what napari's default width (~320 px) wastes.
LEFT_DOCK_WIDTH = 250
#: Vertical room (px) taken by the window's menu, status bar and dock title bars.
_CHROME_PX = 90


def _main_window(dock: QDockWidget) -> QMainWindow | None:
    window = dock.parentWidget()
    return window if isinstance(window, QMainWindow) else None


def arrange_docks(docks: Sequence[QDockWidget], *, raise_index: int = -1) -> str:
    """Stack (tall window) or tab (short window) the plugin's right-hand docks.

    Parameters
    ----------
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
        docks[raise_index].raise_()
    _share_width(window, docks)
    return "stacked" if tall else "tabbed"


def _share_width(window: QMainWindow, docks: Sequence[QDockWidget]) -> None:
    """Give the right docks the width they ask for, within the canvas's share."""
    left = [
        d
        for d in window.findChildren(QDockWidget)
        if d.isVisible() and window.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea
    ]
    left_width = LEFT_DOCK_WIDTH if left else 0
    room = int(window.width() * (1 - CANVAS_SHARE)) - left_width - 12  # splitter handles
    wanted = max(d.widget().sizeHint().width() for d in docks)
    right = max(min(wanted, room), min(d.widget().minimumSizeHint().width() for d in docks))
    if left:
        window.resizeDocks(left, [left_width] * len(left), Qt.Orientation.Horizontal)
    window.resizeDocks(list(docks), [right] * len(docks), Qt.Orientation.Horizontal)


def fit_view_when_settled(viewer, parent: QWidget) -> None:
    """Fit the image to the canvas once the window's layout has settled.

    napari fits the view when the first image opens, before docks take their share of
    the window; this refits it after the layout requests now queued are processed.

    Parameters
    ----------
    viewer : napari.Viewer
    parent : QWidget
        A widget of the window; the refit is dropped if it is deleted first.
    """

    def fit() -> None:
        if len(viewer.layers):
            viewer.reset_view()

    # parented: a window closed before the timer fires takes the timer with it
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.timeout.connect(fit)
    timer.timeout.connect(timer.deleteLater)
    timer.start(0)
