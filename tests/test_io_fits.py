"""Tests of the FITS readers (napari_radiogal.io.fits.reader): the ten real-format files and
their synthetic twins, planes, lazy reads, broken files, fuzzing."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _fits_twins as twins
from napari_radiogal.errors import (
    FitsFormatError,
    FitsFormatWarning,
    RadiogalError,
    RadiogalWarning,
)
from napari_radiogal.io.fits import (
    Beam,
    InfraredImage,
    RadioImage,
    is_lazy,
    read_infrared,
    read_radio,
)

ARCSEC = 1 / 3600


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def astropy_celestial(path: Path, hdu: int = 0) -> WCS:
    """The reference: astropy's own celestial WCS of the file (its warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(fits.getheader(path, hdu)).celestial


def astropy_pixels(path: Path, hdu: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fits.getdata(path, hdu), dtype=np.float32)


def assert_same_sky(image, path: Path, hdu: int = 0) -> None:
    """World coordinates of a few pixels agree with astropy's WCS of the file to 1 mas."""
    reference = astropy_celestial(path, hdu)
    h, w = image.shape
    xs = np.array([0.0, w - 1.0, 0.37 * w, w / 2])
    ys = np.array([0.0, h - 1.0, 0.71 * h, h / 2])
    ours = np.array(image.wcs.pixel_to_world_values(xs, ys))
    theirs = np.array(reference.pixel_to_world_values(xs, ys))
    dra = (ours[0] - theirs[0] + 180) % 360 - 180
    np.testing.assert_allclose(dra * np.cos(np.radians(theirs[1])), 0, atol=1e-3 * ARCSEC)
    np.testing.assert_allclose(ours[1], theirs[1], atol=1e-3 * ARCSEC)


@contextlib.contextmanager
def expect_warnings(*patterns: str, category=FitsFormatWarning):
    """Exactly one warning of ``category`` per regex pattern, each matched, nothing else."""
    with pytest.warns(category) as record:
        yield record
    messages = [str(w.message) for w in record]
    assert len(messages) == len(patterns), messages
    for pattern in patterns:
        assert any(re.search(pattern, m) for m in messages), (pattern, messages)


# ----------------------------------------------------------------------------------------
# The ten real-format files (skip cleanly without ../shared)
# ----------------------------------------------------------------------------------------
#: file -> facts checked against the header (beam in degrees as written, BPA as written)
REAL = {
    "askap_vast_epoch01_4d.fits": dict(
        shape=(256, 256),
        beam=(4.166666666667e-03, 2.777777777778e-03, 0.0),
        freq=8.88e8,
        nan=0,
        scale=2.0,
        warns=[],
    ),
    "askap_racs_wsclean_sub.fits": dict(
        shape=(10, 10),
        beam=(0.00507281757649565, 0.00339522901317359, 120.300196487342),
        freq=808490740.740741,
        nan=0,
        scale=2.5,
        warns=[],
    ),
    "askap_racs_rms_sub.fits": dict(
        shape=(10, 15),
        beam=(0.00303032948946595, 0.0025962527928321, 56.2253417308633),
        freq=887490740.740738,
        nan=0,
        scale=2.5,
        warns=[],
    ),
    "no_wcs_nan_blank.fits": dict(
        shape=(132, 132),
        beam=(1.77780003287e-03, 1.50000001304e-03, 0.0),
        freq=None,
        nan=288,
        scale=None,
        warns=[r"has no WCS.*pixel-only mode", r"BPA is missing"],
    ),
    "broken_ctype.fits": dict(
        shape=(132, 132),
        beam=(0.00666886265618, 0.005831305059291, 89.19401765681),
        freq=None,
        nan=0,
        scale=None,
        warns=[r"CTYPE1='Jy/beam' is not a sky axis.*pixel-only", r"BUNIT is missing"],
    ),
    "parkes_1904-66_sin_nan.fits": dict(
        shape=(192, 192),
        beam=(0.2399999936422, 0.2399999936422, 0.0),
        freq=1.42040575e9,
        nan=14837,
        scale=240.0,
        warns=[],
    ),
    "parkes_1904-66_sin_cube.fits": dict(
        shape=(192, 192),
        beam=(0.2399999936422, 0.2399999936422, 0.0),
        freq=1.1e9,
        nan=14837,
        scale=240.0,
        warns=[r"axis 3 \(CTYPE3='freq'\) with 10 planes.*plane=k"],
    ),
    "aegean_small_4d.fits": dict(
        shape=(20, 20),
        beam=(0.2399999936422, 0.2399999936422, 0.0),
        freq=1.42040575e9,
        nan=0,
        scale=240.0,
        warns=[],
    ),
    "aegean_small_5d.fits": dict(
        shape=(20, 20),
        beam=(0.2399999936422, 0.2399999936422, 0.0),
        freq=1.42040575e9,
        nan=0,
        scale=240.0,
        warns=[],
    ),
}


