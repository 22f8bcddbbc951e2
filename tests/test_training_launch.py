"""training.launch: the command line of a run, its log reader, and real child processes."""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from pathlib import Path

import pytest
import yaml

from napari_radiogal.cli import build_parser
from napari_radiogal.commands.train import build_config
from napari_radiogal.training.config import TrainConfig
from napari_radiogal.training.launch import (
    OUTPUT_LOG,
    TRAIN_LOG,
    JsonlFollower,
    TrainProcess,
    TrainProgress,
    TrainRequest,
    classes_new_to_parent,
    error_line,
    read_stage_epochs,
)
from training_data import TINY_RECIPE, make_toy_dataset

# one epoch per stage, without DataLoader workers: a whole run takes a few seconds
TINY = (*TINY_RECIPE, "num_workers=0", "cam.epochs=1")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("toy")
    train = make_toy_dataset(root / "train", n=8, size=64, seed=0)
    val = make_toy_dataset(root / "val", n=4, size=64, seed=1, name="val")
    return train, val


def _parse(request: TrainRequest):
    return build_parser().parse_args(request.argv())


def _live_processes_of_group(pgid: int) -> list[int]:
    """Pids of the processes of a process group that are not zombies (Linux ``/proc``).

    A container's init may be slow to reap orphans: a zombie is dead, only not yet reaped.
    """
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # exited while we looked
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _wait(process: TrainProcess, timeout: float = 120.0) -> None:
    """Poll as the dock does until the child exits."""
    deadline = time.monotonic() + timeout
    while process.running:
        assert time.monotonic() < deadline, process.output()
        process.poll()
        time.sleep(0.1)
    process.poll()


# --- the command line ---------------------------------------------------------------------
def test_request_argv_is_the_cli_of_its_fields(tmp_path):
    request = TrainRequest(
        data=[tmp_path / "a.json", "firstgalaxydata:train"],
        out=tmp_path / "run",
        val=[tmp_path / "v.json"],
        init="default",
        config="finetune",
        epochs=3,
        device="cpu",
        name="mine",
        masks="reviewed",
        overrides=("cam.lr=0.005", "irn.radius=12"),
    )
    args = _parse(request)
    assert args.masks == "reviewed"
    assert args.command == "train"
    assert args.data == [tmp_path / "a.json", Path("firstgalaxydata:train")]
    assert args.out == tmp_path / "run" and args.val == [tmp_path / "v.json"]
    assert (args.init, args.config, args.epochs, args.device, args.name) == (
        "default",
        "finetune",
        3,
        "cpu",
        "mine",
    )
    assert args.overrides == ["cam.lr=0.005", "irn.radius=12"] and args.no_progress
    command = request.command("/opt/python")
    assert command[:3] == ["/opt/python", "-m", "napari_radiogal"]
    assert command[3:] == request.argv()


def test_request_defaults_leave_the_cli_defaults(tmp_path):
    args = _parse(TrainRequest(data=["a.json"], out="run", config=None, device="auto"))
    assert args.val is None and args.init is None and args.config is None
    assert args.epochs is None and args.name is None and args.overrides == []
    assert TrainRequest(data=["a.json"], out="run").command()[0] == sys.executable


def test_request_overrides_reach_the_train_config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)  # the recipe by name, as from a source checkout
    request = TrainRequest(data=["a.json"], out="run", init="first", epochs=2, overrides=TINY)
    config = build_config(_parse(request))
    expected = TrainConfig().with_overrides(TINY)
    assert config.init == "first" and config.cam.epochs == config.irn.epochs == 2
    assert config.irn.radius == expected.irn.radius == 5
    assert config.cam.crop_size == 64 and config.pseudo_labels.scales == (1.0,)


# --- reading the run folder ---------------------------------------------------------------
def test_follower_returns_complete_lines_once(tmp_path, caplog):
    path = tmp_path / TRAIN_LOG
    follower = JsonlFollower(path)
    assert follower.read() == []
    path.write_bytes(b'{"step": 1}\n\n{"step": 2}\n{"ste')
    assert follower.read() == [{"step": 1}, {"step": 2}]
    assert follower.read() == []
    with path.open("ab") as fh:
        fh.write(b'p": 3}\nnot json\n{"step": 4}\n')
    with caplog.at_level(logging.WARNING, logger="napari_radiogal.training.launch"):
        assert follower.read() == [{"step": 3}, {"step": 4}]
    assert "not JSON" in caplog.text
    assert follower.offset == path.stat().st_size


