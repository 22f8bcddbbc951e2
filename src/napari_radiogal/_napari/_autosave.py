"""Autosave of hand edits to a sidecar next to the radio file, and restoring it.

Every edit of an annotation (paint, merge, class, host, reviewed ...) restarts a short timer;
when it fires the annotation is written as COCO JSON to ``NAME.radiogal.json`` beside the
radio file ``NAME.fits`` (atomically, via :func:`napari_radiogal.io.coco.write_coco`), so a
crash loses at most the last couple of seconds. When that radio file is opened again, a
notification offers to restore the edits (and the segment widget shows a *Restore* button).
Images without a file on disk autosave into the user cache folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from napari_radiogal.annotations import CocoDataset, ImageRecord
from napari_radiogal.io.paths import fits_stem

from ._display import full_resolution
from ._layers import ImageContext

log = logging.getLogger(__name__)

__all__ = [
    "SIDECAR_SUFFIX",
    "HAND_EDITED_KEY",
    "sidecar_path",
    "fallback_sidecar_path",
    "existing_sidecar",
    "Autosaver",
    "offer_restore",
    "context_from_record",
    "context_for_radio_layer",
    "record_for_json",
]

SIDECAR_SUFFIX = ".radiogal.json"
#: Image-record key (``ImageRecord.extra``) set once an annotation has hand edits; it stays
#: through restores and exports, so a sidecar says "edited" rather than "segmented".
HAND_EDITED_KEY = "radiogal_hand_edited"
#: Debounce delay (ms) between the last edit and the autosave.
AUTOSAVE_DELAY_MS = 1500


def sidecar_path(radio_path: str | os.PathLike | None, name: str = "radio") -> Path:
    """``NAME.radiogal.json`` next to ``NAME.fits`` (user cache folder when there is no file)."""
    if radio_path is None:
        from ._sample_data import cache_dir

        return cache_dir() / "autosave" / f"{name}{SIDECAR_SUFFIX}"
    p = Path(radio_path)
    return p.with_name(fits_stem(p.name) + SIDECAR_SUFFIX)


def fallback_sidecar_path(radio_path: str | os.PathLike) -> Path:
    """Where the sidecar goes when the radio file's folder is read-only (user cache)."""
    import hashlib

    from ._sample_data import cache_dir

    p = Path(radio_path).resolve()
    tag = hashlib.sha1(str(p.parent).encode()).hexdigest()[:10]  # same name, other folder
    return cache_dir() / "autosave" / f"{fits_stem(p.name)}-{tag}{SIDECAR_SUFFIX}"


def existing_sidecar(radio_path: str | os.PathLike | None) -> Path | None:
    """The newest autosave of a radio file (next to it, or in the cache), if any."""
    if radio_path is None:
        return None
    found = [p for p in (sidecar_path(radio_path), fallback_sidecar_path(radio_path)) if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _pixel_scale_arcsec(wcs) -> float | None:
    if wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(wcs) * 3600.0
    return float(np.sqrt(scales[0] * scales[1]))


def context_for_radio_layer(
    radio_layer, ir_layer=None, *, info: dict | None = None
) -> ImageContext:
    """The :class:`ImageContext` of annotations made on a radio Image layer.

    Paths are stored absolute in ``record.extra`` (``radio_path``/``ir_path``) and made
    relative to the JSON file only when one is written (:func:`record_for_json`).
    """
    meta = radio_layer.metadata
    data = np.asarray(full_resolution(radio_layer))
    wcs = meta.get("wcs")
    path = meta.get("path")
    ir_path = None if ir_layer is None else ir_layer.metadata.get("path")
    beam = meta.get("beam")
    record = ImageRecord(
        id=1,
        file_name=Path(path).name if path else f"{radio_layer.name}.fits",
        height=int(data.shape[0]),
        width=int(data.shape[1]),
        radio_file=Path(path).name if path else None,
        ir_file=Path(ir_path).name if ir_path else None,
        radio_wcs=None if wcs is None else wcs.to_header_string(relax=True),
        beam=None if beam is None else tuple(float(b) for b in beam),
        noise_sigma=meta.get("noise_sigma"),
        extra={"radio_path": path, "ir_path": ir_path},
    )
    return ImageContext(
        record=record,
        wcs=wcs,
        pixel_scale_arcsec=meta.get("pixel_scale_arcsec") or _pixel_scale_arcsec(wcs),
        radio=data,
        radio_path=None if path is None else Path(path),
        info=dict(info or {}),
    )


def wcs_from_text(text: str | None):
    """An astropy ``WCS`` from ``WCS.to_header_string()`` text (cards with or without newlines)."""
    if not text:
        return None
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    text = text.replace("\r", "")
    header = fits.Header.fromstring(text, sep="\n" if "\n" in text else "")
    with warnings.catch_warnings():
        # astropy's notes on fixing old-style keywords (e.g. DATE-OBS) say nothing useful here
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header).celestial


