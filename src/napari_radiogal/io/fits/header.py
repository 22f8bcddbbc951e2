"""What FITS header cards say: beam, brightness unit, frequency, and the 2-D image header.

Header keywords in, plain numbers out: :func:`beam_from_header` (``BMAJ``/``BMIN``/``BPA``
in degrees, or an AIPS ``HISTORY ... CLEAN BMAJ=`` card), :func:`radio_unit` and
:func:`normalise_bunit` (every spelling of Jy/beam), :func:`header_frequency_hz` (a
``FREQ`` axis or keyword), and :func:`image_header`, the header of the 2-D image that a
reader returns. Problems are appended to a ``notes`` list, issued later as
:class:`~napari_radiogal.errors.FitsFormatWarning`.
"""

from __future__ import annotations

import logging
import math
import re
import warnings

from astropy.io import fits
from astropy.wcs import WCS

log = logging.getLogger(__name__)

#: Beam ``(major_deg, minor_deg, pa_deg)``: FWHM axes and position angle, in degrees.
BeamTuple = tuple[float, float, float]

_AIPS_BEAM = re.compile(
    r"BMAJ\s*=\s*([-+0-9.EeDd]+)\s+BMIN\s*=\s*([-+0-9.EeDd]+)\s+BPA\s*=\s*([-+0-9.EeDd]+)"
)


def optional_float_card(header: fits.Header, key: str, notes: list[str]) -> float | None:
    """The value of card ``key`` as a float; ``None`` when absent or not a finite number.

    Parameters
    ----------
    header : astropy.io.fits.Header
    key : str
        Keyword, e.g. ``"BMAJ"`` or ``"MAGZP"``.
    notes : list of str
        Appended to when the card is there but unusable (a string, NaN, a bool).

    Examples
    --------
    >>> optional_float_card(fits.Header({"MAGZP": 20.5}), "MAGZP", [])
    20.5
    """
    if key not in header:
        return None
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        notes.append(f"{key}={value!r} is not a finite number; ignored.")
        return None
    return float(value)


def beam_from_header(header: fits.Header, notes: list[str]) -> BeamTuple | None:
    """Restoring beam from BMAJ/BMIN/BPA, else from an AIPS ``HISTORY ... CLEAN BMAJ=`` card.

    Repairs are noted: missing BMIN (circular beam), missing BPA (0 deg), BMIN > BMAJ
    (swapped, BPA turned by 90 deg).

    Parameters
    ----------
    header : astropy.io.fits.Header
    notes : list of str
        Appended to for every repair or refusal.

    Returns
    -------
    (major_deg, minor_deg, pa_deg) or None
        FWHM axes and position angle (north through east) in degrees; ``None`` when the
        header has no beam or a non-positive one.

    Examples
    --------
    >>> beam_from_header(fits.Header({"BMAJ": 0.004, "BMIN": 0.003, "BPA": 10.0}), [])
    (0.004, 0.003, 10.0)
    """
    bmaj = optional_float_card(header, "BMAJ", notes)
    bmin = optional_float_card(header, "BMIN", notes)
    bpa = optional_float_card(header, "BPA", notes)
    if bmaj is None:
        history = "\n".join(str(line) for line in header.get("HISTORY", []))
        matches = _AIPS_BEAM.findall(history)
        if not matches:
            log.info("no beam in the header (no BMAJ/BMIN, no AIPS CLEAN history)")
            return None
        try:
            bmaj, bmin, bpa = (float(v.replace("D", "E").replace("d", "e")) for v in matches[-1])
        except ValueError:
            notes.append(
                f"could not parse the beam in the AIPS HISTORY card {matches[-1]}; no beam."
            )
            return None
        log.info("beam taken from the AIPS HISTORY card (no BMAJ/BMIN/BPA keywords)")
    if bmin is None:
        notes.append(f"BMIN is missing; assumed a circular beam (BMIN = BMAJ = {bmaj:g} deg).")
        bmin = bmaj
    if not (bmaj > 0 and bmin > 0):
        notes.append(f"BMAJ={bmaj:g}, BMIN={bmin:g} are not positive; the beam was ignored.")
        return None
    if bpa is None:
        notes.append("BPA is missing; assumed a beam position angle of 0 deg.")
        bpa = 0.0
    if bmin > bmaj:
        notes.append(
            f"BMIN ({bmin:g}) > BMAJ ({bmaj:g}); swapped them and turned BPA by 90 deg so the "
            "beam keeps its orientation."
        )
        bmaj, bmin, bpa = bmin, bmaj, bpa + 90.0
    return (bmaj, bmin, bpa)


