"""Survey building blocks on tiny synthetic data: catalogues, windows, consolidation, manifest."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from napari_radiogal.errors import ConfigError
from napari_radiogal.inference.inputs import image_pixels
from napari_radiogal.inference.windows import (
    PlacedMask,
    WindowDetection,
    centrality,
    merge_windows,
)
from napari_radiogal.io.geometry import Window
from napari_radiogal.survey import (
    Manifest,
    assign_components,
    consolidate,
    overlap_groups,
    read_components,
)
from napari_radiogal.survey.manifest import plan_key
from napari_radiogal.survey.windows import blind_windows, catalogue_windows


# ---- component catalogues --------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "suffix"),
    [
        (("ra_deg_cont", "dec_deg_cont", "flux_int", "component_id"), ".ecsv"),  # Selavy
        (("RA", "DEC", "Total_flux", "Source_id"), ".fits"),  # PyBDSF
        (("ra", "dec", "int_flux", "uuid"), ".vot"),  # Aegean
        (("RAJ2000", "DEJ2000", "S_int", "Name"), ".csv"),  # VizieR
    ],
)
def test_read_components_guesses_the_columns_of_each_finder(tmp_path, names, suffix):
    ra, dec, flux, ident = names
    path = tmp_path / f"cat{suffix}"
    Table({ra: [10.0, 11.0], dec: [-30.0, -31.0], flux: [1.0, 3.0], ident: ["a", "b"]}).write(
        path, format="votable" if suffix == ".vot" else None
    )
    c = read_components(path)
    assert c.ids.tolist() == ["a", "b"]
    assert c.ra.tolist() == [10.0, 11.0] and c.dec.tolist() == [-30.0, -31.0]
    assert c.flux.tolist() == [1.0, 3.0]


def test_read_components_named_columns_and_units(tmp_path):
    import astropy.units as u

    path = tmp_path / "cat.ecsv"
    t = Table({"pos_a": [1.0] * u.hourangle, "pos_d": [-30.0] * u.deg, "S": [2.0]})
    t.write(path)
    c = read_components(path, ra_column="pos_a", dec_column="POS_D", flux_column="s")
    assert c.ra.tolist() == pytest.approx([15.0])
    assert c.flux.tolist() == [2.0] and c.ids.tolist() == ["1"]
    with pytest.raises(ConfigError, match="no column 'nope'"):
        read_components(path, ra_column="nope", dec_column="pos_d")


def test_read_components_refuses_tables_without_positions_or_with_twin_ids(tmp_path):
    path = tmp_path / "cat.ecsv"
    Table({"x": [1.0], "y": [2.0]}).write(path)
    with pytest.raises(ConfigError, match="no recognisable RA/Dec columns.*--ra-column"):
        read_components(path)
    Table({"ra": [1.0, 2.0], "dec": [2.0, 3.0], "id": ["a", "a"]}).write(path, overwrite=True)
    with pytest.raises(ConfigError, match="not unique"):
        read_components(path)
    with pytest.raises(ConfigError, match="no such file"):
        read_components(tmp_path / "missing.ecsv")


# ---- windows ---------------------------------------------------------------------------
def test_catalogue_windows_share_a_window_and_stay_inside():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 999, size=(200, 2))
    wins, owner = catalogue_windows(xy, np.arange(200), 210, (1000, 1000), margin=40)
    assert len({(w.height, w.width) for w in wins}) == 1  # one shape: batchable
    assert len(wins) < 200
    for (x, y), k in zip(xy, owner, strict=True):
        w = wins[k]
        assert 0 <= w.row0 and w.row0 + w.height <= 1000 and 0 <= w.col0 <= 790
        assert w.col0 <= x <= w.col0 + w.width - 1 and w.row0 <= y <= w.row0 + w.height - 1
    assert [(w.row0, w.col0) for w in wins] == sorted((w.row0, w.col0) for w in wins)


def test_blind_windows_skip_blank_and_noise_only(tmp_path):
    from napari_radiogal.io.fits import radio_image_from_array

    rng = np.random.default_rng(1)
    data = rng.normal(0, 1, (300, 600)).astype(np.float32)
    data[:, :200] = np.nan  # blanked third
    data[150, 500] = 50.0  # one source on the right
    image = radio_image_from_array(data)
    wins, skipped = blind_windows(image, 200, 0, threshold=10.0)
    assert skipped["blank"] >= 1 and skipped["noise"] >= 1
    assert all(np.nanmax(image_pixels(image, w.slices)) > 10 for w in wins)
    assert any(w.col0 <= 500 < w.col0 + w.width and w.row0 <= 150 < w.row0 + 200 for w in wins)


# ---- consolidation ---------------------------------------------------------------------
def _random_detections(rng, n, shape=(400, 400), win=120, step=80):
    windows = [
        Window(r, c, win, win)
        for r in range(0, shape[0] - win + 1, step)
        for c in range(0, shape[1] - win + 1, step)
    ]
    out = []
    for _ in range(n):
        w = windows[rng.integers(len(windows))]
        h, wd = rng.integers(3, 40, size=2)
        r0 = int(rng.integers(w.row0, w.row0 + w.height - h + 1))
        c0 = int(rng.integers(w.col0, w.col0 + w.width - wd + 1))
        mask = rng.random((h, wd)) < 0.7
        out.append(
            WindowDetection(
                w, PlacedMask(r0, c0, mask), int(rng.integers(1, 3)), float(rng.random())
            )
        )
    return out


@pytest.mark.parametrize("seed", range(6))
def test_consolidate_equals_merge_windows_on_the_whole_list(seed):
    rng = np.random.default_rng(seed)
    dets = _random_detections(rng, 60)
    expected = merge_windows(dets, (400, 400), rank=centrality)
    got = consolidate(dets, (400, 400))
    key = lambda d: (d.mask.box, d.score, d.category_id, d.mask.mask.tobytes())  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected))
    # no pixel in two sources
    cover = np.zeros((400, 400), int)
    for d in got:
        cover += d.mask.to_array((400, 400))
    assert cover.max() <= 1


def test_a_source_seen_in_two_windows_is_one_row_from_the_more_central_view():
    m = np.ones((10, 10), bool)
    a = WindowDetection(Window(0, 0, 100, 100), PlacedMask(40, 60, m), 1, 0.9)
    b = WindowDetection(Window(0, 15, 100, 100), PlacedMask(40, 60, m), 1, 0.7)
    (only,) = consolidate([a, b], (100, 150))
    assert only.window == b.window  # centred in b, off-centre in a
    (by_score,) = consolidate([a, b], (100, 150), rank=lambda d: d.score)
    assert by_score.window == a.window


def test_one_lobe_seen_whole_does_not_beat_the_whole_double():
    lobe = np.ones((10, 10), bool)
    double = np.zeros((10, 70), bool)
    double[:, :10] = double[:, 60:] = True
    # window a sees the left lobe only (the right one lies outside), with a higher score
    a = WindowDetection(Window(0, 0, 100, 100), PlacedMask(45, 80, lobe), 1, 0.95)
    b = WindowDetection(Window(0, 65, 100, 100), PlacedMask(45, 80, double), 1, 0.6)
    (only,) = consolidate([a, b], (100, 300))
    assert only.mask.area == 200 and only.window == b.window


def test_overlap_groups_are_transitive_and_touching_boxes_separate():
    boxes = [(0, 0, 10, 10), (8, 8, 30, 30), (29, 29, 40, 40), (40, 40, 50, 50), (0, 300, 5, 305)]
    assert overlap_groups(boxes, cell=16) == [[0, 1, 2], [3], [4]]


def test_assign_components_never_gives_one_to_two_sources():
    rng = np.random.default_rng(3)
    dets = consolidate(_random_detections(rng, 80), (400, 400))
    xy = rng.uniform(-0.4, 399.4, size=(2000, 2))
    groups = assign_components(dets, xy)
    flat = np.concatenate(groups)
    assert len(flat) == len(set(flat.tolist())) > 0
    for det, idx in zip(dets, groups, strict=True):
        full = det.mask.to_array((400, 400))
        cols, rows = np.floor(xy[idx] + 0.5).astype(int).T
        assert full[rows, cols].all()


# ---- manifest --------------------------------------------------------------------------
def test_manifest_records_batches_and_refuses_another_plan(tmp_path):
    from napari_radiogal.annotations import CocoDataset, ImageRecord

    state = tmp_path / "state"
    m = Manifest(state, plan_key({"a": 1}), 2)
    assert not m.complete and not state.exists()  # nothing written until a batch is done
    m.record(1, CocoDataset(images=[ImageRecord(2, "window_000001", 5, 5)]))
    again = Manifest(state, plan_key({"a": 1}), 2)
    assert again.done == {1} and again.load(1).images[0].file_name == "window_000001"
    # a batch file that vanished is not taken as done
    again.batch_path(1).unlink()
    assert Manifest(state, plan_key({"a": 1}), 2).done == set()
    with pytest.raises(ConfigError, match="other inputs or options"):
        Manifest(state, plan_key({"a": 2}), 2)