def context_from_record(record: ImageRecord, dataset: CocoDataset, json_path: Path) -> ImageContext:
    """The :class:`ImageContext` of an image record read from a COCO file.

    The radio file is read (for fluxes) when it can be found next to the JSON.
    """
    from napari_radiogal.io.coco import resolve_image_path

    wcs = wcs_from_text(record.radio_wcs)
    radio_path = record.extra.get("radio_path")
    if not radio_path or not Path(radio_path).exists():
        found = resolve_image_path(json_path, record, "radio_file") or resolve_image_path(
            json_path, record, "file_name"
        )
        radio_path = str(found) if found is not None and found.exists() else None
    radio = None
    if radio_path and str(radio_path).lower().endswith((".fits", ".fit", ".fts", ".gz")):
        from napari_radiogal.io.fits import read_radio

        try:
            radio = np.asarray(read_radio(radio_path).data)
        except (ValueError, OSError) as exc:
            log.warning("could not read %s for fluxes: %s", radio_path, exc)
    if radio is not None and radio.shape != (record.height, record.width):
        radio = None
    extra = dict(record.extra)
    extra["radio_path"] = radio_path
    return ImageContext(
        record=_replace_extra(record, extra),
        scheme=dataset.scheme,
        wcs=wcs,
        pixel_scale_arcsec=_pixel_scale_arcsec(wcs),
        radio=radio,
        radio_path=None if radio_path is None else Path(radio_path),
        info=dict(dataset.info),
    )


def _replace_extra(record: ImageRecord, extra: dict[str, Any]) -> ImageRecord:
    import dataclasses

    return dataclasses.replace(record, extra=extra)


def record_for_json(dataset: CocoDataset, json_path: str | os.PathLike) -> CocoDataset:
    """A copy of ``dataset`` whose file names are relative to the JSON's data set root.

    Files outside the root are written as absolute paths, so the JSON always finds them.
    """
    import dataclasses

    from napari_radiogal.io.coco import dataset_root

    root = dataset_root(json_path)
    images = []
    for im in dataset.images:
        extra = dict(im.extra)
        radio, ir = extra.pop("radio_path", None), extra.pop("ir_path", None)
        changes: dict[str, Any] = {"extra": extra}
        if radio:
            changes["file_name"] = changes["radio_file"] = _relative(radio, root)
        if ir:
            changes["ir_file"] = _relative(ir, root)
        images.append(dataclasses.replace(im, **changes))
    return dataclasses.replace(dataset, images=images)


def _relative(path: str | os.PathLike, root: Path) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


class Autosaver:
    """Write a session to its sidecar a moment after each edit (debounced, atomic).

    Parameters
    ----------
    session : AnnotationSession
    path : Path, optional
        The sidecar (default: :func:`sidecar_path` of the radio file).
    delay_ms : int
        Quiet time after the last edit before writing.
    """

    def __init__(self, session, path: Path | None = None, delay_ms: int = AUTOSAVE_DELAY_MS):
        from qtpy.QtCore import QTimer

        self.session = session
        self.path = (
            Path(path)
            if path is not None
            else sidecar_path(
                session.ctx.radio_path, session.labels.name.removesuffix(" instances")
            )
        )
        self.last_saved: Path | None = None
        self.error: str | None = None
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.save_now)
        session.changed.connect(self._on_changed)
        session.autosaver = self

    def _on_changed(self) -> None:
        if self.session.edited:
            self._timer.start()

    @property
    def pending(self) -> bool:
        """Whether an edit is waiting to be written."""
        return self._timer.isActive()

    def close(self) -> None:
        """Stop autosaving (the session's layers left the viewer, its last state is saved)."""
        self._timer.stop()
        self.session.changed.disconnect(self._on_changed)

    def save_now(self) -> Path | None:
        """Write the sidecar now (also called by the timer); returns its path."""
        from napari.utils.notifications import show_warning

        from napari_radiogal.io.coco import write_coco

        self._timer.stop()
        if not self.session.alive:  # the layers were deleted (or the viewer closed)
            return None
        if self.session.edited:
            self.session.ctx.record.extra[HAND_EDITED_KEY] = True
        try:
            dataset = self.session.to_dataset()
            write_coco(self.path, record_for_json(dataset, self.path), backup=False)
        except PermissionError as exc:
            radio = self.session.ctx.radio_path
            fallback = None if radio is None else fallback_sidecar_path(radio)
            if fallback is None or fallback == self.path:
                return self._failed(exc)
            # a read-only data folder: keep autosaving, in the user cache
            show_warning(f"Cannot write next to the image ({exc}); autosaving to {fallback}.")
            self.path = fallback
            return self.save_now()
        except (OSError, ValueError) as exc:
            return self._failed(exc)
        self.error = None
        self.last_saved = self.path
        log.debug("autosaved %s", self.path)
        return self.path

    def _failed(self, exc: BaseException) -> None:
        from napari.utils.notifications import show_warning

        # warn once per distinct problem, not on every edit
        if self.error != str(exc):
            show_warning(f"Autosave to {self.path} failed: {exc}")
        self.error = str(exc)
        return None


def offer_restore(radio_path: Path) -> bool:
    """Notify (with a *Restore* button) when a sidecar of ``radio_path`` exists.

    Returns whether a sidecar was found.
    """
    side = existing_sidecar(radio_path)
    if side is None:
        return False
    from napari.utils.notifications import Notification, NotificationSeverity, notification_manager

    def _restore() -> None:
        import napari

        from ._apply import restore_sidecar

        viewer = napari.current_viewer()
        if viewer is not None:
            restore_sidecar(viewer, radio_path)

    notification_manager.dispatch(
        Notification(
            f"Autosaved edits of {Path(radio_path).name} were found ({side.name}). "
            "Restore them with the button, or with Restore in 'Segment radio galaxies'.",
            severity=NotificationSeverity.INFO,
            actions=[("Restore edits", lambda *_: _restore())],
        )
    )
    return True
