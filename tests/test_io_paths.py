"""Data set root, image paths and FITS file names (napari_radiogal.io.paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_radiogal.annotations import ImageRecord
from napari_radiogal.io.paths import (
    FITS_SUFFIXES,
    dataset_root,
    fits_stem,
    is_fits_path,
    resolve_image_path,
)


def record():
    return ImageRecord(
        id=7,
        file_name="radio/a.fits",
        height=4,
        width=4,
        radio_file="radio/a.fits",
        ir_file="ir/a.fits",
    )


def test_paths_are_relative_to_the_data_set_root(tmp_path):
    root = tmp_path / "survey"
    (root / "radio").mkdir(parents=True)
    (root / "radio" / "a.fits").write_bytes(b"x")
    ann = root / "annotations" / "test.json"
    rec = record()
    assert dataset_root(ann) == root.resolve()
    assert resolve_image_path(ann, rec) == root.resolve() / "radio" / "a.fits"
    assert resolve_image_path(ann, rec, "ir_file") == root.resolve() / "ir" / "a.fits"
    assert resolve_image_path(ann, ImageRecord(1, "x", 1, 1), "ir_file") is None
    # a JSON outside annotations/: paths are relative to its own folder
    assert dataset_root(root / "preds.json") == root.resolve()
    # an absolute path is used as is
    abs_rec = ImageRecord(1, str(tmp_path / "elsewhere.fits"), 1, 1)
    assert resolve_image_path(ann, abs_rec) == tmp_path / "elsewhere.fits"
    # fallback: the images moved into annotations/ beside the JSON (no root/radio/a.fits)
    moved = tmp_path / "moved"
    (moved / "annotations" / "radio").mkdir(parents=True)
    (moved / "annotations" / "radio" / "a.fits").write_bytes(b"x")
    found = resolve_image_path(moved / "annotations" / "t.json", rec)
    assert found == (moved / "annotations" / "radio" / "a.fits").resolve()
    # with an explicit root there is no fallback
    assert resolve_image_path(moved / "annotations" / "t.json", rec, root=moved) == (
        moved / "radio" / "a.fits"
    )


def test_resolve_image_path_reads_mappings_and_extra_fields(tmp_path):
    ann = tmp_path / "annotations" / "t.json"
    assert resolve_image_path(ann, {"file_name": "a.fits"}) == tmp_path.resolve() / "a.fits"
    rec = ImageRecord(1, "a.png", 1, 1, extra={"mask_file": "masks/a.png"})
    assert resolve_image_path(ann, rec, "mask_file") == tmp_path.resolve() / "masks" / "a.png"


@pytest.mark.parametrize(
    "name",
    ["a.fits", "a.fit", "a.fts", "a.fits.gz", "a.fit.gz", "a.fts.gz", "a.fits.fz", "A.FITS.GZ"],
)
def test_every_fits_suffix_is_recognised_and_stripped(name):
    assert is_fits_path(name) and is_fits_path(Path("dir.png") / name)
    assert fits_stem(Path("some/dir") / name) == name[:1]


@pytest.mark.parametrize(
    "name", ["a.png", "a.json", "a.gz", "a.fz", "a.tar.gz", "fits", "a.fits.bak", "a.fitsx"]
)
def test_other_names_are_not_fits(name):
    assert not is_fits_path(name)


def test_fits_stem_keeps_dots_inside_the_name_and_drops_one_other_suffix():
    assert fits_stem("J0101.5-30.2.fits.gz") == "J0101.5-30.2"
    assert fits_stem("image.fits.fits") == "image.fits"  # only one FITS suffix is removed
    assert fits_stem("a.b.png") == "a.b"  # not FITS: like Path.stem
    assert fits_stem("Mosaic.Fits") == "Mosaic"  # case-insensitive match, case kept
    assert fits_stem("noext") == "noext"


def test_suffixes_are_lower_case_and_longest_first_matching_works():
    assert all(s == s.lower() and s.startswith(".") for s in FITS_SUFFIXES)
    assert fits_stem("x.fits.gz") == "x"  # not "x.fits" (".gz" alone is no FITS suffix)
