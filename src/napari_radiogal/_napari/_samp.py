"""The instance table's "Send via SAMP" button: to TOPCAT / DS9 / Aladin (SAMP, :mod:`napari_radiogal.io.samp`).

A button of its own, added to the table dock by one call (:func:`samp_button`), so that the
dock's layout stays the table widget's business.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["samp_button", "send_session"]


def samp_button(table_widget):
    """A "Send via SAMP" button that sends the table widget's annotation to TOPCAT / DS9 / Aladin."""
    from qtpy.QtWidgets import QPushButton

    button = QPushButton("Send via SAMP")  # short: the dock shares the width with the canvas
    button.setToolTip(
        "Through SAMP: the catalogue (VOTable) to TOPCAT / Aladin, the radio image and the "
        "regions to DS9 / Aladin. Start one of them first (TOPCAT and Aladin run a hub)."
    )
    button.clicked.connect(lambda: send_session(table_widget.session))
    return button


def send_session(session) -> dict[str, list[str]] | None:
    """Send an annotation's catalogue, radio image and regions to the SAMP applications.

    The catalogue and regions are written to a new temporary folder (the applications read
    them after the call returns); the image is the radio FITS file itself.

    Returns
    -------
    dict or None
        As :func:`napari_radiogal.io.samp.send_outputs`; ``None`` when nothing was sent
        (no annotation, or no hub: a notification says to start TOPCAT or DS9).
    """
    from napari.utils.notifications import show_info, show_warning

    from napari_radiogal.io.export import write_output
    from napari_radiogal.io.paths import fits_stem
    from napari_radiogal.io.samp import SampUnavailableError, send_outputs

    from ._catalogue import catalogue_table, dataset_regions

    if session is None:
        show_warning("Nothing to send yet: segment an image or import annotations first.")
        return None
    dataset = session.to_dataset()
    stem = fits_stem(session.ctx.record.file_name) or "annotations"
    folder = Path(tempfile.mkdtemp(prefix="napari-radiogal-samp-"))
    table = write_output(
        folder / f"{stem}.vot", "catalogue_votable", catalogue_table(dataset, session.ctx)
    )
    regions = write_output(folder / f"{stem}.reg", "regions", dataset_regions(dataset, session.ctx))
    image = session.ctx.radio_path
    try:
        sent = send_outputs(table=table, image=image, regions=regions if image else None)
    except SampUnavailableError:
        show_warning(
            "No SAMP hub is running: start TOPCAT, DS9 or Aladin (TOPCAT and Aladin start "
            "one), then send again."
        )
        return None
    got = sorted({name for names in sent.values() for name in names})
    if got:
        show_info(f"Sent {stem} to {', '.join(got)}.")
    else:
        show_warning("The SAMP hub runs, but no application that shows tables or images is on it.")
    return sent