def beam_cards(beam: BeamTuple) -> fits.Header:
    """``BMAJ``, ``BMIN``, ``BPA`` cards of a beam ``(major_deg, minor_deg, pa_deg)``.

    Parameters
    ----------
    beam : Beam or (major_deg, minor_deg, pa_deg)
        In degrees.

    Returns
    -------
    astropy.io.fits.Header
        The three cards, with comments.
    """
    major_deg, minor_deg, pa_deg = beam
    header = fits.Header()
    header["BMAJ"] = (major_deg, "[deg] beam major axis FWHM")
    header["BMIN"] = (minor_deg, "[deg] beam minor axis FWHM")
    header["BPA"] = (pa_deg, "[deg] beam position angle")
    return header


_JY_BEAM = re.compile(
    r"^(?P<prefix>|m|u|µ|micro|milli)jy(/beam|/bm|\.?beam\^?-1|beam\*\*-1|/beam\^?1?)$"
)
_PREFIX_FACTOR = {"": 1.0, "m": 1e-3, "milli": 1e-3, "u": 1e-6, "µ": 1e-6, "micro": 1e-6}


def jy_per_beam_factor(unit: object) -> float | None:
    """Factor from ``unit`` to Jy/beam, or ``None`` when ``unit`` is no spelling of (m/u)Jy/beam.

    Parameters
    ----------
    unit : str
        A ``BUNIT`` value in any spelling (``'JY/BEAM'``, ``'mJy/beam'``, ``'Jy beam^-1'``).

    Examples
    --------
    >>> jy_per_beam_factor("mJy/beam"), jy_per_beam_factor("JY/BEAM "), jy_per_beam_factor("K")
    (0.001, 1.0, None)
    """
    match = _JY_BEAM.match(str(unit).strip().lower().replace(" ", ""))
    return None if match is None else _PREFIX_FACTOR[match.group("prefix")]


def normalise_bunit(bunit: object) -> str:
    """Normalised spelling of BUNIT: every Jy/beam spelling -> ``'Jy/beam'``, etc.

    Parameters
    ----------
    bunit : str
        The ``BUNIT`` card's value.

    Returns
    -------
    str
        ``'Jy/beam'``, ``'mJy/beam'`` or ``'uJy/beam'`` for the spellings of those; any
        other unit stripped but otherwise as written.

    Examples
    --------
    >>> normalise_bunit("JY/BEAM"), normalise_bunit("milliJy/beam"), normalise_bunit(" K ")
    ('Jy/beam', 'mJy/beam', 'K')
    """
    text = str(bunit).strip()
    match = _JY_BEAM.match(text.lower().replace(" ", ""))
    if match is None:
        return text
    prefix = match.group("prefix")
    return {"": "Jy/beam", "m": "mJy/beam", "milli": "mJy/beam"}.get(prefix, "uJy/beam")


def radio_unit(bunit: object, notes: list[str]) -> tuple[str, float]:
    """Unit of radio pixels and the factor that converts them to Jy/beam.

    Parameters
    ----------
    bunit : str or None
        The ``BUNIT`` card's value.
    notes : list of str
        Appended to when ``BUNIT`` is missing (Jy/beam assumed) or not a Jy/beam unit.

    Returns
    -------
    unit : str
        ``'Jy/beam'`` for every spelling of (m/u)Jy/beam, else ``BUNIT`` as written.
    factor : float
        Multiply the pixels by it to get ``unit`` (1e-3 for mJy/beam; 1 otherwise).
    """
    if bunit is None or not str(bunit).strip():
        notes.append("BUNIT is missing; assumed the pixels are in Jy/beam.")
        return "Jy/beam", 1.0
    factor = jy_per_beam_factor(bunit)
    if factor is None:
        text = str(bunit).strip()
        notes.append(
            f"BUNIT='{text}' is not Jy/beam; the pixel values were left unchanged. "
            "Segmentation thresholds are relative to the image noise so it still works, but "
            "fluxes will not be in Jy."
        )
        return text, 1.0
    return "Jy/beam", factor


