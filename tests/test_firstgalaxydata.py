"""The firstgalaxydata FIRST set: the zip read in place, the spec, the display channel."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from napari_radiogal import stats
from napari_radiogal.classes import FIRST, first_to_radiogalaxynet
from napari_radiogal.errors import CocoFormatError, ConfigError, InputImageError
from napari_radiogal.io import firstgalaxydata as fgd
from napari_radiogal.io.fits import read_radio
from napari_radiogal.io.geometry import geometry_of_records
from napari_radiogal.preprocess import PreprocessConfig, display_scale, preprocess

DISPLAY = PreprocessConfig(channels=("radio_display",))
#: (split, class folder, RA, Dec) of the fake zip's PNGs, two per split
FAKE = [
    ("train", "FRI", 10.5, 1.25),
    ("train", "FRII", 178.586, 45.392),
    ("train", "Compact", 200.0, -3.5),
    ("train", "Bent", 33.3, 60.0),
    ("valid", "FRI", 11.0, 2.0),
    ("valid", "FRII", 12.0, 3.0),
    ("valid", "Compact", 13.0, 4.0),
    ("valid", "Bent", 14.0, 5.0),
    ("test", "FRI", 15.0, 6.0),
    ("test", "FRII", 16.0, 7.0),
    ("test", "Compact", 17.0, 8.0),
    ("test", "Bent", 18.0, 9.0),
]


def fake_png(seed: int) -> np.ndarray:
    """A 300 x 300 display PNG made the firstgalaxydata way: 3-sigma clip, linear, 8 bits."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:300, :300]
    sky = rng.normal(0.0, 1.0, (300, 300))
    for dy, dx, amp in ((-20, -25, 40.0), (18, 22, 25.0), (0, 0, 12.0)):
        sky += amp * np.exp(-((yy - 150 - dy) ** 2 + (xx - 150 - dx) ** 2) / (2 * 4.0**2))
    t = 3.0
    v = np.where(sky > t, np.floor(255 * ((sky - t) / (sky.max() - t))), 0)
    return v.astype(np.uint8)


def png_bytes(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def member_name(split, folder, ra, dec, catalogue="MiraBest"):
    label = FIRST.names.index(folder)
    return f"galaxy_data/{split}/{folder}/{ra}_{dec}_{label}_{catalogue}.png"


@pytest.fixture
def fake_zip(tmp_path):
    """A tiny galaxy_data.zip with the real layout (``all/`` repeats the splits)."""
    path = tmp_path / "pkg" / fgd.ZIP_NAME
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for i, (split, folder, ra, dec) in enumerate(FAKE):
            payload = png_bytes(fake_png(i))
            archive.writestr(member_name(split, folder, ra, dec), payload)
            archive.writestr(member_name("all", folder, ra, dec), payload)
    return path


def test_spec_syntax(tmp_path):
    assert fgd.parse_firstgalaxydata_spec("firstgalaxydata:train") == fgd.FirstGalaxyDataSpec(
        None, "train"
    )
    zip_spec = fgd.parse_firstgalaxydata_spec(str(tmp_path / "galaxy_data.zip") + ":valid")
    assert zip_spec.source == tmp_path / "galaxy_data.zip" and zip_spec.split == "valid"
    assert fgd.parse_firstgalaxydata_spec(f"{tmp_path}:test").source == tmp_path
    for not_a_spec in ("train.json", "firstgalaxydata", "firstgalaxydata:all", "x.json:test"):
        assert fgd.parse_firstgalaxydata_spec(not_a_spec) is None


def test_locate_from_file_folder_and_package(fake_zip, monkeypatch):
    assert fgd.locate_firstgalaxydata(fake_zip) == fake_zip
    assert fgd.locate_firstgalaxydata(fake_zip.parent) == fake_zip
    with pytest.raises(ConfigError, match="no galaxy_data.zip"):
        fgd.locate_firstgalaxydata(fake_zip.parent.parent)
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install firstgalaxydata"):
        fgd.locate_firstgalaxydata()


def test_read_split_records(fake_zip):
    ds = fgd.read_firstgalaxydata(fake_zip, "train")
    assert ds.scheme is FIRST and ds.instances == []
    assert [im.id for im in ds.images] == [1, 2, 3, 4]
    assert all(im.extra["split"] == "train" for im in ds.images)  # all/ is ignored
    by_class = {im.extra["member"].split("/")[2]: im for im in ds.images}
    frii = by_class["FRII"]
    assert frii.file_name == "galaxy_data/train/FRII/178.586_45.392_1_MiraBest.png"
    assert (frii.height, frii.width) == (300, 300)
    assert frii.extra["catalogue"] == "MiraBest"
    assert (frii.extra["ra"], frii.extra["dec"]) == (178.586, 45.392)
    assert frii.extra["image_classes"] == [FIRST.id_of_name("FRII")] == [2]
    assert by_class["Compact"].extra["dec"] == -3.5
    wcs = WCS(fits.Header.fromstring(frii.radio_wcs))
    assert list(wcs.wcs.ctype) == ["RA---TAN", "DEC--TAN"] and wcs.wcs.radesys == "ICRS"
    centre = wcs.pixel_to_world_values(149.5, 149.5)
    np.testing.assert_allclose(centre, (178.586, 45.392), atol=1e-9)
    geometry = geometry_of_records(ds.images)
    assert geometry.pixel_scale_arcsec == pytest.approx(1.8)
    assert geometry.beam_fwhm_px == pytest.approx((3.0, 3.0))
    assert geometry.cutout_size == 300
    labels = ds.image_labels()
    assert labels.tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]


