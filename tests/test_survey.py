"""``survey()`` end to end on a tiny simulated mosaic with the bundled model (CPU).

The mosaic is 2 x 2 simulated tiles (430 px); blind windows of 210 px overlapping by 40 px
give 9 windows, so every source is seen by two to four windows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from napari_radiogal.errors import ConfigError, FitsFormatError, InputImageError
from napari_radiogal.survey import OUTPUT_NAMES, survey

#: Settings the model card completes, as the CLI's options are (a mapping, not an
#: InferenceConfig, which would be used as it is), so CLI and API runs compare byte for byte.
CONFIG = {"device": "cpu", "window_overlap": 40}
COMPARED = (
    "catalogue",
    "catalogue_fits",
    "catalogue_votable",
    "regions",
    "regions_crtf",
    "windows",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    from napari_radiogal.sky.mosaic import write_mosaic

    return write_mosaic(tmp_path_factory.mktemp("mosaic"), 430, seed=1, border=5)


@pytest.fixture(scope="module")
def blind(mosaic, tmp_path_factory):
    out = tmp_path_factory.mktemp("blind")
    return survey(mosaic.radio, out, infrared=mosaic.infrared, config=CONFIG), out


def _bytes(out):
    return {k: (out / OUTPUT_NAMES[k]).read_bytes() for k in COMPARED}


def _truth_boxes(mosaic):
    from napari_radiogal.io.coco import read_coco

    truth = read_coco(mosaic.truth)
    offsets = {im.id: im.extra["window"][:2] for im in truth.images}
    out = []
    for a in truth.instances:
        x, y, w, h = a.bbox
        r0, c0 = offsets[a.image_id]
        out.append((x + c0, y + r0, w, h))
    return out


def test_blind_survey_writes_one_row_per_source(blind, mosaic):
    result, out = blind
    assert result.complete and result.plan.mode == "blind"
    assert len(result.plan.windows) == 9
    table = Table.read(out / "catalogue.ecsv")
    assert len(table) == result.n_sources >= 1
    batches = (out / "state" / "batches").glob("*.json")
    raw = sum(len(json.loads(p.read_text())["annotations"]) for p in batches)
    assert raw > len(table)  # sources were seen in several windows, kept once
    # every truth source is found, by exactly one catalogue row (centroid inside its box)
    for bx, by, bw, bh in _truth_boxes(mosaic):
        inside = (
            (table["x"] >= bx - 2)
            & (table["x"] <= bx + bw + 2)
            & (table["y"] >= by - 2)
            & (table["y"] <= by + bh + 2)
        )
        assert inside.sum() == 1
    assert list(table["source_id"]) == list(range(1, len(table) + 1))
    assert np.all(np.diff(table["ra"]) >= 0)
    assert np.isfinite(table["flux"]).all() and (table["flux"] > 0).all()
    assert np.isfinite(table["host_ra"]).all()
    # the same table in FITS and VOTable
    for name in ("catalogue.fits", "catalogue.vot"):
        other = Table.read(out / name)
        assert list(other["source_id"]) == list(table["source_id"])
        assert np.allclose(other["ra"], table["ra"])
    assert "polygon" in (out / "sources.reg").read_text()
    assert "poly" in (out / "sources.crtf").read_text()
    windows = json.loads((out / "windows.json").read_text())
    assert len(windows["annotations"]) == len(table)
    assert sorted(a["source_id"] for a in windows["annotations"]) == list(table["source_id"])
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["model"]["sha256"] == result.plan.model.sha256
    assert len(provenance["inputs"]["radio"]["sha256"]) == 64
    assert "date" not in table.meta["provenance"]


def test_masks_of_the_catalogue_are_disjoint(blind):
    from napari_radiogal.annotations import decode_rle

    _, out = blind
    windows = json.loads((out / "windows.json").read_text())
    offsets = {im["id"]: im["window"] for im in windows["images"]}
    cover = np.zeros((430, 430), int)
    for a in windows["annotations"]:
        r0, c0, h, w = offsets[a["image_id"]]
        cover[r0 : r0 + h, c0 : c0 + w] += decode_rle(a["segmentation"]).astype(int)
    assert cover.max() == 1


def test_catalogue_survey_gives_each_component_to_one_source(mosaic, tmp_path):
    result = survey(
        mosaic.radio,
        tmp_path,
        infrared=mosaic.infrared,
        components=mosaic.components,
        config=CONFIG,
    )
    table = Table.read(tmp_path / "catalogue.ecsv")
    assert result.plan.mode == "catalogue" and len(table) >= 1
    ids = " ".join(np.ma.filled(table["component_ids"], "")).split()
    assert len(ids) == len(set(ids)) > 0
    assert sum(table["n_components"]) == len(ids)
    assert set(ids) <= set(Table.read(mosaic.components)["component_id"])


def test_an_interrupted_survey_resumes_to_the_same_bytes(blind, mosaic, tmp_path):
    _, full = blind
    first = survey(mosaic.radio, tmp_path, infrared=mosaic.infrared, config=CONFIG, stop_after=1)
    assert not first.complete and first.batches_run == 1
    assert not (tmp_path / "catalogue.ecsv").exists()
    again = survey(mosaic.radio, tmp_path, infrared=mosaic.infrared, config=CONFIG)
    assert again.complete and again.batches_run == len(again.plan.batches) - 1
    assert _bytes(tmp_path) == _bytes(full)
    # a finished survey run again only rewrites the same files
    third = survey(mosaic.radio, tmp_path, infrared=mosaic.infrared, config=CONFIG)
    assert third.batches_run == 0 and _bytes(tmp_path) == _bytes(full)


def test_another_plan_in_the_same_folder_is_refused(blind, mosaic):
    _, out = blind
    with pytest.raises(ConfigError, match="other inputs or options"):
        survey(mosaic.radio, out, infrared=mosaic.infrared, config=CONFIG, n_sigma=7.0)


def test_dask_local_cluster_gives_the_single_process_bytes(blind, mosaic, tmp_path):
    pytest.importorskip("distributed")
    _, full = blind
    result = survey(mosaic.radio, tmp_path, infrared=mosaic.infrared, config=CONFIG, workers=2)
    assert result.complete
    assert _bytes(tmp_path) == _bytes(full)


# ---- bad input: our own error before any work, nothing written ----------------------------
def _assert_nothing_written(out):
    assert not out.exists() or not any(out.iterdir())


def test_catalogue_without_positions_is_refused(mosaic, tmp_path):
    cat = tmp_path / "cat.ecsv"
    Table({"x": [1.0], "y": [1.0]}).write(cat)
    with pytest.raises(ConfigError, match="RA/Dec"):
        survey(mosaic.radio, tmp_path / "out", components=cat, config=CONFIG)
    _assert_nothing_written(tmp_path / "out")


def test_components_off_the_mosaic_are_refused(mosaic, tmp_path):
    cat = tmp_path / "cat.ecsv"
    Table({"ra": [320.0, 10.0], "dec": [-55.0, 20.0], "id": ["in", "far"]}).write(cat)
    with pytest.raises(InputImageError, match="1 of the 2 components.*far"):
        survey(mosaic.radio, tmp_path / "out", components=cat, config=CONFIG)
    _assert_nothing_written(tmp_path / "out")


def test_mosaic_without_celestial_wcs_is_refused(tmp_path):
    path = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((300, 300), np.float32)).writeto(path)
    with pytest.raises(FitsFormatError):
        survey(path, tmp_path / "out", config=CONFIG)
    _assert_nothing_written(tmp_path / "out")


def test_infrared_elsewhere_on_the_sky_is_refused(mosaic, tmp_path):
    with fits.open(mosaic.infrared) as hdul:
        header = hdul[0].header.copy()
        data = np.zeros((100, 100), np.float32)
    header["CRVAL1"], header["CRVAL2"] = 100.0, 30.0
    header["NAXIS1"] = header["NAXIS2"] = 100
    far = tmp_path / "far.fits"
    fits.PrimaryHDU(data, header).writeto(far)
    with pytest.raises(InputImageError, match="does not overlap"):
        survey(mosaic.radio, tmp_path / "out", infrared=far, config=CONFIG)
    _assert_nothing_written(tmp_path / "out")


def test_unreachable_scheduler_is_refused(mosaic, tmp_path):
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        survey(mosaic.radio, tmp_path / "out", config=CONFIG, scheduler="tcp://127.0.0.1:9")
    _assert_nothing_written(tmp_path / "out")


# ---- the command line -----------------------------------------------------------------------
def test_cli_survey_and_dry_run(mosaic, blind, tmp_path, capsys):
    from napari_radiogal.cli import main

    _, full = blind
    radio, ir = str(mosaic.radio), str(mosaic.infrared)
    common = ["--device", "cpu", "--window-overlap", "40", "--no-progress"]
    assert main(["survey", radio, "--ir", ir, "--dry-run", *common]) == 0
    said = capsys.readouterr().out
    assert "blind survey" in said and "9 windows of 210 px" in said and "measured" in said
    out = tmp_path / "cli"
    assert main(["survey", radio, "--ir", ir, "--out", str(out), *common]) == 0
    assert "from 9 windows" in capsys.readouterr().out
    assert _bytes(out) == _bytes(full)


def test_cli_bad_catalogue_is_one_line_exit_2(mosaic, tmp_path, capsys):
    from napari_radiogal.cli import main

    cat = tmp_path / "cat.csv"
    Table({"a": [1.0], "b": [2.0]}).write(cat)
    out = tmp_path / "out"
    code = main(["survey", str(mosaic.radio), "--components", str(cat), "--out", str(out)])
    assert code == 2
    assert "no recognisable RA/Dec columns" in capsys.readouterr().err
    assert not out.exists()


def test_threads_are_part_of_the_plan(mosaic):
    from napari_radiogal.survey import plan_survey

    one = plan_survey(mosaic.radio, config=CONFIG, checksums=False)
    two = plan_survey(mosaic.radio, config=CONFIG, checksums=False, threads=2)
    assert (one.options["threads"], two.options["threads"]) == (1, 2)
    assert one.key != two.key
    assert one.windows == two.windows and len(one.batches) == 2


def test_local_cluster_workers_keep_glibcs_dynamic_mmap_threshold():
    # Dask's MALLOC_TRIM_THRESHOLD_=65536 made the NumPy stages 2.5-3x slower in a worker
    import os

    from napari_radiogal.survey.distributed import connect

    client, cluster = connect(workers=1, threads=1)
    try:
        environ = list(client.run(dict, os.environ).values())[0]
    finally:
        client.close()
        cluster.close()
    assert "MALLOC_TRIM_THRESHOLD_" not in environ
    assert environ.get("OMP_NUM_THREADS") == "1"  # Dask's thread limits are kept
