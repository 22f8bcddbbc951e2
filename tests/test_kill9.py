"""Killed runs: ``radiogal predict --data`` resumes, and SIGKILL at random moments of real
``radiogal predict``, ``radiogal train`` and export processes leaves whole output sets and
resumable runs.

The ``slow`` tests start real processes and kill each of them ``KILLS`` times, at moments
drawn with a fixed seed from the span of an uninterrupted run (measured first), counted
from when the process starts its work (a writer: when it holds the output folder's lock or
has published once; ``train``: from its start).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_radiogal.cli import main
from napari_radiogal.io.outputset import STATE_DIR, file_sha256, read_set_manifest, recover
from training_data import TINY_RECIPE, make_toy_dataset

FAST = ["--scales", "1,0.5", "--device", "cpu", "--no-progress"]
KILLS = 5
#: Lines of the text outputs that say when they were written (differ between any two runs).
_DATED = ("date_created", '"year"', "year:")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """Five 64 x 64 radio + IR cut-outs and their COCO file."""
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n=5, size=64, seed=2)


def _predict_argv(toy: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", "--data", str(toy), "--model", str(weights), "--batch-size", "2",
            "--out", str(out), *FAST, *extra]  # fmt: skip


def undated(path: Path) -> list[str]:
    """The lines of a text output that do not carry its writing time."""
    return [line for line in path.read_text().splitlines() if not any(d in line for d in _DATED)]


def assert_same_sets(a: Path, b: Path) -> None:
    """The combined sets of two ``predict --data`` runs hold the same results."""
    coco = []
    for folder in (a, b):
        d = json.loads((folder / "predictions.json").read_text())
        d["info"].pop("date_created")
        coco.append(d)
    assert coco[0] == coco[1]
    for name in ("catalogue.ecsv", "catalogue.vot", "regions.reg", "regions.crtf"):
        assert undated(a / name) == undated(b / name), name


def assert_sets_whole(folder: Path) -> int:
    """Recover ``folder`` as the next writer would; every set's files are those its record
    names (none mixed). Returns the number of sets."""
    recover(folder)
    sets = sorted((folder / STATE_DIR / "sets").glob("*.json"))
    for path in sets:
        record = read_set_manifest(folder, path.stem)
        for file, digest in {**record["files"], **record["backups"]}.items():
            assert file_sha256(folder / file) == digest, f"{file} is not of its set"
    assert not list((folder / STATE_DIR).glob("staging-*"))
    return len(sets)


# --- predict --data keeps what it finished ---------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL in-process: nothing catches it, nothing cleans up after it."""


class Batches:
    """``segment_batch`` counting its calls (their sizes), killed at call ``kill_at``."""

    def __init__(self, real):
        self.real, self.sizes, self.kill_at = real, [], None

    def __call__(self, images, **kwargs):
        self.sizes.append(kwargs["total"])
        if len(self.sizes) == self.kill_at:
            raise Killed
        return self.real(images, **kwargs)


@pytest.fixture
def batches(monkeypatch) -> Batches:
    import napari_radiogal.inference as inference
    from napari_radiogal.io import outputset

    counted = Batches(inference.segment_batch)
    monkeypatch.setattr(inference, "segment_batch", counted)
    monkeypatch.setattr(outputset, "discard", lambda staging: None)  # a kill cleans nothing
    return counted


def test_a_killed_predict_data_does_only_the_rest_and_writes_the_same_set(
    toy, tiny_weights, tmp_path, batches, capsys
):
    assert main(_predict_argv(toy, tiny_weights, tmp_path / "whole")) == 0
    assert batches.sizes == [2, 2, 1]  # batches of --batch-size images
    out = tmp_path / "out"
    batches.sizes, batches.kill_at = [], 3  # killed after 4 of 5 images
    with pytest.raises(Killed):
        main(_predict_argv(toy, tiny_weights, out))
    assert not (out / "predictions.json").exists()
    batches.sizes, batches.kill_at = [], None
    capsys.readouterr()
    assert main(_predict_argv(toy, tiny_weights, out)) == 0
    assert batches.sizes == [1]  # only the image left
    assert "resuming: 4 of 5 images were done by an earlier run" in capsys.readouterr().err
    assert_same_sets(tmp_path / "whole", out)
    assert not (out / STATE_DIR / "progress-predictions").exists()


def test_a_progress_record_of_another_run_is_not_used(toy, tiny_weights, tmp_path, batches):
    out = tmp_path / "out"
    batches.kill_at = 2
    with pytest.raises(Killed):
        main(_predict_argv(toy, tiny_weights, out))
    batches.sizes, batches.kill_at = [], None
    # another setting: the batch kept was made otherwise, so every image is done again
    assert main(_predict_argv(toy, tiny_weights, out, "--score-threshold", "0.2")) == 0
    assert batches.sizes == [2, 2, 1]


# --- SIGKILL at random moments -----------------------------------------------------------------


def _env() -> dict[str, str]:
    # one thread per process: the kills land at comparable moments on a loaded machine
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def _radiogal(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "napari_radiogal", *map(str, argv)]


def _wait_until(proc: subprocess.Popen, started, timeout: float = 900.0) -> float:
    """Wait until ``started(proc)`` (the process has begun its work) or its exit; the time."""
    deadline = time.monotonic() + timeout
    while not started(proc) and proc.poll() is None:
        assert time.monotonic() < deadline, f"no work began in {timeout} s"
        time.sleep(0.01)
    return time.monotonic()


def _timed_run(argv: list[str], started) -> float:
    """Run to the end; the seconds from the start of its work to the exit."""
    proc = subprocess.Popen(argv, env=_env(), stderr=subprocess.PIPE, text=True)
    start = _wait_until(proc, started)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return time.monotonic() - start


