"""The FITS reader in a real viewer: north up, metadata, IR on the radio grid, errors, RA/Dec."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fits_helpers import DEC0, RA0, radio_image, radio_wcs, write_pair, write_radio

pytestmark = pytest.mark.gui


def _messages():
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


def test_radio_and_ir_open_aligned_and_north_up(make_napari_viewer, tmp_path):
    radio_path, ir_path = write_pair(tmp_path)
    viewer = make_napari_viewer()
    layers = viewer.open([str(radio_path), str(ir_path)], plugin="napari-radiogal")
    kinds = {layer.metadata["radiogal_kind"]: layer for layer in layers}
    radio, ir = kinds["radio"], kinds["infrared"]
    # additive blending: the composite does not depend on the order napari stacks them in
    assert radio.blending == ir.blending == "additive"
    assert radio.metadata["radiogal_kind"] == "radio" and ir.metadata["radiogal_kind"] == "infrared"
    # the array the model sees is the file's, unflipped (degenerate axes dropped)
    np.testing.assert_array_equal(radio.data, radio_image())
    meta = radio.metadata
    assert meta["unit"] == "Jy/beam"
    assert meta["beam"] == pytest.approx((13 / 3600, 11 / 3600, 0.0))
    assert 2e-5 < meta["noise_sigma"] < 4e-5
    assert meta["wcs"] is not None and meta["pixel_scale_arcsec"] == pytest.approx(2.0)
    # north up: FITS row 0 (south) is drawn at the bottom (largest world y)
    assert radio.scale[0] < 0 < radio.scale[1]
    assert radio.data_to_world((0, 0))[0] > radio.data_to_world((63, 0))[0]
    # NaN is blank (napari's default nan colour is transparent)
    assert np.isnan(radio.data[0, 0])
    # IR reprojected: same grid, same transform, the source lands where its RA/Dec says
    assert ir.data.shape == radio.data.shape
    np.testing.assert_allclose(ir.scale, radio.scale)
    np.testing.assert_allclose(ir.translate, radio.translate)
    assert ir.metadata["reprojected_onto"] == str(radio_path)
    x, y = radio_wcs().world_to_pixel_values(RA0, DEC0)
    peak = np.unravel_index(np.nanargmax(ir.data), ir.data.shape)
    assert abs(peak[0] - y) <= 1 and abs(peak[1] - x) <= 1
    lo, hi = radio.contrast_limits
    assert 0 < lo < hi


def test_ir_opened_after_the_radio_lands_on_its_grid(make_napari_viewer, tmp_path):
    radio_path, ir_path = write_pair(tmp_path)
    viewer = make_napari_viewer()
    viewer.open(str(radio_path), plugin="napari-radiogal")
    [ir] = viewer.open(str(ir_path), plugin="napari-radiogal")
    assert ir.data.shape == (64, 64)
    assert ir.metadata["reprojected_onto"] == str(radio_path)


def test_ir_opened_before_the_radio_is_moved_onto_its_grid(make_napari_viewer, tmp_path):
    radio_path, ir_path = write_pair(tmp_path)
    viewer = make_napari_viewer()
    viewer.open(str(ir_path), plugin="napari-radiogal")
    assert viewer.layers[0].data.shape == (100, 100)
    viewer.open(str(radio_path), plugin="napari-radiogal")
    irs = [lay for lay in viewer.layers if lay.metadata["radiogal_kind"] == "infrared"]
    assert len(irs) == 1 and irs[0].data.shape == (64, 64)
    assert irs[0].metadata["reprojected_onto"] == str(radio_path)


def test_bad_file_gives_a_notification_and_the_viewer_keeps_working(make_napari_viewer, tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_text("this is not a FITS file")
    viewer = make_napari_viewer()
    layers = viewer.open(str(bad), plugin="napari-radiogal")
    assert layers == []
    assert any("broken.fits" in m and "could not open" in m for m in _messages())
    # still usable
    radio_path = write_radio(tmp_path / "ok.fits", radio_image())
    assert len(viewer.open(str(radio_path), plugin="napari-radiogal")) == 1


def test_status_bar_shows_ra_dec_under_the_cursor(make_napari_viewer, tmp_path):
    radio_path, _ = write_pair(tmp_path)
    viewer = make_napari_viewer()
    [radio] = viewer.open(str(radio_path), plugin="napari-radiogal")
    x, y = radio_wcs().world_to_pixel_values(RA0, DEC0)
    viewer.cursor.position = tuple(radio.data_to_world((y, x)))
    viewer.mouse_over_canvas = True
    viewer.update_status_from_cursor()
    coords = viewer.status["coordinates"]
    assert "RA 10:00:00.00 Dec -30:00:00.0" in coords, coords


def test_reader_declines_other_files(tmp_path):
    from napari_radiogal._napari._reader import fits_kind, napari_get_reader

    (tmp_path / "x.json").write_text('{"foo": 1}')
    assert napari_get_reader(str(tmp_path / "x.json")) is None
    assert napari_get_reader(str(tmp_path / "x.png")) is None
    from astropy.io import fits

    h = fits.Header()
    assert fits_kind(fits.Header({"BUNIT": "Jy/beam"})) == "radio"
    assert fits_kind(fits.Header({"MAGZP": 20.5, "BUNIT": "DN"})) == "infrared"
    assert fits_kind(h, "unwise-w1-img-m.fits") == "infrared"


def test_sample_data_opens_the_demo_pair_aligned(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-radiogal", "radio-galaxy-cutout")
    kinds = {layer.metadata["radiogal_kind"]: layer for layer in layers}
    radio, ir = kinds["radio"], kinds["infrared"]
    assert ir.data.shape == radio.data.shape
    assert radio.metadata["path"].startswith(str(tmp_path))
    assert radio.metadata["beam"] is not None and radio.metadata["noise_sigma"] > 0
    # written once, reused afterwards
    from napari_radiogal._napari._sample_data import sample_paths

    before = [p.stat().st_mtime_ns for p in sample_paths()]
    assert [p.stat().st_mtime_ns for p in sample_paths()] == before


def test_a_large_image_opens_as_a_pyramid_of_views_of_its_memory_map(make_napari_viewer, tmp_path):
    """Above 2048 x 2048 px: memory-mapped, shown as strided views (nothing copied), and
    everything that reads pixels (the Segment widget, the status bar) gets level 0."""
    from napari_radiogal._napari._display import full_resolution
    from napari_radiogal._napari._widget_segment import layer_input
    from napari_radiogal.io.fits import is_lazy

    rng = np.random.default_rng(0)
    data = rng.normal(0, 3e-5, (2200, 2100)).astype(np.float32)
    data[1000:1010, 1500:1510] = 0.05  # a bright block the coarse levels still show
    path = write_radio(tmp_path / "big.fits", data)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-radiogal")
    assert layer.multiscale
    assert [lv.shape for lv in layer.data] == [(2200, 2100), (1100, 1050), (550, 525)]
    image = layer.metadata["image"]
    assert is_lazy(image) and full_resolution(layer) is image.data
    for level in layer.data[1:]:
        assert np.shares_memory(level, image.data)  # views: no pixel read or copied
    np.testing.assert_array_equal(layer.data[2][250:253, 375:378], data[1000:1012:4, 1500:1512:4])
    assert (layer.data[2][250:253, 375:378] == np.float32(0.05)).all()
    # the pixels a run reads are the file's, at full resolution, untouched
    assert layer_input(layer) is image
    np.testing.assert_array_equal(layer_input(layer, copy=False).data, data)
    # the world transform is level 0's: a pixel keeps its place on the sky at every zoom
    assert layer.data_to_world((1005, 1505)) == pytest.approx(
        (layer.scale[0] * 1005 + layer.translate[0], layer.scale[1] * 1505 + layer.translate[1])
    )


def test_an_image_up_to_2048_squared_stays_one_plain_array(make_napari_viewer, tmp_path):
    data = np.zeros((2048, 2048), np.float32)
    data[::7, ::5] = 1e-3
    path = write_radio(tmp_path / "edge.fits", data)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-radiogal")
    assert not layer.multiscale and layer.data.shape == (2048, 2048)