def _read_recording(reader, path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = reader(path, **kwargs)
    foreign = [w for w in caught if not issubclass(w.category, RadiogalWarning)]
    assert not foreign, f"astropy warnings escaped: {[str(w.message) for w in foreign]}"
    return image, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_radio_files(shared_fits_dir: Path, name: str) -> None:
    facts = REAL[name]
    path = shared_fits_dir / name
    image, messages = _read_recording(read_radio, path)
    assert isinstance(image, RadioImage)
    assert image.shape == facts["shape"]
    assert image.data.dtype == np.float32 and image.data.dtype.isnative
    assert int(np.isnan(image.data).sum()) == facts["nan"]
    np.testing.assert_allclose(image.beam, facts["beam"], rtol=1e-12)
    assert image.unit == "Jy/beam"
    if facts["freq"] is None:
        assert image.frequency_hz is None
    else:
        assert image.frequency_hz == pytest.approx(facts["freq"], rel=1e-12)
    assert len(messages) == len(facts["warns"]), messages
    for pattern in facts["warns"]:
        assert any(re.search(pattern, m) for m in messages), (pattern, messages)
    # pixels: the same values astropy reads, squeezed to (H, W) (plane 0 for the cube)
    reference = astropy_pixels(path).reshape((-1, *facts["shape"]))[0]
    np.testing.assert_array_equal(image.data, reference)
    if facts["scale"] is None:
        assert image.wcs is None and image.pixel_scale_arcsec is None
    else:
        assert image.wcs.naxis == 2 and image.wcs.pixel_shape == facts["shape"][::-1]
        assert image.pixel_scale_arcsec == pytest.approx(facts["scale"], rel=1e-9)
        assert_same_sky(image, path)


def test_real_unwise_infrared(shared_fits_dir: Path) -> None:
    path = shared_fits_dir / "unwise_w1_cd_matrix.fits"
    image, messages = _read_recording(read_infrared, path)
    assert messages == []
    assert isinstance(image, InfraredImage)
    assert image.shape == (10, 10)
    assert image.unit is None and image.magzp == 22.5
    assert image.pixel_scale_arcsec == pytest.approx(2.75, rel=1e-6)
    np.testing.assert_array_equal(image.data, astropy_pixels(path))
    assert_same_sky(image, path)


def test_real_vast_reference_pixel_is_crval(shared_fits_dir: Path) -> None:
    """Independent of astropy's reading: FITS pixel CRPIX=129 is 0-based (128, 128)."""
    image = read_radio(shared_fits_dir / "askap_vast_epoch01_4d.fits")
    ra, dec = image.wcs.pixel_to_world_values(128, 128)
    assert (float(ra), float(dec)) == pytest.approx((150.0, -30.0), abs=1e-10)


def test_real_cube_plane_choice(shared_fits_dir: Path) -> None:
    path = shared_fits_dir / "parkes_1904-66_sin_cube.fits"
    image = read_radio(path, plane=3)  # no warning when the plane is chosen
    np.testing.assert_array_equal(image.data, astropy_pixels(path)[3])
    assert image.frequency_hz == pytest.approx(1.0e9 + 4 * 1.0e8)  # CRPIX3 = 0
    assert not np.array_equal(image.data, read_radio(path, plane=0).data)


def test_real_broken_ctype_can_be_refused(shared_fits_dir: Path) -> None:
    with pytest.raises(FitsFormatError) as info:
        read_radio(shared_fits_dir / "broken_ctype.fits", require_wcs=True)
    assert info.value.keyword == "CTYPE1" and info.value.hdu == 0
    assert "Jy/beam" in str(info.value) and "require_wcs=False" in str(info.value)


def test_real_lazy_read_is_memory_mapped(shared_fits_dir: Path) -> None:
    path = shared_fits_dir / "askap_vast_epoch01_4d.fits"
    lazy = read_radio(path, lazy=True)
    assert is_lazy(lazy) and not lazy.data.flags.writeable
    np.testing.assert_array_equal(np.asarray(lazy.data, np.float32), read_radio(path).data)


# ----------------------------------------------------------------------------------------
# Synthetic twins (always run)
# ----------------------------------------------------------------------------------------
def test_twin_askap_vast_4d_pc_matrix(tmp_path: Path) -> None:
    path = twins.askap_vast_4d(tmp_path / "vast.fits", size=64)
    image, messages = _read_recording(read_radio, path)
    assert messages == []  # datfix / obsfix chatter of astropy is not the user's problem
    assert image.shape == (64, 64)
    assert image.beam == Beam(4.166666666667e-03, 2.777777777778e-03, 0.0)
    assert image.beam.to_arcsec() == pytest.approx((15.0, 10.0, 0.0))
    assert image.frequency_hz == 8.88e8 and image.unit == "Jy/beam"
    assert image.pixel_scale_arcsec == pytest.approx(2.0)
    np.testing.assert_array_equal(image.data, astropy_pixels(path)[0, 0])
    assert_same_sky(image, path)
    ra, dec = image.wcs.pixel_to_world_values(32, 32)  # CRPIX 33 -> 0-based 32
    assert (float(ra), float(dec)) == pytest.approx((150.0, -30.0), abs=1e-10)


def test_twin_racs_wsclean_far_crpix(tmp_path: Path) -> None:
    path = twins.racs_wsclean_4d(tmp_path / "racs.fits")
    image, messages = _read_recording(read_radio, path)
    assert messages == []
    assert image.shape == (10, 10) and image.unit == "Jy/beam"  # from 'JY/BEAM '
    assert image.beam.pa_deg == pytest.approx(120.300196487342)
    assert image.frequency_hz == pytest.approx(808490740.740741)
    assert image.pixel_scale_arcsec == pytest.approx(2.5)
    assert_same_sky(image, path)


def test_twin_naxis2_with_ctype3(tmp_path: Path) -> None:
    path = twins.racs_rms_2d_with_ctype3(tmp_path / "rms.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert WCS(fits.getheader(path)).naxis == 4  # the quirk this twin reproduces
    image, messages = _read_recording(read_radio, path)
    assert messages == []
    assert image.shape == (10, 15) and image.wcs.naxis == 2
    assert image.frequency_hz == pytest.approx(887490740.740738)  # from CTYPE3 beyond NAXIS
    assert_same_sky(image, path)
    assert "CTYPE3" not in image.header and image.header["FREQ"] == image.frequency_hz


def test_twin_unwise_cd_matrix(tmp_path: Path) -> None:
    path = twins.unwise_cd(tmp_path / "unwise.fits")
    image, messages = _read_recording(read_infrared, path)
    assert messages == []
    assert image.unit is None and image.magzp == 22.5
    assert image.pixel_scale_arcsec == pytest.approx(2.75)
    assert image.header["EPOCH"] == -1  # unWISE's epoch number survives
    assert_same_sky(image, path)


def test_twin_allwise_sin_dn(tmp_path: Path) -> None:
    path = twins.allwise_sin(tmp_path / "allwise.fits")
    image, messages = _read_recording(read_infrared, path)
    assert messages == []
    assert image.unit == "DN" and image.magzp == 20.5
    assert image.pixel_scale_arcsec == pytest.approx(1.375, rel=1e-5)
    assert_same_sky(image, path)


def test_twin_no_wcs_nan_blank(tmp_path: Path) -> None:
    path = twins.no_wcs_nan_blank(tmp_path / "nowcs.fits")
    with pytest.warns(FitsFormatWarning) as record:
        image = read_radio(path)
    messages = [str(w.message) for w in record]
    assert any(
        "pixel-only mode" in m and "no RA/Dec" in m and "require_wcs=True" in m for m in messages
    )
    assert any("BPA is missing" in m for m in messages)
    assert not any("BLANK" in m for m in messages)  # no pixel equals BLANK: nothing done
    assert image.wcs is None and image.pixel_scale_arcsec is None
    assert int(np.isnan(image.data).sum()) == twins.NO_WCS_NAN_COUNT
    assert image.beam == Beam(1.77780003287e-03, 1.50000001304e-03, 0.0)
    with pytest.raises(FitsFormatError, match="no WCS") as info:
        read_radio(path, require_wcs=True)
    assert info.value.keyword == "CTYPE1" and str(path) in str(info.value)


def test_blank_value_on_float_data_becomes_nan(tmp_path: Path) -> None:
    data = np.ones((8, 8), np.float32)
    data[2, :5] = -1.0
    data[5, 5] = np.inf
    path = twins.write_raw_fits(
        tmp_path / "blank.fits", data, [*twins.simple_sin_cards(), ("BLANK", -1)]
    )
    with pytest.warns(FitsFormatWarning) as record:
        image = read_radio(path)
    messages = " ".join(str(w.message) for w in record)
    assert "5 pixel(s) equal it" in messages and "1 infinite" in messages
    assert int(np.isnan(image.data).sum()) == 6
    assert "BLANK" not in image.header  # the image now blanks with NaN only


def test_blank_on_scaled_integer_data(tmp_path: Path) -> None:
    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = twins.write_raw_fits(
        tmp_path / "int.fits",
        raw,
        [*twins.simple_sin_cards(), ("BSCALE", 0.5), ("BZERO", 1.0), ("BLANK", 3)],
        bitpix=16,
    )
    image = read_radio(path)
    assert image.data.dtype == np.float32
    assert np.isnan(image.data[0, 3])
    assert image.data[2, 3] == pytest.approx(11 * 0.5 + 1.0)


def test_broken_ctype_pixel_only_or_error(tmp_path: Path) -> None:
    path = twins.broken_ctype(tmp_path / "broken.fits")
    with expect_warnings(r"CTYPE1='Jy/beam'.*brightness unit.*pixel-only", "BUNIT is missing"):
        image = read_radio(path)
    assert image.wcs is None and image.shape == (32, 32)
    assert image.header["CTYPE1"] == "Jy/beam"  # the user's card is kept, not invented
    with pytest.raises(FitsFormatError) as info:
        read_radio(path, require_wcs=True)
    message = str(info.value)
    assert info.value.keyword == "CTYPE1" and info.value.hdu == 0
    assert "'RA---SIN'" in message and "Fix the header" in message


@pytest.mark.parametrize(
    "ctypes, keyword",
    [
        (("RA---SIN", "FREQ"), "CTYPE2"),
        (("LINEAR", "LINEAR"), "CTYPE1"),
        (("RA---SIN", ""), "CTYPE2"),
    ],
)
def test_other_unusable_wcs_is_pixel_only(tmp_path: Path, ctypes, keyword) -> None:
    cards = [c for c in twins.simple_sin_cards() if not c[0].startswith("CTYPE")]
    cards += [("CTYPE1", ctypes[0]), ("CTYPE2", ctypes[1])]
    path = twins.write_raw_fits(tmp_path / "odd.fits", np.zeros((6, 7), np.float32), cards)
    with expect_warnings("pixel-only"):
        assert read_radio(path).wcs is None
    with pytest.raises(FitsFormatError) as info:
        read_radio(path, require_wcs=True)
    assert info.value.keyword == keyword


def test_singular_cd_matrix_is_pixel_only(tmp_path: Path) -> None:
    cards = [
        ("CTYPE1", "RA---TAN"),
        ("CTYPE2", "DEC--TAN"),
        ("CRVAL1", 1.0),
        ("CRVAL2", 2.0),
        ("CRPIX1", 1.0),
        ("CRPIX2", 1.0),
        ("CD1_1", 0.0),
        ("CD1_2", 0.0),
        ("CD2_1", 0.0),
        ("CD2_2", 0.0),
        ("BUNIT", "Jy/beam"),
    ]
    path = twins.write_raw_fits(tmp_path / "singular.fits", np.zeros((4, 4), np.float32), cards)
    with expect_warnings("singular.*pixel-only"):
        assert read_radio(path).wcs is None
    no_scale = [c for c in twins.simple_sin_cards() if not c[0].startswith("CDELT")]
    path = twins.write_raw_fits(tmp_path / "noscale.fits", np.zeros((4, 4), np.float32), no_scale)
    with pytest.raises(FitsFormatError, match="no pixel scale") as info:
        read_radio(path, require_wcs=True)
    assert info.value.keyword == "CDELT1"


def test_twin_parkes_pole_far_crpix(tmp_path: Path) -> None:
    path = twins.parkes_sin_pole(tmp_path / "parkes.fits")
    image, messages = _read_recording(read_radio, path)
    assert messages == []
    assert image.pixel_scale_arcsec == pytest.approx(240.0)
    assert int(np.isnan(image.data).sum()) == int(np.isnan(astropy_pixels(path)).sum()) > 0
    assert_same_sky(image, path)
    dec = image.wcs.pixel_to_world_values(np.arange(48), np.zeros(48))[1]
    assert np.all(dec < -60)  # near the south pole, as the header says


def test_twin_cube_warns_and_honours_plane(tmp_path: Path) -> None:
    path = twins.parkes_cube(tmp_path / "cube.fits")
    with expect_warnings(
        r"10 planes; took plane 0 \(freq = 1100 MHz\)"
        r".*plane=k \(0 <= k < 10\)"
    ) as record:
        first = read_radio(path)
    assert len(record) == 1
    cube = astropy_pixels(path)
    np.testing.assert_array_equal(first.data, cube[0])
    last = read_radio(path, plane=9)
    np.testing.assert_array_equal(last.data, cube[9])
    assert last.frequency_hz == pytest.approx(2.0e9)
    assert read_radio(path, plane=(4,)).frequency_hz == pytest.approx(1.5e9)
    with pytest.raises(FitsFormatError, match=r"plane index 10 is outside axis 3") as info:
        read_radio(path, plane=10)
    assert info.value.keyword == "NAXIS3"
    with pytest.raises(FitsFormatError, match="one index per axis"):
        read_radio(path, plane=(1, 2))


def test_two_real_extra_axes_need_a_tuple(tmp_path: Path) -> None:
    data = np.arange(3 * 2 * 5 * 4, dtype=np.float32).reshape(3, 2, 5, 4)  # STOKES x FREQ
    cards = [
        *twins.simple_sin_cards(),
        ("CTYPE3", "FREQ"),
        ("CRVAL3", 1.0e9),
        ("CDELT3", 1.0e6),
        ("CRPIX3", 1.0),
        ("CUNIT3", "Hz"),
        ("CTYPE4", "STOKES"),
        ("CRVAL4", 1.0),
        ("CDELT4", 1.0),
        ("CRPIX4", 1.0),
    ]
    path = twins.write_raw_fits(tmp_path / "iquv.fits", data, cards)
    with expect_warnings(r"CTYPE3='FREQ'.*CTYPE4='STOKES'.*plane=\(k3, k4\)"):
        read_radio(path)
    with pytest.raises(FitsFormatError, match="ambiguous"):
        read_radio(path, plane=1)
    image = read_radio(path, plane=(1, 2))
    np.testing.assert_array_equal(image.data, data[2, 1])
    assert image.frequency_hz == pytest.approx(1.001e9)


@pytest.mark.parametrize("extra", [2, 3])
def test_twin_aegean_degenerate_axes(tmp_path: Path, extra: int) -> None:
    path = twins.aegean_degenerate(tmp_path / f"small_{extra + 2}d.fits", extra)
    image, messages = _read_recording(read_radio, path)
    assert messages == []
    assert image.shape == (20, 20)
    assert image.frequency_hz == pytest.approx(1.42040575e9)  # RESTFRQ, no FREQ axis
    np.testing.assert_array_equal(image.data, astropy_pixels(path).reshape(20, 20))
    assert_same_sky(image, path)
    assert "CTYPE1P" not in image.header  # a stale alternate WCS is not carried over


def test_twin_ncp_projection(tmp_path: Path) -> None:
    path = twins.ncp(tmp_path / "ncp.fits")
    image, messages = _read_recording(read_radio, path)
    assert messages == []
    assert_same_sky(image, path)
    ra, dec = image.wcs.pixel_to_world_values(16, 16)
    assert (float(ra), float(dec)) == pytest.approx((150.0, 40.0), abs=1e-10)
    # NCP is SIN with PV2_2 = cot(dec0); a point 20 px north is off the meridian RA only by
    # the projection, so check against the closed form (Calabretta & Greisen 2002, eq. 44)
    _, dec_north = image.wcs.pixel_to_world_values(16, 36)
    assert float(dec_north) == pytest.approx(40.0 + 0.02, abs=2e-5)
    assert image.frequency_hz == 1.4e9 and image.beam.pa_deg == 10.0


def test_twin_missing_bpa(tmp_path: Path) -> None:
    path = twins.missing_bpa(tmp_path / "nobpa.fits")
    with expect_warnings("BPA is missing; assumed .* 0 deg"):
        image = read_radio(path)
    assert image.beam == Beam(0.004, 0.003, 0.0)


def test_beam_repairs(tmp_path: Path) -> None:
    cards = [c for c in twins.simple_sin_cards() if c[0] not in ("BMAJ", "BMIN", "BPA")]
    swapped = twins.write_raw_fits(
        tmp_path / "swap.fits",
        np.zeros((4, 4), np.float32),
        [*cards, ("BMAJ", 0.002), ("BMIN", 0.004), ("BPA", 10.0)],
    )
    with expect_warnings("swapped"):
        assert read_radio(swapped).beam == Beam(0.004, 0.002, 100.0)
    aips = twins.write_raw_fits(
        tmp_path / "aips.fits",
        np.zeros((4, 4), np.float32),
        [*cards, ("HISTORY", "AIPS   CLEAN BMAJ=  1.2500E-02 BMIN=  1.0000E-02 BPA=  45.00")],
    )
    assert read_radio(aips).beam == Beam(0.0125, 0.01, 45.0)
    garbled = twins.write_raw_fits(
        tmp_path / "garbled.fits",
        np.zeros((4, 4), np.float32),
        [*cards, ("HISTORY", "AIPS   CLEAN BMAJ=  1.2.5E-02 BMIN=  1.0E-02 BPA=  4-5")],
    )
    with expect_warnings("could not parse the beam in the AIPS HISTORY"):
        assert read_radio(garbled).beam is None
    nobeam = twins.write_raw_fits(tmp_path / "nobeam.fits", np.zeros((4, 4), np.float32), cards)
    assert read_radio(nobeam).beam is None
    assert Beam(15 * ARCSEC, 10 * ARCSEC, 0).area_pixels(2.0) == pytest.approx(
        np.pi * 15 * 10 / (4 * np.log(2)) / 4
    )


@pytest.mark.parametrize(
    "bunit, unit, factor",
    [
        ("JY/BEAM ", "Jy/beam", 1.0),
        ("Jy/beam", "Jy/beam", 1.0),
        ("jy/beam", "Jy/beam", 1.0),
        ("JY/BEAM", "Jy/beam", 1.0),
        ("Jy beam-1", "Jy/beam", 1.0),
        ("mJy/beam", "Jy/beam", 1e-3),
        ("uJy/beam", "Jy/beam", 1e-6),
    ],
)
def test_bunit_spellings(tmp_path: Path, bunit: str, unit: str, factor: float) -> None:
    cards = [c for c in twins.simple_sin_cards() if c[0] != "BUNIT"] + [("BUNIT", bunit)]
    path = twins.write_raw_fits(tmp_path / "u.fits", np.full((3, 3), 2.0, np.float32), cards)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_radio(path)
    assert image.unit == unit and image.header["BUNIT"] == unit
    np.testing.assert_allclose(image.data, 2.0 * factor, rtol=1e-6)
    assert (len(caught) == 1) == (factor != 1.0)  # conversions are announced


def test_foreign_bunit_is_kept_with_warning(tmp_path: Path) -> None:
    cards = [c for c in twins.simple_sin_cards() if c[0] != "BUNIT"] + [("BUNIT", "K")]
    path = twins.write_raw_fits(tmp_path / "k.fits", np.ones((3, 3), np.float32), cards)
    with expect_warnings("BUNIT='K' is not Jy/beam"):
        image = read_radio(path)
    assert image.unit == "K" and np.all(image.data == 1.0)


def test_non_square_pixels_warn(tmp_path: Path) -> None:
    cards = [c for c in twins.simple_sin_cards() if c[0] != "CDELT2"] + [("CDELT2", 3 / 3600)]
    path = twins.write_raw_fits(tmp_path / "rect.fits", np.ones((3, 3), np.float32), cards)
    with expect_warnings("not square"):
        image = read_radio(path)
    assert image.pixel_scale_arcsec == pytest.approx(np.sqrt(6.0))


def test_image_in_extension_and_hdu_choice(tmp_path: Path) -> None:
    path = twins.image_in_extension(tmp_path / "ext.fits")
    image = read_radio(path)
    assert image.shape == (12, 14)
    np.testing.assert_array_equal(image.data, astropy_pixels(path, 2))
    assert read_radio(path, hdu="RADIO").shape == (12, 14)
    with pytest.raises(FitsFormatError, match=r"is a BinTableHDU, expected an image HDU") as info:
        read_radio(path, hdu=1)
    assert info.value.hdu == 1
    with pytest.raises(FitsFormatError, match=r"HDU 7 does not exist.*2 'RADIO' ImageHDU"):
        read_radio(path, hdu=7)
    with pytest.raises(FitsFormatError, match="has no 2-D image") as info:
        read_radio(path, hdu=0)
    assert info.value.keyword == "NAXIS"


@pytest.mark.parametrize("writer", [twins.empty_primary, twins.table_only])
def test_empty_hdu(tmp_path: Path, writer) -> None:
    path = writer(tmp_path / "empty.fits")
    with pytest.raises(FitsFormatError) as info:
        read_radio(path)
    message = str(info.value)
    assert info.value.keyword == "NAXIS" and info.value.path == str(path)
    assert "no HDU holds a 2-D image" in message and "expected an image HDU" in message


@pytest.mark.parametrize("kind", sorted(twins.NOT_FITS))
def test_not_a_fits_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.fits"
    path.write_bytes(twins.NOT_FITS[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of astropy's may leak either
        with pytest.raises(FitsFormatError) as info:
            read_infrared(path)
    message = str(info.value)
    expected = {"html": "HTML", "png": "PNG", "empty": "empty file", "text": "starting with"}
    assert expected[kind] in message
    assert "Expected a FITS file" in message and "fits.info" in message
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)


def test_truncated_file(tmp_path: Path) -> None:
    full = twins.askap_vast_4d(tmp_path / "full.fits", size=64)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(full.read_bytes()[: 2 * 2880 + 100])
    for lazy in (False, True):
        with pytest.raises(FitsFormatError, match="corrupt or truncated"):
            read_radio(cut, lazy=lazy)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FitsFormatError, match="no such file") as info:
        read_radio(tmp_path / "nope.fits")
    assert info.value.path == str(tmp_path / "nope.fits")
    with pytest.raises(FitsFormatError, match="is a directory"):
        read_radio(tmp_path)
    with pytest.raises(FitsFormatError, match="expected a path"):
        read_radio(42)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------
# Memory mapping
# ----------------------------------------------------------------------------------------
def test_lazy_read_touches_no_pixels_and_eager_reads_one_plane(tmp_path: Path) -> None:
    size = 1024
    cube = np.zeros((4, size, size), np.float32)  # 16 MB on disk
    cube[2, 5, 7] = 3.0
    path = twins.write_raw_fits(
        tmp_path / "big.fits",
        cube,
        [
            *twins.simple_sin_cards(),
            ("CTYPE3", "FREQ"),
            ("CRVAL3", 1e9),
            ("CDELT3", 1e6),
            ("CRPIX3", 1.0),
        ],
    )
    del cube
    plane_bytes = size * size * 4
    tracemalloc.start()
    try:
        lazy = read_radio(path, lazy=True, plane=2)
        lazy_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        eager = read_radio(path, plane=2)
        eager_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert is_lazy(lazy) and not is_lazy(eager)
    assert lazy_peak < plane_bytes / 10  # only headers
    assert plane_bytes <= eager_peak < 1.5 * plane_bytes  # one plane, not the 4-plane cube
    assert lazy.data[5, 7] == 3.0 and eager.data[5, 7] == 3.0


def test_lazy_fallbacks_warn(tmp_path: Path) -> None:
    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = twins.write_raw_fits(
        tmp_path / "scaled.fits", raw, [*twins.simple_sin_cards(), ("BSCALE", 2.0)], bitpix=16
    )
    with expect_warnings("lazy=True but pixels are scaled"):
        image = read_radio(path, lazy=True)
    assert not is_lazy(image) and image.data[2, 3] == 22.0


# ----------------------------------------------------------------------------------------
# Round trips, constructors, header
# ----------------------------------------------------------------------------------------


def test_import_is_free_of_torch() -> None:
    code = (
        "import sys, napari_radiogal.io.fits, napari_radiogal.io.align; "
        "print(sorted(m for m in ('torch', 'napari', 'reproject') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------------------
# Fuzz: whatever the bytes, a FitsFormatError or an image, never another exception
# ----------------------------------------------------------------------------------------
_VALID_START = (
    fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 4), ("NAXIS2", 3)])
    .tostring()
    .encode()[: 5 * 80]
)


