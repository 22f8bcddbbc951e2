"""Annotations <-> layer data, and the display helpers: no viewer, no Qt."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from napari_radiogal._napari._display import (
    contour_levels,
    data_to_world,
    layer_transform,
    radio_contrast_limits,
    zscale_limits,
)
from napari_radiogal._napari._layers import (
    INSTANCE_COLUMNS,
    ImageContext,
    contour_layer_data,
    data_fingerprint,
    dataset_to_layer_data,
    layers_to_dataset,
    measure_instances,
    pixel_to_sky,
)
from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import DISPLAY_COLORS, RADIOGALAXYNET
from napari_radiogal.errors import CocoFormatWarning

H, W = 40, 50


def _wcs(pix_arcsec: float = 2.0) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, -30.0]
    w.wcs.crpix = [W / 2 + 1, H / 2 + 1]
    w.wcs.cdelt = [-pix_arcsec / 3600, pix_arcsec / 3600]
    return w


def _dataset() -> CocoDataset:
    """An FR-II with two disjoint lobes (one instance), an FR-I, and an R without host."""
    lobes = np.zeros((H, W), bool)
    lobes[5:10, 5:10] = True
    lobes[5:10, 30:36] = True
    fr1 = np.zeros((H, W), bool)
    fr1[20:30, 10:20] = True
    r = np.zeros((H, W), bool)
    r[30:34, 40:44] = True
    instances = [
        Instance.from_mask(lobes, image_id=7, category_id=1, host=(20.0, 7.0), score=0.9, id=3),
        Instance.from_mask(fr1, image_id=7, category_id=2, host=(14.5, 25.0), score=0.4, id=5),
        Instance.from_mask(r, image_id=7, category_id=4, host=None, score=0.2, reviewed=True, id=9),
    ]
    record = ImageRecord(
        id=7, file_name="cut.fits", height=H, width=W, beam=(13 / 3600, 11 / 3600, 0.0)
    )
    return CocoDataset(images=[record], instances=instances, info={"model": {"name": "tiny"}})


def _ctx(radio=None) -> ImageContext:
    record = ImageRecord(
        id=7, file_name="cut.fits", height=H, width=W, beam=(13 / 3600, 11 / 3600, 0.0)
    )
    return ImageContext(record=record, wcs=_wcs(), pixel_scale_arcsec=2.0, radio=radio)


def test_layer_transform_puts_row_zero_at_the_bottom_in_arcsec():
    t = layer_transform((H, W), 2.0)
    world = data_to_world(np.array([[0, 0], [H - 1, 0]]), t)
    # napari draws world y downwards: row 0 (south) has the largest y, i.e. the bottom
    assert world[0, 0] > world[1, 0]
    assert world[1, 0] == 0.0
    assert t["units"] == ("arcsec", "arcsec")
    assert layer_transform((H, W), None)["scale"] == (-1.0, 1.0)


def test_layers_keep_multi_part_instances_classes_and_hosts():
    radio = np.full((H, W), 0.01, np.float32)
    (labels, lkw, ltype), (points, pkw, ptype) = dataset_to_layer_data(_dataset(), _ctx(radio))
    assert (ltype, ptype) == ("labels", "points")
    assert labels.dtype == np.int32 and labels.shape == (H, W)
    assert set(np.unique(labels)) == {0, 3, 5, 9}
    # the two lobes share label 3
    assert labels[7, 7] == labels[7, 33] == 3
    f = lkw["features"]
    assert list(f.columns) == ["index", *INSTANCE_COLUMNS]
    assert dict(zip(f["index"], f["class"], strict=True)) == {3: "FR-II", 5: "FR-I", 9: "R"}
    # label colours follow the class
    assert lkw["colormap"][3] == DISPLAY_COLORS["FR-II"]
    # points are (row, col) and carry the instance id
    assert points.shape == (2, 2)
    np.testing.assert_allclose(points[0], [7.0, 20.0])
    assert list(pkw["features"]["instance_id"]) == [3, 5]
    assert not pkw["features"]["orphan"].any()
    # flux = sum / beam area in pixels; the WCS gives host RA/Dec
    beam_px = np.pi * 13 * 11 / (4 * np.log(2)) / 4.0
    fr1 = f[f["index"] == 5].iloc[0]
    assert fr1["flux_jy"] == pytest.approx(100 * 0.01 / beam_px, rel=1e-5)
    ra, dec = pixel_to_sky(_wcs(), [14.5], [25.0])
    assert fr1["host_ra"] == pytest.approx(ra[0]) and fr1["host_dec"] == pytest.approx(dec[0])
    assert np.isnan(f[f["index"] == 9].iloc[0]["host_ra"])


def test_round_trip_gives_identical_masks_classes_hosts_and_flags():
    ds = _dataset()
    ctx = _ctx()
    (labels, lkw, _), (points, pkw, _) = dataset_to_layer_data(ds, ctx)
    back = layers_to_dataset(labels, lkw["features"], points, pkw["features"], ctx)
    assert back.info == ds.info
    assert [a.id for a in back.instances] == [3, 5, 9]
    for a, b in zip(ds.instances, back.instances, strict=True):
        assert np.array_equal(a.mask, b.mask)
        assert (a.category_id, a.host, a.reviewed) == (b.category_id, b.host, b.reviewed)
        assert a.score == pytest.approx(b.score)
    assert back.instances[0].host_ra is not None


def test_orphan_hosts_and_unknown_labels_survive_the_round_trip():
    ctx = _ctx()
    (labels, lkw, _), (points, pkw, _) = dataset_to_layer_data(_dataset(), ctx)
    labels = labels.copy()
    labels[0:3, 0:3] = 12  # painted with a fresh label: no features row
    pf = pkw["features"].copy()
    pf.loc[1, "orphan"] = True  # the FR-I host lost its instance
    back = layers_to_dataset(labels, lkw["features"], points, pf, ctx)
    new = [a for a in back.instances if a.id == 12][0]
    assert new.category_id == RADIOGALAXYNET.id_of_name(RADIOGALAXYNET.names[0])
    assert new.score is None and new.reviewed
    assert [a.host for a in back.instances if a.id == 5] == [None]
    assert back.images[0].extra["radiogal_orphan_hosts"] == [[14.5, 25.0]]  # (x, y)
    # ...and come back as orphan points
    ctx2 = _ctx()
    ctx2.record.extra.update(back.images[0].extra)
    _, (points2, pkw2, _) = dataset_to_layer_data(back, ctx2)
    assert pkw2["features"]["orphan"].tolist() == [False, True]
    np.testing.assert_allclose(points2[-1], [25.0, 14.5])  # (row, col)


def test_overlapping_masks_go_to_the_more_confident_instance():
    ds = _dataset()
    ds.instances[1] = Instance.from_mask(
        np.pad(np.ones((10, 12), bool), ((4, H - 14), (4, W - 16))),
        image_id=7,
        category_id=2,
        score=0.4,
        id=5,
    )
    with pytest.warns(CocoFormatWarning, match="two instances"):
        (labels, _, _), _ = dataset_to_layer_data(ds, _ctx())
    assert labels[7, 7] == 3  # score 0.9 beats 0.4


def test_wrong_mask_size_is_skipped_with_a_warning():
    ds = _dataset()
    ds.instances.append(Instance.from_mask(np.ones((5, 5), bool), image_id=7, category_id=1, id=11))
    with pytest.warns(CocoFormatWarning, match="skipped instance 11"):
        (labels, _, _), _ = dataset_to_layer_data(ds, _ctx())
    assert 11 not in labels


def test_measure_instances_size_and_missing_beam():
    labels = np.zeros((20, 20), np.int32)
    labels[5, 2:12] = 1  # 10 pixels in a row: 9 pixels between the outer pixel centres
    m = measure_instances(
        labels, [1, 2], radio=np.ones((20, 20)), beam=None, pixel_scale_arcsec=2.0
    )
    assert m[1]["size_arcsec"] == pytest.approx(18.0)
    assert np.isnan(m[1]["flux_jy"])  # no beam: no flux in Jy
    assert m[2]["area_px"] == 0


def test_contours_are_paths_at_n_sigma():
    yy, xx = np.mgrid[:H, :W]
    radio = np.exp(-((yy - 20) ** 2 + (xx - 25) ** 2) / 20.0).astype(np.float32)
    radio[0, 0] = np.nan
    paths, kw, kind = contour_layer_data(radio, 0.01, layer_transform((H, W), 2.0))
    assert kind == "shapes" and kw["shape_type"] == "path"
    assert len(paths) == len(kw["features"]["level_sigma"]) >= 3
    assert kw["features"]["level_sigma"][0] == 3.0
    assert kw["metadata"]["levels_jy_beam"][0] == pytest.approx(0.03)


def test_contrast_and_levels():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 1e-4, (64, 64)).astype(np.float32)
    img[30:34, 30:34] = 0.1
    img[0, :] = np.nan
    lo, hi = radio_contrast_limits(img, 1e-4)
    assert lo == pytest.approx(1e-4) and hi >= 1e-3
    zlo, zhi = zscale_limits(img)
    assert zlo < 0 < zhi
    assert zscale_limits(np.full((4, 4), np.nan)) == (0.0, 1.0)
    assert contour_levels(np.nan, 1.0).size == 0


def test_fingerprint_changes_with_content():
    a = np.zeros((5, 5), np.float32)
    fp = data_fingerprint(a)
    assert fp == data_fingerprint(a.copy())
    a[2, 2] = 1
    assert fp != data_fingerprint(a)


def test_torch_guard_blocks_triton_only_next_to_mesa_llvm(monkeypatch):
    import sys

    from napari_radiogal._napari import _torch_guard

    monkeypatch.delitem(sys.modules, "triton", raising=False)
    monkeypatch.setattr(_torch_guard, "mesa_llvm_loaded", lambda: False)
    _torch_guard.prepare_torch_import()
    assert sys.modules.get("triton", "absent") == "absent"
    monkeypatch.setattr(_torch_guard, "mesa_llvm_loaded", lambda: True)
    monkeypatch.setitem(sys.modules, "triton", None)  # restored after the test
    del sys.modules["triton"]
    _torch_guard.prepare_torch_import()
    assert "triton" in sys.modules and sys.modules["triton"] is None
    with pytest.raises(ImportError):
        import triton  # noqa: F401
