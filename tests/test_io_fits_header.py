"""Beam, unit, frequency and the 2-D header (napari_radiogal.io.fits.header)."""

from __future__ import annotations

import pytest
from astropy.io import fits
from astropy.wcs import WCS

import _fits_twins as twins
from napari_radiogal.io.fits.header import (
    axis_value_text,
    beam_cards,
    beam_from_header,
    header_frequency_hz,
    image_header,
    jy_per_beam_factor,
    normalise_bunit,
    optional_float_card,
    radio_unit,
)


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("Jy/beam", 1.0),
        ("JY/BEAM", 1.0),
        (" Jy/beam ", 1.0),
        ("Jy beam^-1", 1.0),
        ("Jy/bm", 1.0),
        ("mJy/beam", 1e-3),
        ("milliJy/beam", 1e-3),
        ("uJy/beam", 1e-6),
        ("µJy/beam", 1e-6),
        ("Jy", None),
        ("K", None),
        ("DN", None),
    ],
)
def test_jy_per_beam_factor(unit, factor):
    assert jy_per_beam_factor(unit) == factor


def test_radio_unit_and_normalised_spelling():
    notes: list[str] = []
    assert radio_unit("MJY/BEAM", notes) == ("Jy/beam", 1e-3) and notes == []
    assert radio_unit(None, notes) == ("Jy/beam", 1.0) and "missing" in notes[-1]
    assert radio_unit(" K ", notes) == ("K", 1.0) and "not Jy/beam" in notes[-1]
    assert normalise_bunit("mjy/beam") == "mJy/beam"
    assert normalise_bunit("UJY/BEAM") == "uJy/beam"


def test_beam_from_keywords_and_repairs():
    notes: list[str] = []
    header = fits.Header({"BMAJ": 0.003, "BMIN": 0.004})  # swapped, no BPA
    assert beam_from_header(header, notes) == (0.004, 0.003, 90.0)
    assert len(notes) == 2  # BPA missing, BMIN > BMAJ
    assert beam_from_header(fits.Header({"BMAJ": 0.0, "BMIN": 0.0}), []) is None
    assert beam_from_header(fits.Header(), []) is None


def test_beam_from_aips_history():
    header = fits.Header()
    header.add_history("AIPS   CLEAN BMAJ=  4.1667E-03 BMIN=  2.5000D-03 BPA=  12.50")
    assert beam_from_header(header, []) == pytest.approx((4.1667e-3, 2.5e-3, 12.5))


def test_beam_cards_round_trip():
    beam = (0.004, 0.003, 12.5)
    cards = beam_cards(beam)
    assert (cards["BMAJ"], cards["BMIN"], cards["BPA"]) == beam
    assert beam_from_header(cards, []) == beam


def test_optional_float_card_ignores_non_numbers():
    notes: list[str] = []
    header = fits.Header({"A": 1, "B": "x", "C": True})
    assert optional_float_card(header, "A", notes) == 1.0
    assert optional_float_card(header, "B", notes) is None
    assert optional_float_card(header, "C", notes) is None
    assert optional_float_card(header, "D", notes) is None
    assert len(notes) == 2


def test_frequency_from_axis_plane_or_keyword():
    cube = fits.Header(
        {"CTYPE3": "freq", "CRVAL3": 800.0, "CDELT3": 10.0, "CRPIX3": 1.0, "CUNIT3": "MHz"}
    )
    assert header_frequency_hz(cube, {3: 2}) == pytest.approx(820e6)  # third plane
    assert axis_value_text(cube, 3, 2) == "freq = 820 MHz"
    assert header_frequency_hz(fits.Header({"RESTFRQ": 1.4e9}), {}) == 1.4e9
    assert header_frequency_hz(fits.Header({"FREQ": -1.0}), {}) is None


def test_image_header_strips_axes_and_keeps_the_rest() -> None:
    header = fits.Header(
        [
            ("NAXIS", 4),
            ("NAXIS3", 1),
            ("TELESCOP", "ASKAP"),
            *twins.simple_sin_cards(),
            ("CTYPE3", "FREQ"),
            ("CRVAL3", 9e8),
            ("PC3_3", 1.0),
            ("BLANK", -1),
            ("HISTORY", "made by a test"),
        ]
    )
    wcs = WCS(fits.Header(twins.simple_sin_cards())).celestial
    out = image_header(header, wcs, (4, 5), frequency_hz=9e8)
    assert out["NAXIS"] == 2 and out["NAXIS1"] == 5 and out["NAXIS2"] == 4
    assert "NAXIS3" not in out and "CTYPE3" not in out and "PC3_3" not in out
    assert "BLANK" not in out and out["TELESCOP"] == "ASKAP" and out["FREQ"] == 9e8
    assert "made by a test" in str(out["HISTORY"])
