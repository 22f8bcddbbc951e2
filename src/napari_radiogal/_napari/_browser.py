"""The image browser: a folder of cut-outs, one image at a time, one autosave per image.

Opening a folder (``napari cutouts/``, *File > Open Folder...*) lists its cut-outs with
:func:`list_cutouts` and docks an :class:`ImageBrowser`:

* **which files pair up**: a ``pairs.csv`` table in the folder (columns ``radio`` and ``ir``,
  the ``--pairs`` table of ``radiogal predict``) when there is one; else the file names, when
  they pair every file (:func:`~napari_radiogal.io.pairing.pair_by_name`: ``NAME.fits`` or
  ``NAME_radio.fits`` with ``NAME_w1.fits``), and no file is opened; else the headers, by
  sky (:func:`~napari_radiogal.io.pairing.pair_images`, the rule of ``radiogal predict``).
* **the list**: one row per radio image with its stem, its status (:data:`NOT_SEGMENTED`,
  :data:`SEGMENTED`, :data:`EDITED`, :data:`REVIEWED`, read from its autosave) and its number
  of instances; *Previous* / *Next* and the keys :data:`PREVIOUS_KEY` / :data:`NEXT_KEY` step
  through it, *Only not reviewed* hides the reviewed images.
* **switching**: the current image's annotation is written to its autosave first (the
  sidecar ``NAME.radiogal.json`` beside the radio file, :mod:`._autosave`, written
  atomically); if that fails the browser stays on the image and says why, so no edit is
  ever dropped. Then its layers (radio, infrared, contours, instances, hosts) are removed
  and the next image's are added, exactly as opening its files would add them
  (:func:`~._reader.pair_layer_data`), with its autosave restored onto them.

Only the image shown is read; the FITS files of the others stay closed.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.pairing import ImagePair, expand_fits_inputs, pair_by_name, pair_images
from napari_radiogal.io.paths import fits_stem, is_fits_path

from ._apply import radio_layers, restore_sidecar, session_of_radio_layer
from ._autosave import HAND_EDITED_KEY, Autosaver, existing_sidecar, sidecar_path
from ._layers import KIND_KEY, META_KEY
from ._status import connect_while_alive

log = logging.getLogger(__name__)

__all__ = [
    "PAIRS_TABLE",
    "NEXT_KEY",
    "PREVIOUS_KEY",
    "NOT_SEGMENTED",
    "SEGMENTED",
    "EDITED",
    "REVIEWED",
    "ImageStatus",
    "list_cutouts",
    "image_status",
    "ImageBrowser",
    "open_browser",
]

#: A table of this name in an opened folder says which files pair up (columns radio, ir).
PAIRS_TABLE = "pairs.csv"
#: Keys that show the next / previous image of the browser.
NEXT_KEY = "PageDown"
PREVIOUS_KEY = "PageUp"

NOT_SEGMENTED = "not segmented"
SEGMENTED = "segmented"
EDITED = "edited"
REVIEWED = "reviewed"

#: How a folder of cut-outs is expected to look (said by every listing error).
FOLDER_RULE = (
    "Open a folder of radio FITS cut-outs, each with its infrared image named after it "
    "(NAME.fits or NAME_radio.fits with NAME_w1.fits), or with a pairs.csv table (columns "
    "radio and ir) saying which files go together."
)


@dataclass(frozen=True)
class ImageStatus:
    """Where one cut-out stands.

    Attributes
    ----------
    state : str
        :data:`NOT_SEGMENTED` (no autosave), :data:`SEGMENTED` (a result, not touched),
        :data:`EDITED` (hand edits) or :data:`REVIEWED` (every instance marked reviewed).
    instances : int
        Number of instances in the annotation.
    """

    state: str = NOT_SEGMENTED
    instances: int = 0

    def describe(self) -> str:
        """``"edited, 3 instances"`` (the state alone when not segmented)."""
        if self.state == NOT_SEGMENTED:
            return self.state
        return f"{self.state}, {self.instances} instance{'s' * (self.instances != 1)}"


def list_cutouts(paths: Sequence[str | os.PathLike]) -> list[ImagePair]:
    """The cut-outs of folders (or FITS files) as radio/infrared pairs, in name order.

    Parameters
    ----------
    paths : sequence of path-like
        Folders (their FITS files, not sub-folders), FITS files or glob patterns.

    Returns
    -------
    list of ImagePair
        Absolute paths (the autosave of each image is keyed by its radio path). Paired by
        ``pairs.csv`` in a single opened folder, else by name, else by the headers (module
        docstring); only the last reads files, and then only their headers.

    Raises
    ------
    ConfigError
        An empty folder, a folder without FITS files, no radio image, an ambiguous pairing,
        or two radio images that would share one autosave; the message says how to fix it.
    """
    paths = [Path(p) for p in paths]
    for folder in (p for p in paths if p.is_dir()):
        _check_folder(folder)
    files = [p.absolute() for p in expand_fits_inputs(paths)]
    table = paths[0] / PAIRS_TABLE if len(paths) == 1 and paths[0].is_dir() else None
    if table is not None and table.is_file():
        pairs = pair_images(files, pairs_csv=table)
    else:
        pairs = pair_by_name(files) or _pair_by_headers(files)
    pairs = [ImagePair(p.radio.absolute(), p.infrared and p.infrared.absolute()) for p in pairs]
    _check_distinct_autosaves(pairs)
    return pairs


def _pair_by_headers(files: list[Path]) -> list[ImagePair]:
    try:
        return pair_images(files)
    except ConfigError as exc:  # it speaks of radiogal predict's --pairs option
        raise ConfigError(
            f"{exc} In napari, that table goes in the folder as {PAIRS_TABLE}."
        ) from exc


def _check_folder(folder: Path) -> None:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise ConfigError(f"{folder}: the folder is empty. {FOLDER_RULE}")
    if not any(is_fits_path(p) and p.is_file() for p in entries):
        raise ConfigError(
            f"{folder}: the folder holds {len(entries)} item(s) but no FITS file (.fits, .fit, "
            f".fts, .fits.gz, .fits.fz). {FOLDER_RULE}"
        )


def _check_distinct_autosaves(pairs: list[ImagePair]) -> None:
    """Two radio images must never share one autosave (``a.fits`` and ``a.fits.gz`` would)."""
    seen: dict[Path, Path] = {}
    for pair in pairs:
        side = sidecar_path(pair.radio)
        if side in seen:
            raise ConfigError(
                f"{seen[side].name} and {pair.radio.name} would share one autosave "
                f"({side.name}): rename one of them, or list one image per row in {PAIRS_TABLE}."
            )
        seen[side] = pair.radio


def image_status(radio_path: str | os.PathLike) -> ImageStatus:
    """The status of a cut-out, read from its autosave (no FITS file is opened).

    Parameters
    ----------
    radio_path : path-like

    Returns
    -------
    ImageStatus

    Raises
    ------
    CocoFormatError, OSError
        An autosave that cannot be read.
    """
    from napari_radiogal.io.coco import read_coco

    side = existing_sidecar(radio_path)
    if side is None:
        return ImageStatus()
    dataset = read_coco(side)
    edited = any(im.extra.get(HAND_EDITED_KEY) for im in dataset.images)
    reviewed = [inst.reviewed for inst in dataset.instances]
    return ImageStatus(_state(edited, reviewed), len(reviewed))


def _state(edited: bool, reviewed: list[bool]) -> str:
    if reviewed and all(reviewed):
        return REVIEWED
    return EDITED if edited else SEGMENTED


class ImageBrowser(QWidget):
    """The dock that lists a folder's cut-outs and switches the viewer between them.

    Parameters
    ----------
    viewer : napari.Viewer

    Attributes
    ----------
    items : list of ImagePair
        The cut-outs, in list order.
    index : int or None
        The one shown.
    statuses : list of ImageStatus
        One per item, as of the last time it was shown or left.
    """

    def __init__(self, viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.items: list[ImagePair] = []
        self.statuses: list[ImageStatus] = []
        self.index: int | None = None
        self._watched: weakref.WeakSet = weakref.WeakSet()  # sessions whose edits we follow
        self.position = QLabel("No cut-outs")
        self.only_not_reviewed = QCheckBox("Only not reviewed")
        self.list = QListWidget()
        self.previous_button = QPushButton(f"◀ Previous ({PREVIOUS_KEY})")
        self.next_button = QPushButton(f"Next ({NEXT_KEY}) ▶")
        buttons = QHBoxLayout()
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        for widget in (self.position, self.only_not_reviewed, self.list):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.previous_button.clicked.connect(lambda *_: self.previous())
        self.next_button.clicked.connect(lambda *_: self.next())
        self.only_not_reviewed.toggled.connect(self._apply_filter)
        self.list.currentRowChanged.connect(self._on_row)
        viewer.bind_key(NEXT_KEY, lambda _viewer: self.next(), overwrite=True)
        viewer.bind_key(PREVIOUS_KEY, lambda _viewer: self.previous(), overwrite=True)
        self.destroyed.connect(partial(_unbind_keys, viewer))
        connect_while_alive(
            self,
            [
                (viewer.layers.events.inserted, self._refresh_current),
                (viewer.layers.events.removed, self._refresh_current),
            ],
        )

    # ------------------------------------------------------------------ public
    def load(self, items: Sequence[ImagePair]) -> bool:
        """Browse a new list of cut-outs (the current image is left as by a switch).

        Returns
        -------
        bool
            ``False`` when the current image could not be autosaved (nothing changed).
        """
        if not self._leave():
            return False
        self.items = list(items)
        self.statuses = [self._read_status(item) for item in self.items]
        self.list.blockSignals(True)
        self.list.clear()
        for k in range(len(self.items)):
            self.list.addItem(QListWidgetItem(self._row_text(k)))
        self.list.blockSignals(False)
        self._apply_filter()
        if self.items:
            self._show(self.visible_indices()[0] if self.visible_indices() else 0)
        return True

    def go_to(self, index: int) -> bool:
        """Show cut-out ``index``, autosaving and removing the current one first.

        Returns
        -------
        bool
            Whether the image shown is now ``index``; ``False`` (with an error notification)
            when the current image's annotation could not be autosaved.
        """
        if index == self.index:
            return True
        if not 0 <= index < len(self.items):
            raise IndexError(f"no cut-out {index}; the browser lists {len(self.items)}")
        if not self._leave():
            self._select_row(self.index)
            return False
        self._show(index)
        return True

    def next(self) -> bool:
        """Show the next cut-out the filter lets through (stays on the last one)."""
        later = [k for k in self.visible_indices() if self.index is None or k > self.index]
        return self.go_to(later[0]) if later else False

    def previous(self) -> bool:
        """Show the previous cut-out the filter lets through (stays on the first one)."""
        earlier = [k for k in self.visible_indices() if self.index is not None and k < self.index]
        return self.go_to(earlier[-1]) if earlier else False

    def visible_indices(self) -> list[int]:
        """The items the filter shows (the current one always)."""
        hide = self.only_not_reviewed.isChecked()
        return [
            k
            for k, status in enumerate(self.statuses)
            if not (hide and status.state == REVIEWED) or k == self.index
        ]

    def save_current(self) -> bool:
        """Write the current image's annotation to its autosave now.

        Returns
        -------
        bool
            ``True`` when it is written (or there is nothing to write); ``False`` with an
            error notification that says what failed.
        """
        from napari.utils.notifications import show_error

        session = self._session()
        if session is None or not session.alive:
            return True
        saver = getattr(session, "autosaver", None) or Autosaver(session)
        if saver.save_now() is None:
            show_error(
                f"Stayed on {self._stem(self.index)}: its annotation could not be autosaved to "
                f"{saver.path} ({saver.error}). Free disk space or make the folder writable, "
                "or save it with File > Save Layers, then switch again."
            )
            return False
        return True

    # ------------------------------------------------------------------ switching
    def _leave(self) -> bool:
        """Autosave the current image and remove its layers (``False``: autosave failed)."""
        if self.index is None:
            return True
        session = self._session()
        if not self.save_current():
            return False
        if session is not None and session.alive:
            session.autosaver.close()  # saved: a late edit event must not write it again
        item = self.items[self.index]
        for layer in self._layers_of(item):
            self.viewer.layers.remove(layer)
        self._keep_previous_layers(item)
        self.statuses[self.index] = self._read_status(item)
        self._update_row(self.index)
        self.index = None
        return True

    def _show(self, index: int) -> None:
        from napari.layers import Layer
        from napari.utils.notifications import show_error

        from ._reader import pair_layer_data
        from ._status import install_sky_status

        self.index = index
        item = self.items[index]
        try:
            layers = pair_layer_data(item.radio, item.infrared)
        except (ValueError, OSError) as exc:
            show_error(f"Could not open the cut-out {self._stem(index)}: {exc}")
            layers = []
        for data, kwargs, kind in layers:
            self.viewer.add_layer(Layer.create(data, kwargs, kind))
        if layers and existing_sidecar(item.radio) is not None:
            restore_sidecar(self.viewer, item.radio)
        if layers:
            install_sky_status(self.viewer)
            self.viewer.reset_view()
        self._update_row(index)
        self._apply_filter()  # the image left may be one the filter hides
        self._select_row(index)

    def _layers_of(self, item: ImagePair) -> list:
        """The layers of a cut-out: radio, its infrared, contours, instances and hosts."""
        key = str(item.radio)
        ir = None if item.infrared is None else str(item.infrared)
        out = []
        for layer in self.viewer.layers:
            meta = layer.metadata
            kind = meta.get(KIND_KEY)
            ctx = meta.get(META_KEY)
            if (
                (kind == "radio" and meta.get("path") == key)
                or (kind == "infrared" and meta.get("reprojected_onto") == key)
                or (kind == "infrared" and ir is not None and meta.get("path") == ir)
                or (kind == "contours" and meta.get("radio_key") == key)
                or getattr(ctx, "radio_key", None) == key
            ):
                out.append(layer)
        return out

    def _keep_previous_layers(self, item: ImagePair) -> None:
        """Earlier annotations kept as "(previous)" layers hold edits of their own: they stay
        in the viewer (and say so) rather than being deleted with the image."""
        from napari.utils.notifications import show_info

        kept = [
            layer.name
            for layer in self.viewer.layers
            if layer.metadata.get(KIND_KEY) == "instances"
            and getattr(layer.metadata.get(META_KEY), "radio_path", None) == item.radio
        ]
        if kept:
            show_info(
                f"{', '.join(kept)} (earlier annotations of {fits_stem(item.radio)}) stay in "
                "the viewer; save or delete them when you no longer need them."
            )

    def _session(self):
        if self.index is None:
            return None
        key = str(self.items[self.index].radio)
        layer = next(
            (lay for lay in radio_layers(self.viewer) if lay.metadata["path"] == key), None
        )
        return None if layer is None else session_of_radio_layer(self.viewer, layer)

    # ------------------------------------------------------------------ list
    def _refresh_current(self, event=None) -> None:
        """The shown image's row follows its annotation (a result arriving, a restore)."""
        session = self._session()
        if session is None or not session.alive:
            return
        if session not in self._watched:  # edits, class changes, reviews: row follows
            self._watched.add(session)
            connect_while_alive(self, [(session.changed, self._refresh_current)])
        features = session.labels.features
        reviewed = [bool(v) for v in features["reviewed"]] if len(features) else []
        edited = session.edited or bool(session.ctx.record.extra.get(HAND_EDITED_KEY))
        self.statuses[self.index] = ImageStatus(_state(edited, reviewed), len(reviewed))
        self._update_row(self.index)

    def _read_status(self, item: ImagePair) -> ImageStatus:
        try:
            return image_status(item.radio)
        except (ValueError, OSError) as exc:  # shown, and said again if it is restored
            log.warning("could not read the autosave of %s: %s", item.radio, exc)
            return ImageStatus(state="autosave unreadable")

    def _stem(self, index: int | None) -> str:
        return "" if index is None else fits_stem(self.items[index].radio)

    def _row_text(self, index: int) -> str:
        return f"{self._stem(index)}  ({self.statuses[index].describe()})"

    def _update_row(self, index: int) -> None:
        self.list.item(index).setText(self._row_text(index))
        shown = len(self.items) if self.index is None else self.index + 1
        self.position.setText(f"{shown} / {len(self.items)}: {self._stem(self.index)}")

    def _select_row(self, index: int | None) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(-1 if index is None else index)
        self.list.blockSignals(False)

    def _apply_filter(self, *_) -> None:
        visible = set(self.visible_indices())
        for k in range(self.list.count()):
            self.list.setRowHidden(k, k not in visible)

    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.go_to(row)


def _unbind_keys(viewer, *_args) -> None:
    """The browser's keys leave with it (they would call a deleted widget)."""
    for key in (NEXT_KEY, PREVIOUS_KEY):
        viewer.bind_key(key, None)


def open_browser(viewer, items: Sequence[ImagePair]) -> ImageBrowser:
    """Dock an :class:`ImageBrowser` in ``viewer`` (or reuse its one) and show ``items``.

    Parameters
    ----------
    viewer : napari.Viewer
    items : sequence of ImagePair
        From :func:`list_cutouts`.

    Returns
    -------
    ImageBrowser
    """
    browser = next(
        (w for w in viewer.window.dock_widgets.values() if isinstance(w, ImageBrowser)), None
    )
    if browser is None:
        browser = ImageBrowser(viewer)
        viewer.window.add_dock_widget(browser, name="Cut-outs", area="right")
    browser.load(items)
    return browser
