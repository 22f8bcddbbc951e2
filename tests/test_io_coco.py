"""COCO JSON in and out: round trips, exact polygons, validation, atomic writes, provenance."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mask_shapes import H, W, lobes_with_hole
from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.errors import CocoFormatError, CocoFormatWarning
from napari_radiogal.io import coco, masks, paths, provenance
from napari_radiogal.io.coco import (
    dataset_from_dict,
    dataset_to_dict,
    read_coco,
    validate_dataset,
    write_coco,
)


def full_dataset():
    img = ImageRecord(
        id=7,
        file_name="radio/a.fits",
        height=H,
        width=W,
        radio_file="radio/a.fits",
        ir_file="ir/a.fits",
        radio_wcs="CDELT1  = -0.000555\n",
        beam=(0.0036, 0.003, 12.5),
        noise_sigma=3.1e-5,
        extra={"survey": "EMU", "nested": {"k": [1, 2]}},
    )
    a = Instance.from_mask(
        lobes_with_hole(),
        image_id=7,
        category_id=1,
        host=(12.5, 6.0),
        score=0.75,
        host_ra=150.1,
        host_dec=-30.2,
        reviewed=True,
        id=3,
        extra={"note": "by hand"},
    )
    b = Instance.from_mask(
        np.pad(np.ones((3, 3), bool), ((10, H - 13), (0, W - 3))), image_id=7, category_id=4
    )
    return CocoDataset(images=[img], instances=[a, b], info={"description": "x"})


# ------------------------------------------------------------------ round trips ---------


@pytest.mark.parametrize("segmentation", ["rle", "polygon"])
def test_round_trip_keeps_every_field_and_every_pixel(tmp_path, segmentation):
    ds = full_dataset()
    path = write_coco(tmp_path / "annotations" / "x.json", ds, segmentation=segmentation)
    back = read_coco(path)
    assert back.images == ds.images
    assert back.scheme == ds.scheme and back.info == ds.info
    a, b = back.instances
    assert np.array_equal(a.mask, lobes_with_hole())
    assert (a.host, a.score, a.host_ra, a.host_dec, a.reviewed, a.id, a.extra) == (
        (12.5, 6.0),
        0.75,
        150.1,
        -30.2,
        True,
        3,
        {"note": "by hand"},
    )
    assert b.id == 4 and b.host is None and b.score is None  # id assigned after the largest
    raw = json.loads(path.read_text())
    ann = raw["annotations"][0]
    assert ann["keypoints"] == [12.5, 6.0, 2] and ann["num_keypoints"] == 1
    assert raw["annotations"][1]["keypoints"] == [0.0, 0.0, 0]
    assert ann["area"] == int(lobes_with_hole().sum())
    assert raw["categories"][0]["keypoints"] == ["host"]
    if segmentation == "polygon":
        assert isinstance(ann["segmentation"], list) and len(ann["segmentation"]) == 2
    else:
        assert set(ann["segmentation"]) == {"size", "counts"}


def test_bbox_is_measured_from_pixel_edges():
    m = np.zeros((H, W), dtype=bool)
    m[2, 3] = True  # one pixel at row 2, column 3
    d = dataset_to_dict(
        CocoDataset([ImageRecord(1, "a", H, W)], [Instance.from_mask(m, image_id=1, category_id=2)])
    )
    assert d["annotations"][0]["bbox"] == [3.0, 2.0, 1.0, 1.0]


def test_hand_written_multipart_polygons_rasterise_as_documented():
    # Part 1: the square [1, 4] x [1, 3] in edge coordinates covers pixel centres
    # x = 1.5, 2.5, 3.5 (cols 1..3) and y = 1.5, 2.5 (rows 1..2). Part 2 (disjoint): cols 6..7,
    # rows 0..0. The parts are merged by union.
    seg = [[1, 1, 4, 1, 4, 3, 1, 3], [6, 0, 8, 0, 8, 1, 6, 1]]
    d = {
        "images": [{"id": 1, "file_name": "a.png", "height": 5, "width": 9}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "segmentation": seg}],
        "categories": [
            {"id": 1, "name": "FR-II"},
            {"id": 2, "name": "FR-I"},
            {"id": 3, "name": "FR-X"},
            {"id": 4, "name": "R"},
        ],
    }
    expected = np.zeros((5, 9), dtype=bool)
    expected[1:3, 1:4] = True
    expected[0, 6:8] = True
    assert np.array_equal(dataset_from_dict(d).instances[0].mask, expected)


def test_uncompressed_rle_is_compressed_on_reading():
    m = lobes_with_hole()
    flat = m.flatten(order="F")  # COCO runs go down the columns
    change = np.flatnonzero(np.diff(flat.astype(int))) + 1
    counts = np.diff(np.r_[0, change, flat.size]).tolist()
    if flat[0]:
        counts = [0, *counts]  # runs start with background
    assert sum(counts) == H * W
    d = dataset_to_dict(
        CocoDataset([ImageRecord(1, "a", H, W)], [Instance.from_mask(m, image_id=1, category_id=2)])
    )
    d["annotations"][0]["segmentation"] = {"size": [H, W], "counts": counts}
    inst = dataset_from_dict(d).instances[0]
    assert isinstance(inst.rle["counts"], str)
    assert np.array_equal(inst.mask, m)


# --------------------------------------------------------------- RLE validation ---------


def test_reading_does_not_decode_masks(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    ims = [ImageRecord(i, f"{i}.fits", H, W) for i in range(200)]
    insts = [
        Instance.from_mask(rng.random((H, W)) < 0.3, image_id=i % 200, category_id=1)
        for i in range(1000)
    ]
    path = write_coco(tmp_path / "big.json", CocoDataset(ims, insts), indent=None)

    def no_decode(*args, **kwargs):
        raise AssertionError("read_coco decoded a mask")

    monkeypatch.setattr(mask_utils, "decode", no_decode)
    back = read_coco(path)
    assert len(back.instances) == 1000
    assert back.instances[5].rle == {"size": [H, W], "counts": insts[5].rle["counts"]}


# ------------------------------------------------------------------ bad files -----------


def good_dict():
    return dataset_to_dict(full_dataset())


@pytest.mark.parametrize(
    ("mutate", "field", "match"),
    [
        (lambda d: d.pop("images"), "images", "missing top-level key"),
        (lambda d: d["images"][0].pop("height"), "images[0].height", "missing 'height'"),
        (
            lambda d: d["annotations"][0].update(category_id=9),
            "annotations[0].category_id",
            "category_id 9 is not one of",
        ),
        (
            lambda d: d["annotations"][1].pop("segmentation"),
            "annotations[1].segmentation",
            "missing 'segmentation'",
        ),
        (
            lambda d: d["annotations"][0]["segmentation"].update(counts="0"),
            "annotations[0].segmentation.counts",
            "invalid RLE",
        ),
        (
            lambda d: d["annotations"][0]["segmentation"].update(size=[H, W + 1]),
            "annotations[0].segmentation.size",
            r"does not match the image's \[height, width\]",
        ),
        (
            lambda d: d["annotations"][0].update(keypoints=[1, 2]),
            "annotations[0].keypoints",
            "list of 3 numbers",
        ),
        (
            lambda d: d["annotations"][1].update(id=3),
            "annotations[].id",
            r"duplicate annotations ids \[3\]",
        ),
        (
            lambda d: d["images"].append(dict(d["images"][0])),
            "images[].id",
            r"duplicate images ids \[7\]",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=8),
            "annotations[0].image_id",
            "not in images",
        ),
        (
            lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]),
            "annotations[0].segmentation[0]",
            "at least three",
        ),
        (
            lambda d: d["categories"].append({"id": 1, "name": "again"}),
            "categories",
            "invalid categories",
        ),
    ],
)
def test_schema_errors_name_the_field(tmp_path, mutate, field, match):
    d = good_dict()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(CocoFormatError, match=match) as exc:
        read_coco(path)
    assert exc.value.field == field
    assert exc.value.path == str(path)


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        read_coco(bad)
    with pytest.raises(CocoFormatError, match="no such file"):
        read_coco(tmp_path / "absent.json")
    bad.write_text("[]")
    with pytest.raises(CocoFormatError, match="results"):
        read_coco(bad)


def test_in_memory_validation_and_refusal_to_write(tmp_path):
    ds = full_dataset()
    ds.instances[0].category_id = 12
    with pytest.raises(CocoFormatError, match="category_id 12"):
        validate_dataset(ds)
    with pytest.raises(CocoFormatError):
        write_coco(tmp_path / "x.json", ds)
    assert not (tmp_path / "x.json").exists()


# ------------------------------------------------------------- writing safely -----------


def test_backup_and_atomic_overwrite(tmp_path):
    path = tmp_path / "corrected.json"
    first = full_dataset()
    write_coco(path, first)
    original = path.read_text()
    assert not path.with_name("corrected.json.bak").exists()  # nothing to back up yet
    second = full_dataset()
    second.instances[0].reviewed = False
    write_coco(path, second)
    assert path.with_name("corrected.json.bak").read_text() == original
    # a dataset that cannot be written leaves the file (and its backup) untouched
    third = full_dataset()
    third.instances[0].extra["bad"] = object()
    before = path.read_text()
    with pytest.raises(CocoFormatError, match="JSON cannot store"):
        write_coco(path, third)
    assert path.read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["corrected.json", "corrected.json.bak"]


def test_nan_noise_is_written_as_null(tmp_path):
    ds = full_dataset()
    ds.images[0].noise_sigma = float("nan")
    path = write_coco(tmp_path / "x.json", ds)
    assert json.loads(path.read_text())["images"][0]["noise_sigma"] is None


# --------------------------------------------------------------- polygon export --------


def test_polygon_export_falls_back_to_rle_for_an_empty_mask(tmp_path):
    # an empty mask has no polygon: it is written as RLE, with a warning, and nothing is lost
    ds = full_dataset()
    ds.instances[1] = Instance.from_mask(np.zeros((H, W), bool), image_id=7, category_id=4)
    with pytest.warns(CocoFormatWarning, match="1 mask"):
        path = write_coco(tmp_path / "x.json", ds, segmentation="polygon")
    raw = json.loads(path.read_text())["annotations"]
    assert isinstance(raw[0]["segmentation"], list) and isinstance(raw[1]["segmentation"], dict)
    back = read_coco(path)
    assert not back.instances[1].mask.any()
    assert np.array_equal(back.instances[0].mask, lobes_with_hole())


def test_non_finite_extra_fields_are_written_as_null(tmp_path):
    ds = full_dataset()
    ds.instances[0].extra["flux"] = np.float32("inf")
    ds.info["limits"] = (np.float64("nan"), 2)
    raw = json.loads(write_coco(tmp_path / "x.json", ds).read_text())
    assert raw["annotations"][0]["flux"] is None
    assert raw["info"]["limits"] == [None, 2]


def test_mask_path_and_provenance_helpers_are_importable_from_coco():
    assert coco.mask_to_polygons is masks.mask_to_polygons
    assert coco.polygons_to_rle is masks.polygons_to_rle
    assert coco.dataset_root is paths.dataset_root
    assert coco.resolve_image_path is paths.resolve_image_path
    assert coco.file_sha256 is provenance.file_sha256
    assert coco.provenance_info is provenance.provenance_info