def axis_value_text(header: fits.Header, axis: int, k: int) -> str:
    """What plane ``k`` of a linear FITS axis is, for messages (``"FREQ = 887.5 MHz"``).

    Parameters
    ----------
    header : astropy.io.fits.Header
    axis : int
        1-based FITS axis number (3 for the first axis beyond the image plane).
    k : int
        0-based plane index along it.

    Examples
    --------
    >>> h = fits.Header({"CTYPE3": "FREQ", "CRVAL3": 8.875e8, "CDELT3": 1e6, "CRPIX3": 1.0})
    >>> axis_value_text(h, 3, 0)
    'FREQ = 887.5 MHz'
    """
    value = _linear_axis_value(header, axis, k)
    ctype = str(header.get(f"CTYPE{axis}", "")).strip()
    if value is None or not ctype:
        return f"index 0 of axis {axis}"
    unit = str(header.get(f"CUNIT{axis}", "")).strip()
    if ctype.upper().startswith("FREQ"):
        hz = _to_hz(value, unit)
        if hz is not None:
            return f"{ctype} = {hz / 1e6:.6g} MHz"
    return f"{ctype} = {value:g}{' ' + unit if unit else ''}"


def _linear_axis_value(header: fits.Header, axis: int, k: int) -> float | None:
    """World value of 0-based pixel ``k`` along a linear axis (CRVAL + (k+1-CRPIX)*CDELT)."""
    try:
        crval = float(header.get(f"CRVAL{axis}", 0.0))
        crpix = float(header.get(f"CRPIX{axis}", 1.0))
        if f"CD{axis}_{axis}" in header:
            step = float(header[f"CD{axis}_{axis}"])
        else:
            step = float(header.get(f"CDELT{axis}", 1.0)) * float(
                header.get(f"PC{axis}_{axis}", 1.0)
            )
    except (TypeError, ValueError):
        return None
    value = crval + (k + 1 - crpix) * step
    return value if math.isfinite(value) else None


_HZ_PER_UNIT = {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}


def _to_hz(value: float, unit: str) -> float | None:
    factor = _HZ_PER_UNIT.get(unit.strip().upper())
    if factor is None:
        return None
    return value * factor


def header_frequency_hz(header: fits.Header, chosen: dict[int, int]) -> float | None:
    """Frequency of the chosen plane in Hz: a FREQ axis first, then FREQ/RESTFRQ keywords.

    ``CTYPEn`` is compared case-insensitively (the Parkes cube writes ``'freq'``, which
    wcslib does not recognise as spectral), and a FREQ axis is used even when ``NAXIS``
    stops before it (WSClean rms images: ``NAXIS = 2`` with ``CTYPE3 = 'FREQ'``).

    Parameters
    ----------
    header : astropy.io.fits.Header
    chosen : dict of int to int
        0-based plane index per 1-based FITS axis number (absent axes: plane 0).

    Returns
    -------
    float or None
        Positive frequency in Hz, ``None`` when the header gives none.

    Examples
    --------
    >>> header_frequency_hz(fits.Header({"CTYPE3": "FREQ", "CRVAL3": 1.4, "CUNIT3": "GHz"}), {})
    1400000000.0
    """
    for axis in range(1, 10):
        ctype = header.get(f"CTYPE{axis}")
        if not isinstance(ctype, str) or not ctype.strip().upper().startswith("FREQ"):
            continue
        value = _linear_axis_value(header, axis, chosen.get(axis, 0))
        if value is not None:
            hz = _to_hz(value, str(header.get(f"CUNIT{axis}", "")))
            if hz is not None and hz > 0:
                return hz
    for key in ("FREQ", "OBSFREQ", "CRVAL3F", "RESTFRQ", "RESTFREQ"):
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and value > 0:
                return float(value)
    return None


