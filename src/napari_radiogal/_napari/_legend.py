"""The class legend and the class swatches of the instance table.

The colours are those of the layers (:func:`~._layers.class_color`, from
:data:`napari_radiogal.classes.DISPLAY_COLORS`: Okabe & Ito's colour-blind-safe palette).
Class names are written in the theme's text colour next to a swatch, so they stay readable
on napari's dark and light themes whatever the class colour.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import QLabel

from ._layers import CONTOUR_RGB, class_color

__all__ = ["ClassLegend", "class_icon", "legend_html"]

#: Side of a class swatch, in pixels.
SWATCH_PX = 12


def class_icon(name: str, size: int = SWATCH_PX) -> QIcon:
    """A square swatch of a class's display colour (for combo boxes and buttons)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(class_color(name)[:7]))
    return QIcon(pixmap)


def legend_html(names: Sequence[str]) -> str:
    """Rich text of the legend: a coloured square and the name of each class, then the host
    and contour marks.

    Examples
    --------
    >>> legend_html(["FR-I"]).split("&nbsp;")[0]
    '<span style="white-space:nowrap"><span style="color:#cc79a7">&#9632;</span>'
    """
    # one unbreakable entry per class: a narrow dock wraps between entries, not in "FR-X"
    classes = " ".join(
        f'<span style="white-space:nowrap"><span style="color:{class_color(n)[:7]}">&#9632;'
        f"</span>&nbsp;{n}</span>"
        for n in names
    )
    contour = QColor.fromRgbF(*CONTOUR_RGB).name()
    return (
        f'{classes} <span style="white-space:nowrap">&#9733;&nbsp;host</span> '
        f'<span style="white-space:nowrap"><span style="color:{contour}">&#9472;&#9472;</span>'
        "&nbsp;contours</span>"
    )


class ClassLegend(QLabel):
    """One line: the colour of each class, the host mark and the contour colour."""

    def __init__(self, names: Sequence[str] = (), parent=None) -> None:
        super().__init__(parent)
        self.setToolTip(
            "Instance colours by class (Okabe–Ito colour-blind-safe palette); "
            "★ the host galaxy, in its instance's colour; "
            "cyan lines: radio contours at 3, 6, 12 … σ"
        )
        self.setWordWrap(True)
        self.set_classes(names)

    def set_classes(self, names: Sequence[str]) -> None:
        """Show these classes (a session's ``scheme.display_order``)."""
        self.names = tuple(names)
        self.setText(legend_html(self.names))
