"""``radiogal predict`` on FITS files and on a simulated data set (tiny random model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from napari_radiogal.classes import RADIOGALAXYNET
from napari_radiogal.cli import main

FAST = ["--scales", "1,0.5", "--device", "cpu", "--no-progress"]


def _wcs(shape, scale_arcsec, proj):
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{proj}", f"DEC--{proj}"]
    w.wcs.crval = [320.0, -55.0]
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return w


@pytest.fixture
def fits_pair(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    radio = rng.normal(0, 30e-6, (64, 64)) + 4e-3 * np.exp(-((yy - 30) ** 2 + (xx - 25) ** 2) / 18)
    header = _wcs((64, 64), 2.0, "SIN").to_header()
    header.update(BUNIT="Jy/beam", BMAJ=13 / 3600, BMIN=11 / 3600, BPA=10.0)
    fits.PrimaryHDU(radio.astype(np.float32), header).writeto(tmp_path / "field.fits")
    ir = 100 + rng.normal(0, 1, (100, 100))
    ir_header = _wcs((100, 100), 1.375, "TAN").to_header()
    ir_header["MAGZP"] = 20.5
    fits.PrimaryHDU(ir.astype(np.float32), ir_header).writeto(tmp_path / "w1.fits")
    return tmp_path / "field.fits", tmp_path / "w1.fits"


def test_predict_one_image_writes_coco_catalogue_and_regions(
    tiny_weights, fits_pair, tmp_path, capsys
):
    radio, ir = fits_pair
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(radio),
            "--ir",
            str(ir),
            "--model",
            str(tiny_weights),
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "on cpu" in captured.err and "field.json" in captured.out
    assert _visible(out) == [
        "field.cat.fits",
        "field.crtf",
        "field.ecsv",
        "field.json",
        "field.reg",
        "field.vot",
    ]
    coco = json.loads((out / "field.json").read_text())
    assert coco["info"]["model"]["name"] == "tiny-random"
    assert coco["info"]["parameters"]["inference"]["scales"] == [1.0, 0.5]
    assert {f["role"] for f in coco["info"]["input_files"]} == {"radio", "ir"}
    table = Table.read(out / "field.ecsv")
    assert len(table) == len(coco["annotations"]) and table["flux"].unit == "Jy"
    # a second run refuses to overwrite unless asked
    assert (
        main(["predict", str(radio), "--model", str(tiny_weights), "--out", str(out), *FAST]) == 2
    )
    assert "--overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                str(radio),
                "--model",
                str(tiny_weights),
                "--out",
                str(out),
                "--overwrite",
                "--formats",
                "json,ecsv",
                *FAST,
            ]
        )
        == 0
    )
    # the previous set is kept whole as NAME.bak; files of it not written again are retired
    assert _visible(out) == sorted(
        ["field.ecsv", "field.json"]
        + [f"field.{x}.bak" for x in ("cat.fits", "crtf", "ecsv", "json", "reg", "vot")]
    )


def _visible(folder):
    """The file names in a folder, without our hidden state (.radiogal/)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_predict_a_folder_pairs_radio_with_its_infrared_image(
    tiny_weights, fits_pair, tmp_path, capsys
):
    radio, ir = fits_pair
    second = tmp_path / "second"
    second.mkdir()
    with fits.open(radio) as hdul:  # the same image 10 deg away: no W1 covers it
        hdul[0].header["CRVAL1"] += 10.0
        hdul.writeto(second / "other.fits")
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(tmp_path),  # field.fits + w1.fits
            str(second / "*.fits"),
            "--model",
            str(tiny_weights),
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "2 radio images (1 with infrared)" in capsys.readouterr().out
    suffixes = ("json", "ecsv", "cat.fits", "vot", "reg", "crtf")
    combined = ["predictions.json", "catalogue.ecsv", "catalogue.fits", "catalogue.vot"]
    assert _visible(out) == sorted(
        [
            *combined,
            "regions.reg",
            "regions.crtf",
            *(f"{s}.{x}" for s in ("field", "other") for x in suffixes),
        ]
    )
    roles = {
        stem: {
            f["role"] for f in json.loads((out / f"{stem}.json").read_text())["info"]["input_files"]
        }
        for stem in ("field", "other")
    }
    assert roles == {"field": {"radio", "ir"}, "other": {"radio"}}
    per_image = sum(len(Table.read(out / f"{s}.ecsv")) for s in ("field", "other"))
    assert len(Table.read(out / "catalogue.ecsv")) == per_image


def test_predict_refuses_an_infrared_image_as_the_radio_one(fits_pair, capsys):
    assert main(["predict", str(fits_pair[1]), *FAST]) == 2
    err = capsys.readouterr().err
    assert "looks like a radio image" in err and "--pairs" in err


def test_predict_ir_with_several_radio_images_explains(fits_pair, tmp_path, capsys):
    radio, ir = fits_pair
    assert (
        main(["predict", str(radio), str(radio.with_name("w1.fits")), "--ir", str(ir), *FAST]) == 2
    )
    assert "--ir applies to a single radio image" in capsys.readouterr().err


