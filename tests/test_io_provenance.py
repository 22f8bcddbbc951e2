"""Checksums, provenance blocks and the JSON normaliser (napari_radiogal.io.provenance)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pytest

from napari_radiogal.io.provenance import file_sha256, jsonable, provenance_info


def test_file_sha256_and_provenance(tmp_path):
    f = tmp_path / "in" / "radio.fits"
    f.parent.mkdir()
    f.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    assert file_sha256(f) == expected == hashlib.sha256(b"abc").hexdigest()
    assert file_sha256(f, chunk_size=1) == expected  # chunking does not change the digest
    info = provenance_info(
        model_name="default",
        model_sha256="00ff",
        inputs=[f],
        root=tmp_path,
        parameters={"scales": (1.0, 0.5)},
        run="t1",
    )
    assert info["software"]["name"] == "napari-radiogal"
    assert info["model"] == {"name": "default", "sha256": "00ff"}
    assert info["input_files"] == [{"path": "in/radio.fits", "bytes": 3, "sha256": expected}]
    assert info["parameters"] == {"scales": [1.0, 0.5]} and info["run"] == "t1"
    json.dumps(info, allow_nan=False)  # JSON-ready


def test_provenance_without_model_or_checksums(tmp_path):
    f = tmp_path / "a.fits"
    f.write_bytes(b"12345")
    info = provenance_info(inputs=[f], checksums=False, threshold=np.float32(0.5))
    assert info["model"] is None
    assert info["input_files"] == [{"path": f.as_posix(), "bytes": 5}]  # outside any root
    assert info["threshold"] == 0.5 and type(info["threshold"]) is float


@dataclasses.dataclass(frozen=True)
class Inner:
    scales: tuple[float, ...] = (1.0, 0.5)
    path: Path = Path("weights/default.safetensors")


@dataclasses.dataclass
class Outer:
    name: str = "run"
    inner: Inner = dataclasses.field(default_factory=Inner)
    lr: float = 1e-3
    limit: float = math.inf


class Pair(NamedTuple):
    a: float
    b: float


def test_jsonable_numpy_values_become_python_values():
    out = jsonable(
        {"i": np.int64(3), "f": np.float32(0.25), "b": np.bool_(True), "s": np.str_("x")}
    )
    assert out == {"i": 3, "f": 0.25, "b": True, "s": "x"}
    assert [type(v) for v in out.values()] == [int, float, bool, str]
    assert jsonable(np.arange(4, dtype=np.int16).reshape(2, 2)) == [[0, 1], [2, 3]]


def test_jsonable_non_finite_floats_become_none():
    values = [float("nan"), math.inf, -math.inf, np.float32("nan"), np.float64("-inf"), 1.5]
    assert jsonable(values) == [None, None, None, None, None, 1.5]
    assert jsonable(np.array([1.0, np.nan])) == [1.0, None]


def test_jsonable_containers_paths_and_dataclasses():
    assert jsonable((1, (2, 3))) == [1, [2, 3]]
    assert jsonable(Pair(1.0, 2.0)) == [1.0, 2.0]  # a named tuple is a tuple
    assert jsonable({1: Path("a/b"), "p": PurePosixPath("c")}) == {"1": "a/b", "p": "c"}
    assert jsonable(Outer()) == {
        "name": "run",
        "inner": {"scales": [1.0, 0.5], "path": "weights/default.safetensors"},
        "lr": 1e-3,
        "limit": None,
    }
    assert jsonable(Outer) is Outer  # a dataclass *type* is no instance: left alone


def test_jsonable_leaves_json_values_alone_and_does_not_mutate():
    value = {"a": [1, "x", None, True, {"b": 2.5}]}
    out = jsonable(value)
    assert out == value and out is not value and out["a"] is not value["a"]
    marker = object()
    assert jsonable([marker])[0] is marker  # json.dumps still refuses what it cannot store


@pytest.mark.parametrize(
    "value",
    [
        {"training": {"epochs": np.int64(3), "lr": np.float32(0.5), "out": Path("x")}},
        dataclasses.asdict(Outer(limit=2.0)),
        {"size": 210, "scales": (1.0, 0.5, 0.25)},
        {"accuracy": np.float64(97.5), "n": np.int32(4), "missing": np.float64("nan")},
    ],
)
def test_jsonable_output_is_valid_strict_json(value):
    text = json.dumps(jsonable(value), allow_nan=False)
    assert json.loads(text) == jsonable(value)
