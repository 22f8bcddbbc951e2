"""Resolution-aware inference: any pixel scale to the model's geometry and back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from reproject import reproject_interp

from napari_radiogal.errors import BeamWarning, InputImageError
from napari_radiogal.inference import InferenceConfig, segment
from napari_radiogal.io.fits import RadioImage
from napari_radiogal.sky import demo_cutout


@pytest.fixture(scope="module")
def demo():
    return demo_cutout()


def _regrid(image: RadioImage, scale: float) -> RadioImage:
    """The same sky on a grid of ``scale`` arcsec/px around the same centre (astropy's
    reproject, independent of our resampling), beam kept in the header."""
    w = image.wcs
    n = int(round(image.shape[0] * image.pixel_scale_arcsec / scale))
    new = w.deepcopy()
    new.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    new.wcs.crval = list(
        w.pixel_to_world_values((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    )
    factor = scale / image.pixel_scale_arcsec
    if new.wcs.has_cd():
        new.wcs.cd = w.wcs.cd * factor
    else:
        new.wcs.cdelt = w.wcs.cdelt * factor
    new.wcs.set()
    data, _ = reproject_interp((image.data, w), new, shape_out=(n, n), order="bicubic")
    return RadioImage(data.astype(np.float32), new, beam=image.beam, pixel_scale_arcsec=scale)


@pytest.fixture(scope="module")
def one_sampling_model(tmp_path_factory):
    """The bundled network with a card of one sampling (its reference pixels per beam), so
    that every input is resampled: the test then checks the geometry, not the network."""
    import dataclasses
    import json
    import shutil

    from napari_radiogal.models import default_weights_path, read_card

    folder = tmp_path_factory.mktemp("one_sampling")
    card = read_card(default_weights_path())
    reference = card.model_geometry.pixels_per_beam
    geometry = dataclasses.replace(
        card.model_geometry, pixels_per_beam_range=(reference, reference)
    )
    shutil.copy(default_weights_path(), folder / "model.safetensors")
    data = card.to_dict()
    data["geometry"] = geometry.to_dict()
    data["inference"] = {}  # no recommended run range either: the card's one sampling rules
    (folder / "model.json").write_text(json.dumps(data))
    return folder / "model.safetensors"


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1.0, 1.8, 4.0])
def test_the_same_sky_at_another_pixel_scale_gives_the_same_source(demo, scale, one_sampling_model):
    """The demo FR-II at 1, 1.8 and 4"/px: same class, host within 1", same sky footprint.

    (The bundled model itself runs images inside its recommended 3.5-7 px-per-beam range on
    their own pixels: what it then does at each sampling is measured by benchmarks/shift.py.)
    """
    regridded = _regrid(demo.radio, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # partial IR coverage of the regridded fields
        native = segment(demo.radio, demo.infrared, model=one_sampling_model)
        other = segment(regridded, demo.infrared, model=one_sampling_model)
    ref, got = native.instances[0], other.instances[0]
    assert len(other.instances) == len(native.instances)
    assert got.category_id == ref.category_id
    assert got.score == pytest.approx(ref.score, abs=0.05)
    cos_dec = np.cos(np.deg2rad(ref.host_dec))
    offset = 3600 * np.hypot((got.host_ra - ref.host_ra) * cos_dec, got.host_dec - ref.host_dec)
    assert offset < 1.0
    # the same sky: the native mask's pixels, mapped through the two WCSs, fall in the other
    # mask (the network may add a compact neighbour on a resampled grid, so the other mask
    # may be larger: at most by a fifth)
    rows, cols = np.nonzero(ref.mask)
    x, y = regridded.wcs.world_to_pixel(demo.radio.wcs.pixel_to_world(cols, rows))
    inside = got.mask[
        np.clip(np.rint(y).astype(int), 0, got.mask.shape[0] - 1),
        np.clip(np.rint(x).astype(int), 0, got.mask.shape[1] - 1),
    ]
    assert inside.mean() > 0.9
    sky_area = got.area * scale**2
    assert ref.area * 2.0**2 * 0.9 < sky_area < ref.area * 2.0**2 * 1.2
    geometry = other.image.extra["geometry"]
    assert geometry["beam_source"] == "header"
    assert geometry["resampling_factor"] == pytest.approx(2.0 / scale, rel=1e-6)
    assert other.image.height == other.image.width == _regrid(demo.radio, scale).shape[0]


def test_an_image_larger_than_the_cutout_runs_in_windows_and_keeps_one_source(demo):
    """The demo field padded to 420 x 420 px: 3 x 3 windows, the FR-II found once."""
    radio = demo.radio
    big = np.random.default_rng(0).normal(0, demo.noise_sigma, (420, 420)).astype(np.float32)
    big[105:315, 105:315] = radio.data
    w = radio.wcs.deepcopy()
    w.wcs.crpix = w.wcs.crpix + 105
    image = RadioImage(big, w, beam=radio.beam, pixel_scale_arcsec=2.0)
    config = InferenceConfig(window_overlap=105)
    pred = segment(image, config=config)
    assert pred.image.extra["geometry"]["windows"] == 9
    assert pred.image.height == 420
    fr2 = [a for a in pred.instances if a.area > 500]
    assert len(fr2) == 1
    # no pixel in two sources
    total = np.zeros((420, 420), np.int32)
    for a in pred.instances:
        total += a.mask
    assert total.max() <= 1


def test_a_missing_beam_is_measured_with_a_warning(demo):
    radio = demo.radio
    no_beam = RadioImage(radio.data, radio.wcs, beam=None, pixel_scale_arcsec=2.0)
    with pytest.warns(BeamWarning, match="measured"), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("always", category=BeamWarning)
        pred = segment(no_beam, config=InferenceConfig(beam=()))
    # the measured beam is the one the catalogue uses: close to the true 13" x 11"
    assert pred.beam is not None
    measured = 3600 * np.sqrt(pred.beam[0] * pred.beam[1])
    assert measured == pytest.approx(np.sqrt(13.0 * 11.0), rel=0.15)
    assert pred.instances


def test_the_users_beam_overrides_and_the_memory_budget_is_checked_first(demo):
    radio = demo.radio
    with pytest.raises(InputImageError, match="budget"):
        # a 1" beam on 2" pixels would need resampling x 12 per axis
        segment(radio, config=InferenceConfig(beam=(1.0,), max_megapixels=1.0))
