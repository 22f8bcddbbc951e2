"""Output sets written as one: crashes at every step leave a whole set, one writer per
folder, backups, and what killed runs leave is cleaned up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from napari_radiogal.errors import StorageError
from napari_radiogal.io import outputset
from napari_radiogal.io.outputset import (
    STATE_DIR,
    file_sha256,
    output_lock,
    read_set_manifest,
    recover,
    write_set,
)

NAMES = ("s.json", "s.ecsv", "s.reg")


def _writers(run: int, names=NAMES):
    """Writers of a set whose every file says which run wrote it."""

    def writer(name):
        return lambda path: path.write_text(f"{name} of run {run}\n")

    return {name: writer(name) for name in names}


def _visible(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def assert_whole(folder, name="s"):
    """Every file of the set (and of its backup) is the one its record names."""
    record = read_set_manifest(folder, name)
    assert record is not None
    for file, digest in {**record["files"], **record["backups"]}.items():
        assert file_sha256(folder / file) == digest, file
    runs = {(folder / f).read_text().split()[-1] for f in record["files"]}
    backups = {(folder / f).read_text().split()[-1] for f in record["backups"]}
    assert len(runs) == 1 and len(backups) <= 1
    return runs.pop(), backups.pop() if backups else None


def test_a_set_and_its_backup(tmp_path):
    write_set(tmp_path, "s", _writers(1))
    assert _visible(tmp_path) == sorted(NAMES)
    assert assert_whole(tmp_path) == ("1", None)
    write_set(tmp_path, "s", _writers(2))
    assert _visible(tmp_path) == sorted([*NAMES, *(n + ".bak" for n in NAMES)])
    assert assert_whole(tmp_path) == ("2", "1")
    # fewer files: the others are retired (their backup kept), older backups dropped
    write_set(tmp_path, "s", _writers(3, NAMES[:1]), also_retire=NAMES)
    assert _visible(tmp_path) == sorted([NAMES[0], *(n + ".bak" for n in NAMES)])
    write_set(tmp_path, "s", _writers(4, NAMES[:1]), also_retire=NAMES)
    assert _visible(tmp_path) == [NAMES[0], NAMES[0] + ".bak"]
    assert assert_whole(tmp_path) == ("4", "3")


@pytest.mark.parametrize("step", ["stage_files", "stage_backups", "commit"])
def test_a_failure_before_the_commit_leaves_the_previous_set(tmp_path, monkeypatch, step):
    write_set(tmp_path, "s", _writers(1))

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(outputset, step, fail)
    with pytest.raises(OSError, match="No space"):
        write_set(tmp_path, "s", _writers(2))
    assert _visible(tmp_path) == sorted(NAMES) and assert_whole(tmp_path) == ("1", None)
    assert not list((tmp_path / STATE_DIR).glob("staging-*"))


@pytest.mark.parametrize("step", ["stage_backups", "commit", "publish"])
def test_a_kill_before_the_commit_is_undone_and_after_it_rolled_forward(
    tmp_path, monkeypatch, step
):
    """A killed process cleans nothing up (discard is skipped); the next writer recovers."""
    write_set(tmp_path, "s", _writers(1))

    class Killed(BaseException):
        pass

    def kill(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(outputset, "discard", lambda staging: None)
    monkeypatch.setattr(outputset, step, kill)
    with pytest.raises(Killed):
        write_set(tmp_path, "s", _writers(2))
    assert len(list((tmp_path / STATE_DIR).glob("staging-*"))) == 1
    monkeypatch.undo()
    with output_lock(tmp_path):  # the next writer takes the folder
        pass
    assert not list((tmp_path / STATE_DIR).glob("staging-*"))
    assert assert_whole(tmp_path) == (("2", "1") if step == "publish" else ("1", None))


@pytest.mark.parametrize("moved", [1, 2, 4, 5, 7])  # call 0 is the commit marker
def test_a_kill_in_the_middle_of_publishing_is_rolled_forward(tmp_path, monkeypatch, moved):
    write_set(tmp_path, "s", _writers(1))
    real_replace, calls = os.replace, []

    class Killed(BaseException):
        pass

    def replace(src, dst):
        if len(calls) == moved:
            raise Killed
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(outputset.os, "replace", replace)
    with pytest.raises(Killed):
        write_set(tmp_path, "s", _writers(2))
    monkeypatch.undo()
    recover(tmp_path)
    assert assert_whole(tmp_path) == ("2", "1")


def test_temp_files_of_killed_runs_are_removed_and_nothing_else(tmp_path):
    old = tmp_path / ".s.ecsv.k3j2abcd.tmp.ecsv"
    young = tmp_path / ".s.json.zz9yx8w7.tmp"
    mine = tmp_path / ".hidden_notes.txt"
    for p in (old, young, mine):
        p.write_text("x")
    past = time.time() - 3600
    os.utime(old, (past, past))
    with output_lock(tmp_path):
        pass
    assert not old.exists() and young.exists() and mine.exists()


def test_a_folder_nothing_was_written_into_is_left_as_found(tmp_path):
    with output_lock(tmp_path / "new"):
        with output_lock(tmp_path / "new"):  # re-entrant in a process
            assert (tmp_path / "new" / STATE_DIR / "lock").exists()
    assert not (tmp_path / "new").exists()
    with output_lock(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


_HOLDER = """
import sys, time
from napari_radiogal.io.outputset import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def held(tmp_path):
    """Another process holding the lock of tmp_path / "out" until the test ends."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "locked"
    yield out
    proc.communicate("done\n", timeout=60)


def test_a_second_writer_is_refused_at_once(held):
    with pytest.raises(StorageError, match="is being written by radiogal process"):
        write_set(held, "s", _writers(1))
    assert _visible(held) == []


def test_a_second_predict_on_the_same_outputs_exits_2_before_any_work(held, capsys):
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS

    from napari_radiogal.cli import main

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval, wcs.wcs.crpix = [320.0, -55.0], [16.5, 16.5]
    wcs.wcs.cdelt = [-2.0 / 3600, 2.0 / 3600]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=13 / 3600, BMIN=11 / 3600, BPA=10.0)
    data = np.random.default_rng(0).normal(0, 30e-6, (32, 32)).astype(np.float32)
    radio = held.parent / "field.fits"
    fits.PrimaryHDU(data, header).writeto(radio)
    assert main(["predict", str(radio), "--out", str(held), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "being written by" in err and "choose another output folder" in err


_KILLED_WRITER = """
import sys
sys.path.insert(0, sys.argv[2])
from test_outputs_formats import _prediction
pred = _prediction()
run = 0
while True:
    run += 1
    pred.provenance["run"] = run  # every file of a run differs from the other runs'
    pred.instances[0].score = run / 1e6
    pred.write(sys.argv[1], "s")
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_whole_sets(tmp_path):
    """A real writer process (Prediction.write, the writer of radiogal predict) killed
    with SIGKILL ten times at random moments: every set is whole afterwards."""
    import random
    import signal

    from napari_radiogal.io.export import OUTPUT_FORMATS

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    tests = os.path.dirname(__file__)
    rng = random.Random(0)
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, str(out), tests],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        # wait until this process has published a set (python and the package import
        # first): the kill then lands in its write loop, at a random moment
        deadline = time.monotonic() + 900
        while (read_set_manifest(out, "s") or {}).get("pid") != proc.pid:
            assert proc.poll() is None, "the writer died"
            assert time.monotonic() < deadline, "the writer published nothing in 900 s"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        recover(out)
        record = read_set_manifest(out, "s")
        assert set(record["files"]) == {f"s{f.suffix}" for f in OUTPUT_FORMATS.values()}
        for file, digest in {**record["files"], **record["backups"]}.items():
            assert file_sha256(out / file) == digest
        runs = {json.loads((out / "s.json").read_text())["info"]["run"]}
        assert len(runs) == 1
