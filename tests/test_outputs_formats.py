"""Each output format opened by its own tool's library: astropy Table (ECSV, FITS table,
VOTable with units and UCDs), regions (DS9, CRTF) and pycocotools (COCO)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from napari_radiogal.annotations import ImageRecord, Instance
from napari_radiogal.inference.prediction import Prediction, catalogue
from napari_radiogal.io.catalogue import (
    ANNOTATION_COLUMNS,
    COLUMNS,
    PREDICTION_COLUMNS,
    SURVEY_COLUMNS,
    source_name,
)
from napari_radiogal.io.export import COMBINED_NAMES, parse_formats, write_outputs


def _wcs(shape, radesys="ICRS"):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-2.0 / 3600, 2.0 / 3600]
    wcs.wcs.radesys = radesys
    if radesys == "FK5":
        wcs.wcs.equinox = 2000.0
    return wcs


def _prediction(radesys="ICRS", drawn=False) -> Prediction:
    """A two-lobed instance with a host and a compact one (drawn by hand: no score)."""
    shape = (24, 24)
    radio = np.random.default_rng(0).normal(0.0, 1e-4, shape)
    lobes = np.zeros(shape, bool)
    lobes[4:8, 3:7] = lobes[4:8, 15:19] = True
    compact = np.zeros(shape, bool)
    compact[16:20, 10:13] = True
    radio[lobes | compact] += 5e-3
    instances = [
        Instance.from_mask(lobes, image_id=1, category_id=1, score=0.8, id=1, host=(11.0, 6.0)),
        Instance.from_mask(compact, image_id=1, category_id=1, score=None if drawn else 0.5, id=2),
    ]
    instances[0].extra["class_probability"] = 0.9
    return Prediction(
        image=ImageRecord(id=1, file_name="tiny.fits", height=shape[0], width=shape[1]),
        instances=instances,
        wcs=_wcs(shape, radesys),
        beam=(6 / 3600, 5 / 3600, 0.0),
        pixel_scale_arcsec=2.0,
        radio=radio,
        provenance={"software": {"name": "napari-radiogal"}},
    )


@pytest.fixture
def written(tmp_path):
    pred = _prediction(drawn=True)
    return pred, pred.write(tmp_path)


def test_iau_names_truncate_and_keep_the_sign():
    assert source_name(150.0, 2.2) == "RG J100000.0+021200"
    assert source_name(359.99999, -0.0001, prefix="") == "J235959.9-000000"
    assert source_name(0.0, float("nan")) == ""
    # truncated, not rounded: 59.99 s stays in its minute
    assert source_name(15.0 * (1 + 59.99 / 3600), 10.0) == "RG J010059.9+100000"


def test_one_home_for_every_column():
    for names in (PREDICTION_COLUMNS, ANNOTATION_COLUMNS, SURVEY_COLUMNS):
        assert set(names) <= set(COLUMNS) and len(set(names)) == len(names)
    assert COLUMNS["area"].unit == "pix2"
    assert "not a probability" in COLUMNS["score"].description
    assert all(c.ucd and c.description for c in COLUMNS.values())


@pytest.mark.parametrize("name", ["tiny.ecsv", "tiny.cat.fits", "tiny.vot"])
def test_catalogues_read_back_with_units_ucds_and_names(written, name):
    pred, paths = written
    table = Table.read(paths["catalogue"].parent / name)
    assert table.colnames == list(PREDICTION_COLUMNS)
    assert str(table["area"].unit) == "pix2" and str(table["flux"].unit) == "Jy"
    assert table["peak_flux"].unit == "Jy/beam" and table["ra"].unit == "deg"
    assert table["ra"].meta["ucd"] == "pos.eq.ra;meta.main"
    assert table["score"].meta["ucd"] == "meta.code.qual"
    assert "not a probability" in table["score"].description
    assert [str(n) for n in table["name"]] == [
        source_name(float(r), float(d)) for r, d in zip(table["ra"], table["dec"], strict=True)
    ]
    # the hand-drawn instance has no score, not 0.00 (NaN: a blank in FITS and VOTable)
    score = np.ma.filled(table["score"], np.nan)
    assert score[0] == pytest.approx(0.8) and np.isnan(score[1])


def test_fits_table_says_ucds_and_descriptions_to_every_fits_reader(written):
    from astropy.io import fits

    _, paths = written
    header = fits.getheader(paths["catalogue_fits"], 1)
    k = PREDICTION_COLUMNS.index("ra") + 1
    assert header[f"TTYPE{k}"] == "ra" and header[f"TUCD{k}"] == "pos.eq.ra;meta.main"
    assert header[f"TCOMM{k}"] == COLUMNS["ra"].description


def test_votable_fields_carry_ucd_and_unit(written):
    from astropy.io.votable import parse_single_table

    _, paths = written
    fields = {f.name: f for f in parse_single_table(paths["catalogue_votable"]).fields}
    assert fields["dec"].ucd == "pos.eq.dec;meta.main" and str(fields["dec"].unit) == "deg"
    assert fields["area"].unit.to_string("fits") == "pix2"


def test_ds9_regions_round_trip_with_host_markers_in_the_image_frame(tmp_path):
    from regions import PointSkyRegion, Regions

    for radesys, frame in (("ICRS", "icrs"), ("FK5", "fk5")):
        paths = _prediction(radesys, drawn=True).write(tmp_path / radesys)
        back = Regions.read(paths["regions"], format="ds9")
        hosts = [r for r in back if isinstance(r, PointSkyRegion)]
        assert len(hosts) == 1 and hosts[0].visual["marker"] == "x"
        assert "point=x" in paths["regions"].read_text()
        coords = [r.center if hasattr(r, "center") else r.vertices for r in back]
        assert {c.frame.name for c in coords} == {frame}
        texts = [r.meta.get("text") for r in back if r.meta.get("text")]
        assert "FR-II 0.80" in texts and "FR-II drawn" in texts and "FR-II 0.00" not in texts


def test_crtf_regions_are_what_casa_and_carta_parse(tmp_path):
    from regions import PointSkyRegion, Regions

    for radesys, coord in (("ICRS", "ICRS"), ("FK5", "J2000")):
        paths = _prediction(radesys).write(tmp_path / radesys)
        text = paths["regions_crtf"].read_text()
        assert text.startswith("#CRTFv0") and f"global coord={coord}" in text
        # casacore takes a colour as a name or six hex digits without '#'; labels, not text
        assert "#" not in text.split("\n", 1)[1] and "label='FR-II 0.80'" in text
        back = Regions.read(paths["regions_crtf"], format="crtf")
        hosts = [r for r in back if isinstance(r, PointSkyRegion)]
        assert len(hosts) == 1 and hosts[0].visual["symbol"] == "x"


@pytest.mark.parametrize("radesys", ["ICRS", "FK5"])
def test_crtf_text_is_what_the_regions_writer_gives(radesys):
    """The fast CRTF writer (one coordinate conversion per polygon, not per vertex) writes
    the bytes regions writes, for outlines, host symbols, plain points, labels with and
    without colours, and a shape it hands back to regions (a circle)."""
    import astropy.units as u
    from regions import CircleSkyRegion, PointSkyRegion, PolygonSkyRegion, Regions

    from napari_radiogal.io.export import crtf_regions, crtf_text

    wcs = _wcs((400, 400), radesys)
    angles = np.linspace(0.0, 2 * np.pi, 37, endpoint=False)
    shapes = []
    for k in range(5):
        x, y = 50 + 60 * k + 12 * np.cos(angles), 200 + 9 * np.sin(angles)
        visual = {"color": "#ff8800"} if k % 2 else {}
        shapes.append(
            PolygonSkyRegion(
                vertices=wcs.pixel_to_world(x, y),
                meta={"text": f"FR-II 0.{k}5", "tag": [f"id{k}"]},
                visual=visual,
            )
        )
        host = wcs.pixel_to_world(50 + 60 * k, 200.5)
        shapes.append(PointSkyRegion(center=host, visual={"color": "#00ff00", "marker": "x"}))
    shapes.append(PointSkyRegion(center=wcs.pixel_to_world(3.0, 4.0), meta={"text": "p"}))
    shapes.append(
        CircleSkyRegion(
            center=wcs.pixel_to_world(9.0, 9.0), radius=4 * u.arcsec, meta={"text": "c"}
        )
    )
    casa, frame = crtf_regions(Regions(shapes))
    expected = casa.serialize(format="crtf", coordsys=frame)
    assert expected.count("poly[") == 5 and "circle[" in expected  # every kind is there
    assert crtf_text(casa, frame) == expected


def test_crtf_text_of_pixel_regions_is_what_the_regions_writer_gives():
    from regions import PixCoord, PointPixelRegion, PolygonPixelRegion, Regions

    from napari_radiogal.io.export import crtf_regions, crtf_text

    shapes = Regions(
        [
            PolygonPixelRegion(
                vertices=PixCoord([1, 5, 5], [1, 1, 6]),
                meta={"text": "a"},
                visual={"color": "#f00000"},
            ),
            PointPixelRegion(center=PixCoord(3, 3), visual={"marker": "x"}),
        ]
    )
    casa, frame = crtf_regions(shapes)
    assert frame == "image"
    assert crtf_text(casa, frame) == casa.serialize(format="crtf", coordsys=frame)


def test_coco_is_what_pycocotools_reads(written):
    from pycocotools.coco import COCO

    pred, paths = written
    coco = COCO(str(paths["coco"]))
    assert len(coco.getAnnIds()) == 2
    mask = coco.annToMask(coco.loadAnns(coco.getAnnIds())[0])
    np.testing.assert_array_equal(mask.astype(bool), pred.instances[0].mask)


def test_hand_drawn_instances_are_flagged_in_the_annotation_catalogue():
    table = catalogue([_prediction(drawn=True)], columns=ANNOTATION_COLUMNS)
    assert list(table["drawn"]) == [False, True] and list(table["reviewed"]) == [False, False]
    assert np.isnan(table["class_probability"][1])


def test_combined_set_of_many_images(tmp_path):
    from napari_radiogal.inference import predictions_to_dataset
    from napari_radiogal.inference.prediction import predictions_regions

    preds = [_prediction(), _prediction("FK5")]
    preds[1].image.id = 2
    for a in preds[1].instances:
        a.image_id = 2
    paths = write_outputs(
        tmp_path,
        "predictions",
        dataset=predictions_to_dataset(preds),
        catalogue=catalogue(preds),
        regions=predictions_regions(preds),
        names=COMBINED_NAMES,
    )
    assert {p.name for p in paths.values()} == set(COMBINED_NAMES.values())
    assert len(Table.read(paths["catalogue_votable"])) == 4


def test_formats_option():
    assert parse_formats("vot, REG,json") == ("catalogue_votable", "regions", "coco")
    with pytest.raises(ValueError, match="unknown output format 'png'"):
        parse_formats("json,png")
