"""The beam chain: user value, header, survey preset, measured from the noise, unknown."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy import ndimage

from napari_radiogal.errors import BeamWarning, ConfigError
from napari_radiogal.io.beam import beam_from_arcsec, resolve_beam
from napari_radiogal.io.fits import Beam, RadioImage


def _wcs(scale_arcsec=1.8):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, 30.0]
    w.wcs.crpix = [129.0, 129.0]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return w


def _noise(fwhm_px, n=256, seed=0):
    white = np.random.default_rng(seed).normal(size=(n, n))
    img = ndimage.gaussian_filter(white, fwhm_px / 2.3548 / np.sqrt(2))  # acf FWHM = beam
    return (img * (150e-6 / img.std())).astype(np.float32)


def _image(data, *, beam=None, header_cards=None, scale=1.8, frequency_hz=None):
    header = _wcs(scale).to_header()
    for k, v in (header_cards or {}).items():
        header[k] = v
    return RadioImage(data, _wcs(scale), beam=beam, header=header, frequency_hz=frequency_hz)


def test_the_users_beam_wins_and_the_header_beam_comes_next(recwarn):
    img = _image(_noise(3.0), beam=Beam(5.0 / 3600, 4.0 / 3600, 10.0))
    choice = resolve_beam(img, user=(6.0, 5.0, 30.0))
    assert choice.source == "user" and choice.beam[0] == pytest.approx(6.0 / 3600)
    choice = resolve_beam(img)
    assert choice.source == "header" and choice.beam[2] == 10.0
    assert choice.pixels_per_beam(1.8) == pytest.approx(np.sqrt(20.0) / 1.8)
    assert not [w for w in recwarn if issubclass(w.category, BeamWarning)]


def test_a_header_that_names_its_survey_gets_the_survey_beam_with_a_warning():
    img = _image(_noise(3.0), header_cards={"TELESCOP": "VLA"}, frequency_hz=1.4e9)
    with pytest.warns(BeamWarning, match=r"FIRST survey's 5.4\" x 5.4\" beam.*--beam"):
        choice = resolve_beam(img)
    assert choice.source == "survey preset FIRST"
    assert choice.pixels_per_beam(1.8) == pytest.approx(3.0)


def test_without_header_or_preset_the_beam_is_measured_from_the_noise():
    img = _image(_noise(3.0))  # a WCS but nothing that names a survey
    with pytest.warns(BeamWarning, match="measured .* autocorrelation"):
        choice = resolve_beam(img)
    assert choice.source == "measured from the noise"
    assert choice.pixels_per_beam(1.8) == pytest.approx(3.0, rel=0.1)
    with pytest.warns(BeamWarning, match="measured"):  # a bare array: FWHM in pixels
        bare = resolve_beam(_noise(4.0, seed=2))
    assert bare.pixels_per_beam(1.0) == pytest.approx(4.0, rel=0.1)


def test_an_unknown_beam_is_said_never_guessed():
    white = np.random.default_rng(1).normal(0, 1e-4, (256, 256)).astype(np.float32)
    with pytest.warns(BeamWarning, match="beam is unknown.*--beam"):
        choice = resolve_beam(white)
    assert choice.beam is None and choice.source == "unknown"
    with pytest.warns(BeamWarning, match="unknown"):
        assert resolve_beam(_noise(3.0), measure=False).beam is None


@pytest.mark.parametrize("values", [(), (1, 2, 3, 4), (5, 6), (-1,), (float("nan"),)])
def test_bad_user_beams_are_refused(values):
    with pytest.raises(ConfigError, match="beam"):
        beam_from_arcsec(values)
