"""The instance table's "Send via SAMP" button (to TOPCAT / DS9 / Aladin), against astropy's own hub."""

from __future__ import annotations

import pytest

from test_napari_workflow import gui  # noqa: F401 - the viewer fixture of the workflow tests
from test_samp import Receiver

pytestmark = [pytest.mark.gui]


def _samp_button(table):
    from qtpy.QtWidgets import QPushButton

    (button,) = [b for b in table.findChildren(QPushButton) if b.text() == "Send via SAMP"]
    return button


@pytest.fixture
def hub(tmp_path, monkeypatch):
    from napari_radiogal.io.samp import samp_module

    SAMPHubServer = samp_module().SAMPHubServer
    lockfile = tmp_path / "samp.lock"
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lockfile.as_uri()}")
    server = SAMPHubServer(web_profile=False, lockfile=str(lockfile), addr="127.0.0.1")
    server.start()
    yield server
    server.stop()


def test_the_button_sends_catalogue_image_and_regions(gui, hub):  # noqa: F811
    from astropy.table import Table

    _, _, table, session, radio_path = gui
    receiver = Receiver()
    try:
        _samp_button(table).click()
        got = receiver.wait("table.load.votable")
        from urllib.parse import unquote, urlparse

        vot = Table.read(unquote(urlparse(got["url"]).path))
        assert len(vot) == 3 and {"name", "reviewed", "drawn"} <= set(vot.colnames)
        assert receiver.wait("image.load.fits")["url"] == radio_path.resolve().as_uri()
        assert receiver.wait("ds9.set")["cmd"].startswith("regions load ")
    finally:
        receiver.client.disconnect()


def test_without_a_hub_a_notification_says_what_to_start(gui, tmp_path, monkeypatch):  # noqa: F811
    import napari.utils.notifications as notifications

    _, _, table, session, _ = gui
    said = []
    monkeypatch.setattr(notifications, "show_warning", said.append)
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{(tmp_path / 'none.lock').as_uri()}")
    _samp_button(table).click()
    assert len(said) == 1 and "start TOPCAT, DS9 or Aladin" in said[0]
    # and the dock keeps working
    assert table.table.rowCount() == 3
    assert table.export(tmp_path / "out")["coco"].exists()
