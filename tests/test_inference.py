"""Model-free parts of inference: config, devices, random walk, clusters, masks, hosts, exports."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.errors import ConfigError
from napari_radiogal.inference import hosts, instances
from napari_radiogal.inference import random_walk as rw
from napari_radiogal.inference.config import InferenceConfig, config_fields
from napari_radiogal.inference.device import available_devices, resolve_device
from napari_radiogal.inference.prediction import Prediction, catalogue, instance_properties


# ---- config and devices ------------------------------------------------------------------
def test_config_defaults_are_the_documented_ones():
    cfg = InferenceConfig()
    assert cfg.scales == (1.0,) and cfg.flip is False
    assert cfg.mask_support == "whole_islands" and cfg.radio_weighting is True
    assert (cfg.beta, cfg.random_walk_steps, cfg.random_walk_radius) == (10.0, 256, 5)
    assert cfg.displacement_threshold == 2.5 and cfg.oracle_classes is False


def test_config_round_trips_and_lists_become_tuples():
    cfg = InferenceConfig(scales=[1.0, 2.0], flip=False, background_mode="fixed")
    assert cfg.scales == (1.0, 2.0)
    assert InferenceConfig.from_dict(cfg.to_dict()) == cfg
    assert hash(cfg) == hash(InferenceConfig.from_dict(cfg.to_dict()))


@pytest.mark.parametrize(
    "changes, word",
    [
        ({"scales": (0.5, 2.0)}, "1.0"),
        ({"device": "tpu"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"class_threshold": 1.5}, "class_threshold"),
        ({"background_mode": "otsu"}, "background_mode"),
        ({"mask_support": "islands"}, "mask_support"),
        ({"island_vote_fraction": -0.1}, "island_vote_fraction"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_config_rejects_bad_values_with_a_clear_message(changes, word):
    with pytest.raises(ConfigError, match=word):
        InferenceConfig().replace(**changes)


@pytest.mark.parametrize(
    "text, expected",
    [("1.0, 0.5", (1.0, 0.5)), ("1,0.5,1.5,2", (1.0, 0.5, 1.5, 2.0)), (" 1 ; 2 ,", (1.0, 2.0))],
)
def test_float_lists_parse_as_the_cli_and_the_form_type_them(text, expected):
    assert InferenceConfig.parse_float_list(text) == expected


def test_a_float_list_that_is_not_numbers_gives_an_example():
    with pytest.raises(ConfigError, match=r"scales must be numbers .* e\.g\. '1'; got '1, x'"):
        InferenceConfig.parse_float_list("1, x")


def test_every_config_field_has_help_for_a_gui_form():
    fields = config_fields()
    assert {f["name"] for f in fields} == set(InferenceConfig().to_dict())
    assert all(f["help"] for f in fields)
    device = next(f for f in fields if f["name"] == "device")
    assert device["choices"] == ("auto", "cpu", "cuda", "mps")


def test_resolve_device():
    import torch

    assert resolve_device("cpu") == torch.device("cpu")
    assert str(resolve_device("auto")).split(":")[0] == available_devices()[0]
    assert available_devices()[-1] == "cpu"
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda")


# ---- the stride-4 grid ---------------------------------------------------------------------
def test_upsample4_aligns_cell_centres_with_pixels_4i_plus_1_5():
    from napari_radiogal.inference.grid import upsample4

    i, j = np.mgrid[:4, :5]
    cells = (2.0 * i + 3.0 * j).astype(np.float32)[None]  # a plane: bilinear keeps it exactly
    up = upsample4(cells, (15, 19))
    assert up.shape == (1, 15, 19) and up.dtype == np.float32
    r, c = np.mgrid[:15, :19]
    plane = 2.0 * ((r + 0.5) / 4 - 0.5) + 3.0 * ((c + 0.5) / 4 - 0.5)
    inner = (slice(2, 13), slice(2, 18))  # between the first and last cell centres
    np.testing.assert_allclose(up[0][inner], plane[inner], atol=1e-5)
    assert upsample4(np.zeros((0, 4, 5)), (15, 19)).shape == (0, 15, 19)


def test_fit_to_grid_crops_and_edge_pads():
    import torch

    from napari_radiogal.inference.grid import fit_to_grid

    t = torch.arange(12.0).reshape(1, 3, 4)
    assert fit_to_grid(t, (2, 3)).tolist() == [[[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]]]
    padded = fit_to_grid(t, (4, 5))
    assert padded.shape == (1, 4, 5)
    assert padded[0, 3].tolist() == [8.0, 9.0, 10.0, 11.0, 11.0]


@pytest.mark.parametrize("input_size", [(70, 58), (35, 29), (140, 116)])
def test_cams_of_any_input_scale_land_on_the_images_stride4_grid(input_size):
    import torch

    from napari_radiogal.inference.grid import cams_to_stride4, grid_shape

    h16, w16 = -(-input_size[0] // 16), -(-input_size[1] // 16)
    flat = torch.full((2, 3, h16, w16), 0.25, dtype=torch.float16)
    out = cams_to_stride4(flat, input_size, (70, 58))
    assert out.shape == (2, 3, *grid_shape((70, 58))) == (2, 3, 18, 15)
    assert out.dtype == torch.float32 and torch.all(out == 0.25)


# ---- random walk ---------------------------------------------------------------------------
def test_offsets_and_paths_follow_irnet():
    halves = rw.half_offsets(5)
    assert len(halves) == 34  # 68 neighbours + self = 69 non-zeros per row
    assert (0, 0) not in halves and not set(halves) & {(-dy, -dx) for dy, dx in halves}
    for dy, dx in halves:
        path = rw.offset_path(dy, dx)
        assert (0, 0) in path and (dy, dx) in path


def test_transition_matrix_is_row_stochastic_with_symmetric_affinities():
    rng = np.random.default_rng(3)
    b = rng.random((9, 11)).astype(np.float32)
    p = rw.transition_matrix(b, beta=10, radius=5).toarray()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    a = p * (1.0 / np.diag(p))[:, None]  # undo D^-1 (self-affinity is 1)
    np.testing.assert_allclose(a, a.T, atol=1e-12)
    assert (np.count_nonzero(p, axis=1) <= 69).all()


@pytest.mark.parametrize("shape", [(12, 15), (7, 30)])
def test_sparse_walk_equals_the_authors_dense_matrix_power(shape):
    rng = np.random.default_rng(7)
    b = (rng.random(shape) ** 3).astype(np.float32)
    b[:, shape[1] // 2] = 0.95  # a strong edge
    maps = rng.random((4, *shape)).astype(np.float32) * (rng.random((4, *shape)) > 0.7)
    ours = rw.propagate(maps, b, beta=10.0, steps=256, radius=5)
    dense = rw.propagate_dense_reference(
        maps, b, beta=10.0, exp_times=8, radius=5, dtype=np.float64
    )
    np.testing.assert_allclose(ours, dense, atol=1e-6)
    background = 0.25 * dense.max()
    assert np.array_equal(
        instances.label_from_scores(ours, background),
        instances.label_from_scores(dense, background),
    )


def test_walk_only_averages_and_batches_give_identical_results():
    rng = np.random.default_rng(1)
    b1, b2 = rng.random((2, 10, 10)).astype(np.float32)
    m1 = rng.random((3, 10, 10)).astype(np.float32)
    m2 = rng.random((1, 10, 10)).astype(np.float32)
    single = rw.propagate(m1, b1)
    batch = rw.propagate_batch([m1, m2, np.zeros((0, 10, 10))], [b1, b2, b2])
    np.testing.assert_array_equal(batch[0], single)
    np.testing.assert_array_equal(batch[1], rw.propagate(m2, b2))
    assert batch[2].shape == (0, 10, 10)
    weighted = m1 * (1 - b1)
    assert single.max() <= weighted.max() + 1e-6 and single.min() >= -1e-7
    # zero steps: just the (1 - B) weighting
    np.testing.assert_allclose(rw.propagate(m1, b1, steps=0), weighted, rtol=1e-6)


def test_a_closed_wall_stops_the_walk():
    b = np.zeros((20, 20), np.float32)
    b[:, 10] = 1.0
    x = np.zeros((1, 20, 20), np.float32)
    x[0, 10, 3] = 1.0
    out = rw.propagate(x, b)
    assert out[0, :, 11:].max() < 1e-9
    assert out[0, :, :10].min() > 0


# ---- centroids, clusters, instance maps, masks ---------------------------------------------
def _two_basins(h=12, w=20):
    """Displacement towards (5, 4) on the left half and (6, 15) on the right half."""
    yy, xx = np.mgrid[:h, :w].astype(float)
    ty = np.where(xx < w / 2, 5.0, 6.0)
    tx = np.where(xx < w / 2, 4.0, 15.0)
    return np.stack([(ty - yy) * 0.6, (tx - xx) * 0.6])


def test_centroids_converge_and_cluster_per_basin():
    d = _two_basins()
    c = instances.refine_centroids(d, 300)
    left, right = c[:, :, :10], c[:, :, 10:]
    np.testing.assert_allclose(left[0], 5.0, atol=0.05)
    np.testing.assert_allclose(left[1], 4.0, atol=0.05)
    np.testing.assert_allclose(right[1], 15.0, atol=0.05)
    clusters = instances.cluster_centroids(c, d, 2.5)
    assert clusters.max() == 1
    assert (clusters[:, :10] == clusters[0, 0]).all() and (
        clusters[:, 10:] == clusters[0, -1]
    ).all()
    # vectorised over images: a batch gives the same centroids
    batch = instances.refine_centroids(np.stack([d, d[:, ::-1]]), 300)
    np.testing.assert_allclose(batch[0], c)


def test_centroids_that_miss_every_centre_join_the_nearest():
    d = np.zeros((2, 6, 6))
    d[:, :, 3:] = 5.0  # strong field on the right: those cells are no centre
    centroids = np.stack(np.mgrid[:6, :6]).astype(float)
    clusters = instances.cluster_centroids(centroids, d, 2.5)
    assert (clusters == 0).all()  # one region; off-region cells join it


def test_instance_maps_one_per_class_and_cluster():
    cams = np.zeros((3, 4, 4), np.float32)
    cams[0] = 1.0
    cams[2, :2] = 0.5
    clusters = np.zeros((4, 4), int)
    clusters[:, 2:] = 1
    weight = np.full((4, 4), 0.5, np.float32)
    maps, keys = instances.instance_maps(cams, np.array([0, 2]), clusters, weight)
    # class 2 is zero in neither cluster? it is 0.5 on rows 0-1 of both clusters
    assert keys.tolist() == [[0, 0], [0, 1], [2, 0], [2, 1]]
    np.testing.assert_allclose(maps[0][:, :2], 0.5)
    assert maps[0][:, 2:].max() == 0
    cams[2] = 0
    maps, keys = instances.instance_maps(cams, np.array([0, 2]), clusters)
    assert keys.tolist() == [[0, 0], [0, 1]]  # all-zero maps are dropped


def test_label_from_scores_background_and_blanked_pixels():
    scores = np.zeros((2, 3, 3))
    scores[0, 0, 0] = 0.9
    scores[1, 0, 0] = 0.5
    scores[1, 2, 2] = 0.3
    valid = np.ones((3, 3), bool)
    valid[2, 2] = False
    label = instances.label_from_scores(scores, 0.25, valid)
    assert label[0, 0] == 1 and label[2, 2] == 0 and label.sum() == 1
    assert instances.label_from_scores(scores, 0.25)[2, 2] == 2


def test_disjoint_lobes_stay_one_mask_and_specks_go():
    mask = np.zeros((20, 40), bool)
    mask[5:15, 2:10] = True
    mask[6:12, 30:36] = True
    mask[0, 20] = True  # one-pixel speck
    kept, n = instances.remove_fragments(mask, 0.02)
    assert n == 2 and kept[5:15, 2:10].all() and kept[6:12, 30:36].all() and not kept[0, 20]


def test_whole_islands_go_to_the_instance_holding_enough_of_them():
    islands = np.zeros((10, 30), np.int32)
    islands[2:8, 0:10] = 1  # 60 px: instance 1 holds 40 (2/3)
    islands[2:8, 12:20] = 2  # 48 px: instance 2 holds 12 (1/4), instance 1 holds 6
    islands[2:4, 24:28] = 3  # 8 px: nobody
    label = np.zeros_like(islands)
    label[2:8, 0:6] = 1
    label[0, 0] = 1  # outside every island: never reassigned
    label[2:8, 12:14] = 2
    label[2:3, 14:20] = 1
    half = instances.assign_whole_islands(label, islands, 0.5)
    assert (half[islands == 1] == 1).all() and half[0, 0] == 1
    # island 2 is held by nobody at 0.5: the walk's pixels stay as they were
    assert np.array_equal(half[islands == 2], label[islands == 2])
    assert (half[islands == 3] == 0).all()
    quarter = instances.assign_whole_islands(label, islands, 0.25)
    assert (quarter[islands == 2] == 2).all()  # 12 of 48 = 0.25 -> instance 2 takes it
    assert (quarter[islands == 3] == 0).all()  # an island with no instance pixel stays empty
    assert quarter.dtype == np.int32
    empty = instances.assign_whole_islands(np.zeros_like(label), islands)
    assert not empty.any()


def test_grid_to_pixel_is_centre_aligned():
    assert instances.grid_to_pixel(0) == 1.5 and instances.grid_to_pixel(2.0) == 9.5


# ---- hosts ---------------------------------------------------------------------------------
def test_host_is_the_subpixel_peak_of_cam_times_ir_inside_the_mask():
    cam = np.ones((30, 30))
    ir = np.zeros((30, 30))
    ir[10, 12] = ir[10, 13] = 5.0  # host between two pixels
    ir[25, 25] = 50.0  # brighter but outside the mask
    mask = np.zeros((30, 30), bool)
    mask[5:20, 5:20] = True
    x, y = hosts.ir_host(cam, ir, mask)
    assert (x, y) == pytest.approx((12.5, 10.0))
    assert hosts.ir_host(cam, ir, mask, subpixel=False) == (12.0, 10.0)


def test_no_host_when_ir_is_empty_or_negative_inside_the_mask():
    cam = np.ones((10, 10))
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    ir = np.full((10, 10), -0.375)  # the authors' normalised "empty" IR
    ir[8, 8] = 1.0
    assert hosts.ir_host(cam, ir, mask) is None
    ir[3, 3] = np.nan
    assert hosts.ir_host(cam, ir, mask) is None


def test_displacement_centre_in_pixels():
    centroids = np.zeros((2, 5, 5))
    centroids[0] = 2.0  # y
    centroids[1] = 3.0  # x
    cells = np.zeros((5, 5), bool)
    cells[1:3, 1:3] = True
    assert hosts.displacement_centre(centroids, cells) == (13.5, 9.5)
    assert hosts.displacement_centre(centroids, np.zeros((5, 5), bool)) is None


def _wcs(shape=(64, 64), scale_arcsec=2.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [320.0, -55.0]
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return w


def test_sky_position():
    w = _wcs()
    ra, dec = hosts.sky_position(w, 31.5, 31.5)  # CRPIX (1-based 32.5) is pixel 31.5
    assert (ra, dec) == pytest.approx((320.0, -55.0))
    assert hosts.sky_position(None, 1, 2) == (None, None)


# ---- Prediction and its exports ------------------------------------------------------------
def test_instance_properties_flux_is_beam_corrected():
    # an unresolved source of 2 Jy: a beam-shaped image whose peak is 2 Jy/beam
    bmaj = bmin = 10.0 / 3600  # 10" circular beam
    pix = 2.0
    sigma = 10.0 / pix / (2 * np.sqrt(2 * np.log(2)))
    yy, xx = np.mgrid[:80, :80]
    image = 2.0 * np.exp(-((yy - 40) ** 2 + (xx - 30) ** 2) / (2 * sigma**2))
    mask = image > 1e-4 * image.max()
    props = instance_properties(mask, image, beam=(bmaj, bmin, 0.0), pixel_scale_arcsec=pix)
    assert props["flux"] == pytest.approx(2.0, rel=1e-3)
    assert (props["x"], props["y"]) == pytest.approx((30.0, 40.0), abs=1e-6)
    assert props["las"] == pytest.approx(props["las_pix"] * pix)
    assert props["n_components"] == 1
    nobeam = instance_properties(mask, image, beam=None, pixel_scale_arcsec=pix)
    assert np.isnan(nobeam["flux"]) and np.isfinite(nobeam["peak_flux"])


def test_largest_angular_size_spans_both_lobes():
    mask = np.zeros((50, 50), bool)
    mask[20:25, 2:6] = True
    mask[20:25, 40:44] = True
    props = instance_properties(mask, None, pixel_scale_arcsec=2.0)
    assert props["las_pix"] == pytest.approx(np.hypot(41, 4))
    assert props["n_components"] == 2 and props["las"] == pytest.approx(2 * np.hypot(41, 4))


def _prediction(with_wcs: bool) -> Prediction:
    h, w = 64, 64
    radio = np.zeros((h, w), np.float32)
    lobes = np.zeros((h, w), bool)
    lobes[10:20, 5:15] = lobes[40:50, 45:55] = True
    radio[lobes] = 1e-3
    compact = np.zeros((h, w), bool)
    compact[30:34, 30:34] = True
    wcs = _wcs((h, w)) if with_wcs else None
    insts = [
        Instance.from_mask(
            lobes,
            image_id=3,
            category_id=1,
            score=0.8,
            host=(30.2, 29.7),
            host_ra=320.0,
            host_dec=-55.0,
            id=1,
            extra={"host_from": "ir", "found_by": "class map", "class_probability": 0.9},
        ),
        Instance.from_mask(
            compact,
            image_id=3,
            category_id=4,
            score=0.3,
            host=None,
            id=2,
            extra={"host_from": None, "found_by": "radio island", "class_probability": 0.4},
        ),
    ]
    record = ImageRecord(id=3, file_name="cut.fits", height=h, width=w)
    return Prediction(
        image=record,
        instances=insts,
        class_probabilities=np.array([0.9, 0.1, 0.1, 0.4]),
        wcs=wcs,
        beam=(13 / 3600, 11 / 3600, 0.0),
        pixel_scale_arcsec=2.0,
        radio=radio,
        provenance={
            "software": {"name": "napari-radiogal"},
            "model": {"name": "m", "sha256": "ab"},
        },
    )


def test_table_has_units_and_one_row_per_instance():
    table = _prediction(True).to_table()
    assert len(table) == 2
    assert table["flux"].unit == "Jy" and table["las"].unit == "arcsec"
    assert table["host_ra"].unit == "deg"
    assert list(table["class"]) == ["FR-II", "R"]
    assert table["n_components"][0] == 2 and table["host_from"][1] == "none"
    assert list(table["found_by"]) == ["class map", "radio island"]
    # measured on each mask's box: the same as on the whole image
    from napari_radiogal.inference.prediction import instance_properties

    p = _prediction(True)
    for row, inst in zip(table, p.instances, strict=True):
        whole = instance_properties(
            inst.mask, p.radio, beam=p.beam, pixel_scale_arcsec=p.pixel_scale_arcsec
        )
        for key in ("x", "y", "flux", "peak_flux", "las_pix", "area", "n_components"):
            assert row[key] == pytest.approx(whole[key], rel=1e-9), key
    assert np.isnan(table["host_ra"][1])
    assert table.meta["provenance"]["model"]["sha256"] == "ab"
    assert np.isfinite(table["ra"]).all()
    both = catalogue([_prediction(True), _prediction(False)])
    assert len(both) == 4 and np.isnan(both["ra"][2])


@pytest.mark.parametrize("with_wcs", [True, False])
def test_regions_one_polygon_per_part_and_a_host_point(with_wcs):
    regs = _prediction(with_wcs).to_regions()
    kinds = [type(r).__name__ for r in regs]
    frame = "Sky" if with_wcs else "Pixel"
    assert kinds.count(f"Polygon{frame}Region") == 3  # two lobes + the compact source
    assert kinds.count(f"Point{frame}Region") == 1
    assert regs[0].meta["text"].startswith("FR-II 0.80")


def test_write_makes_the_readable_set_atomically(tmp_path):
    from astropy.table import Table
    from regions import Regions

    from napari_radiogal.io.coco import read_coco

    pred = _prediction(True)
    paths = pred.write(tmp_path / "out", "cut")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name[0] != ".") == [
        "cut.cat.fits",
        "cut.crtf",
        "cut.ecsv",
        "cut.json",
        "cut.reg",
        "cut.vot",
    ]
    ds = read_coco(paths["coco"])
    assert [a.category_id for a in ds.instances] == [1, 4]
    assert ds.instances[0].host == pytest.approx((30.2, 29.7))
    np.testing.assert_array_equal(ds.instances[0].mask, pred.instances[0].mask)
    assert ds.info["model"]["sha256"] == "ab"
    table = Table.read(paths["catalogue"])
    assert len(table) == 2 and table["flux"].unit == "Jy"
    assert len(Regions.read(paths["regions"], format="ds9")) == 4


def test_label_image_numbers_instances_in_order():
    labels = _prediction(False).label_image()
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[12, 7] == 1 and labels[31, 31] == 2