def test_progress_counts_epochs_and_keeps_validation_numbers():
    progress = TrainProgress(stage_epochs={"cam": 2, "recam": 1, "irn": 1})
    assert progress.text() == "Preparing the images…" and (progress.done, progress.total) == (0, 4)
    progress.update({"stage": "cam", "step": 1, "epoch": 1, "lr": 0.01, "loss": 0.69})
    assert progress.text() == "cam: epoch 1/2, step 1, loss 0.69"
    epoch = {
        "stage": "cam",
        "epoch": 1,
        "step": 2,
        "seconds": 0.26,
        "train_loss": 0.689,
        "val_loss": 0.6921,
        "val_accuracy": 0.75,
    }
    progress.update(epoch)
    progress.update({"stage": "recam", "step": 1, "epoch": 1, "loss": 1.02, "cls": 0.7})
    assert progress.done == 1 and progress.loss == 1.02 and progress.stage == "recam"
    assert progress.epochs == [epoch]
    assert progress.epoch_text(epoch) == (
        "cam 1/2: train loss 0.689, val loss 0.6921, val accuracy 75.0% (0.3 s)"
    )
    progress.update({**epoch, "epoch": 2})
    progress.update({**epoch, "epoch": 2})  # a resumed run may log an epoch again
    assert progress.finished == {"cam": 2} and progress.done == 2


def test_stage_epochs_from_the_run_config(tmp_path):
    assert read_stage_epochs(tmp_path) is None
    (tmp_path / "config.yaml").write_text("backbone: resnet18\ncam:\n  epochs: 3\n")  # half
    assert read_stage_epochs(tmp_path) is None
    (tmp_path / "config.yaml").write_text("cam: [unclosed\n")
    assert read_stage_epochs(tmp_path) is None
    config = TrainConfig().with_overrides(["cam.epochs=7", "recam.epochs=2", "irn.epochs=1"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    assert read_stage_epochs(tmp_path) == {"cam": 7, "recam": 2, "irn": 1}


def test_classes_new_to_parent_follow_the_init_matching(toy, tiny_weights, tmp_path):
    from napari_radiogal.classes import FIRST, RADIOGALAXYNET
    from napari_radiogal.errors import WeightsError

    train, val = toy
    # the tiny parent knows RadioGalaxyNET's classes; the toy files have their own
    assert classes_new_to_parent(tiny_weights, [train, val]) == ["single", "double"]
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"categories": FIRST.to_coco_categories()}))
    # FRI / FRII start from FR-I / FR-II (class_aliases); Compact and Bent are new
    assert classes_new_to_parent(tiny_weights, [first, "firstgalaxydata:train"]) == [
        "Compact",
        "Bent",
    ]
    same = tmp_path / "same.json"
    same.write_text(json.dumps({"categories": RADIOGALAXYNET.to_coco_categories()}))
    assert classes_new_to_parent(tiny_weights, [same]) == []
    with pytest.raises(WeightsError):
        classes_new_to_parent(tmp_path / "nope.safetensors", [same])
    with pytest.raises(FileNotFoundError):
        classes_new_to_parent(tiny_weights, [tmp_path / "missing.json"])


def test_error_line_is_the_last_error_of_the_cli():
    out = (
        "2026 INFO napari_radiogal: starting\n"
        "radiogal train: warning: something\n"
        "radiogal train: error: first\n"
        "radiogal train: error: --set cam.nope=1: unknown key\n"
    )
    assert error_line(out) == "--set cam.nope=1: unknown key"
    assert error_line("Traceback ...\nRuntimeError: boom\n") is None


