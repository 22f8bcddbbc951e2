"""Writing simulated data sets: ``radiogal simulate``, FITS headers, COCO files, determinism."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from astropy.io import fits

from napari_radiogal.cli import main
from napari_radiogal.errors import ConfigError
from napari_radiogal.io.coco import read_coco, resolve_image_path
from napari_radiogal.io.fits import read_infrared, read_radio
from napari_radiogal.sky import SkyConfig, simulate_cutout, split_sizes, write_cutout_fits
from napari_radiogal.sky.dataset import primary_classes, write_dataset
from napari_radiogal.stats import clipped_noise

SMALL = ["--size", "96", "--size-arcmin", "0.5:2.5", "--no-progress"]


def _files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_cli_writes_a_dataset_that_reads_back(tmp_path):
    out = tmp_path / "sky"
    assert main(["simulate", "--n", "10", "--seed", "3", "--out", str(out), *SMALL]) == 0
    names = sorted(p.name for p in (out / "annotations").glob("*.json"))
    assert names == ["test.json", "train.json", "val.json"]
    total_images = 0
    for name in ("train", "val", "test"):
        path = out / "annotations" / f"{name}.json"
        ds = read_coco(path)
        total_images += len(ds.images)
        assert ds.info["seed"] == 3 and ds.info["split"] == name
        assert ds.info["sky_config"]["size"] == 96
        assert SkyConfig.from_dict(ds.info["sky_config"]).size == 96
        assert set(ds.info["class_fractions"]) == {"FR-I", "FR-II", "FR-X", "R"}
        assert ds.info["software"]["name"] == "napari-radiogal"
        for record, instances in ds:
            radio_path = resolve_image_path(path, record, "radio_file")
            ir_path = resolve_image_path(path, record, "ir_file")
            assert radio_path.name.startswith("sky3_") and radio_path.exists()
            radio = read_radio(radio_path)
            ir = read_infrared(ir_path)
            assert radio.shape == (record.height, record.width) == (96, 96)
            assert record.noise_sigma == pytest.approx(clipped_noise(radio.data), rel=1e-4)
            assert radio.beam.major_deg == pytest.approx(13 / 3600)
            assert ir.magzp in (20.5, 22.5)
            for inst in instances:
                assert inst.host is not None and inst.category_id in (1, 2, 3, 4)
                assert inst.mask.shape == (96, 96) and inst.mask.any()
                # host_ra/dec agree with the host pixel through the FITS file's own WCS
                ra, dec = radio.wcs.pixel_to_world_values(*inst.host)
                assert ra == pytest.approx(inst.host_ra, abs=1e-6)
                assert dec == pytest.approx(inst.host_dec, abs=1e-6)
                assert "n_components" in inst.extra["sim"]
    assert total_images == 10


def test_same_seed_writes_byte_identical_files_and_workers_do_not_matter(tmp_path):
    args = ["--n", "3", "--seed", "11", *SMALL]
    assert main(["simulate", *args, "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", *args, "--out", str(tmp_path / "b")]) == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 3 + 3 + 3  # 3 cut-outs: train, val, test 1 each
    assert a == b
    write_dataset(tmp_path / "c", 3, 11, SkyConfig(size=96, size_arcmin=(0.5, 2.5)), workers=2)
    assert _files(tmp_path / "c") == a
    assert main(["simulate", "--n", "3", "--seed", "12", *SMALL, "--out", str(tmp_path / "d")]) == 0
    assert _files(tmp_path / "d") != a


def test_fits_headers_look_like_askap_and_wise(tmp_path):
    cut = simulate_cutout(np.random.default_rng(4), SkyConfig(size=64, unwise_fraction=0.0))
    cut2 = simulate_cutout(np.random.default_rng(5), SkyConfig(size=64, unwise_fraction=1.0))
    write_cutout_fits(cut, tmp_path / "r.fits", tmp_path / "allwise.fits")
    write_cutout_fits(cut2, tmp_path / "r2.fits", tmp_path / "unwise.fits")
    with fits.open(tmp_path / "r.fits") as hdul:
        h = hdul[0].header
        assert hdul[0].data.shape == (1, 1, 64, 64) and hdul[0].data.dtype == ">f4"
        assert (h["NAXIS"], h["CTYPE1"], h["CTYPE2"], h["CTYPE3"], h["CTYPE4"]) == (
            4,
            "RA---SIN",
            "DEC--SIN",
            "FREQ",
            "STOKES",
        )
        assert h["CRVAL3"] == 943.5e6 and h["BUNIT"] == "Jy/beam"
        assert {"BMAJ", "BMIN", "BPA"} <= set(h) and "DATE" not in h
    with fits.open(tmp_path / "allwise.fits") as hdul:
        h = hdul[0].header
        assert h["BUNIT"] == "DN" and h["MAGZP"] == 20.5
        assert abs(h["CDELT1"]) * 3600 == pytest.approx(1.375)
        assert h["CTYPE1"] in ("RA---SIN", "RA---TAN")
    with fits.open(tmp_path / "unwise.fits") as hdul:
        h = hdul[0].header
        assert "BUNIT" not in h and h["MAGZP"] == 22.5 and h["CTYPE1"] == "RA---TAN"
        assert h["CD1_1"] * 3600 == pytest.approx(-2.75) and "CDELT1" not in h
    radio = read_radio(tmp_path / "r.fits")
    assert np.array_equal(radio.data, cut.radio.data)
    assert radio.frequency_hz == pytest.approx(943.5e6)
    ir = read_infrared(tmp_path / "unwise.fits")
    assert ir.unit is None and ir.pixel_scale_arcsec == pytest.approx(2.75)
    # The host lands on the same sky position through either file's WCS.
    t = cut2.truth[0]
    ra, dec = read_radio(tmp_path / "r2.fits").wcs.pixel_to_world_values(*t.host)
    x, y = (float(v) for v in ir.wcs.world_to_pixel_values(ra, dec))
    x2, y2 = (float(v) for v in cut2.infrared.wcs.world_to_pixel_values(t.host_ra, t.host_dec))
    assert (x, y) == pytest.approx((x2, y2), abs=1e-6)


def test_splits_for_a_benchmark_drawn_with_two_seeds(tmp_path):
    root = tmp_path / "bench"
    assert (
        main(
            ["simulate", "--n", "3", "--seed", "1", "--split", "1:0:0", *SMALL, "--out", str(root)]
        )
        == 0
    )
    assert sorted(p.name for p in (root / "annotations").glob("*.json")) == ["train.json"]
    assert (
        main(
            [
                "simulate",
                "--n",
                "2",
                "--seed",
                "2",
                "--only-split",
                "test",
                *SMALL,
                "--out",
                str(root),
            ]
        )
        == 0
    )
    train = read_coco(root / "annotations" / "train.json")
    test = read_coco(root / "annotations" / "test.json")
    assert len(train.images) == 3 and len(test.images) == 2
    train_files = {im.radio_file for im in train.images}
    test_files = {im.radio_file for im in test.images}
    assert not train_files & test_files
    assert len(list((root / "radio").glob("*.fits"))) == 5
    assert test.info["seed"] == 2 and train.info["seed"] == 1
    assert split_sizes(10, (0.7, 0.1, 0.2)) == [7, 1, 2]
    assert sum(split_sizes(7, (1, 1, 1))) == 7
    # a tiny data set still gets every split the README's train command reads
    assert split_sizes(5, (0.7, 0.1, 0.2)) == [4, 0, 1]
    assert split_sizes(5, (0.7, 0.1, 0.2), at_least_one=True) == [3, 1, 1]
    assert split_sizes(2, (0.7, 0.1, 0.2), at_least_one=True) == [1, 0, 1]  # too few
    assert split_sizes(4, (1, 0, 1), at_least_one=True) == [2, 0, 2]


def test_class_mix_is_met_with_exact_quotas_per_split(tmp_path):
    config = SkyConfig(size=96, size_arcmin=(0.5, 2.5), second_source_fraction=0.0)
    primaries = primary_classes(config, [20, 0, 10], seed=4)
    assert len(primaries) == 30
    assert Counter(primaries[:20]) == {"FR-II": 8, "R": 5, "FR-I": 4, "FR-X": 3}
    paths = write_dataset(tmp_path, 20, 4, config, split=(1, 0, 0), balanced=True)
    info = read_coco(paths["train"]).info
    assert info["class_mix_requested"] == {"FR-II": 0.25, "FR-I": 0.25, "FR-X": 0.25, "R": 0.25}
    assert info["n_sources"] == 20
    for fraction in info["class_fractions"].values():
        assert fraction == pytest.approx(0.25, abs=0.1)
    assert info["intended_class_matched"] >= 0.8


def test_cli_options_reach_the_config_and_errors_are_clean(tmp_path, capsys):
    out = tmp_path / "o"
    assert (
        main(
            [
                "simulate",
                "--n",
                "2",
                "--seed",
                "0",
                "--out",
                str(out),
                *SMALL,
                "--easy",
                "--mix",
                "R=1",
                "--noise-ujy",
                "30",
                "--edge-fraction",
                "0.5",
                "--beam-pa-deg",
                "45",
            ]
        )
        == 0
    )
    info = json.loads((out / "annotations" / "train.json").read_text())["info"]
    cfg = info["sky_config"]
    assert cfg["noise_ujy"] == [30.0, 30.0] and cfg["edge_fraction"] == 0.5
    assert cfg["second_source_fraction"] == 0.0 and cfg["beam_pa_deg"] == 45.0
    assert cfg["class_mix"] == [["R", 1.0]]
    # --config takes a whole info block (or bare SkyConfig values)
    (tmp_path / "info.json").write_text(json.dumps(info))
    assert (
        main(
            [
                "simulate",
                "--n",
                "1",
                "--seed",
                "0",
                "--out",
                str(tmp_path / "p"),
                "--config",
                str(tmp_path / "info.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    again = json.loads((tmp_path / "p" / "annotations" / "train.json").read_text())["info"]
    assert again["sky_config"] == cfg
    capsys.readouterr()
    assert main(["simulate", "--n", "0", "--out", str(out)]) == 2
    assert "--n" in capsys.readouterr().err
    assert main(["simulate", "--n", "1", "--out", str(out), "--mix", "FR-III=1"]) == 2
    assert main(["simulate", "--n", "1", "--out", str(out), "--edge-fraction", "2"]) == 2
    with pytest.raises(ConfigError):
        write_dataset(out, 2, 0, only_split="holdout")
    with pytest.raises(SystemExit):
        main(["simulate", "--n", "1", "--out", str(out), "--split", "0.5:0.5"])
