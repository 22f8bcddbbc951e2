"""Many FITS files: folders and globs expanded, radio paired with infrared by sky and name."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.pairing import ImagePair, expand_fits_inputs, pair_images


def _write(path, centre, *, kind, size=32, scale=2.0, wcs=True):
    header = fits.Header()
    if wcs:
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        w.wcs.crval = list(centre)
        w.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
        w.wcs.cdelt = [-scale / 3600, scale / 3600]
        header = w.to_header()
    if kind == "radio":
        header.update(BUNIT="Jy/beam", BMAJ=13 / 3600, BMIN=11 / 3600)
    else:
        header.update(MAGZP=20.5, TELESCOP="WISE")
    fits.PrimaryHDU(np.zeros((size, size), np.float32), header).writeto(path)
    return path


def test_folders_globs_and_files_expand_once_in_order(tmp_path):
    for name in ("b.fits", "a.fits.gz", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.fits").write_bytes(b"")
    got = expand_fits_inputs([tmp_path / "sub" / "c.fits", tmp_path, str(tmp_path / "*.fits")])
    assert [p.name for p in got] == ["c.fits", "a.fits.gz", "b.fits"]  # b only once
    with pytest.raises(ConfigError, match="matches no FITS"):
        expand_fits_inputs([str(tmp_path / "*.fts")])
    with pytest.raises(ConfigError, match="not a FITS file"):
        expand_fits_inputs([tmp_path / "notes.txt"])
    with pytest.raises(ConfigError, match="no such file"):
        expand_fits_inputs([tmp_path / "gone.fits"])
    with pytest.raises(ConfigError, match="holds no FITS"):
        expand_fits_inputs([_empty(tmp_path)])


def test_a_folder_without_fits_of_its_own_says_what_to_give_instead(tmp_path):
    data_set = tmp_path / "sky"
    for sub in ("radio", "ir", "annotations"):
        (data_set / sub).mkdir(parents=True)
    (data_set / "radio" / "a.fits").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"holds annotations/\): use --data .*sky"):
        expand_fits_inputs([data_set])
    (data_set / "annotations").rmdir()
    with pytest.raises(
        ConfigError, match=r"Sub-folders with FITS files: radio; give them instead: .*radio"
    ):
        expand_fits_inputs([data_set])
    # no FITS below either: the plain message
    with pytest.raises(ConfigError, match=r"holds no FITS file \(\.fits, \.fits\.gz \.\.\.\)\.$"):
        expand_fits_inputs([_empty(tmp_path)])


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_radio_images_get_the_infrared_image_that_covers_them(tmp_path):
    near = _write(tmp_path / "r1.fits", (150.0, 2.0), kind="radio")
    far = _write(tmp_path / "r2.fits", (151.0, 2.0), kind="radio")  # 1 deg away
    lonely = _write(tmp_path / "r3.fits", (200.0, -30.0), kind="radio")
    # a big W1 tile under r1 and r2, a small one centred on r2: r2 takes the nearer centre
    tile = _write(tmp_path / "tile.fits", (150.5, 2.0), kind="ir", size=1400, scale=2.75)
    small = _write(tmp_path / "w1_small.fits", (151.0, 2.0), kind="ir", size=40, scale=2.75)
    unused = _write(tmp_path / "other_w1.fits", (10.0, 10.0), kind="ir")
    pairs = pair_images([near, tile, far, small, lonely, unused])
    assert pairs == [ImagePair(near, tile), ImagePair(far, small), ImagePair(lonely, None)]


def test_images_without_a_wcs_pair_by_name(tmp_path):
    radio = _write(tmp_path / "J1234_radio.fits", (0, 0), kind="radio", wcs=False)
    ir = _write(tmp_path / "J1234_w1.fits", (0, 0), kind="ir", wcs=False)
    other = _write(tmp_path / "J9999.fits", (0, 0), kind="radio", wcs=False)
    assert pair_images([other, ir, radio]) == [ImagePair(other, None), ImagePair(radio, ir)]


def test_only_infrared_images_is_a_clear_error(tmp_path):
    ir = _write(tmp_path / "w1.fits", (0, 0), kind="ir")
    with pytest.raises(ConfigError, match="looks like a radio image.*--pairs"):
        pair_images([ir])


def test_a_pairs_table_says_it_explicitly(tmp_path):
    a = _write(tmp_path / "a.fits", (0, 0), kind="radio")
    b = _write(tmp_path / "b.fits", (5, 0), kind="radio")
    w = _write(tmp_path / "w.fits", (50, 0), kind="ir")  # no sky overlap: the table rules
    table = tmp_path / "pairs.csv"
    table.write_text("radio,ir\na.fits,w.fits\nb.fits,\n")
    assert pair_images([], pairs_csv=table) == [ImagePair(a, w), ImagePair(b, None)]
    table.write_text("image,infrared\na.fits,w.fits\n")
    with pytest.raises(ConfigError, match="columns 'radio' and 'ir'"):
        pair_images([], pairs_csv=table)
    table.write_text("radio,ir\na.fits,gone.fits\n")
    with pytest.raises(ConfigError, match="gone.fits"):
        pair_images([], pairs_csv=table)
