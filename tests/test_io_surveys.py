"""Survey presets and header matching, without napari."""

from __future__ import annotations

import pytest
from astropy.io import fits

from napari_radiogal.io.surveys import SURVEYS, SurveyPreset, fits_kind, match_survey


def _header(**cards) -> fits.Header:
    header = fits.Header()
    header["NAXIS"] = 2
    for key, value in cards.items():
        header[key] = value
    return header


def test_presets_are_consistent():
    assert {"FIRST", "NVSS", "VLASS", "RACS-low", "RACS-mid", "EMU", "EMU-PS"} <= set(SURVEYS)
    assert {"LoTSS-DR2", "MIGHTEE", "TGSS-ADR1", "AllWISE-W1", "unWISE-W1"} <= set(SURVEYS)
    for name, p in SURVEYS.items():
        assert isinstance(p, SurveyPreset) and p.name == name
        low, high = p.frequency_range_hz
        assert low <= p.frequency_hz <= high, name
        assert p.beam_major_arcsec >= p.beam_minor_arcsec > 0
        # a beam covers at least about two pixels (images are Nyquist sampled)
        assert p.beam_minor_arcsec / p.pixel_scale_arcsec >= 2.0, name
        assert (p.noise_jy_beam is None) == (p.kind == "infrared"), name
        assert p.keywords and all(k == k.upper() for k in p.keywords + p.telescope_keywords)
        assert p.reference


def test_documented_numbers():
    first, nvss, w1 = SURVEYS["FIRST"], SURVEYS["NVSS"], SURVEYS["AllWISE-W1"]
    assert (first.pixel_scale_arcsec, first.beam_major_arcsec) == (1.8, 5.4)
    assert nvss.beam_major_arcsec == 45.0 and nvss.noise_jy_beam == pytest.approx(4.5e-4)
    assert SURVEYS["VLASS"].frequency_hz == 3e9
    assert SURVEYS["RACS-low"].frequency_hz == 887.5e6
    assert SURVEYS["RACS-mid"].frequency_hz == 1367.5e6
    assert SURVEYS["EMU"].frequency_hz == 943.5e6
    assert SURVEYS["LoTSS-DR2"].frequency_hz == 144e6
    # W1 at 3.4 micron; the Atlas is on 1.375" pixels, unWISE on the native 2.75"
    assert 299_792_458.0 / w1.frequency_hz == pytest.approx(3.4e-6)
    assert SURVEYS["unWISE-W1"].pixel_scale_arcsec == 2 * w1.pixel_scale_arcsec


def test_beam_in_degrees_like_bmaj_bmin_bpa():
    assert SURVEYS["EMU-PS"].beam_deg == pytest.approx((13 / 3600, 11 / 3600, 0.0))


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"SURVEY": "VLASS"}, "VLASS"),
        ({"TELESCOP": "ASKAP", "SURVEY": "RACS-LOW"}, "RACS-low"),
        ({"TELESCOP": "ASKAP", "SURVEY": "EMU-PS"}, "EMU-PS"),
        # one telescope, told apart by the frequency band
        ({"TELESCOP": "ASKAP", "CTYPE3": "FREQ", "CRVAL3": 1367.5, "CUNIT3": "MHz"}, "RACS-mid"),
        ({"TELESCOP": "ASKAP", "FREQ": 887.5e6}, "RACS-low"),
        ({"TELESCOP": "ASKAP", "FREQ": 888e6, "CDELT2": 2 / 3600}, "RACS-low"),  # VAST-like
        # same band, told apart by the pixel grid
        ({"TELESCOP": "VLA", "FREQ": 1.4e9, "CDELT1": -15 / 3600, "CDELT2": 15 / 3600}, "NVSS"),
        ({"TELESCOP": "EVLA", "FREQ": 1.4e9, "CD1_1": -5e-4, "CD2_2": 5e-4}, "FIRST"),
        ({"TELESCOP": "VLA", "FREQ": 3.0e9}, "VLASS"),
        ({"TELESCOP": "LOFAR"}, "LoTSS-DR2"),
        ({"TELESCOP": "MeerKAT"}, "MIGHTEE"),
        ({"TELESCOP": "GMRT"}, "TGSS-ADR1"),
        ({"TELESCOP": "WISE", "CDELT2": 1.375 / 3600}, "AllWISE-W1"),
        ({"TELESCOP": "WISE", "CDELT2": 2.75 / 3600}, "unWISE-W1"),
        ({"ORIGIN": "unWISE coadd"}, "unWISE-W1"),
        # no name at all: band and pixel scale together
        ({"FREQ": 144e6, "CDELT2": 1.5 / 3600}, "LoTSS-DR2"),
    ],
)
def test_match_survey(cards, expected):
    assert match_survey(_header(**cards)).name == expected


@pytest.mark.parametrize(
    "cards",
    [
        {},
        {"TELESCOP": "ALMA"},
        {"TELESCOP": "VLA", "FREQ": 1.4e9},  # FIRST or NVSS: the pixel scale would tell
        {"FREQ": 1.4e9},  # no name and no pixel scale
        {"FREQ": 5e9, "CDELT2": 1 / 3600},  # no survey at 5 GHz
        {"TELESCOP": "ASKAP", "FREQ": 943.5e6},  # EMU or its pilot
    ],
)
def test_match_survey_says_none_when_it_cannot_tell(cards):
    assert match_survey(_header(**cards)) is None


def test_match_survey_takes_known_values_over_the_header():
    header = _header(TELESCOP="VLA", FREQ=1.4e9, CDELT2=15 / 3600)
    assert match_survey(header).name == "NVSS"
    assert match_survey(header, pixel_scale_arcsec=1.8).name == "FIRST"
    assert match_survey(_header(TELESCOP="ASKAP"), frequency_hz=1.3675e9).name == "RACS-mid"
    assert match_survey({"TELESCOP": "VLA", "CDELT2": 1 / 3600}).name == "VLASS"  # a dict works


@pytest.mark.parametrize(
    ("cards", "path", "kind"),
    [
        ({"BUNIT": "Jy/beam"}, None, "radio"),
        ({"BUNIT": "JY/BEAM"}, "w1.fits", "radio"),  # the unit wins over the file name
        ({"BMAJ": 0.004}, None, "radio"),
        ({"MAGZP": 20.5, "BUNIT": "DN"}, None, "infrared"),
        ({"BUNIT": "nanomaggies"}, None, "infrared"),
        ({"NAXIS": 4, "CTYPE3": "FREQ", "CTYPE4": "STOKES"}, None, "radio"),
        ({"TELESCOP": "WISE"}, None, "infrared"),
        ({}, "unwise-1497p015-w1-img-m.fits", "infrared"),
        ({}, "cutout_W1.fits", "infrared"),
        ({"TELESCOP": "ASKAP"}, None, "radio"),
        ({"INSTRUME": "MeerKAT"}, "image.fits", "radio"),
        ({}, "mystery.fits", "radio"),  # nothing decides: radio
    ],
)
def test_fits_kind(cards, path, kind):
    assert fits_kind(_header(**cards), path) == kind


def test_fits_kind_logs_when_it_guesses(caplog):
    with caplog.at_level("INFO", logger="napari_radiogal.io.surveys"):
        assert fits_kind(_header(), "mystery.fits") == "radio"
    assert "assuming radio" in caplog.text


def test_reader_re_exports_fits_kind():
    from napari_radiogal._napari import _reader

    assert _reader.fits_kind is fits_kind
