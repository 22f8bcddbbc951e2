"""The "Radio galaxy instances" dock: a table of instances and the edits napari lacks.

One row per instance, least confident first (human-made instances, which have no score,
last): class (editable), score, host RA/Dec, integrated flux, angular size, reviewed
(editable). Clicking a row centres and zooms the view on the instance and selects its label
for napari's brush; several rows can be selected for Merge, Delete or Mark reviewed.
The table follows every change of the layers (paint, undo, host moves) through the
session's ``changed`` signal. *Undo* and *Redo* (Ctrl+Z / Ctrl+Shift+Z here and on the
annotation layers) step through every edit, class, host and reviewed flag included; a
legend under the table gives the class colours.

The dock is built to share a 1366 x 768 window: the table asks for the width of its
columns and the height of :data:`MIN_VISIBLE_ROWS` rows at least, never more.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QSize, Qt, QTimer, Signal
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QShortcut,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_radiogal.classes import RADIOGALAXYNET

from ._edits import REDO_KEY, UNDO_KEY, AnnotationSession, EditError, session_for, sessions_in
from ._layers import KIND_KEY
from ._legend import ClassLegend, class_icon
from ._samp import samp_button
from ._status import connect_while_alive, install_sky_status

log = logging.getLogger(__name__)

__all__ = ["InstanceTableWidget", "COLUMNS", "MIN_VISIBLE_ROWS"]

#: (header, features column) of the table, in order.
COLUMNS = (
    ("ID", "instance_id"),
    ("Class", "class"),
    ("Score", "score"),
    ("RA°", "host_ra"),
    ("Dec°", "host_dec"),
    ("mJy", "flux_jy"),
    ("LAS″", "size_arcsec"),
    ("✓", "reviewed"),
)
COL = {name: k for k, (_, name) in enumerate(COLUMNS)}
_HEADER_TIPS = (
    "Instance id (= its label in the Labels layer)",
    "Morphological class (editable)",
    "Model confidence: class probability x propagated CAM peak (empty: drawn by hand)",
    "Host galaxy right ascension, degrees (ICRS)",
    "Host galaxy declination, degrees (ICRS)",
    "Integrated flux density, mJy (sum of Jy/beam in the mask / beam area)",
    "Largest angular size, arcsec",
    "Reviewed by a human (editable)",
)
#: The widest usual text of each column (sizes the table before it has rows; None: the
#: class column, sized by its combo box).
_SAMPLES = ("99", None, "0.000", "359.9999", "+89.9999", "99.9", "999", "")
CUT_LINE_NAME = "cut line"

#: Columns hidden, in this order, when the dock is too narrow for all of them.
OPTIONAL_COLUMNS = ("host_dec", "host_ra")

#: The table is never shorter than this many rows (plus its header).
MIN_VISIBLE_ROWS = 5
#: ... and asks for this many when there is room.
PREFERRED_ROWS = 8


def _fmt(value, spec: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(v) else format(v, spec)


class _NumericItem(QTableWidgetItem):
    """A cell that sorts by its number (NaN last) rather than by its text."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self.value = value if np.isfinite(value) else np.inf

    def __lt__(self, other) -> bool:
        if isinstance(other, _NumericItem):
            return self.value < other.value
        return super().__lt__(other)


def _class_combo(names) -> QComboBox:
    """A combo box of class names, each with its colour swatch (the text stays readable)."""
    combo = QComboBox()
    for name in names:
        combo.addItem(class_icon(name), name)
    return combo


