"""Atomic writes: all or nothing, and the permissions of a plain open()."""

from __future__ import annotations

import os
import stat

import pytest

from napari_radiogal.io.atomic import atomic_copy, atomic_path, atomic_write_text


def test_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_mode_follows_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_copy(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("data")
    atomic_copy(src, tmp_path / "b.txt")
    assert (tmp_path / "b.txt").read_text() == "data"


def test_a_writer_that_replaces_the_file_gets_the_umask_mode_too(tmp_path):
    """safetensors writes its own file, mode 0600: exported weights beside a 0644 card."""
    import torch
    from safetensors.torch import save_file

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, tmp)
        atomic_write_text(tmp_path / "model.json", "{}")
    finally:
        os.umask(old)
    modes = {
        stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ("model.safetensors", "model.json")
    }
    assert modes == {0o644}