#: Keywords that describe the axes or the WCS (any alternate-WCS letter suffix too).
_AXIS_KEY = re.compile(
    r"^(WCSAXES|CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA|CRDER|CSYER|CNAME|PC\d|CD\d|PV\d|PS\d|"
    r"LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|WCSNAME|MJDREF|NAXIS\d)"
)
_STRUCTURE_KEYS = (
    "SIMPLE",
    "XTENSION",
    "BITPIX",
    "NAXIS",
    "EXTEND",
    "PCOUNT",
    "GCOUNT",
    "BSCALE",
    "BZERO",
    "BLANK",
    "CHECKSUM",
    "DATASUM",
    "DATAMIN",
    "DATAMAX",
)


def image_header(
    header: fits.Header,
    wcs: WCS | None,
    shape: tuple[int, int],
    *,
    frequency_hz: float | None = None,
) -> fits.Header:
    """Header describing a 2-D float32 image cut from ``header``'s data.

    Structural keywords (``SIMPLE``, ``BITPIX``, ``NAXISn``, ``BSCALE``, ``BZERO``,
    ``BLANK``, ...) and every axis / WCS keyword are removed, then ``BITPIX = -32``,
    ``NAXIS = 2``, ``NAXIS1 = W``, ``NAXIS2 = H`` and the cards of the 2-D celestial
    ``wcs`` are written. All other cards (``BUNIT``, ``BMAJ``, ``TELESCOP``, ``HISTORY``,
    ...) are kept. In pixel-only mode (``wcs is None``) the original WCS cards of axes 1
    and 2 are kept as they were (they could not be interpreted, but they are the user's).

    Parameters
    ----------
    header : astropy.io.fits.Header
        Header of the source HDU (any number of axes).
    wcs : astropy.wcs.WCS or None
        2-D celestial WCS of the new image.
    shape : (H, W)
        Shape of the new image.
    frequency_hz : float, optional
        Written as ``FREQ`` when the source described the frequency with an axis that
        is removed here, so a round trip keeps it.

    Returns
    -------
    astropy.io.fits.Header
    """
    out = fits.Header()
    out["SIMPLE"] = True
    out["BITPIX"] = -32
    out["NAXIS"] = 2
    out["NAXIS1"] = int(shape[1])
    out["NAXIS2"] = int(shape[0])
    freq_axis_removed = False
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURE_KEYS or key.startswith("NAXIS"):
            continue
        if _AXIS_KEY.match(key):
            if wcs is None and _keeps_in_pixel_only_mode(key):
                out.append(card)
            elif key.startswith("CTYPE") and str(card.value).strip().upper().startswith("FREQ"):
                freq_axis_removed = True
            continue
        if key == "FREQ" and frequency_hz is not None:
            continue
        out.append(card)
    if wcs is not None:
        with warnings.catch_warnings():
            # our own re-serialisation: wcslib's remarks about it are not the user's business
            warnings.simplefilter("ignore")
            wcs_header = wcs.to_header(relax=True)
        for key in ("DATE-OBS", "MJD-OBS", "DATEREF", "MJDREFI", "MJDREFF", "DATE-END"):
            if key in out and key in wcs_header:
                # keep the user's spelling of dates; wcslib only re-derived them
                wcs_header.remove(key, ignore_missing=True)
        out.update(wcs_header)
    if frequency_hz is not None and (freq_axis_removed or "FREQ" in header):
        out["FREQ"] = (float(frequency_hz), "[Hz] frequency of this image plane")
    return out


def _keeps_in_pixel_only_mode(key: str) -> bool:
    match = re.match(r"^(CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)([12])$", key)
    return match is not None or key in ("EQUINOX", "EPOCH", "RADESYS", "RADECSYS")
