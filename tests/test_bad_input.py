"""Bad input and a hostile environment: our error (exit 2, one line), and nothing written.

Each table row is a command line (run through :func:`napari_radiogal.cli.main`) or a Python
call, the error expected (exit code 2 or one of our exception classes), a phrase of its
message, and the folder that must be left as it was (listing and modification times).
"""

from __future__ import annotations

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
