"""Bad input and a hostile environment: our error (exit 2, one line), and nothing written.

Each table row is a command line (run through :func:`napari_radiogal.cli.main`) or a Python
call, the error expected (exit code 2 or one of our exception classes), a phrase of its
message, and the folder that must be left as it was (listing and modification times).
"""

from __future__ import annotations

import errno
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_radiogal import errors
from napari_radiogal.cli import main
from napari_radiogal.training.checkpoint import load_checkpoint, load_model_state
from napari_radiogal.training.data import read_npz
from training_data import SCHEME, make_toy_dataset

TINY = ["--set", "backbone=resnet18", "--set", "cam.crop_size=64",
        "--set", "cam.scale_range=[1.0, 1.0]", "--set", "log_every_steps=1"]  # fmt: skip


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its modification time (empty: no folder)."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of ``radiogal ARGV``."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, phrase: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert phrase in lines[0], lines[0]
    assert "allow_pickle" not in err and "weights_only=False" not in err


# --- training run folders -----------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n=8, size=64, seed=0)


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory) -> Path:
    """A finished one-epoch CAM run (``--stage cam``), its cache outside the folder."""
    out = tmp_path_factory.mktemp("runs") / "run"
    cache = out.parent / "cache"
    code = main(
        ["train", "--data", str(toy), "--out", str(out), "--stage", "cam", "--device", "cpu",
         "--epochs", "1", "--batch-size", "4", "--no-progress", "--cache-dir", str(cache),
         *TINY]
    )  # fmt: skip
    assert code == 0
    return out


def train_argv(toy: Path, run: Path, *extra: str) -> list[str]:
    """The command line of ``run`` plus ``extra``."""
    return ["train", "--data", toy, "--out", run, "--stage", "cam", "--device", "cpu",
            "--epochs", "1", "--batch-size", "4", "--no-progress", "--cache-dir",
            run.parent / "cache", *TINY, *extra]  # fmt: skip


TRAIN_CASES = [
    ((), "already holds a training run"),
    (("--resume", "--set", "cam.lr=0.5"), "cam.lr: 0.01 -> 0.5"),
    (("--resume", "--set", "cam.lr=0.5"), "--allow-change cam.lr"),
    (("--resume", "--set", "backbone=resnet34"), 'backbone: "resnet18" -> "resnet34"'),
    (("--resume", "--allow-change", "cam.lrr"), "did you mean 'cam.lr'"),
    (("--resume", "--data", "missing.json"), "no such file"),
    (("--overwrite-run", "--data", "missing.json"), "no such file"),
    (("--overwrite-run", "--val", "missing.json"), "no such file"),
    (("--overwrite-run", "--set", "cam.lr=.nan"), "cam.lr: expected a finite number, got nan"),
    (("--overwrite-run", "--set", "cam.momentum=.inf"), "cam.momentum: expected a finite"),
]


@pytest.mark.parametrize("extra, phrase", TRAIN_CASES)
def test_train_refuses_and_leaves_the_run_alone(toy, run, extra, phrase, capsys):
    before = snapshot(run.parent)
    code, err = run_cli(train_argv(toy, run, *extra), capsys)
    assert_one_line_error(code, err, phrase)
    assert snapshot(run.parent) == before


