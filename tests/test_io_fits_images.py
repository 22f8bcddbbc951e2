"""The image types and array helpers (napari_radiogal.io.fits.images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import _fits_twins as twins
from napari_radiogal.errors import InputImageError
from napari_radiogal.io.fits.images import (
    Beam,
    InfraredImage,
    RadioImage,
    as_float32,
    infrared_image_from_array,
    is_lazy,
    is_memory_mapped,
    radio_image_from_array,
)

ARCSEC = 1 / 3600


def test_from_array_constructors(tmp_path: Path) -> None:
    header = fits.Header(twins.simple_sin_cards())
    data = np.arange(20, dtype=np.float64).reshape(4, 5)
    radio = radio_image_from_array(data, header)
    assert radio.data.dtype == np.float32 and radio.shape == (4, 5)
    np.testing.assert_allclose(radio.beam, (12 * ARCSEC, 10 * ARCSEC, 30.0), rtol=1e-12)
    assert radio.unit == "Jy/beam"
    assert radio.pixel_scale_arcsec == pytest.approx(2.0) and radio.wcs.pixel_shape == (5, 4)
    plain = radio_image_from_array(data, WCS(header), beam=(0.01, 0.005, 0.0))
    assert plain.header["BMAJ"] == 0.01 and plain.header["NAXIS1"] == 5
    ir = infrared_image_from_array(data, WCS(header), unit="DN", magzp=20.5)
    assert ir.header["MAGZP"] == 20.5 and ir.magzp == 20.5
    direct = RadioImage(np.zeros((3, 3)), None)  # float64 in, float32 kept
    assert direct.data.dtype == np.float32 and direct.header["NAXIS1"] == 3
    with pytest.raises(InputImageError, match="2-D"):
        RadioImage(np.zeros((2, 3, 3), np.float32), None)
    assert "RadioImage(shape=(4, 5)" in repr(radio) and '12"x10"' in repr(radio)


def test_image_fields_are_completed_and_checked():
    w = WCS(fits.Header(twins.simple_sin_cards())).celestial
    image = InfraredImage(np.ones((4, 6), np.int16), w, unit="DN")
    assert image.data.dtype == np.float32 and image.pixel_scale_arcsec == pytest.approx(2.0)
    assert image.wcs.pixel_shape == (6, 4) and w.pixel_shape is None  # a copy got the shape
    assert image.header["NAXIS1"] == 6 and image.path is None
    cube = WCS(naxis=3)
    cube.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ"]
    assert RadioImage(np.zeros((2, 2)), cube).wcs.naxis == 2  # celestial part kept
    with pytest.raises(InputImageError, match="celestial"):
        RadioImage(np.zeros((2, 2)), WCS(naxis=3))
    with pytest.raises(InputImageError, match="astropy.wcs.WCS"):
        RadioImage(np.zeros((2, 2)), "RA---SIN")


def test_beam_area_and_arcsec():
    beam = Beam(15 * ARCSEC, 10 * ARCSEC, 30.0)
    assert beam.area_pixels(1.0) == pytest.approx(np.pi * 150 / (4 * np.log(2)))
    assert beam.to_arcsec() == pytest.approx((15.0, 10.0, 30.0))
    with pytest.raises(ValueError, match="> 0"):
        beam.area_pixels(0.0)


def test_as_float32_copies_into_native_float32():
    big_endian = np.arange(6, dtype=">f4").reshape(2, 3)
    out = as_float32(big_endian[:, ::2])
    assert out.dtype == np.dtype("float32") and out.dtype.isnative
    assert out.flags.c_contiguous and out.flags.owndata
    np.testing.assert_array_equal(out, [[0, 2], [3, 5]])
    plain = np.zeros((2, 2), np.float32)
    assert as_float32(plain) is not plain  # always a copy


def test_memory_mapped_views_are_lazy(tmp_path):
    path = tmp_path / "a.bin"
    np.arange(16, dtype=">f4").tofile(path)
    mapped = np.memmap(path, dtype=">f4", mode="r", shape=(4, 4))
    assert is_memory_mapped(mapped) and is_memory_mapped(mapped[1:3, ::2])
    image = RadioImage(mapped[1:3], None)
    assert is_lazy(image) and image.data.dtype == np.dtype(">f4")  # kept as in the file
    assert not is_memory_mapped(np.array(mapped))
    assert not is_lazy(radio_image_from_array(np.zeros((2, 2))))
