"""RA/Dec under the cursor in napari's status bar.

napari computes the status text of the active layer (pixel coordinates and value). We listen
to the viewer's ``status`` event (connected *last*, so napari's own text is already there)
and append the sky position of the cursor, from the WCS of the active layer or, failing
that, of the topmost radio/IR layer: ``RA 10:00:28.60 Dec -30:00:12.3 (150.11917, -30.00342)``.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np

from ._display import full_resolution
from ._layers import META_KEY

log = logging.getLogger(__name__)

__all__ = ["install_sky_status", "sky_status_text", "connect_while_alive"]

_INSTALLED: weakref.WeakSet = weakref.WeakSet()
MARK = "  RA "


def _wcs_of(layer):
    meta = layer.metadata
    if meta.get("wcs") is not None:
        return meta["wcs"]
    ctx = meta.get(META_KEY)
    return getattr(ctx, "wcs", None)


def sky_status_text(viewer) -> str | None:
    """The sky position of the cursor as text, or ``None`` when no layer has a WCS."""
    from napari.layers import Image, Labels

    layers = [viewer.layers.selection.active, *list(viewer.layers)[::-1]]
    for layer in layers:
        if layer is None or not layer.visible:
            continue
        wcs = _wcs_of(layer)
        if wcs is None:
            continue
        row, col = np.asarray(layer.world_to_data(viewer.cursor.position))[-2:]
        # only Image and Labels layers have a pixel grid (Shapes data is a ragged list)
        gridded = isinstance(layer, (Image, Labels))
        h, w = np.shape(full_resolution(layer))[-2:] if gridded else (None, None)
        if h is not None and not (-0.5 <= row < h - 0.5 and -0.5 <= col < w - 0.5):
            return None
        ra, dec = wcs.pixel_to_world_values(col, row)
        return _format(float(ra) % 360.0, float(dec))
    return None


def _format(ra: float, dec: float) -> str:
    from astropy.coordinates import Angle

    ra_s = Angle(ra, unit="deg").to_string(unit="hourangle", sep=":", precision=2, pad=True)
    dec_s = Angle(dec, unit="deg").to_string(
        unit="deg", sep=":", precision=1, alwayssign=True, pad=True
    )
    return f"RA {ra_s} Dec {dec_s} ({ra:.5f}, {dec:+.5f})"


def install_sky_status(viewer) -> None:
    """Append RA/Dec to the viewer's status bar text (idempotent)."""
    if viewer is None:
        return
    # plugin widgets get a proxy of the viewer, made anew on each access: key by the viewer
    viewer = getattr(viewer, "__wrapped__", viewer)
    if viewer in _INSTALLED:
        return
    _INSTALLED.add(viewer)
    ref = weakref.ref(viewer)

    def on_status(event) -> None:
        v = ref()
        if v is None:
            return
        value = event.value
        if not isinstance(value, dict) or MARK in str(value.get("coordinates", "")):
            return
        try:
            text = sky_status_text(v)
        except (ValueError, TypeError, IndexError) as exc:  # a WCS that cannot map this pixel
            log.debug("no sky position: %s", exc)
            return
        if text:
            v.status = {**value, "coordinates": f"{value.get('coordinates', '')}  {text}"}

    viewer.events.status.connect(on_status, position="last")


def connect_while_alive(qobject, connections) -> None:
    """Connect napari events to callbacks and disconnect them when ``qobject`` is destroyed.

    Dock widgets die with their window while the viewer's layer list still emits (e.g. as
    layers are removed on close); without this, callbacks would reach deleted Qt widgets.

    Parameters
    ----------
    qobject : QObject
        The widget whose lifetime bounds the connections.
    connections : list of (EventEmitter, callable)
    """
    for emitter, callback in connections:
        emitter.connect(callback)

    def disconnect(*_args) -> None:
        for emitter, callback in connections:
            try:
                emitter.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):
                pass

    qobject.destroyed.connect(disconnect)