def test_train_with_bad_data_writes_no_new_folder(toy, tmp_path, capsys):
    out = tmp_path / "new"
    code, err = run_cli(train_argv(toy, out, "--data", tmp_path / "missing.json"), capsys)
    assert_one_line_error(code, err, "no such file")
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_train_out_that_is_a_file(toy, tmp_path, capsys):
    _write(tmp_path / "taken", b"a file")
    before = snapshot(tmp_path)
    code, err = run_cli(train_argv(toy, tmp_path / "taken"), capsys)
    assert_one_line_error(code, err, "is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_resume_with_an_allowed_change_continues(toy, run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    argv = train_argv(toy, copy, "--resume", "--allow-change", "cam.epochs", "--epochs", "2")
    assert run_cli(argv, capsys)[0] == 0
    epochs = [
        r["epoch"] for r in map(json.loads, (copy / "train_log.jsonl").open()) if "epoch" in r
    ]
    assert torch.load(copy / "cam" / "last.pt", weights_only=True)["epoch"] == 2
    assert len(set(epochs)) == 2  # one epoch more, not a restart


def test_resume_runs_a_further_stage_with_its_own_settings(toy, run, tmp_path, capsys):
    """``--stage recam --resume`` after ``--stage cam``: a stage not started is free."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    argv = train_argv(toy, copy, "--resume", "--set", "recam.crop_size=64")
    argv[argv.index("--stage") + 1] = "recam"
    assert run_cli(argv, capsys)[0] == 0
    assert torch.load(copy / "recam" / "last.pt", weights_only=True)["epoch"] == 1
    argv[-1] = "recam.crop_size=48"  # now it has started
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "recam.crop_size: 64 -> 48")


def test_overwrite_run_starts_again_and_keeps_earlier_stages(toy, run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "recam").mkdir()
    shutil.copy(copy / "cam" / "last.pt", copy / "recam" / "last.pt")  # a later stage's
    old_log = (copy / "train_log.jsonl").read_text()
    assert run_cli(train_argv(toy, copy, "--overwrite-run"), capsys)[0] == 0
    assert not (copy / "recam" / "last.pt").exists()  # derived from the replaced CAM stage
    assert torch.load(copy / "cam" / "last.pt", weights_only=True)["epoch"] == 1
    new_log = (copy / "train_log.jsonl").read_text()
    assert new_log != old_log and len(new_log.splitlines()) == len(old_log.splitlines())


# --- checkpoints and caches: corrupt, foreign or of another architecture --------------------


class Foreign:
    """A class a weights-only load must refuse to rebuild."""


def _checkpoint(path: Path, drop: str | None = None) -> Path:
    from napari_radiogal.training.checkpoint import CHECKPOINT_KEYS, save_checkpoint

    ckpt = {k: 0 for k in CHECKPOINT_KEYS} | {"model": {"w": torch.zeros(2)}}
    ckpt.pop(drop, None)
    return save_checkpoint(path, ckpt)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


CHECKPOINT_CASES = [
    (lambda d: _write(d / "r.pt", np.random.default_rng(0).bytes(4096)), "cannot be read"),
    (lambda d: _write(d / "t.pt", b"epoch: 3\nmodel: resnet18\n"), "cannot be read"),
    (
        lambda d: _write(d / "g.pt", pickle.dumps({"model": Foreign()}, protocol=2)),
        "cannot be read",
    ),
    (lambda d: _checkpoint(d / "n.pt", drop="rng"), "lacks ['rng']"),
    (lambda d: _write(d / "z.pt", _checkpoint(d / "full.pt").read_bytes()[:900]), "cannot be read"),
]


@pytest.mark.parametrize("make, phrase", CHECKPOINT_CASES)
def test_bad_checkpoints_are_weights_errors(tmp_path, make, phrase):
    path = make(tmp_path)
    with pytest.raises(errors.WeightsError, match=phrase.replace("[", r"\[")) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "weights_only" not in str(info.value)


def test_checkpoint_of_another_architecture_names_its_backbone(tmp_path):
    from napari_radiogal.models import ModelConfig, build_model

    two = build_model(ModelConfig("resnet18", 2, 2), scheme=SCHEME)
    ckpt = {"model": two.state_dict(), "config": {"backbone": "resnet18"}}
    three = build_model(ModelConfig("resnet18", 3, 2), scheme=SCHEME)  # another channel list
    with pytest.raises(errors.WeightsError, match="made by a resnet18 run"):
        load_model_state(three, ckpt, tmp_path / "x.pt")


def _pickled_npz(path: Path) -> Path:
    np.savez(path, channels=np.array([{"a": 1}], dtype=object))
    return path


def _truncated_npz(path: Path) -> Path:
    np.savez(path, channels=np.zeros((2, 8, 8), np.float32))
    return _write(path, path.read_bytes()[:200])


NPZ_CASES = [
    (lambda d: _write(d / "junk.npz", b"\x00" * 64), ["channels"]),
    (_pickled_npz, ["channels"]),
    (_truncated_npz, ["channels"]),
    (lambda d: _write(d / "empty.npz", b""), None),
]


@pytest.mark.parametrize("make, keys", NPZ_CASES)
def test_corrupt_caches_are_storage_errors_that_say_delete(tmp_path, make, keys):
    path = make(tmp_path / "c.npz") if make in (_pickled_npz, _truncated_npz) else make(tmp_path)
    with pytest.raises(errors.StorageError, match="delete it") as info:
        read_npz(path, keys, fix="delete it")
    assert str(path) in str(info.value) and "allow_pickle" not in str(info.value)


def test_a_cache_file_missing_an_array_is_incomplete(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, islands=np.zeros((4, 4), bool))
    with pytest.raises(errors.StorageError, match="KeyError"):
        read_npz(path, ["channels"], fix="delete it")
    with zipfile.ZipFile(path) as z:  # what was there is still readable
        assert z.namelist() == ["islands.npy"]


# --- COCO files, evaluate, predict: our error before any work -------------------------------


def _coco(tmp_path: Path, **changes) -> Path:
    """A one-image COCO file, ``changes`` = {"images[0].beam": value, ...} applied."""
    coco = {
        "images": [{"id": 1, "file_name": "a.fits", "height": 8, "width": 8,
                    "beam": [0.004, 0.003, 0.0], "noise_sigma": 3e-5}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]], "score": 0.9,
                         "host_ra": 10.0, "host_dec": -5.0}],
        "categories": [{"id": 1, "name": "FR-II"}],
    }  # fmt: skip
    for where, value in changes.items():
        section, index, key = where.replace("[", ".").replace("]", "").split(".")
        coco[section][int(index)][key] = value
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    return path


COCO_CASES = [
    ({"images[0].beam": ["wide", 0.003, 0.0]}, "images[0].beam] expected a number, got 'wide'"),
    ({"images[0].noise_sigma": "low"}, "images[0].noise_sigma] expected a number"),
    ({"annotations[0].host_ra": "ten"}, "annotations[0].host_ra] expected a number"),
    ({"annotations[0].host_dec": [1]}, "annotations[0].host_dec] expected a number"),
    ({"annotations[0].iscrowd": "yes"}, "annotations[0].iscrowd] expected an integer"),
    # found by tests/test_fuzz_readers.py: other exceptions, or no return at all
    ({"images[0].height": 10**400}, "exceeds 2147483647 pixels a side"),
    ({"annotations[0].score": 10**400}, "annotations[0].score] expected a number"),
    ({"annotations[0].host_ra": 10**400}, "annotations[0].host_ra] expected a number"),
    ({"annotations[0].keypoints": [10**400, 1, 2]}, "keypoints must be numbers"),
    ({"annotations[0].segmentation": [[1, 1, 6, 1, 1e308, 6]]}, "lie on or near the 8x8 image"),
]


@pytest.mark.parametrize("changes, phrase", COCO_CASES)
def test_coco_fields_that_are_not_numbers_name_the_field(tmp_path, changes, phrase, capsys):
    path = _coco(tmp_path, **changes)
    before = snapshot(tmp_path)
    code, err = run_cli(["evaluate", "--gt", path, "--pred", path], capsys)
    assert_one_line_error(code, err, phrase)
    assert snapshot(tmp_path) == before


def test_the_coco_file_of_the_table_is_valid(tmp_path):
    from napari_radiogal.io.coco import read_coco

    (instance,) = read_coco(_coco(tmp_path)).instances
    assert instance.host_ra == 10.0 and instance.score == 0.9


def _binary(d: Path) -> Path:
    return _write(d / "pred.json", bytes(range(256)) * 4)


def _folder(d: Path) -> Path:
    (d / "predictions").mkdir()
    return d / "predictions"


@pytest.mark.parametrize(
    "make, phrase", [(_binary, "not UTF-8 text"), (_folder, "is a folder, not a COCO JSON file")]
)
def test_evaluate_pred_that_is_no_json_file(tmp_path, make, phrase, capsys):
    pred, gt = make(tmp_path), _coco(tmp_path)
    before = snapshot(tmp_path)
    code, err = run_cli(["evaluate", "--gt", gt, "--pred", pred], capsys)
    assert_one_line_error(code, err, phrase)
    assert str(pred) in err and snapshot(tmp_path) == before


def test_a_full_disk_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    import napari_radiogal.io.atomic as atomic

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "atomic_write_text", full)
    gt = _coco(tmp_path)
    argv = ["evaluate", "--gt", gt, "--pred", gt, "--json", tmp_path / "scores.json"]
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "scores.json: No space left on device; free some space")
    assert not (tmp_path / "scores.json").exists()


def test_other_system_errors_stay_tracebacks(monkeypatch):
    """Only errors the environment causes become one line: a bug must still show itself."""
    import napari_radiogal.commands.evaluate as command

    def broken(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(command, "run", broken)
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["evaluate", "--gt", "a.json", "--pred", "b.json"])


@pytest.fixture
def no_model(monkeypatch):
    """Inference must not start: the input was to be refused first."""
    import napari_radiogal.inference as inference

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(inference, "load_model", refuse)


def radio_header():
    """A celestial WCS, the beam and the unit: a radio image read without a warning."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], [32.5, 32.5], [-5e-4, 5e-4]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=0.004, BMIN=0.003, BPA=0.0)
    return header


@pytest.fixture
def radio_fits(tmp_path) -> Path:
    """A radio image read without a warning, and ``nowcs.fits`` beside it."""
    from astropy.io import fits

    data = np.random.default_rng(1).normal(0, 1e-4, (64, 64)).astype(np.float32)
    fits.PrimaryHDU(data, radio_header()).writeto(tmp_path / "field.fits")
    fits.PrimaryHDU(data).writeto(tmp_path / "nowcs.fits")
    return tmp_path / "field.fits"


PREDICT_CASES = [
    (["--beta", "nan"], "InferenceConfig.beta must not be NaN"),
    (["--score-threshold", "nan"], "InferenceConfig.score_threshold must not be NaN"),
    (["--class-threshold", "nan"], "InferenceConfig.class_threshold must not be NaN"),
    (["--hdu", "3"], "HDU 3 does not exist"),
    (["--hdu", "SCI"], "HDU 'SCI' does not exist"),
    (["--plane", "2"], "plane=2 requested but the image is 2-D"),
    (["--out", "{taken}"], "is a file, not a folder"),
    (["--out", "{taken}/sub"], "is a file, not a folder"),
    (["{nowcs}", "--require-wcs"], "Expected a celestial WCS"),
]


@pytest.mark.parametrize("extra, phrase", PREDICT_CASES)
def test_predict_refuses_before_inference(radio_fits, no_model, extra, phrase, capsys):
    folder = radio_fits.parent
    _write(folder / "taken", b"a file")
    extra = [e.format(taken=folder / "taken", nowcs=folder / "nowcs.fits") for e in extra]
    image = [] if extra[0].endswith(".fits") else [radio_fits]
    before = snapshot(folder)
    argv = ["predict", *image, "--device", "cpu", "--no-progress", "--out", folder, *extra]
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, phrase)
    assert snapshot(folder) == before


