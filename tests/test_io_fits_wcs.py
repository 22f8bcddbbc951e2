"""Celestial WCS and pixel scales (napari_radiogal.io.fits.wcs)."""

from __future__ import annotations

import math

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.annotations import ImageRecord
from napari_radiogal.errors import FitsFormatError
from napari_radiogal.io.fits import pixel_scale_from_wcs_header as reexported
from napari_radiogal.io.fits.wcs import (
    celestial_wcs,
    image_pixel_scales,
    pixel_scale_from_wcs_header,
    wcs_pixel_scale_arcsec,
)

ARCSEC = 1 / 3600


def header_text(cards: dict, *, newlines: bool = True) -> str:
    """80-character cards of a SIN image at (150, -30) plus ``cards``."""
    header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRPIX1": 24.0})
    header.update({"CRPIX2": 24.0, "CRVAL1": 150.0, "CRVAL2": -30.0, **cards})
    return header.tostring(sep="\n" if newlines else "")


def sky_wcs(cdelt_arcsec=(2.0, 2.0)) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.cdelt = [-cdelt_arcsec[0] * ARCSEC, cdelt_arcsec[1] * ARCSEC]
    w.wcs.crval = [150.0, -30.0]
    w.wcs.crpix = [24.0, 24.0]
    return w


# The numbers are those of the hand-parsed version this function replaced
# (sqrt(|det CD|) of axes 1-2 times the CUNIT1 factor), computed by hand.
ROT = math.radians(30)
CASES = {
    "cdelt": ({"CDELT1": -2 * ARCSEC, "CDELT2": 2 * ARCSEC}, 2.0),
    "cd diagonal": ({"CD1_1": -4.1666666666667e-04, "CD2_2": 4.1666666666667e-04}, 1.5),
    "cd rotated": (
        {
            "CD1_1": -1e-4 * math.cos(ROT),
            "CD1_2": 1e-4 * math.sin(ROT),
            "CD2_1": 1e-4 * math.sin(ROT),
            "CD2_2": 1e-4 * math.cos(ROT),
        },
        0.36,
    ),
    "cd skewed": ({"CD1_1": -1e-4, "CD1_2": 3e-5, "CD2_2": 1e-4}, 0.36),  # |det| = 1e-8
    "pc and cdelt": (
        {
            "CDELT1": -1e-4,
            "CDELT2": 2e-4,
            "PC1_1": math.cos(ROT),
            "PC1_2": -math.sin(ROT),
            "PC2_1": math.sin(ROT),
            "PC2_2": math.cos(ROT),
        },
        math.sqrt(2e-8) * 3600,
    ),
    "cunit arcsec": ({"CDELT1": -1.5, "CDELT2": 1.5, "CUNIT1": "arcsec", "CUNIT2": "arcsec"}, 1.5),
    "cunit arcmin": (
        {"CDELT1": -0.05, "CDELT2": 0.05, "CUNIT1": "arcmin", "CUNIT2": "arcmin"},
        3.0,
    ),
    "cunit deg": ({"CDELT1": -1e-3, "CDELT2": 1e-3, "CUNIT1": "deg", "CUNIT2": "deg"}, 3.6),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("newlines", [True, False])
def test_pixel_scale_from_cd_pc_cdelt_and_cunit(name, newlines):
    cards, arcsec = CASES[name]
    text = header_text(cards, newlines=newlines)
    assert pixel_scale_from_wcs_header(text) == pytest.approx(arcsec, rel=1e-12)


def test_pixel_scale_in_radians():
    cards = {"CUNIT1": "rad", "CUNIT2": "rad", "CDELT1": -1e-5, "CDELT2": 1e-5}
    cards.update(CRVAL1=math.radians(150.0), CRVAL2=math.radians(-30.0))  # CRVAL in rad too
    expected = math.degrees(1e-5) * 3600
    assert pixel_scale_from_wcs_header(header_text(cards)) == pytest.approx(expected, rel=1e-12)


def test_pixel_scale_of_what_the_readers_store():
    # radio_wcs in COCO files is WCS.to_header_string(), also of 4-D cubes' celestial part
    assert pixel_scale_from_wcs_header(sky_wcs().to_header_string()) == pytest.approx(2.0)
    cube = WCS(naxis=4)
    cube.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    cube.wcs.cdelt = [-2.5 * ARCSEC, 2.5 * ARCSEC, 1e6, 1.0]
    cube.wcs.crval = [10.0, -40.0, 8.875e8, 1.0]
    assert pixel_scale_from_wcs_header(cube.to_header_string(relax=True)) == pytest.approx(2.5)
    assert reexported is pixel_scale_from_wcs_header


@pytest.mark.parametrize(
    "text",
    [
        "NAXIS   = 2\n",  # no WCS at all
        header_text({}),  # no CDELT and no CD: wcslib would assume 1 degree per pixel
        header_text({"CD1_1": 0.0, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.0}),  # singular
        header_text({"CDELT1": 1e-4, "CDELT2": 0.0}),  # zero scale
        header_text({"CTYPE1": "LINEAR", "CTYPE2": "LINEAR", "CDELT1": 1.0, "CDELT2": 1.0}),
        "not a header at all",
    ],
)
def test_pixel_scale_is_none_without_a_usable_celestial_scale(text):
    assert pixel_scale_from_wcs_header(text) is None


def test_image_pixel_scales_count_where_each_came_from():
    images = [
        ImageRecord(1, "a.fits", 8, 8, radio_wcs=sky_wcs((1.5, 1.5)).to_header_string()),
        ImageRecord(2, "b.fits", 8, 8),
        ImageRecord(3, "c.fits", 8, 8, radio_wcs="NAXIS   = 2\n"),
    ]
    scales, counts = image_pixel_scales(images, 2.0)
    assert scales == pytest.approx({1: 1.5, 2: 2.0, 3: 2.0})
    assert counts == {"from_wcs": 1, "from_default": 2}


def test_wcs_pixel_scale_is_the_geometric_mean_and_notes_non_square_pixels():
    notes: list[str] = []
    assert wcs_pixel_scale_arcsec(sky_wcs((2.0, 2.0)), notes) == pytest.approx(2.0)
    assert notes == []
    assert wcs_pixel_scale_arcsec(sky_wcs((2.0, 8.0)), notes) == pytest.approx(4.0)
    assert len(notes) == 1 and "not square" in notes[0]


def test_celestial_wcs_or_pixel_only_or_error():
    header = fits.Header.fromstring(header_text({"CDELT1": -ARCSEC, "CDELT2": ARCSEC}), sep="\n")
    notes: list[str] = []
    wcs, problem = celestial_wcs(header, (1, 32, 48), notes, path=None, hdu=0)
    assert problem is None and notes == []
    assert wcs.naxis == 2 and wcs.pixel_shape == (48, 32)  # (W, H)
    broken = header.copy()
    broken["CTYPE1"] = "Jy/beam"
    wcs, problem = celestial_wcs(broken, (32, 48), notes, path=None, hdu=0)
    assert wcs is None and "CTYPE1='Jy/beam'" in problem and "pixel-only" in notes[-1]
    with pytest.raises(FitsFormatError) as info:
        celestial_wcs(broken, (32, 48), [], path="x.fits", hdu=0, require=True)
    assert info.value.keyword == "CTYPE1"
