"""A weights card's recommended inference settings: used unless the user sets them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_radiogal.cli import main
from napari_radiogal.errors import WeightsError
from napari_radiogal.inference import load_model, segment


def _with_settings(tiny_weights, tmp_path, settings):
    """A copy of the tiny model whose card recommends ``settings``."""
    target = tmp_path / "tuned"
    shutil.copy(tiny_weights, target.with_suffix(".safetensors"))
    card = json.loads(tiny_weights.with_suffix(".json").read_text())
    card["inference"] = settings
    target.with_suffix(".json").write_text(json.dumps(card))
    return target.with_suffix(".safetensors")


def test_the_card_replaces_library_defaults_and_the_user_replaces_the_card(tiny_weights, tmp_path):
    lm = load_model(_with_settings(tiny_weights, tmp_path, {"class_threshold": 0.15}))
    assert lm.config().class_threshold == 0.15
    assert lm.config(class_threshold=0.5).class_threshold == 0.5  # even the library default
    assert lm.config(beta=4.0).class_threshold == 0.15  # other settings keep the card's
    assert load_model(tiny_weights).config().class_threshold == 0.5  # no recommendation
    rng = np.random.default_rng(0)
    image = rng.normal(0, 1e-4, (64, 64)).astype(np.float32)
    used = segment(image, model=lm).provenance["parameters"]["inference"]
    assert used["class_threshold"] == 0.15


def test_predict_uses_the_card_unless_an_option_is_given(tiny_weights, tmp_path, capsys):
    from astropy.io import fits

    weights = _with_settings(tiny_weights, tmp_path, {"class_threshold": 0.15})
    rng = np.random.default_rng(0)
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [320.0, -55.0]
    wcs.wcs.crpix = [32.5, 32.5]
    wcs.wcs.cdelt = [-2 / 3600, 2 / 3600]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=13 / 3600, BMIN=11 / 3600, BPA=0.0)
    fits.PrimaryHDU(rng.normal(0, 3e-5, (64, 64)).astype(np.float32), header).writeto(
        tmp_path / "a.fits"
    )
    common = ["predict", str(tmp_path / "a.fits"), "--model", str(weights), "--no-progress"]
    for extra, expected in (([], 0.15), (["--class-threshold", "0.5"], 0.5)):
        out = tmp_path / f"out{expected}"
        assert main([*common, "--out", str(out), *extra]) == 0, capsys.readouterr().err
        coco = json.loads((out / "a.json").read_text())
        assert coco["info"]["parameters"]["inference"]["class_threshold"] == expected


def test_a_card_recommending_an_unknown_setting_is_a_weights_error(tiny_weights, tmp_path):
    with pytest.raises(WeightsError, match="recommended inference settings"):
        load_model(_with_settings(tiny_weights, tmp_path, {"class_treshold": 0.2}))
