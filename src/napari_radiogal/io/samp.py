"""Send outputs to TOPCAT, DS9 and Aladin through SAMP (astropy.samp), without a GUI.

SAMP (the IVOA Simple Application Messaging Protocol; :func:`samp_module` is ``pyvo.samp``
when installed, else ``astropy.samp``) lets desktop tools exchange data
through a hub that one of them runs (TOPCAT and Aladin start one; DS9 joins one). This
module connects to the running hub (the one ``SAMP_HUB`` names, else ``~/.samp``) and
broadcasts:

* a catalogue VOTable as ``table.load.votable`` (TOPCAT, Aladin);
* an image FITS file as ``image.load.fits`` (DS9, Aladin);
* a DS9 region file as ``ds9.set`` ``regions load FILE`` (DS9).

The files are sent as ``file://`` URLs, so the tools must run on the same machine (or
see the same file system). Every function returns the ids of the applications the hub
delivered the message to; an empty list means none of the running ones takes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from napari_radiogal.errors import RadiogalError

__all__ = [
    "SampUnavailableError",
    "samp_client",
    "send_table",
    "send_image",
    "send_regions",
    "send_outputs",
    "samp_module",
]

#: Name under which this package registers with the hub.
CLIENT_NAME = "napari-radiogal"


class SampUnavailableError(RadiogalError, ConnectionError):
    """No SAMP hub is running (start TOPCAT, Aladin or a hub first)."""


@contextlib.contextmanager
def samp_client() -> Iterator[Any]:
    """A client connected to the running SAMP hub, disconnected on exit.

    Yields
    ------
    astropy.samp.SAMPIntegratedClient
        Registered as ``napari-radiogal``; it only sends (no server of its own).

    Raises
    ------
    SampUnavailableError
        When no hub is running.
    """
    samp = samp_module()
    SAMPHubError, SAMPIntegratedClient = samp.SAMPHubError, samp.SAMPIntegratedClient

    client = SAMPIntegratedClient(
        name=CLIENT_NAME,
        description="radio galaxy segmentation (napari-radiogal)",
        callable=False,
    )
    try:
        client.connect()
    except (SAMPHubError, OSError) as exc:
        raise SampUnavailableError(
            "no SAMP hub is running: start TOPCAT, DS9 or Aladin (TOPCAT and Aladin start "
            f"a hub), then send again ({exc})"
        ) from None
    try:
        yield client
    finally:
        client.disconnect()


def samp_module() -> Any:
    """``pyvo.samp`` when installed, else ``astropy.samp`` (deprecated there since astropy
    8.0 in favour of pyvo's copy; the same API), imported without its deprecation warning,
    which would otherwise pop up in napari although there is nothing the user can do."""
    try:
        from pyvo import samp
    except ImportError:
        import warnings

        from astropy.utils.exceptions import AstropyDeprecationWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyDeprecationWarning)
            from astropy import samp
    return samp


def _notify(client: Any, mtype: str, params: dict[str, str]) -> list[str]:
    import warnings

    SAMPWarning = samp_module().SAMPWarning

    with warnings.catch_warnings():
        # "no client was able to receive this message": the empty list says it
        warnings.simplefilter("ignore", SAMPWarning)
        return list(client.notify_all({"samp.mtype": mtype, "samp.params": params}))


def _url(path: str | os.PathLike) -> str:
    return Path(path).resolve().as_uri()


def send_table(
    path: str | os.PathLike, *, name: str | None = None, client: Any = None
) -> list[str]:
    """Broadcast a VOTable as ``table.load.votable`` (TOPCAT, Aladin).

    Parameters
    ----------
    path : path-like
        A VOTable file (``.vot``).
    name : str, optional
        The name the tools show (default: the file name).
    client : SAMPIntegratedClient, optional
        A connected client (default: connect for this call, :func:`samp_client`).

    Returns
    -------
    list of str
        Ids of the applications the hub delivered it to.
    """
    params = {"url": _url(path), "table-id": _url(path), "name": name or Path(path).name}
    return _send(client, "table.load.votable", params)


def send_image(
    path: str | os.PathLike, *, name: str | None = None, client: Any = None
) -> list[str]:
    """Broadcast a FITS image as ``image.load.fits`` (DS9, Aladin); as :func:`send_table`."""
    params = {"url": _url(path), "image-id": _url(path), "name": name or Path(path).name}
    return _send(client, "image.load.fits", params)


def send_regions(path: str | os.PathLike, *, client: Any = None) -> list[str]:
    """Load a DS9 region file into DS9 (``ds9.set`` ``regions load FILE``).

    DS9 draws the regions on the image it shows, so send the image first
    (:func:`send_image`). As :func:`send_table` otherwise.
    """
    params = {"cmd": f"regions load {Path(path).resolve()}"}
    return _send(client, "ds9.set", params)


def _send(client: Any, mtype: str, params: dict[str, str]) -> list[str]:
    if client is not None:
        return _notify(client, mtype, params)
    with samp_client() as own:
        return _notify(own, mtype, params)


def send_outputs(
    *,
    table: str | os.PathLike | None = None,
    image: str | os.PathLike | None = None,
    regions: str | os.PathLike | None = None,
) -> dict[str, list[str]]:
    """Send a catalogue, an image and its regions in one connection.

    Parameters
    ----------
    table : path-like, optional
        VOTable (:func:`send_table`).
    image : path-like, optional
        FITS image (:func:`send_image`), sent before the regions.
    regions : path-like, optional
        DS9 region file (:func:`send_regions`).

    Returns
    -------
    dict
        ``{"table": [...], "image": [...], "regions": [...]}``: the names of the
        applications (``samp.name``, e.g. ``"topcat"``) each was delivered to.

    Raises
    ------
    SampUnavailableError
        When no hub is running.
    """
    out: dict[str, list[str]] = {}
    with samp_client() as client:
        if table is not None:
            out["table"] = send_table(table, client=client)
        if image is not None:
            out["image"] = send_image(image, client=client)
        if regions is not None:
            out["regions"] = send_regions(regions, client=client)
        return {what: [_name(client, i) for i in ids] for what, ids in out.items()}


def _name(client: Any, client_id: str) -> str:
    return str(client.get_metadata(client_id).get("samp.name", client_id))