def test_predict_a_simulated_data_set_for_evaluation(tiny_weights, tmp_path, capsys):
    from napari_radiogal.io.coco import read_coco
    from napari_radiogal.sky import write_dataset

    root = tmp_path / "sky"
    write_dataset(root, n=3, seed=5, only_split="test")
    gt = read_coco(root / "annotations" / "test.json")
    code = main(
        ["predict", "--data", str(root), "--model", str(tiny_weights), "--batch-size", "2", *FAST]
    )
    assert code == 0
    pred = read_coco(root / "predictions" / "predictions.json")
    assert [im.id for im in pred.images] == [im.id for im in gt.images]
    assert [im.file_name for im in pred.images] == [im.file_name for im in gt.images]
    assert pred.instances and all(a.score is not None for a in pred.instances)
    assert len(Table.read(root / "predictions" / "catalogue.ecsv")) == len(pred.instances)
    # the paper's protocol: classes taken from the ground truth
    out = tmp_path / "oracle"
    assert (
        main(
            [
                "predict",
                "--data",
                str(root / "annotations" / "test.json"),
                "--model",
                str(tiny_weights),
                "--oracle-classes",
                "--out",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    oracle = read_coco(out / "predictions.json")
    assert oracle.instances and gt.images
    for im in gt.images:
        truth = {a.category_id for a in gt.instances_of(im.id)}
        assert {a.category_id for a in oracle.instances_of(im.id)} <= truth


def test_predict_a_data_set_whose_images_are_not_fits_explains(tiny_weights, tmp_path, capsys):
    from napari_radiogal.annotations import CocoDataset, ImageRecord
    from napari_radiogal.io.coco import write_coco

    (tmp_path / "cutout.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    ds = CocoDataset(
        images=[ImageRecord(id=7, file_name="cutout.png", height=8, width=8)],
        scheme=RADIOGALAXYNET,
    )
    write_coco(tmp_path / "test.json", ds)
    code = main(["predict", "--data", str(tmp_path / "test.json"), "--model", str(tiny_weights)])
    assert code == 2
    err = capsys.readouterr().err
    assert "image 7 (cutout.png) names no FITS radio file" in err and "radio_file" in err
    assert not (tmp_path / "predictions").exists()  # nothing half-written


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "either radio images"),
        (["x.fits", "--data", "d"], "either radio images"),
        (["x.fits", "--oracle-classes"], "--oracle-classes needs --data"),
        (["--data", "nowhere"], "no such file"),
    ],
)
def test_predict_argument_errors(args, message, capsys):
    assert main(["predict", *args, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_predict_without_a_bundled_model_explains(monkeypatch, fits_pair, capsys, tmp_path):
    import napari_radiogal.models.weights as mw

    monkeypatch.setattr(mw, "default_weights_path", lambda: tmp_path / "default.safetensors")
    assert main(["predict", str(fits_pair[0]), "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "radiogal train" in capsys.readouterr().err


def test_predict_scales_that_are_not_numbers_say_so(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "x.fits", "--scales", "1,big"])
    assert exc.value.code == 2
    assert "scales must be numbers separated by commas" in capsys.readouterr().err


def test_missing_input_fails_before_the_model_loads_and_is_said_once(monkeypatch, tmp_path, capsys):
    import napari_radiogal.inference as inference

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(inference, "load_model", no_model)
    assert main(["predict", str(tmp_path / "nothing.fits"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("no such file") == 1 and "ERROR" not in err


def test_warnings_say_what_happened_not_where_in_our_code(tiny_weights, tmp_path):
    # a real process: pytest records warnings instead of displaying them
    import subprocess
    import sys

    rng = np.random.default_rng(1)
    fits.PrimaryHDU(rng.normal(0, 1e-4, (64, 64)).astype(np.float32)).writeto(tmp_path / "a.fits")
    args = ["-q", "predict", str(tmp_path / "a.fits"), "--model", str(tiny_weights)]
    run = subprocess.run(
        [sys.executable, "-m", "napari_radiogal", *args, "--out", str(tmp_path / "o"), *FAST],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "radiogal predict: warning: a.fits: BUNIT is missing" in run.stderr
    assert ".py:" not in run.stderr and "warnings.warn" not in run.stderr


def test_segment_takes_fits_paths_like_read_images(tiny_weights, fits_pair):
    from napari_radiogal.inference import InferenceConfig, segment
    from napari_radiogal.io.fits import read_infrared, read_radio

    radio, ir = fits_pair
    config = InferenceConfig(scales=(1.0, 0.5), device="cpu")
    by_path = segment(str(radio), ir, model=tiny_weights, config=config)
    by_image = segment(read_radio(radio), read_infrared(ir), model=tiny_weights, config=config)
    files = {f["role"]: f["path"] for f in by_path.provenance["input_files"]}
    assert files["radio"].endswith("field.fits") and files["ir"].endswith("w1.fits")
    assert [a.rle for a in by_path.instances] == [a.rle for a in by_image.instances]
    assert [a.host for a in by_path.instances] == [a.host for a in by_image.instances]
