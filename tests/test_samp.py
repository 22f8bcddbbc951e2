"""SAMP: our messages reach the applications, through astropy's own hub started here."""

from __future__ import annotations

import threading

import pytest

from napari_radiogal.io.samp import (
    SampUnavailableError,
    samp_module,
    send_image,
    send_outputs,
    send_regions,
    send_table,
)

MTYPES = ("table.load.votable", "image.load.fits", "ds9.set")


class Receiver:
    """A SAMP application (as TOPCAT / DS9 would be) that records what it is sent."""

    def __init__(self, mtypes=MTYPES):
        SAMPIntegratedClient = samp_module().SAMPIntegratedClient

        self.got: dict[str, dict] = {}
        self.events = {m: threading.Event() for m in mtypes}
        self.client = SAMPIntegratedClient(name="receiver")
        self.client.connect()
        for mtype in mtypes:
            self.client.bind_receive_notification(mtype, self._receive)

    def _receive(self, private_key, sender_id, mtype, params, extra):
        self.got[mtype] = params
        self.events[mtype].set()

    def wait(self, mtype) -> dict:
        assert self.events[mtype].wait(10.0), f"no {mtype} received"
        return self.got[mtype]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """astropy's hub, no web profile, its lock file in tmp_path (never ~/.samp)."""
    SAMPHubServer = samp_module().SAMPHubServer

    lockfile = tmp_path / "samp.lock"
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lockfile.as_uri()}")
    server = SAMPHubServer(web_profile=False, lockfile=str(lockfile), addr="127.0.0.1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver(hub):
    r = Receiver()
    yield r
    r.client.disconnect()


def _files(tmp_path):
    vot, fits, reg = tmp_path / "cat.vot", tmp_path / "img.fits", tmp_path / "img.reg"
    for p in (vot, fits, reg):
        p.write_text("x")
    return vot, fits, reg


def test_each_message_reaches_an_application_that_takes_it(receiver, tmp_path):
    vot, fits, reg = _files(tmp_path)
    me = receiver.client.get_public_id()
    assert me in send_table(vot, name="radio galaxies")
    got = receiver.wait("table.load.votable")
    assert got["url"] == vot.resolve().as_uri() and got["name"] == "radio galaxies"
    assert me in send_image(fits)
    assert receiver.wait("image.load.fits")["url"] == fits.resolve().as_uri()
    assert me in send_regions(reg)
    assert receiver.wait("ds9.set")["cmd"] == f"regions load {reg.resolve()}"


def test_send_outputs_uses_one_connection_and_says_who_got_what(hub, tmp_path):
    vot, fits, reg = _files(tmp_path)
    tables_only = Receiver(mtypes=("table.load.votable",))
    try:
        sent = send_outputs(table=vot, image=fits, regions=reg)
        assert sent["table"] == ["receiver"]
        assert sent["image"] == [] and sent["regions"] == []  # nobody shows images
        tables_only.wait("table.load.votable")
    finally:
        tables_only.client.disconnect()


def test_no_hub_is_our_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{(tmp_path / 'none.lock').as_uri()}")
    with pytest.raises(SampUnavailableError, match="start TOPCAT"):
        send_table(tmp_path / "cat.vot")