def _read_fuzzed(path: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = read_radio(path)
        except FitsFormatError:
            image = None
    foreign = [str(w.message) for w in caught if not issubclass(w.category, RadiogalWarning)]
    assert not foreign, foreign
    return image


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", b"SIMPLE  =                    T", _VALID_START]),
    garbage=st.binary(max_size=3000),
)
def test_fuzz_garbage_bytes(tmp_path_factory, prefix: bytes, garbage: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz", numbered=True) / "garbage.fits"
    path.write_bytes(prefix + garbage)
    image = _read_fuzzed(path)
    assert image is None or image.data.ndim == 2


_FLOATS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ctype1=st.sampled_from(["RA---SIN", "RA---TAN", "RA---NCP", "GLON-CAR", "Jy/beam", "", "X"]),
    ctype2=st.sampled_from(["DEC--SIN", "DEC--TAN", "DEC--NCP", "GLAT-CAR", "FREQ", "", "?"]),
    crpix=_FLOATS,
    crval2=st.floats(-95, 95),
    cdelt=_FLOATS,
    bmaj=st.one_of(
        _FLOATS, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=5)
    ),
    bpa=st.one_of(st.none(), _FLOATS),
    bunit=st.one_of(st.none(), st.text(alphabet="JjYy/BbEeAaMm kK", max_size=10)),
    extra=st.sampled_from([(), (1,), (3,), (1, 1), (2, 1)]),
)
def test_fuzz_header_values(
    tmp_path_factory, ctype1, ctype2, crpix, crval2, cdelt, bmaj, bpa, bunit, extra
) -> None:
    cards = [
        ("CTYPE1", ctype1),
        ("CTYPE2", ctype2),
        ("CRPIX1", crpix),
        ("CRPIX2", 2.0),
        ("CRVAL1", 10.0),
        ("CRVAL2", crval2),
        ("CDELT1", -cdelt),
        ("CDELT2", cdelt),
        ("BMAJ", bmaj),
        ("BMIN", 0.001),
    ]
    if bpa is not None:
        cards.append(("BPA", bpa))
    if bunit is not None:
        cards.append(("BUNIT", bunit))
    data = np.ones((*tuple(reversed(extra)), 3, 4), np.float32)
    path = tmp_path_factory.mktemp("hdr", numbered=True) / "h.fits"
    twins.write_raw_fits(path, data, cards)
    image = _read_fuzzed(path)
    if image is not None:
        assert image.shape == (3, 4) and image.data.dtype == np.float32
        assert image.wcs is None or image.wcs.naxis == 2
        assert image.beam is None or image.beam.major_deg >= image.beam.minor_deg > 0