def test_incomplete_or_foreign_zip_is_named(tmp_path):
    path = tmp_path / "galaxy_data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member_name("valid", "FRI", 1.0, 2.0), png_bytes(fake_png(0)))
    with pytest.raises(CocoFormatError, match=r"\['FRII', 'Compact', 'Bent'\]"):
        fgd.read_firstgalaxydata(path, "valid")
    with pytest.raises(ConfigError, match="split 'val'"):
        fgd.read_firstgalaxydata(path, "val")
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as archive:
        for folder in FIRST.names:
            archive.writestr(f"galaxy_data/test/{folder}/1.0_2.0_3_X.png", png_bytes(fake_png(1)))
    with pytest.raises(CocoFormatError, match="label 3 does not match its folder"):
        fgd.read_firstgalaxydata(wrong, "test")


def test_png_reader_is_exact_and_refuses_colour(fake_zip, tmp_path):
    member = member_name("valid", "Bent", 14.0, 5.0)
    np.testing.assert_array_equal(fgd.read_firstgalaxydata_png(fake_zip, member), fake_png(7))
    with pytest.raises(InputImageError, match="no member"):
        fgd.read_firstgalaxydata_png(fake_zip, "galaxy_data/valid/FRI/nope.png")
    colour = tmp_path / "colour.zip"
    with zipfile.ZipFile(colour, "w") as archive:
        archive.writestr("a.png", png_bytes(fake_png(0), "RGB"))
    with pytest.raises(InputImageError, match="grayscale"):
        fgd.read_firstgalaxydata_png(colour, "a.png")


def test_first_scheme_and_mapping():
    assert FIRST.names == ("FRI", "FRII", "Compact", "Bent")
    assert FIRST.coco_ids == (1, 2, 3, 4)
    assert [first_to_radiogalaxynet(n) for n in FIRST.names] == ["FR-I", "FR-II", None, None]


def png_channel(v: np.ndarray) -> np.ndarray:
    """What the network is to see of a PNG: v / 255 on islands of >= min_island_pixels."""
    isl = stats.islands(v, 0, min_pixels=DISPLAY.min_island_pixels)
    return np.where(isl > 0, v / 255.0, 0.0).astype(np.float32)


def test_display_channel_of_a_png_is_png_over_255(fake_zip):
    ds = fgd.read_firstgalaxydata(fake_zip, "valid")
    for record in ds.images:
        image = fgd.read_firstgalaxydata_image(record)
        v = fgd.read_firstgalaxydata_png(fake_zip, record.extra["member"])
        out = preprocess(image.data, None, DISPLAY)
        np.testing.assert_array_equal(out.channel("radio_display"), png_channel(v))
        assert out.radio_threshold == 0.0
        np.testing.assert_array_equal(out.radio_islands > 0, png_channel(v) > 0)


