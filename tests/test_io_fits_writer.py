"""Writing 2-D FITS files (napari_radiogal.io.fits.writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import _fits_twins as twins
from napari_radiogal.io.fits import read_infrared, read_radio
from napari_radiogal.io.fits.images import infrared_image_from_array
from napari_radiogal.io.fits.writer import write_fits


def test_write_fits_round_trip(tmp_path: Path) -> None:
    source = read_radio(twins.askap_vast_4d(tmp_path / "vast.fits", size=32))
    out = write_fits(source, tmp_path / "out.fits")
    again = read_radio(out)
    np.testing.assert_array_equal(again.data, source.data)
    assert again.beam == source.beam and again.frequency_hz == source.frequency_hz
    assert fits.getheader(out)["NAXIS"] == 2 and "CTYPE3" not in fits.getheader(out)
    xs, ys = np.array([0.0, 31.0, 11.7]), np.array([0.0, 31.0, 22.1])
    np.testing.assert_allclose(
        again.wcs.pixel_to_world_values(xs, ys), source.wcs.pixel_to_world_values(xs, ys)
    )
    with pytest.raises(FileExistsError):
        write_fits(source, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_write_fits_overwrites_and_drops_scaling_cards(tmp_path: Path) -> None:
    header = fits.Header(twins.simple_sin_cards())
    image = infrared_image_from_array(np.arange(12.0).reshape(3, 4), header, unit="DN", magzp=20.5)
    image.header["BSCALE"], image.header["BLANK"] = 2.0, -1  # stale cards of a source file
    path = write_fits(image, tmp_path / "ir.fits")
    assert write_fits(image, path, overwrite=True) == path
    written = fits.getheader(path)
    assert "BSCALE" not in written and "BLANK" not in written and written["BITPIX"] == -32
    again = read_infrared(path)
    np.testing.assert_array_equal(again.data, image.data)
    assert (again.unit, again.magzp) == ("DN", 20.5)


def test_an_image_built_without_a_header_writes_its_beam_and_unit(tmp_path):
    """RadioImage(data, wcs, beam=...) written and read back keeps the beam and unit."""
    import numpy as np
    from astropy.wcs import WCS

    from napari_radiogal.io.fits import Beam, RadioImage, read_radio, write_fits

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    w.wcs.crval = [150.0, 2.0]
    beam = Beam(13 / 3600, 11 / 3600, 30.0)
    image = RadioImage(np.zeros((32, 32), np.float32), w, beam=beam)
    back = read_radio(write_fits(image, tmp_path / "a.fits"))
    assert back.beam == pytest.approx(beam)
    assert back.unit == "Jy/beam"