def _kill_during(argv: list[str], started, moment: float) -> str:
    """Start ``argv``, SIGKILL it ``moment`` seconds after its work began; the outcome."""
    proc = subprocess.Popen(argv, env=_env(), stderr=subprocess.DEVNULL)
    start = _wait_until(proc, started)
    while proc.poll() is None and time.monotonic() - start < moment:
        time.sleep(0.005)
    if proc.poll() is not None:
        assert proc.returncode == 0
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "killed"


def _holds_lock(folder: Path):
    """``started`` of a writer: it holds the folder's lock (which names its pid)."""

    def started(proc: subprocess.Popen) -> bool:
        try:
            holder = (folder / STATE_DIR / "lock").read_text().strip()
            return holder == f"radiogal process {proc.pid}"
        except OSError:
            return False

    return started


def _published(folder: Path, name: str):
    """``started`` of a writer in a loop: it has published the set ``name`` once."""
    return lambda proc: (read_set_manifest(folder, name) or {}).get("pid") == proc.pid


def _from_the_start(proc: subprocess.Popen) -> bool:
    return True


@pytest.mark.slow
def test_predict_data_killed_at_random_moments(toy, tiny_weights, tmp_path):
    """Each kill leaves whole sets; the same command run again ends with the set of an
    uninterrupted run. ``--overwrite``: a run that finished before its kill is replaced by
    the next one, its set kept as .bak."""
    rng = random.Random(19)
    whole = tmp_path / "whole"
    span = _timed_run(_radiogal(_predict_argv(toy, tiny_weights, whole)), _holds_lock(whole))
    out = tmp_path / "out"
    argv = _radiogal(_predict_argv(toy, tiny_weights, out, "--overwrite"))
    progress = out / STATE_DIR / "progress-predictions"
    outcomes = []
    for _ in range(KILLS):
        moment = rng.uniform(0.0, span)
        outcome = _kill_during(argv, _holds_lock(out), moment)
        assert_sets_whole(out)
        saved = len(list(progress.glob("batch-*.json"))) if progress.is_dir() else 0
        outcomes.append((round(moment, 2), outcome, saved))
    assert _kill_during(argv, _holds_lock(out), float("inf")) == "finished"
    assert_sets_whole(out)
    assert_same_sets(whole, out)
    print("predict --data kills (moment s, outcome, batches kept):", outcomes)


_EXPORTER = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from test_outputs_formats import _prediction
from napari_radiogal.io.export import write_output, write_outputs
out, run = Path(sys.argv[1]), 0
pred = _prediction()
while True:
    run += 1
    pred.provenance["run"] = run  # every file of a run differs from the other runs'
    pred.instances[0].score = run / 1e6
    dataset = pred.to_dataset()
    # the napari export button (a set) and "Save Selected Layers" (one file and its .bak)
    write_outputs(out, "edited", dataset=dataset, catalogue=pred.to_table(),
                  regions=pred.to_regions())
    write_output(out / "layers.json", "coco", dataset, backup=True)
"""


@pytest.mark.slow
def test_export_killed_at_random_moments(tmp_path):
    """The writers of the napari export (io.export) in a real process, killed mid-loop."""
    from napari_radiogal.io.coco import read_coco

    rng = random.Random(20)
    out = tmp_path / "out"
    argv = [sys.executable, "-c", _EXPORTER, str(out), os.path.dirname(__file__)]
    outcomes = []
    for _ in range(KILLS):
        moment = rng.uniform(0.0, 1.0)
        assert _kill_during(argv, _published(out, "edited"), moment) == "killed"
        assert assert_sets_whole(out) == 1
        runs = {read_coco(out / "edited.json").info["run"]}
        for name in ("layers.json", "layers.json.bak"):  # one file alone: old or new, whole
            if (out / name).exists():
                runs.add(read_coco(out / name).info["run"])
        outcomes.append((round(moment, 2), sorted(runs)))
    print("export kills (moment s, runs seen in the set and the single file):", outcomes)


@pytest.mark.slow
def test_train_killed_at_random_moments_resumes(tmp_path):
    """``radiogal train --resume`` after each kill; the last one finishes with a model that
    loads, and every checkpoint a kill left behind loads too."""
    from napari_radiogal.models import load_weights
    from napari_radiogal.training.checkpoint import load_checkpoint

    data = make_toy_dataset(tmp_path / "toy", n=4, size=64, seed=3)
    overrides = [a for o in (*TINY_RECIPE, "num_workers=0", "cam.epochs=1") for a in ("--set", o)]

    def argv(run: Path) -> list[str]:  # each run its own cache: kills land in its writing too
        return _radiogal(["train", "--data", data, "--out", run, "--device", "cpu",
                          "--no-progress", "--cache-dir", f"{run}-cache", "--resume",
                          *overrides])  # fmt: skip

    rng = random.Random(21)
    span = _timed_run(argv(tmp_path / "whole"), _from_the_start)
    run = tmp_path / "run"
    outcomes = []
    for _ in range(KILLS):
        moment = rng.uniform(0.0, span)
        outcome = _kill_during(argv(run), _from_the_start, moment)
        for checkpoint in run.glob("*/last.pt"):
            load_checkpoint(checkpoint)
        if (run / "model.json").exists():
            load_weights(run / "model.safetensors")
        stages = sorted(p.parent.name for p in run.glob("*/last.pt"))
        outcomes.append((round(moment, 2), outcome, stages))
    assert _kill_during(argv(run), _from_the_start, float("inf")) == "finished"
    model, card = load_weights(run / "model.safetensors")
    assert list(card.classes.names) == ["single", "double"] and model is not None
    print("train kills (moment s, outcome, stages with a checkpoint):", outcomes)
