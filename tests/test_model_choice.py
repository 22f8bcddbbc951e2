"""Which bundled model an image gets when the user names none (geometry and inputs decide)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.wcs import WCS

import napari_radiogal.models.weights as mw
from napari_radiogal.classes import FIRST, RADIOGALAXYNET
from napari_radiogal.inference import choose_bundled_model
from napari_radiogal.io.fits import read_radio
from napari_radiogal.io.geometry import ModelGeometry
from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights
from napari_radiogal.preprocess import PreprocessConfig


def _bundle(folder, stem, name, scheme, channels, geometry):
    config = ModelConfig("resnet18", in_channels=len(channels), num_classes=scheme.num_classes)
    torch.manual_seed(0)
    card = WeightsCard(
        name=name,
        architecture=config,
        classes=scheme,
        preprocess=PreprocessConfig(channels=channels),
        geometry=geometry,
    )
    save_weights(build_model(config, scheme=scheme), card, folder / stem)


@pytest.fixture
def two_bundled_models(tmp_path, monkeypatch):
    """An EMU-like default (radio + IR, 2.5-8 px per beam) and a FIRST-like radio-only model."""
    folder = tmp_path / "weights"
    folder.mkdir()
    emu = ModelGeometry(2.0, (6.5, 5.5), 210, pixels_per_beam_range=(2.5, 8.0))
    first = ModelGeometry(1.8, (3.0, 3.0), 300)
    _bundle(folder, "default", "emu-like", RADIOGALAXYNET, ("radio", "ir"), emu)
    _bundle(folder, "first", "first-like", FIRST, ("radio_display",), first)
    monkeypatch.setattr(mw, "bundled_weights_dir", lambda: folder)
    monkeypatch.setattr(mw, "default_weights_path", lambda: folder / "default.safetensors")
    return folder


def _fits(path, pixel_arcsec, beam_arcsec=None, n=96):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 20.0]
    wcs.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600, pixel_arcsec / 3600]
    header = wcs.to_header()
    header["BUNIT"] = "Jy/beam"
    if beam_arcsec is not None:
        header.update(BMAJ=beam_arcsec / 3600, BMIN=beam_arcsec / 3600, BPA=0.0)
    data = np.random.default_rng(0).normal(0, 1e-4, (n, n)).astype(np.float32)
    fits.PrimaryHDU(data, header).writeto(path)
    return read_radio(path)


def test_a_first_cutout_without_infrared_gets_the_first_model(two_bundled_models, tmp_path):
    image = _fits(tmp_path / "first.fits", 1.8, 5.4)
    choice = choose_bundled_model(image, has_infrared=False)
    assert choice.name == "first-like" and choice.path.stem == "first"
    assert "3.0" in choice.reason and "radio only" in choice.reason


def test_infrared_given_prefers_the_model_that_reads_it(two_bundled_models, tmp_path):
    image = _fits(tmp_path / "first.fits", 1.8, 5.4)
    assert choose_bundled_model(image, has_infrared=True).name == "emu-like"


def test_an_emu_cutout_gets_the_default_with_or_without_infrared(two_bundled_models, tmp_path):
    image = _fits(tmp_path / "emu.fits", 2.0, 12.0)  # 6 px per beam: outside the FIRST model
    assert choose_bundled_model(image, has_infrared=False).name == "emu-like"
    assert choose_bundled_model(image, has_infrared=True).name == "emu-like"


def test_the_users_beam_decides_for_a_header_without_one(two_bundled_models, tmp_path):
    image = _fits(tmp_path / "nobeam.fits", 1.8)  # white noise: no beam to measure either
    assert choose_bundled_model(image, has_infrared=False, beam=(5.4,)).name == "first-like"
    assert choose_bundled_model(image, has_infrared=False, beam=(13.0,)).name == "emu-like"


def test_an_image_without_sky_geometry_gets_the_default(two_bundled_models):
    bare = np.zeros((64, 64), np.float32)
    choice = choose_bundled_model(bare, has_infrared=False)
    assert choice.name == "emu-like" and "no known beam" in choice.reason


def test_the_shipped_models_give_first_cutouts_the_first_model(tmp_path):
    from napari_radiogal.models import find_weights, read_card

    first = find_weights("first")
    assert read_card(first).classes.names == FIRST.names
    assert read_card(first).preprocess.channels == ("radio_display",)
    image = _fits(tmp_path / "first.fits", 1.8, 5.4)
    assert choose_bundled_model(image, has_infrared=False).path == first
    emu = _fits(tmp_path / "emu.fits", 2.0, 12.0)
    assert choose_bundled_model(emu, has_infrared=False).path.stem == "default"