def _data_without(toy: Path, tmp_path: Path, member: str) -> Path:
    """A copy of the toy data set with one of its files removed; its COCO file."""
    root = tmp_path / "set"
    shutil.copytree(toy.parents[1], root)
    coco = json.loads((root / "annotations" / "train.json").read_text())
    (root / coco["images"][2][member]).unlink()
    return root / "annotations" / "train.json"


DATA_CASES = [
    ("radio_file", "images[2].radio_file] radio_file"),
    ("ir_file", "images[2].ir_file] ir_file"),
]


@pytest.mark.parametrize("member, phrase", DATA_CASES)
def test_predict_data_naming_a_missing_file_refuses_before_inference(
    toy, tmp_path, no_model, member, phrase, capsys
):
    coco = _data_without(toy, tmp_path, member)
    before = snapshot(tmp_path)
    code, err = run_cli(["predict", "--data", coco, "--model", "default", "--no-progress"], capsys)
    assert_one_line_error(code, err, phrase)
    assert "not found; the data set's paths are relative to its root" in err
    assert snapshot(tmp_path) == before


CARD_CASES = [
    (b"\x80\x81 binary", "is not UTF-8 text"),
    (b"[1, 2]", "got a list"),
    (b'{"format": Infinity}', "malformed weights card (OverflowError"),
]