def fits_from_png(v: np.ndarray, record, path, *, sigma=1.5e-4, peak=0.05, seed=0):
    """A FIRST FITS cut-out in Jy/beam whose display is ``v``: the inverse of the PNG scale.

    Non-zero pixels sit in the middle of their 8-bit bin, ``t + (v + 1/2) / 255 (peak - t)``
    (the brightest exactly at the peak); zero pixels are Gaussian noise of ``sigma = t / 3``,
    redrawn while above ``t`` (a clipped pixel was below it). The noise of the source pixels
    is already in their values.
    """
    rng = np.random.default_rng(seed)
    t = 3 * sigma
    noise = rng.normal(0, sigma, v.shape)
    while (high := noise > t).any():
        noise[high] = rng.normal(0, sigma, int(high.sum()))
    data = np.where(v > 0, t + (v + 0.5) / 255.0 * (peak - t), noise)
    data[v == 255] = peak
    header = fits.Header.fromstring(record.radio_wcs)
    header["BMAJ"], header["BMIN"], header["BPA"] = record.beam
    header["BUNIT"] = "Jy/beam"
    fits.PrimaryHDU(data.astype(np.float32), header).writeto(path)
    return path


def test_fits_made_from_a_png_gives_the_png_channel(fake_zip, tmp_path):
    ds = fgd.read_firstgalaxydata(fake_zip, "test")
    for record in ds.images:
        v = fgd.read_firstgalaxydata_png(fake_zip, record.extra["member"])
        radio = read_radio(fits_from_png(v, record, tmp_path / f"{record.id}.fits"))
        assert radio.beam.major_deg * 3600 == pytest.approx(5.4)
        assert radio.pixel_scale_arcsec == pytest.approx(1.8)
        got = preprocess(radio.data, None, DISPLAY).channel("radio_display")
        want = png_channel(v)
        # the estimated clip level differs from t by the noise estimate's error (~1 %):
        # levels move by less than half a bin, so no value changes at all here
        assert np.abs(got - want).max() <= 1 / 255 + 1e-7
        assert (got == want).mean() > 0.999
        assert ((got > 0) == (want > 0)).mean() > 0.999


def test_simulated_first_sky_has_islands_on_its_sources():
    from napari_radiogal.sky import SkyConfig, simulate_cutout

    cfg = SkyConfig(
        size=150,
        pixel_scale_arcsec=1.8,
        beam_major_arcsec=5.4,
        beam_minor_arcsec=5.4,
        beam_pa_deg=0.0,
        noise_ujy=(130.0, 130.0),
    )
    cut = simulate_cutout(np.random.default_rng(4), cfg)
    out = preprocess(cut.radio.data, None, DISPLAY)
    channel, islands = out.channel("radio_display"), out.radio_islands > 0
    from scipy import ndimage

    # where the sky has signal, give or take a pixel (noise moves island edges by that much)
    signal = ndimage.binary_dilation((cut.model + cut.compact_model) > out.noise_sigma)
    assert channel.max() == 1.0 and set(np.unique(channel * 255).round(3)) <= set(range(256))
    for truth in cut.truth:
        mask = truth.mask
        brightest = np.unravel_index(np.argmax(np.where(mask, cut.radio.data, -np.inf)), mask.shape)
        assert islands[brightest]
    assert (islands & ~signal).sum() <= 0.05 * islands.sum()  # a noise island at most
    bright = (cut.model + cut.compact_model) > 10 * out.noise_sigma
    assert bright.any() and islands[bright].mean() > 0.95


def test_training_reads_the_spec_and_caches(fake_zip, tmp_path):
    from napari_radiogal.training.data import image_sources, prepare_images, read_training_coco

    spec = f"{fake_zip}:train"
    ds = read_training_coco(spec)
    sources = image_sources(spec, ds)
    assert {s.kind for s in sources} == {"first_png"} and sources[0].radio == fake_zip.resolve()
    images = prepare_images(spec, DISPLAY, tmp_path / "cache")
    assert images.labels.tolist() == ds.image_labels().tolist()
    assert images.scheme is FIRST
    for i, record in enumerate(images.records):
        v = fgd.read_firstgalaxydata_png(fake_zip, record.extra["member"])
        np.testing.assert_array_equal(images.channels(i), png_channel(v)[None])
        np.testing.assert_array_equal(images.islands(i), png_channel(v) > 0)
    stamps = [p.stat().st_mtime_ns for p in images.cache_files]
    again = prepare_images(spec, DISPLAY, tmp_path / "cache")
    assert [p.stat().st_mtime_ns for p in again.cache_files] == stamps


def test_inference_inputs_read_the_zip(fake_zip):
    from napari_radiogal.inference import inputs_from_coco

    ds = fgd.read_firstgalaxydata(fake_zip, "valid")
    items = list(inputs_from_coco(f"{fake_zip}:valid", ds))
    assert [it.image_id for it in items] == [1, 2, 3, 4]
    assert [it.class_ids for it in items] == [[4], [3], [1], [2]]
    assert items[0].radio.wcs is not None and items[0].radio.pixel_scale_arcsec == pytest.approx(
        1.8
    )
    v = fgd.read_firstgalaxydata_png(fake_zip, ds.images[0].extra["member"])
    np.testing.assert_array_equal(items[0].radio.data, v.astype(np.float32))


