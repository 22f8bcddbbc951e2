"""The output-format table: file names, bytes identical to the writers it replaced, backups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.inference.prediction import Prediction
from napari_radiogal.io.export import (
    DEFAULT_FORMATS,
    OUTPUT_FORMATS,
    output_paths,
    write_output,
    write_outputs,
    write_table,
)


def _wcs(shape):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-2.0 / 3600, 2.0 / 3600]
    return wcs


def _prediction() -> Prediction:
    """Two instances on a 24 x 24 image: a two-lobed one with a host, a compact one."""
    shape = (24, 24)
    rng = np.random.default_rng(0)
    radio = rng.normal(0.0, 1e-4, shape)
    lobes = np.zeros(shape, bool)
    lobes[4:8, 3:7] = lobes[4:8, 15:19] = True
    compact = np.zeros(shape, bool)
    compact[16:20, 10:13] = True
    radio[lobes | compact] += 5e-3
    instances = [
        Instance.from_mask(lobes, image_id=1, category_id=1, score=0.8, id=1, host=(11.0, 6.0)),
        Instance.from_mask(compact, image_id=1, category_id=4, score=0.5, id=2),
    ]
    return Prediction(
        image=ImageRecord(id=1, file_name="tiny.fits", height=shape[0], width=shape[1]),
        instances=instances,
        wcs=_wcs(shape),
        beam=(6 / 3600, 5 / 3600, 0.0),
        pixel_scale_arcsec=2.0,
        radio=radio,
        provenance={"software": {"name": "napari-radiogal"}},
    )


def _reference_files(pred: Prediction, out, stem: str) -> dict[str, bytes]:
    """The bytes the writers wrote before the format table existed (the same primitives)."""
    from napari_radiogal.io.coco import write_coco

    out.mkdir(parents=True)
    write_coco(out / f"{stem}.json", pred.to_dataset(), backup=False)
    pred.to_table().write(out / f"{stem}.ecsv", format="ascii.ecsv")
    (out / f"{stem}.reg").write_text(pred.to_regions().serialize(format="ds9"), encoding="utf-8")
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _visible(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_prediction_write_is_byte_identical_to_the_old_writers(tmp_path):
    pred = _prediction()
    reference = _reference_files(pred, tmp_path / "ref", "tiny")
    paths = pred.write(tmp_path / "new")
    assert list(paths) == list(DEFAULT_FORMATS) == list(OUTPUT_FORMATS)
    written = {name: (tmp_path / "new" / name).read_bytes() for name in reference}
    assert written == reference
    assert _visible(tmp_path / "new") == sorted(p.name for p in paths.values())


def test_output_paths_follow_the_table():
    paths = output_paths("out", "field")
    assert list(paths) == list(DEFAULT_FORMATS)
    assert [p.name for p in paths.values()] == [
        "field.json",
        "field.ecsv",
        "field.cat.fits",  # never the radio image field.fits beside it
        "field.vot",
        "field.reg",
        "field.crtf",
    ]
    assert all(p.name.endswith(OUTPUT_FORMATS[name].suffix) for name, p in paths.items())


def test_an_overwritten_set_is_kept_whole_as_bak(tmp_path):
    pred = _prediction()
    objects = {
        "dataset": pred.to_dataset(),
        "catalogue": pred.to_table(),
        "regions": pred.to_regions(),
    }
    first = write_outputs(tmp_path, "a", **objects)
    before = {name: p.read_bytes() for name, p in first.items()}
    first["coco"].write_text("{}")  # a hand edit that the next export must keep as .bak
    write_outputs(tmp_path, "a", **objects, formats=["coco", "regions"])
    assert (tmp_path / "a.json.bak").read_text() == "{}"
    assert first["coco"].read_bytes() == before["coco"]
    for name in ("catalogue", "catalogue_votable", "regions_crtf"):  # not written again:
        assert not first[name].exists()  # retired, so that no older file stays beside
        assert Path(f"{first[name]}.bak").read_bytes() == before[name]
    assert _visible(tmp_path) == sorted(
        ["a.json", "a.reg", *(f"{p.name}.bak" for p in first.values())]
    )
    # the next overwrite keeps one generation: the .bak files are that set, whole
    write_outputs(tmp_path, "a", **objects, formats=["coco"])
    assert _visible(tmp_path) == ["a.json", "a.json.bak", "a.reg.bak"]


def test_a_subset_of_formats_needs_only_its_objects(tmp_path):
    paths = write_outputs(tmp_path, "r", regions=_prediction().to_regions(), formats=["regions"])
    assert list(paths) == ["regions"] and _visible(tmp_path) == ["r.reg"]
    with pytest.raises(ValueError, match="pass catalogue="):
        write_outputs(tmp_path, "r", dataset=_prediction().to_dataset())
    assert _visible(tmp_path) == ["r.reg"]  # checked before writing
    with pytest.raises(ValueError, match="unknown output format 'crtf'"):
        write_outputs(tmp_path, "r", formats=["crtf"])


def test_write_output_keeps_the_exact_path(tmp_path):
    from astropy.table import Table

    table = Table({"a": [1, 2]})
    path = write_output(tmp_path / "CAT.ECSV", "catalogue", table)
    assert path.name == "CAT.ECSV"
    assert list(Table.read(path, format="ascii.ecsv")["a"]) == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["CAT.ECSV"]  # no temp file left


def test_write_table_leaves_the_old_file_when_writing_fails(tmp_path):
    from astropy.table import Table

    class DiskFull:
        def write(self, tmp, **kwargs):
            open(tmp, "w").write("half a tab")
            raise OSError("no space left on device")

    path = write_table(Table({"a": [1]}), tmp_path / "t.ecsv")
    before = path.read_bytes()
    with pytest.raises(OSError, match="no space"):
        write_table(DiskFull(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.ecsv"]