@pytest.mark.parametrize("card, phrase", CARD_CASES)
def test_predict_with_a_broken_weights_card(radio_fits, card, phrase, capsys):
    folder = radio_fits.parent
    _write(folder / "bad.safetensors", b"")
    _write(folder / "bad.json", card)
    before = snapshot(folder)
    argv = ["predict", radio_fits, "--model", folder / "bad.json", "--out", folder / "out",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    code, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, phrase)
    assert str(folder / "bad.json") in err and snapshot(folder) == before


@pytest.mark.parametrize("text", ["x", "-1", "1,a", ""])
def test_predict_plane_that_is_no_index_is_an_argument_error(text, capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict", "x.fits", "--plane", text])
    assert info.value.code == 2 and "expected a plane index" in capsys.readouterr().err


def test_coco_height_and_width_must_match_the_fits_image(toy, tmp_path):
    from napari_radiogal.inference.inputs import inputs_from_coco
    from napari_radiogal.io.coco import read_coco

    root = tmp_path / "set"
    shutil.copytree(toy.parents[1], root)
    coco = json.loads((root / "annotations" / "train.json").read_text())
    coco["images"][1]["height"] = 60
    coco["annotations"] = [
        a for a in coco["annotations"] if a["image_id"] != coco["images"][1]["id"]
    ]
    path = root / "annotations" / "wrong.json"
    path.write_text(json.dumps(coco))
    items = inputs_from_coco(path, read_coco(path))
    assert next(items).radio.shape == (64, 64)  # the first image is right
    with pytest.raises(errors.CocoFormatError, match="is 64x64 .* says height 60, width 64"):
        next(items)


# --- which HDU holds the image ---------------------------------------------------------------


def _two_images(path: Path, primary: tuple[int, int] | None, extension=(64, 64)) -> Path:
    from astropy.io import fits

    header = radio_header()
    data = None if primary is None else np.ones(primary, np.float32)
    hdus = [fits.PrimaryHDU(data, header), fits.ImageHDU(np.zeros(extension, np.float32), header)]
    fits.HDUList(hdus).writeto(path)
    return path


def test_the_largest_image_hdu_is_read_and_said(tmp_path):
    from napari_radiogal.io.fits import read_radio

    path = _two_images(tmp_path / "thumb.fits", primary=(8, 8))
    with pytest.warns(errors.FitsFormatWarning, match="used HDU 1, the largest"):
        assert read_radio(path).shape == (64, 64)
    assert read_radio(path, hdu=0).shape == (8, 8)  # asked for: no warning


def test_an_empty_primary_hdu_needs_no_choice(tmp_path, recwarn):
    from napari_radiogal.io.fits import read_radio

    path = _two_images(tmp_path / "ext.fits", primary=None)
    assert read_radio(path).shape == (64, 64)
    assert not [w for w in recwarn if "the largest" in str(w.message)]


def test_equal_images_keep_the_first(tmp_path):
    from napari_radiogal.io.fits import read_radio

    path = _two_images(tmp_path / "two.fits", primary=(64, 64))
    with pytest.warns(errors.FitsFormatWarning, match="used HDU 0, the largest"):
        assert read_radio(path).data.max() == 1.0  # the primary's ones