def test_display_scale_floors_linear_levels():
    image = np.zeros((6, 6))
    image[1:4, 1:4] = [[4.0, 5.0, 4.0], [5.0, 13.0, 5.0], [4.0, 5.0, 4.0]]
    channel, islands = display_scale(image, 3.0, PreprocessConfig(display_levels=10))
    # levels floor(10 (I - 3) / 10): 1 for I = 4, 2 for I = 5, 10 at the peak
    assert (channel[1:4, 1:4] * 10).round(6).tolist() == [[1, 2, 1], [2, 10, 2], [1, 2, 1]]
    assert int(islands.max()) == 1 and channel.sum() == pytest.approx((4 * 1 + 4 * 2 + 10) / 10)
    small, _ = display_scale(image, 4.5, PreprocessConfig())  # 5 pixels above: one island
    assert (small > 0).sum() == 5


@pytest.mark.slow
def test_real_package_round_trip():
    try:
        zip_path = fgd.locate_firstgalaxydata()
    except ConfigError:
        pytest.skip("firstgalaxydata is not installed")
    counts = {s: len(fgd.read_firstgalaxydata(zip_path, s).images) for s in fgd.SPLITS}
    assert counts == {"train": 1758, "valid": 200, "test": 200}
    ds = fgd.read_firstgalaxydata(zip_path, "valid")
    for record in ds.images[::20]:
        v = fgd.read_firstgalaxydata_png(zip_path, record.extra["member"])
        image = fgd.read_firstgalaxydata_image(record)
        channel = preprocess(image.data, None, DISPLAY).channel("radio_display")
        np.testing.assert_array_equal(channel, png_channel(v))


@pytest.mark.slow
def test_real_pngs_as_faint_fits_cutouts(tmp_path):
    """A peak of only 20 sigma (a bin is 0.07 sigma wide) still gives the PNG within a level.

    Over all 200 valid images (measured): 97 % identical, the rest differ by one level in
    < 0.8 % of their pixels, islands always identical; at 330 sigma all are identical.
    """
    try:
        zip_path = fgd.locate_firstgalaxydata()
    except ConfigError:
        pytest.skip("firstgalaxydata is not installed")
    ds = fgd.read_firstgalaxydata(zip_path, "valid")
    for record in ds.images[::20]:
        v = fgd.read_firstgalaxydata_png(zip_path, record.extra["member"])
        path = fits_from_png(v, record, tmp_path / f"{record.id}.fits", peak=3e-3, seed=record.id)
        got = preprocess(read_radio(path).data, None, DISPLAY).channel("radio_display")
        want = png_channel(v)
        assert np.abs(got - want).max() <= 1 / 255 + 1e-7
        np.testing.assert_array_equal(got > 0, want > 0)


@pytest.fixture(scope="module")
def first_tiny_weights(tmp_path_factory):
    """A random 1-channel FIRST model (display channel, FIRST classes and geometry)."""
    from napari_radiogal._napari._torch_guard import prepare_torch_import

    prepare_torch_import()
    import torch

    from napari_radiogal.io.geometry import ModelGeometry
    from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights

    torch.manual_seed(0)
    net = build_model(ModelConfig("resnet18", in_channels=1, num_classes=4), scheme=FIRST)
    card = WeightsCard(
        name="tiny-first",
        architecture=net.config,
        classes=FIRST,
        preprocess=DISPLAY,
        geometry=ModelGeometry(1.8, (3.0, 3.0), 300),
        training={"command": "pytest (random weights)"},
    )
    return save_weights(net, card, tmp_path_factory.mktemp("weights") / "tiny-first")


@pytest.mark.slow
def test_predict_reads_the_spec(fake_zip, first_tiny_weights, tmp_path):
    from napari_radiogal.cli import main
    from napari_radiogal.io.coco import read_coco

    out = tmp_path / "pred"
    args = ["predict", "--data", f"{fake_zip.parent}:valid", "--model", str(first_tiny_weights)]
    fast = ["--scales", "1", "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main([*args, *fast]) == 0
    pred = read_coco(out / "predictions.json")
    members = [im.extra["member"] for im in fgd.read_firstgalaxydata(fake_zip, "valid").images]
    assert [im.file_name for im in pred.images] == members
    assert pred.scheme.names == FIRST.names