class _Table(QTableWidget):
    """The instance table, sized for its columns and a few rows (see the module docstring)."""

    _columns: int | None = None

    def _columns_width(self) -> int:
        if self._columns is None:
            fm = self.fontMetrics()
            pad = 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin) + 8
            combo = _class_combo(RADIOGALAXYNET.display_order).sizeHint().width()
            header = self.horizontalHeader()
            self._columns = sum(
                max(
                    combo if sample is None else fm.horizontalAdvance(sample) + pad,
                    header.sectionSizeHint(k),
                )
                for k, sample in enumerate(_SAMPLES)
            )
        return self._columns

    def _height_of(self, rows: int) -> int:
        row = self.verticalHeader().defaultSectionSize()
        return self.horizontalHeader().sizeHint().height() + rows * row + 2 * self.frameWidth()

    def sizeHint(self) -> QSize:
        scrollbar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        width = self._columns_width() + scrollbar + 2 * self.frameWidth()
        return QSize(width, self._height_of(PREFERRED_ROWS))

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self._height_of(MIN_VISIBLE_ROWS))

    def fit_columns(self) -> list[str]:
        """Hide the columns of :data:`OPTIONAL_COLUMNS` that do not fit the width (a narrow
        dock on a laptop: RA/Dec go first, the status bar shows them under the cursor);
        show them again when there is room. Returns the hidden columns."""
        header = self.horizontalHeader()
        width = {
            k: max(self.sizeHintForColumn(k), header.sectionSizeHint(k))
            for k in range(self.columnCount())
        }
        room = self.viewport().width()
        total = sum(width.values())
        hidden = []
        for name in OPTIONAL_COLUMNS:
            if total <= room:
                break
            total -= width[COL[name]]
            hidden.append(name)
        for k in range(self.columnCount()):
            self.setColumnHidden(k, COLUMNS[k][1] in hidden)
        return hidden

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()