def test_errors_are_our_classes() -> None:
    assert issubclass(FitsFormatError, RadiogalError) and issubclass(FitsFormatError, ValueError)


@pytest.mark.parametrize("kind", ["gzip", "tile-compressed"])
def test_compressed_files(tmp_path: Path, kind: str) -> None:
    header = fits.Header(twins.simple_sin_cards())
    cube = twins.gaussian_sources((30, 40), [(20, 15)], amplitude=0.05, noise=1e-3, seed=12)
    cube = np.stack([cube, 2 * cube])
    if kind == "gzip":
        path = tmp_path / "image.fits.gz"
        fits.PrimaryHDU(cube, header).writeto(path)
        tolerance = 0.0
    else:
        path = tmp_path / "image.fits.fz"
        compressed = fits.CompImageHDU(cube, header, quantize_level=64)
        fits.HDUList([fits.PrimaryHDU(), compressed]).writeto(path)
        tolerance = 1e-3 / 4  # quantisation noise of the default lossy float compression
    image = read_radio(path, plane=1)
    assert image.shape == (30, 40) and image.beam.pa_deg == 30.0
    np.testing.assert_allclose(image.data, cube[1], atol=tolerance, rtol=0)
    with expect_warnings("lazy=True but .* so the image plane was read into memory"):
        assert not is_lazy(read_radio(path, plane=1, lazy=True))