# --- real child processes -----------------------------------------------------------------
@pytest.mark.slow
def test_a_tiny_run_finishes_with_progress_and_weights(toy, tmp_path):
    train, val = toy
    before = train.read_bytes(), val.read_bytes()
    run = TrainProcess(
        TrainRequest(data=[train], val=[val], out=tmp_path / "run", device="cpu", overrides=TINY),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert run.state == "not started" and run.weights is None
    run.start()
    assert run.state == "running"
    _wait(run)
    assert run.returncode == 0 and run.state == "finished", run.output()
    assert run.weights == tmp_path / "run" / "model.safetensors" and run.weights.is_file()
    assert run.progress.stage_epochs == {"cam": 1, "recam": 1, "irn": 1}
    assert run.progress.done == run.progress.total == 3
    assert [r["stage"] for r in run.progress.epochs] == ["cam", "recam", "irn"]
    assert 0.0 <= run.progress.epochs[0]["val_accuracy"] <= 1.0
    output = (tmp_path / "run" / OUTPUT_LOG).read_text()
    assert output.splitlines()[0] == f"$ {shlex.join(run.request.command())}"
    assert "weights written to" in output
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["classes"]["names"] == ["single", "double"]
    assert (train.read_bytes(), val.read_bytes()) == before
    with pytest.raises(FileExistsError, match="already holds a training run"):
        TrainProcess(run.request).start()


@pytest.mark.slow
def test_bad_inputs_fail_with_the_cli_message_and_touch_nothing(toy, tiny_weights, tmp_path):
    """A bad key, a missing file, a mask of the wrong size, a parent of another architecture."""
    train, val = toy
    coco = json.loads(train.read_text())
    coco["annotations"][0]["segmentation"]["size"] = [32, 32]  # the image is 64 x 64
    wrong_size = train.parent / "wrong_size.json"
    wrong_size.write_text(json.dumps(coco))
    inputs = (train, val, wrong_size, tiny_weights, tiny_weights.with_suffix(".json"))
    before = [p.read_bytes() for p in inputs]
    resnet34 = [o.replace("resnet18", "resnet34") for o in TINY]
    runs = {
        "bad key": dict(data=[train], val=[val], overrides=(*TINY, "cam.nope=1")),
        "missing": dict(data=[tmp_path / "nope.json"], overrides=TINY),
        "mask size": dict(data=[wrong_size], overrides=TINY),
        "architecture": dict(data=[train], init=str(tiny_weights), overrides=resnet34),
    }
    runs = {
        k: TrainProcess(TrainRequest(out=tmp_path / k, device="cpu", **r)).start()
        for k, r in runs.items()
    }
    for run in runs.values():
        _wait(run)
        assert run.returncode == 2 and run.state == "failed" and run.weights is None
        assert not (run.out / "model.safetensors").exists()
    assert "cam.nope" in runs["bad key"].error_message()
    assert "nope.json" in runs["missing"].error_message()
    assert "no such file" in runs["missing"].error_message()
    assert "wrong_size.json" in runs["mask size"].error_message()
    assert "32" in runs["mask size"].error_message()
    assert "backbone: resnet18" in runs["architecture"].error_message()
    assert [p.read_bytes() for p in inputs] == before


@pytest.mark.slow
def test_cancel_stops_the_child_and_its_workers(toy, tmp_path):
    train, _ = toy
    overrides = [*TINY, "num_workers=1", "cam.epochs=500"]  # long enough to be stopped
    run = TrainProcess(TrainRequest(data=[train], out=tmp_path / "run", overrides=overrides))
    run.start()
    deadline = time.monotonic() + 60
    while run.progress.step < 1:
        assert run.running and time.monotonic() < deadline, run.output()
        run.poll()
        time.sleep(0.1)
    run.cancel()
    assert run.wait(timeout=30) != 0
    assert run.state == "cancelled" and run.weights is None
    if sys.platform.startswith("linux"):
        time.sleep(0.5)
        assert _live_processes_of_group(run.pid) == []  # its DataLoader worker too


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_child_that_ignores_terminate_is_killed_after_the_grace(tmp_path):
    stubborn = tmp_path / "stubborn.sh"
    stubborn.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60\n")
    stubborn.chmod(0o755)
    run = TrainProcess(TrainRequest(data=["a.json"], out=tmp_path / "run"), python=str(stubborn))
    run.start()
    time.sleep(0.3)  # let the shell install its trap
    run.cancel(grace=0.5)
    time.sleep(0.3)
    run.poll()
    assert run.running  # SIGTERM ignored
    time.sleep(0.5)
    run.poll()  # past the grace: killed
    assert run.wait(timeout=5) == -9 and run.state == "cancelled"
