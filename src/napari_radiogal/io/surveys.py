"""What the package knows about the surveys its images come from, as data.

* :class:`SurveyPreset`: one survey's telescope, frequency, typical pixel scale, beam, noise
  and the header values that identify it; :data:`SURVEYS` holds the radio surveys the model
  meets (FIRST, NVSS, VLASS, RACS, EMU, LoTSS, MIGHTEE, TGSS) and the WISE infrared images
  used for hosts.
* :func:`match_survey`: the preset of a FITS header (TELESCOP / INSTRUME / SURVEY / ORIGIN,
  frequency, pixel scale), or ``None``.
* :func:`fits_kind`: whether a FITS header is a radio or an infrared image.

Numbers are the typical ones of each survey's main image release (per-image values in a
header always win over a preset); every preset cites where they come from. Frequencies are
in Hz, angles in arcsec (position angles in degrees), noise in Jy/beam.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["SurveyPreset", "SURVEYS", "match_survey", "fits_kind"]

log = logging.getLogger(__name__)

#: Speed of light (m/s), for the frequencies of the infrared bands.
_C = 299_792_458.0

#: Header keys whose values name the telescope or the survey.
_IDENTIFYING_KEYS = ("TELESCOP", "INSTRUME", "SURVEY", "ORIGIN")


@dataclass(frozen=True)
class SurveyPreset:
    """Typical properties of one survey's images.

    Attributes
    ----------
    name : str
        Survey name, e.g. ``"FIRST"``.
    kind : {"radio", "infrared"}
    telescope : str
    frequency_hz : float
        Centre frequency of the images (for infrared bands ``c / wavelength``).
    pixel_scale_arcsec : float
        Typical pixel size of the released images.
    beam_major_arcsec, beam_minor_arcsec : float
        FWHM of the restoring beam (radio) or the point-spread function (infrared).
    beam_pa_deg : float
        Position angle of the major axis, east of north.
    noise_jy_beam : float or None
        Typical rms noise (radio only).
    keywords : tuple of str
        Upper-case words that name this survey in ``TELESCOP``/``INSTRUME``/``SURVEY``/
        ``ORIGIN`` (the most specific first).
    telescope_keywords : tuple of str
        Upper-case words that name its telescope there (shared with other surveys).
    frequency_range_hz : (float, float)
        Band of the survey: a header frequency inside it is consistent with the survey.
    reference : str
        Where the numbers come from.
    """

    name: str
    kind: Literal["radio", "infrared"]
    telescope: str
    frequency_hz: float
    pixel_scale_arcsec: float
    beam_major_arcsec: float
    beam_minor_arcsec: float
    beam_pa_deg: float
    noise_jy_beam: float | None
    keywords: tuple[str, ...]
    telescope_keywords: tuple[str, ...]
    frequency_range_hz: tuple[float, float]
    reference: str

    @property
    def beam_deg(self) -> tuple[float, float, float]:
        """``(bmaj, bmin, bpa)`` in degrees, the convention of ``BMAJ``/``BMIN``/``BPA``."""
        return (self.beam_major_arcsec / 3600.0, self.beam_minor_arcsec / 3600.0, self.beam_pa_deg)


def _band_um(centre_um: float, low_um: float, high_um: float) -> tuple[float, tuple[float, float]]:
    """Centre frequency and frequency range (Hz) of an infrared band given in micron."""
    return _C / (centre_um * 1e-6), (_C / (high_um * 1e-6), _C / (low_um * 1e-6))


_W1_HZ, _W1_RANGE = _band_um(3.4, 2.8, 3.8)

_PRESETS = (
    # MAST, "VLA-FIRST" (archive.stsci.edu/missions-and-data/vla-first): 1.4 GHz, 1.8"
    # pixels, rms 0.15 mJy, northern beam 5.4" circular (southern 6.4-6.8" x 5.4").
    SurveyPreset(
        name="FIRST",
        kind="radio",
        telescope="VLA",
        frequency_hz=1.4e9,
        pixel_scale_arcsec=1.8,
        beam_major_arcsec=5.4,
        beam_minor_arcsec=5.4,
        beam_pa_deg=0.0,
        noise_jy_beam=1.5e-4,
        keywords=("FIRST",),
        telescope_keywords=("VLA", "EVLA", "JVLA"),
        frequency_range_hz=(1.3e9, 1.5e9),
        reference="Becker et al. 1995; MAST VLA-FIRST page",
    ),
    # VizieR VIII/65 (Condon et al. 1998): 1.4 GHz, 45" FWHM, rms 0.45 mJy/beam (Stokes I);
    # NVSS image finder help: 15" cell spacing.
    SurveyPreset(
        name="NVSS",
        kind="radio",
        telescope="VLA",
        frequency_hz=1.4e9,
        pixel_scale_arcsec=15.0,
        beam_major_arcsec=45.0,
        beam_minor_arcsec=45.0,
        beam_pa_deg=0.0,
        noise_jy_beam=4.5e-4,
        keywords=("NVSS",),
        telescope_keywords=("VLA", "EVLA", "JVLA"),
        frequency_range_hz=(1.3e9, 1.5e9),
        reference="Condon et al. 1998 (VizieR VIII/65); NVSS image server help",
    ),
    # NRAO VLASS pages (science.nrao.edu/vlass): 2-4 GHz, ~2.5" resolution, 120 uJy per
    # epoch. Quick Look images have 1" pixels (the Single Epoch guide: SE images use a finer
    # 0.6" grid than QL).
    SurveyPreset(
        name="VLASS",
        kind="radio",
        telescope="VLA",
        frequency_hz=3e9,
        pixel_scale_arcsec=1.0,
        beam_major_arcsec=2.5,
        beam_minor_arcsec=2.5,
        beam_pa_deg=0.0,
        noise_jy_beam=1.2e-4,
        keywords=("VLASS",),
        telescope_keywords=("VLA", "EVLA", "JVLA"),
        frequency_range_hz=(2e9, 4e9),
        reference="Lacy et al. 2020; NRAO VLASS pages",
    ),
    # McConnell et al. 2020 (RACS I): 887.5 MHz, 288 MHz band, median rms 250 uJy/beam;
    # Hale et al. 2021 (RACS II): catalogue images convolved to a common 25". The 2.5"
    # pixel is the usual RACS image grid (not stated on the pages consulted).
    SurveyPreset(
        name="RACS-low",
        kind="radio",
        telescope="ASKAP",
        frequency_hz=887.5e6,
        pixel_scale_arcsec=2.5,
        beam_major_arcsec=25.0,
        beam_minor_arcsec=25.0,
        beam_pa_deg=0.0,
        noise_jy_beam=2.5e-4,
        keywords=("RACS-LOW", "RACS"),
        telescope_keywords=("ASKAP",),
        frequency_range_hz=(743.5e6, 1031.5e6),
        reference="McConnell et al. 2020; Hale et al. 2021",
    ),
    # Duchesne et al. 2023 (RACS IV): 1367.5 MHz (144 MHz band), median rms 198 uJy/PSF;
    # Duchesne et al. 2024 (RACS V, VizieR J/other/PASA/41.3): catalogue median beam
    # 11.2" x 9.3". Pixel as for RACS-low (not stated on the pages consulted).
    SurveyPreset(
        name="RACS-mid",
        kind="radio",
        telescope="ASKAP",
        frequency_hz=1367.5e6,
        pixel_scale_arcsec=2.5,
        beam_major_arcsec=11.2,
        beam_minor_arcsec=9.3,
        beam_pa_deg=0.0,
        noise_jy_beam=1.98e-4,
        keywords=("RACS-MID", "RACS"),
        telescope_keywords=("ASKAP",),
        frequency_range_hz=(1295.5e6, 1439.5e6),
        reference="Duchesne et al. 2023, 2024",
    ),
    # ATNF EMU project page: 20 uJy/beam rms at 15" resolution (main survey at 943.5 MHz,
    # 288 MHz band). The 2" pixel is that of the EMU pilot mosaics (see EMU-PS).
    SurveyPreset(
        name="EMU",
        kind="radio",
        telescope="ASKAP",
        frequency_hz=943.5e6,
        pixel_scale_arcsec=2.0,
        beam_major_arcsec=15.0,
        beam_minor_arcsec=15.0,
        beam_pa_deg=0.0,
        noise_jy_beam=2e-5,
        keywords=("EMU",),
        telescope_keywords=("ASKAP",),
        frequency_range_hz=(799.5e6, 1087.5e6),
        reference="Hopkins et al. 2025; ATNF EMU project page",
    ),
    # Norris et al. 2021 (EMU pilot survey): 944 MHz, 25-30 uJy/beam, 11-18" resolution;
    # 13" x 11" is the restoring beam of the pilot mosaics used for RadioGalaxyNET (Gupta
    # et al. 2023), and 2" their pixel (neither stated on the pages consulted).
    SurveyPreset(
        name="EMU-PS",
        kind="radio",
        telescope="ASKAP",
        frequency_hz=943.5e6,
        pixel_scale_arcsec=2.0,
        beam_major_arcsec=13.0,
        beam_minor_arcsec=11.0,
        beam_pa_deg=0.0,
        noise_jy_beam=2.5e-5,
        keywords=("EMU-PS", "EMUPS"),
        telescope_keywords=("ASKAP",),
        frequency_range_hz=(799.5e6, 1087.5e6),
        reference="Norris et al. 2021; Gupta et al. 2023",
    ),
    # Shimwell et al. 2022 (LoTSS-DR2, ASTRON VO): 120-168 MHz, 144 MHz centre, 6", median
    # rms 83 uJy/beam. The 1.5" pixel is that of the DR2 mosaics (not stated there).
    SurveyPreset(
        name="LoTSS-DR2",
        kind="radio",
        telescope="LOFAR",
        frequency_hz=144e6,
        pixel_scale_arcsec=1.5,
        beam_major_arcsec=6.0,
        beam_minor_arcsec=6.0,
        beam_pa_deg=0.0,
        noise_jy_beam=8.3e-5,
        keywords=("LOTSS-DR2", "LOTSS"),
        telescope_keywords=("LOFAR",),
        frequency_range_hz=(120e6, 168e6),
        reference="Shimwell et al. 2022",
    ),
    # Heywood et al. 2022 (MIGHTEE Early Science): 1284 MHz, ~8" (and 5" at ~3x the noise),
    # < 2 uJy/beam; Hale et al. 2025 (DR1): 7-9" and ~5" images, 1.3-2.7 uJy/beam. The 1.1"
    # pixel is not stated on the pages consulted.
    SurveyPreset(
        name="MIGHTEE",
        kind="radio",
        telescope="MeerKAT",
        frequency_hz=1284e6,
        pixel_scale_arcsec=1.1,
        beam_major_arcsec=8.0,
        beam_minor_arcsec=8.0,
        beam_pa_deg=0.0,
        noise_jy_beam=2e-6,
        keywords=("MIGHTEE",),
        telescope_keywords=("MEERKAT",),
        frequency_range_hz=(856e6, 1712e6),
        reference="Heywood et al. 2022; Hale et al. 2025",
    ),
    # Intema et al. 2017 (TGSS ADR1, VizieR J/A+A/598/A78, HEASARC): 150 MHz, 25" x 25"
    # north of Dec 19 deg, median rms 3.5 mJy/beam. The 6.2" pixel is not stated there.
    SurveyPreset(
        name="TGSS-ADR1",
        kind="radio",
        telescope="GMRT",
        frequency_hz=147.5e6,
        pixel_scale_arcsec=6.2,
        beam_major_arcsec=25.0,
        beam_minor_arcsec=25.0,
        beam_pa_deg=0.0,
        noise_jy_beam=3.5e-3,
        keywords=("TGSS-ADR1", "TGSS"),
        telescope_keywords=("GMRT",),
        frequency_range_hz=(139.5e6, 155.5e6),
        reference="Intema et al. 2017",
    ),
    # WISE All-Sky / AllWISE explanatory supplement: Atlas images 4095 x 4095 at 1.375"/pix;
    # Wright et al. 2010: W1 at 3.4 um, 6.1" resolution (the Atlas images are additionally
    # smoothed by the PSF matched filter, Lang 2014).
    SurveyPreset(
        name="AllWISE-W1",
        kind="infrared",
        telescope="WISE",
        frequency_hz=_W1_HZ,
        pixel_scale_arcsec=1.375,
        beam_major_arcsec=6.1,
        beam_minor_arcsec=6.1,
        beam_pa_deg=0.0,
        noise_jy_beam=None,
        keywords=("ALLWISE",),
        telescope_keywords=("WISE", "NEOWISE"),
        frequency_range_hz=_W1_RANGE,
        reference="Wright et al. 2010; AllWISE explanatory supplement",
    ),
    # Lang 2014, Meisner et al. 2017: unWISE coadds keep the native WISE resolution and the
    # 2.75"/pix grid of the single exposures (WISE/NEOWISE explanatory supplement).
    SurveyPreset(
        name="unWISE-W1",
        kind="infrared",
        telescope="WISE",
        frequency_hz=_W1_HZ,
        pixel_scale_arcsec=2.75,
        beam_major_arcsec=6.1,
        beam_minor_arcsec=6.1,
        beam_pa_deg=0.0,
        noise_jy_beam=None,
        keywords=("UNWISE",),
        telescope_keywords=("WISE", "NEOWISE"),
        frequency_range_hz=_W1_RANGE,
        reference="Lang 2014; Meisner et al. 2017; Wright et al. 2010",
    ),
)

#: Survey name -> :class:`SurveyPreset`.
SURVEYS: dict[str, SurveyPreset] = {p.name: p for p in _PRESETS}


def match_survey(
    header: Mapping[str, Any],
    *,
    frequency_hz: float | None = None,
    pixel_scale_arcsec: float | None = None,
) -> SurveyPreset | None:
    """The survey preset a FITS header belongs to, or ``None`` when it cannot tell.

    Candidates are the presets named in ``TELESCOP``/``INSTRUME``/``SURVEY``/``ORIGIN`` (a
    survey name such as ``VLASS`` or ``RACS-LOW`` first, else a telescope such as
    ``ASKAP``); without any name, the presets whose band holds the frequency *and* whose
    pixel scale is within 25 % of the image's. Several candidates are narrowed to those whose
    band holds the frequency, then to the closest centre frequency, then to the closest
    pixel scale; a tie that remains gives ``None`` (e.g. a VLA image at 1.4 GHz without a
    pixel scale: FIRST or NVSS).

    Parameters
    ----------
    header : astropy.io.fits.Header or mapping
    frequency_hz : float, optional
        The image's frequency when already known (e.g. ``RadioImage.frequency_hz``); else
        read from a ``FREQ`` axis or the ``FREQ``/``RESTFRQ`` keywords.
    pixel_scale_arcsec : float, optional
        The image's pixel scale when known; else from ``CD``/``CDELT`` (rotation ignored).

    Returns
    -------
    SurveyPreset or None

    Examples
    --------
    >>> match_survey({"TELESCOP": "ASKAP", "CRVAL3": 887.5e6, "CTYPE3": "FREQ"}).name
    'RACS-low'
    >>> match_survey({"TELESCOP": "VLA", "CDELT2": 0.0005}).name
    'FIRST'
    >>> match_survey({"TELESCOP": "ALMA"}) is None
    True
    """
    freq = frequency_hz if frequency_hz is not None else _header_frequency_hz(header)
    pixel = pixel_scale_arcsec if pixel_scale_arcsec is not None else _header_pixel_arcsec(header)
    candidates = _named(_identifying_words(header))
    if not candidates and freq is not None and pixel is not None:
        candidates = [
            p for p in _PRESETS if _in_band(p, freq) and _ratio(pixel, p.pixel_scale_arcsec) < 1.25
        ]
    if freq is not None:
        candidates = [p for p in candidates if _in_band(p, freq)] or candidates
    # the centre frequency tells surveys of one telescope apart (RACS-low 887.5 MHz, EMU
    # 943.5 MHz), the pixel grid those at one frequency (FIRST 1.8", NVSS 15")
    if freq is not None:
        candidates = _closest(candidates, freq, "frequency_hz")
    if pixel is not None:
        candidates = _closest(candidates, pixel, "pixel_scale_arcsec")
    return candidates[0] if len(candidates) == 1 else None


def _ratio(a: float, b: float) -> float:
    """``max(a, b) / min(a, b)``: how far apart two positive values are."""
    return max(a, b) / min(a, b)


def _closest(presets: list[SurveyPreset], value: float, attribute: str) -> list[SurveyPreset]:
    """The presets whose ``attribute`` is nearest to ``value`` (by ratio; ties kept)."""
    ratios = [_ratio(value, getattr(p, attribute)) for p in presets]
    return [p for p, r in zip(presets, ratios, strict=True) if r <= min(ratios) * (1 + 1e-9)]


def _identifying_words(header: Mapping[str, Any]) -> set[str]:
    """Upper-case words (hyphenated ones whole and in parts) of the identifying keys."""
    text = " ".join(str(header.get(k, "")) for k in _IDENTIFYING_KEYS).upper()
    words = set()
    for word in re.findall(r"[A-Z0-9]+(?:-[A-Z0-9]+)*", text):
        words.add(word)
        words.update(word.split("-"))
    return words


def _named(words: set[str]) -> list[SurveyPreset]:
    """Presets named by survey (the most specific name wins), else by telescope."""
    scores = {p.name: max((len(k) for k in p.keywords if k in words), default=0) for p in _PRESETS}
    best = max(scores.values())
    if best:
        return [p for p in _PRESETS if scores[p.name] == best]
    return [p for p in _PRESETS if words.intersection(p.telescope_keywords)]


def _in_band(preset: SurveyPreset, frequency_hz: float) -> bool:
    low, high = preset.frequency_range_hz
    return low <= frequency_hz <= high


_HZ_PER_UNIT = {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}


def _header_frequency_hz(header: Mapping[str, Any]) -> float | None:
    """Reference value of a ``FREQ`` axis, else the ``FREQ``/``RESTFRQ`` keywords (Hz)."""
    for axis in range(1, 10):
        if str(header.get(f"CTYPE{axis}", "")).strip().upper().startswith("FREQ"):
            factor = _HZ_PER_UNIT.get(str(header.get(f"CUNIT{axis}", "")).strip().upper())
            value = _positive(header.get(f"CRVAL{axis}"))
            if factor is not None and value is not None:
                return value * factor
    for key in ("FREQ", "OBSFREQ", "RESTFRQ", "RESTFREQ"):
        value = _positive(header.get(key))
        if value is not None:
            return value
    return None


def _header_pixel_arcsec(header: Mapping[str, Any]) -> float | None:
    """Geometric-mean pixel size from ``CD`` or ``CDELT`` (degrees) in arcsec."""
    if "CD1_1" in header or "CD2_2" in header:
        det = float(header.get("CD1_1", 0.0)) * float(header.get("CD2_2", 0.0)) - float(
            header.get("CD1_2", 0.0)
        ) * float(header.get("CD2_1", 0.0))
        return _positive(math.sqrt(abs(det)) * 3600.0)
    if "CDELT2" in header:
        cdelt1 = float(header.get("CDELT1", header["CDELT2"]))
        return _positive(math.sqrt(abs(cdelt1 * float(header["CDELT2"]))) * 3600.0)
    return None


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def fits_kind(header, path: str | os.PathLike | None = None) -> str:
    """Decide whether a FITS header is a radio or an infrared image.

    Radio: ``BUNIT`` in Jy (per beam), a beam (``BMAJ``), or a frequency/Stokes axis.
    Infrared: a photometric zero point (``MAGZP``), ``BUNIT`` in DN / nanomaggies /
    magnitudes, a WISE/unWISE ``TELESCOP``/``INSTRUME``/``BAND``, or a ``w1``/``wise`` file
    name. Radio is assumed when nothing decides (and logged).

    Parameters
    ----------
    header : astropy.io.fits.Header
    path : path-like, optional
        Only the file name is used, as the last clue.

    Returns
    -------
    {"radio", "infrared"}

    Examples
    --------
    >>> fits_kind({"BUNIT": "Jy/beam"}), fits_kind({"MAGZP": 22.5})
    ('radio', 'infrared')
    """
    bunit = str(header.get("BUNIT", "")).strip().lower().replace(" ", "")
    if "jy" in bunit or "BMAJ" in header:
        return "radio"
    if "MAGZP" in header or any(u in bunit for u in ("dn", "nmgy", "nanomag", "mag", "vega")):
        return "infrared"
    for k in range(3, int(header.get("NAXIS", 0)) + 1):
        ctype = str(header.get(f"CTYPE{k}", "")).upper()
        if ctype.startswith(("FREQ", "STOKES", "VRAD", "VELO")):
            return "radio"
    instrument = " ".join(
        str(header.get(k, "")) for k in ("TELESCOP", "INSTRUME", "BAND", "SURVEY", "ORIGIN")
    ).lower()
    name = Path(path).name.lower() if path is not None else ""
    if "wise" in instrument or "wise" in name or "_w1" in name or "-w1" in name:
        return "infrared"
    if any(k in instrument for k in ("askap", "meerkat", "lofar", "vla", "atca", "mwa", "emu")):
        return "radio"
    log.info("%s: could not tell radio from infrared by the header; assuming radio", path)
    return "radio"