class InstanceTableWidget(QWidget):
    """Instance table + edit tools + export for the annotations in a napari viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    #: emitted after the table was rebuilt (tests wait on it)
    refreshed = Signal()

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: AnnotationSession | None = None
        self._building = False
        self._shown = False

        self.source = QComboBox()
        self.source.setToolTip("Which annotation (instance Labels layer) the table shows")
        self.source.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source.setMinimumContentsLength(12)
        self.source.currentIndexChanged.connect(self._on_source_chosen)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip(
            f"Undo the last edit: mask, class, host or reviewed flag ({UNDO_KEY})"
        )
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip(f"Redo the last undone edit ({REDO_KEY})")

        self.table = _Table(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([h for h, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # a stretched last section would be sized past the viewport (a needless scrollbar)
        header.setStretchLastSection(False)
        for k, tip in enumerate(_HEADER_TIPS):
            self.table.horizontalHeaderItem(k).setToolTip(tip)
        self.table.setSortingEnabled(False)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.setToolTip(
            "Least confident first. Click a row to zoom to it; edit Class and Reviewed in place; "
            "select several rows to merge, delete or mark them reviewed."
        )

        self.merge_button = QPushButton("Merge")
        self.merge_button.setToolTip("Merge the selected instances into the most confident one")
        self.split_button = QPushButton("Split")
        self.split_button.setToolTip(
            "Split the selected instance into its connected parts, or along the path drawn in "
            "the 'cut line' layer"
        )
        self.cut_button = QPushButton("Cut line…")
        self.cut_button.setToolTip("Draw a path across an instance, then press Split")
        self.delete_button = QPushButton("Delete")
        self.reviewed_button = QPushButton("Reviewed")
        self.reviewed_button.setToolTip(
            "Mark the selected instances (all when none is selected) as reviewed"
        )
        self.legend = ClassLegend(RADIOGALAXYNET.display_order)
        self.new_class = QComboBox()
        self.new_class.setToolTip("Class of a new instance painted with 'New'")
        self.new_class.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.new_class.setMinimumContentsLength(5)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Paint a new instance of the chosen class with napari's brush")
        self.host_button = QPushButton("Place host")
        self.host_button.setToolTip(
            "Click on the image to put the selected instance's host there (replaces the old one)"
        )
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip(
            "COCO JSON (with reviewed flags and provenance), catalogue (ECSV, FITS, VOTable), "
            "DS9 and CRTF regions; an earlier export is kept as NAME.bak"
        )
        self.import_button = QPushButton("Import COCO…")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.merge_button.clicked.connect(self.merge_selected)
        self.split_button.clicked.connect(self.split_selected)
        self.cut_button.clicked.connect(self.start_cut_line)
        self.delete_button.clicked.connect(self.delete_selected)
        self.reviewed_button.clicked.connect(self.mark_selected_reviewed)
        self.new_button.clicked.connect(self.new_instance)
        self.host_button.clicked.connect(self.place_host)
        self.export_button.clicked.connect(lambda: self.export())
        self.import_button.clicked.connect(lambda: self.import_coco())
        self.new_class.currentTextChanged.connect(self._on_new_class)
        self.undo_button.clicked.connect(lambda: self.undo())
        self.redo_button.clicked.connect(lambda: self.redo())
        # while the dock has the focus (napari's canvas keys do not reach it)
        for keys, slot in ((UNDO_KEY, self.undo), (REDO_KEY, self.redo)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

        # three buttons a row: the dock fits beside a canvas of half a 1366 px window
        tools = QGridLayout()
        tools.setHorizontalSpacing(3)
        grid = (
            (self.merge_button, self.split_button, self.cut_button),
            (self.delete_button, self.host_button, self.reviewed_button),
            (self.new_class, self.new_button),
        )
        for row, buttons in enumerate(grid):
            for col, button in enumerate(buttons):
                tools.addWidget(button, row, col)
        io_row = QHBoxLayout()
        io_row.addWidget(self.import_button)
        io_row.addWidget(self.export_button)
        io_row.addWidget(samp_button(self))
        top = QHBoxLayout()
        top.addWidget(self.source, 1)
        top.addWidget(self.undo_button)
        top.addWidget(self.redo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)  # the canvas needs the width more
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.legend)
        layout.addLayout(tools)
        layout.addLayout(io_row)
        layout.addWidget(self.status)

        # deferred: a reader adds its Labels and Points one after the other, and the pair
        # must be complete before a session is made of it
        self._sources_timer = QTimer(self)
        self._sources_timer.setSingleShot(True)
        self._sources_timer.setInterval(0)
        self._sources_timer.timeout.connect(self._refresh_sources)
        connect_while_alive(
            self,
            [
                (self.viewer.layers.events.inserted, self._schedule_refresh_sources),
                (self.viewer.layers.events.removed, self._schedule_refresh_sources),
                (self.viewer.layers.selection.events.active, self._on_active_layer),
            ],
        )
        self.destroyed.connect(lambda *_: self._forget_session())
        self._refresh_sources()
        install_sky_status(napari_viewer)

    def showEvent(self, event) -> None:
        """The first time the dock shows, refit the image to the canvas it leaves."""
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            QTimer.singleShot(0, self._fit_view)

    def _fit_view(self) -> None:
        if len(self.viewer.layers):
            self.viewer.reset_view()

    def _forget_session(self) -> None:
        if self.session is not None:
            try:
                self.session.changed.disconnect(self.rebuild)
            except (TypeError, ValueError, RuntimeError):
                pass
            self.session = None

    # ------------------------------------------------------------------ sources
    def _schedule_refresh_sources(self, event=None) -> None:
        self._sources_timer.start()

    def _refresh_sources(self, event=None) -> None:
        sessions = sessions_in(self.viewer)
        current = self.session
        self.source.blockSignals(True)
        self.source.clear()
        for s in sessions:
            self.source.addItem(s.labels.name, s)
        self.source.blockSignals(False)
        if current in sessions:
            self.source.setCurrentIndex(sessions.index(current))
            self.set_session(current)
        else:
            self.set_session(sessions[0] if sessions else None)

    def _on_source_chosen(self, index: int) -> None:
        self.set_session(self.source.itemData(index) if index >= 0 else None)

    def _on_active_layer(self, event=None) -> None:
        layer = self.viewer.layers.selection.active
        if layer is not None and layer.metadata.get(KIND_KEY) in ("instances", "hosts"):
            s = session_for(layer, self.viewer)
            if s is not None and s is not self.session:
                self._refresh_sources()
                idx = self.source.findData(s)
                if idx >= 0:
                    self.source.setCurrentIndex(idx)

    def set_session(self, session: AnnotationSession | None) -> None:
        """Show (and edit) this annotation session."""
        if session is self.session:
            self.rebuild()
            return
        if self.session is not None:
            try:
                self.session.changed.disconnect(self.rebuild)
            except (TypeError, ValueError, RuntimeError):
                pass
        self.session = session
        if session is not None:
            session.changed.connect(self.rebuild)
            names = list(session.scheme.display_order)
            self.new_class.blockSignals(True)
            self.new_class.clear()
            # no swatch here: the row of tools must fit a narrow dock (the legend is above)
            self.new_class.addItems(names)
            self.new_class.setCurrentText(session.new_class)
            self.new_class.blockSignals(False)
            self.legend.set_classes(names)
        self.rebuild()

    # ------------------------------------------------------------------ table
    def rebuild(self) -> None:
        """Refill the table from the session's features (keeps the selection)."""
        s = self.session
        selected = set(self.selected_ids())
        self._building = True
        self.table.blockSignals(True)
        try:
            self.table.setRowCount(0)
            self._update_undo_buttons()
            if s is None:
                self.status.setText(
                    "No annotations yet: run 'Segment radio galaxies' or import a COCO file."
                )
                return
            f = s.labels.features
            order = np.argsort(
                [
                    (_score if np.isfinite(_score) else np.inf)
                    for _score in f["score"].astype(float)
                ],
                kind="stable",
            )
            self.table.setRowCount(len(f))
            for row, k in enumerate(order):
                r = f.iloc[int(k)]
                self._fill_row(row, r, s)
            self.table.clearSelection()
            for row in range(self.table.rowCount()):
                if self._row_id(row) in selected:
                    self.table.selectRow(row)
        finally:
            self.table.blockSignals(False)
            self._building = False
        self.table.fit_columns()
        self._update_status()
        self.refreshed.emit()

    def _fill_row(self, row: int, r, s: AnnotationSession) -> None:
        iid = int(r["instance_id"])
        id_item = _NumericItem(str(iid), float(iid))
        id_item.setData(Qt.ItemDataRole.UserRole, iid)
        id_item.setFlags(id_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.table.setItem(row, COL["instance_id"], id_item)
        combo = _class_combo(s.scheme.display_order)
        combo.setCurrentText(str(r["class"]))
        combo.currentTextChanged.connect(lambda name, iid=iid: self._on_class_changed(iid, name))
        self.table.setCellWidget(row, COL["class"], combo)
        cells = {
            "score": (_fmt(r["score"], ".3f"), float(r["score"])),
            # 1e-4 degree = 0.36 arcsec, below a pixel of every survey preset
            "host_ra": (_fmt(r["host_ra"], ".4f"), float(r["host_ra"])),
            "host_dec": (_fmt(r["host_dec"], "+.4f"), float(r["host_dec"])),
            "flux_jy": (_fmt(float(r["flux_jy"]) * 1e3, ".3g"), float(r["flux_jy"])),
            "size_arcsec": (_fmt(r["size_arcsec"], ".0f"), float(r["size_arcsec"])),
        }
        for name, (text, value) in cells.items():
            item = _NumericItem(text, value)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
            self.table.setItem(row, COL[name], item)
        check = QTableWidgetItem("")
        check.setFlags(
            (check.flags() | Qt.ItemFlag.ItemIsUserCheckable) & ~Qt.ItemFlag.ItemIsEditable
        )
        check.setCheckState(
            Qt.CheckState.Checked if bool(r["reviewed"]) else Qt.CheckState.Unchecked
        )
        self.table.setItem(row, COL["reviewed"], check)

    def _row_id(self, row: int) -> int | None:
        item = self.table.item(row, COL["instance_id"])
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def row_of(self, instance_id: int) -> int | None:
        """Table row showing an instance (``None`` if absent)."""
        for row in range(self.table.rowCount()):
            if self._row_id(row) == int(instance_id):
                return row
        return None

    def selected_ids(self) -> list[int]:
        """Instance ids of the selected rows, in table order."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [i for i in (self._row_id(r) for r in rows) if i is not None]

    def select(self, instance_ids) -> None:
        """Select rows by instance id (as a click would; the view zooms to the first)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for iid in instance_ids:
            row = self.row_of(iid)
            if row is not None:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _update_status(self) -> None:
        s = self.session
        if s is None:
            return
        f = s.labels.features
        n, reviewed = len(f), int(np.sum(f["reviewed"])) if len(f) else 0
        orphans = int(np.sum(s.points.features["orphan"])) if len(s.points.features) else 0
        parts = [f"{n} instance{'' if n == 1 else 's'}", f"{reviewed} reviewed"]
        if orphans:
            parts.append(f"{orphans} orphan host{'s' if orphans > 1 else ''} (grey)")
        saver = getattr(s, "autosaver", None)
        if saver is not None and saver.last_saved is not None:
            parts.append(f"autosaved {time.strftime('%H:%M:%S')} to {saver.last_saved.name}")
        self.status.setText(" · ".join(parts))

    # ------------------------------------------------------------------ reactions
    def _on_selection(self) -> None:
        ids = self.selected_ids()
        if self.session is None or not ids:
            return
        self.session.current = ids[0]
        self.zoom_to(ids[0])

    def zoom_to(self, instance_id: int, fill: float = 0.5) -> None:
        """Centre the view on an instance and zoom so that it fills ``fill`` of the canvas."""
        s = self.session
        mask = s.mask(instance_id)
        if not mask.any():
            return
        rows, cols = np.nonzero(mask)
        corners = np.array(
            [[rows.min() - 0.5, cols.min() - 0.5], [rows.max() + 0.5, cols.max() + 0.5]]
        )
        world = np.array([s.labels.data_to_world(c) for c in corners])
        centre = world.mean(axis=0)
        extent = np.maximum(np.abs(world[1] - world[0]), 1e-9)
        canvas = np.asarray(self.viewer.canvas.size, dtype=float)
        # napari >= 0.9 keeps the camera in viewer.scene; older versions on the viewer
        scene = getattr(self.viewer, "scene", None)
        camera = scene.camera if scene is not None else self.viewer.camera
        camera.center = (float(centre[0]), float(centre[1]))
        camera.zoom = float(np.min(canvas * fill / extent))
        s.labels.selected_label = int(instance_id)

    def _on_class_changed(self, instance_id: int, name: str) -> None:
        if self._building or self.session is None:
            return
        self._run(lambda: self.session.set_class(instance_id, name))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._building or self.session is None or item.column() != COL["reviewed"]:
            return
        iid = self._row_id(item.row())
        flag = item.checkState() == Qt.CheckState.Checked
        self._run(lambda: self.session.set_reviewed(iid, flag))

    def _on_new_class(self, name: str) -> None:
        if self.session is not None and name:
            self.session.new_class = name

    def _run(self, action):
        """Run an edit; an :class:`EditError` becomes a notification, not a traceback."""
        from napari.utils.notifications import show_warning

        try:
            return action()
        except EditError as exc:
            show_warning(str(exc))
            return None

    # ------------------------------------------------------------------ undo
    def undo(self) -> bool:
        """Undo the shown annotation's last edit (``False`` when there is none)."""
        return bool(self.session is not None and self._run(self.session.undo))

    def redo(self) -> bool:
        """Redo the shown annotation's last undone edit (``False`` when there is none)."""
        return bool(self.session is not None and self._run(self.session.redo))

    def _update_undo_buttons(self) -> None:
        history = None if self.session is None else self.session.history
        self.undo_button.setEnabled(history is not None and history.can_undo)
        self.redo_button.setEnabled(history is not None and history.can_redo)

    # ------------------------------------------------------------------ tools
    def merge_selected(self) -> int | None:
        """Merge the selected instances."""
        ids = self.selected_ids()
        return self._run(lambda: self.session.merge(ids)) if self.session else None

    def split_selected(self) -> list[int] | None:
        """Split the selected instance (along the cut line if one is drawn)."""
        ids = self.selected_ids()
        if self.session is None or len(ids) != 1:
            from napari.utils.notifications import show_warning

            show_warning("Select exactly one instance to split.")
            return None
        line = self._cut_line()
        result = self._run(lambda: self.session.split(ids[0], line=line))
        if result is not None and line is not None:
            layer = self._cut_layer()
            if layer is not None:
                layer.data = []
        return result

    def _cut_layer(self):
        for layer in self.viewer.layers:
            if layer.metadata.get(KIND_KEY) == "cut line":
                return layer
        return None

    def _cut_line(self) -> np.ndarray | None:
        layer = self._cut_layer()
        if layer is None or not len(layer.data):
            return None
        return np.asarray(layer.data[-1], dtype=float)

    def start_cut_line(self):
        """Add (or select) a Shapes layer in path mode to draw a cut line on."""
        if self.session is None:
            return None
        layer = self._cut_layer()
        if layer is None:
            t = self.session.ctx.transform()
            layer = self.viewer.add_shapes(
                name=CUT_LINE_NAME,
                shape_type="path",
                edge_color="yellow",
                edge_width=abs(t["scale"][1]),
                metadata={KIND_KEY: "cut line"},
                **t,
            )
        self.viewer.layers.selection.active = layer
        layer.mode = "add_path"
        return layer

    def delete_selected(self) -> None:
        """Delete the selected instances (and their hosts)."""
        ids = self.selected_ids()
        if self.session and ids:
            self._run(lambda: self.session.delete(ids))

    def mark_selected_reviewed(self) -> None:
        """Mark the selected instances (all when none is selected) as reviewed."""
        if self.session is None:
            return
        ids = self.selected_ids() or self.session.instance_ids()
        self._run(lambda: self.session.set_reviewed(ids, True))

    def new_instance(self) -> int | None:
        """Select the instance Labels layer with a fresh label, ready to paint."""
        if self.session is None:
            return None
        self.viewer.layers.selection.active = self.session.labels
        return self._run(lambda: self.session.prepare_new_instance(self.new_class.currentText()))

    def place_host(self) -> None:
        """Select the hosts layer in add mode; the next click sets the selected instance's host."""
        if self.session is None:
            return
        ids = self.selected_ids()
        if ids:
            self.session.current = ids[0]
        self.viewer.layers.selection.active = self.session.points
        self.session.points.mode = "add"

    # ------------------------------------------------------------------ files
    def export(self, out_dir: str | Path | None = None) -> dict[str, Path] | None:
        """Export COCO + ECSV + DS9 regions of the shown annotation (asks for a folder)."""
        from napari.utils.notifications import show_error, show_info

        from ._apply import export_session

        if self.session is None:
            show_error("Nothing to export yet: segment an image or import annotations first.")
            return None
        if out_dir is None:
            start = (
                self.session.ctx.radio_path.parent if self.session.ctx.radio_path else Path.cwd()
            )
            chosen = QFileDialog.getExistingDirectory(
                self, "Export radio galaxy annotations", str(start)
            )
            if not chosen:
                return None
            out_dir = chosen
        try:
            paths = export_session(self.session, out_dir)
        except (OSError, ValueError) as exc:
            show_error(f"Export failed: {exc}")
            return None
        show_info("Exported " + ", ".join(p.name for p in paths.values()) + f" to {out_dir}")
        return paths

    def import_coco(self, path: str | Path | None = None):
        """Import a COCO file onto the radio layer of the current annotation (or the selected one)."""
        from napari.utils.notifications import show_error

        from ._apply import import_coco, radio_layers

        radios = radio_layers(self.viewer)
        radio = None
        if self.session is not None and self.session.ctx.radio_key:
            radio = next(
                (
                    r
                    for r in radios
                    if str(r.metadata.get("path") or f"layer:{r.name}")
                    == self.session.ctx.radio_key
                ),
                None,
            )
        radio = radio or (radios[0] if radios else None)
        if radio is None:
            show_error("Open the radio FITS image first, then import its annotations.")
            return None
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Import COCO annotations", "", "COCO JSON (*.json)"
            )
            if not chosen:
                return None
            path = chosen
        try:
            session = import_coco(self.viewer, path, radio)
        except (OSError, ValueError) as exc:
            show_error(f"Could not import {Path(path).name}: {exc}")
            return None
        self._refresh_sources()
        self.set_session(session)
        idx = self.source.findData(session)
        if idx >= 0:
            self.source.setCurrentIndex(idx)
        return session
