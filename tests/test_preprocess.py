"""Pre-processing of paper section 3.1 on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from napari_radiogal.errors import ConfigError, InputImageError
from napari_radiogal.preprocess import (
    PreprocessConfig,
    assemble_channels,
    preprocess,
    scale_islands,
)
from napari_radiogal.stats import clipped_noise


def _noise(shape=(64, 64), sigma=30e-6, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma, shape)


def test_islands_are_log_minmax_scaled_and_zero_elsewhere():
    radio = _noise()
    radio[10:14, 10:14] = 1e-3  # 16 px island, faint
    radio[40:45, 40:45] = 1e-1  # 25 px island, bright
    radio[42, 42] = 1.0  # the brightest pixel
    out = preprocess(radio)
    chan = out.channel("radio")
    assert chan.dtype == np.float32
    assert chan.max() == pytest.approx(1.0)
    assert chan[42, 42] == pytest.approx(1.0)
    inside = out.radio_islands > 0
    assert inside[10:14, 10:14].all() and inside[40:45, 40:45].all()
    # outside the islands: exactly 0; inside: strictly positive
    assert (chan[~inside] == 0).all()
    assert (chan[inside] > 0).all()
    # faintest island pixel maps to epsilon, and the scale is logarithmic:
    eps = out.config.epsilon
    assert chan[inside].min() == pytest.approx(eps, abs=1e-7)
    log_min, log_max = np.log(radio[inside].min()), np.log(1.0)
    expected = eps + (1 - eps) * (np.log(1e-1) - log_min) / (log_max - log_min)
    assert chan[40, 40] == pytest.approx(expected, rel=1e-5)


def test_noise_and_threshold_follow_the_paper():
    radio = _noise(seed=3)
    radio[5:9, 5:9] = 5e-3
    out = preprocess(radio)
    assert out.noise_sigma == pytest.approx(clipped_noise(radio, rounds=2, clip=3.0))
    assert out.radio_threshold == pytest.approx(3 * out.noise_sigma)
    assert 20e-6 < out.noise_sigma < 32e-6


def test_small_islands_are_dropped():
    radio = np.zeros((32, 32))
    radio += _noise((32, 32), sigma=1e-6, seed=1)
    radio[2:6, 2:6] = radio[19:23, 19:24] = 0.0  # empty borders: islands are exactly
    radio[3:5, 3:5] = 1.0  # 4 px: dropped (< 5)
    radio[20:22, 20:23] = 1.0  # 6 px: kept
    out = preprocess(radio)
    assert out.radio_islands[3:5, 3:5].max() == 0
    assert out.radio_islands[20:22, 20:23].min() > 0
    assert out.channel("radio")[3:5, 3:5].max() == 0
    bigger = preprocess(radio, config=PreprocessConfig(min_island_pixels=7))
    assert bigger.radio_islands[20:22, 20:23].max() == 0


def test_nan_pixels_become_zero_and_are_recorded():
    radio = _noise()
    radio[30:36, 30:36] = 1e-2
    radio[:, :8] = np.nan
    out = preprocess(radio)
    assert np.isfinite(out.channels).all()
    assert out.radio_blank[:, :8].all() and not out.radio_blank[:, 8:].any()
    assert (out.channels[:, :, :8] == 0).all()
    with pytest.raises(InputImageError, match="no finite pixel"):
        preprocess(np.full((8, 8), np.nan))


def test_ir_uses_median_plus_3mad_and_none_gives_zero_channel():
    rng = np.random.default_rng(5)
    radio = _noise()
    radio[30:36, 30:36] = 1e-2
    ir = 100.0 + rng.normal(0, 2.0, radio.shape)
    ir[8:12, 50:54] = 500.0
    ir[60:63, 0:3] = np.nan
    out = preprocess(radio, ir)
    med = np.nanmedian(ir)
    mad = np.nanmedian(np.abs(ir - med))
    assert out.ir_threshold == pytest.approx(med + 3 * mad)
    assert out.channel("ir")[8:12, 50:54].min() > 0.9
    assert out.ir_blank[60:63, 0:3].all()
    assert out.has_ir
    no_ir = preprocess(radio, None)
    assert not no_ir.has_ir
    assert (no_ir.channel("ir") == 0).all()
    np.testing.assert_array_equal(no_ir.channel("radio"), out.channel("radio"))


def test_negative_ir_sky_still_scales_in_order():
    rng = np.random.default_rng(2)
    ir = rng.normal(-5.0, 1.0, (40, 40))
    ir[10:13, 10:13] = -1.0  # above median + 3 MAD but still negative
    ir[25:28, 25:28] = 50.0
    out = preprocess(_noise((40, 40)), ir)
    chan = out.channel("ir")
    assert np.isfinite(chan).all()
    assert 0 < chan[11, 11] < chan[26, 26] == pytest.approx(1.0)


def test_channel_selection_and_order():
    radio = _noise()
    radio[30:36, 30:36] = 1e-2
    cfg = PreprocessConfig(channels=("radio_mask", "radio"))
    out = preprocess(radio, None, cfg)
    assert out.channels.shape == (2, 64, 64)
    np.testing.assert_array_equal(out.channels[0], (out.radio_islands > 0).astype(np.float32))
    assert out.channels[1].max() == pytest.approx(1.0)


def test_config_round_trip_and_validation():
    cfg = PreprocessConfig(island_sigma=4.0, channels=("radio", "ir", "ir_mask"))
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        PreprocessConfig(channels=("radio", "optical"))
    with pytest.raises(ConfigError, match="unknown preprocessing"):
        PreprocessConfig.from_dict({"sigma": 3})
    with pytest.raises(ConfigError):
        PreprocessConfig(connectivity=3)


def test_shape_errors():
    with pytest.raises(InputImageError, match="2-D"):
        preprocess(np.zeros((2, 3, 4)))
    with pytest.raises(InputImageError, match="reproject"):
        preprocess(_noise((16, 16)), np.zeros((15, 16)))
    # degenerate FITS axes are squeezed
    assert preprocess(_noise((16, 16))[None, None]).channels.shape == (2, 16, 16)


def test_scale_islands_constant_and_empty():
    img = np.full((4, 4), 7.0)
    lab = np.ones((4, 4), int)
    assert (scale_islands(img, lab, 1.0) == 1).all()
    assert (scale_islands(img, np.zeros_like(lab), 1.0) == 0).all()


def test_assemble_channels_from_prescaled_png_data():
    radio = np.zeros((8, 8), np.float32)
    radio[2:4, 2:4] = 0.5
    chans = assemble_channels(radio, None, PreprocessConfig(channels=("radio", "ir", "radio_mask")))
    assert chans.shape == (3, 8, 8)
    assert chans[1].max() == 0
    assert chans[2].sum() == 4


# --- local background and noise maps (noise="local") ------------------------------------


def _beam_noise(shape=(210, 210), sigma=30e-6, seed=0, beam_px=2.5):
    """Beam-correlated Gaussian noise with standard deviation ``sigma``."""
    from scipy import ndimage

    white = np.random.default_rng(seed).normal(0.0, 1.0, shape)
    smooth = ndimage.gaussian_filter(white, beam_px)
    return smooth * (sigma / smooth.std())


def _extended_source(shape=(210, 210), peak=2e-3):
    """Two Gaussian lobes 60 px apart: a source with known 'true' pixels."""
    rows, cols = np.indices(shape, dtype=float)
    lobe = lambda r, c, s: np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s**2))  # noqa: E731
    return peak * (lobe(105, 75, 6) + lobe(105, 135, 6))


def test_local_noise_gives_the_papers_islands_on_stationary_noise():
    radio = _beam_noise() + _extended_source()
    glob = preprocess(radio)
    loc = preprocess(radio, config=PreprocessConfig(noise="local"))
    a, b = glob.radio_islands > 0, loc.radio_islands > 0
    assert a.sum() > 200  # the lobes are found
    assert (a & b).sum() / (a | b).sum() > 0.9
    assert loc.noise_sigma == pytest.approx(glob.noise_sigma, rel=0.1)
    assert loc.radio_noise_map.shape == radio.shape and glob.radio_noise_map is None


@pytest.mark.parametrize(
    "period, amplitude, global_fails_by",
    [(400, 5, "flooding"), (300, 8, "losing the source")],
)
def test_local_noise_follows_a_large_scale_ripple(period, amplitude, global_fails_by):
    """A ripple of a few sigma (e.g. a sidelobe of a source outside the field)."""
    sigma = 30e-6
    cols = np.arange(210)[None, :]
    ripple = amplitude * sigma * np.sin(2 * np.pi * cols / period) * np.ones((210, 1))
    source = _extended_source()
    radio = _beam_noise(sigma=sigma, seed=1) + ripple + source
    truth = source > 3 * sigma
    glob = preprocess(radio).radio_islands > 0
    loc = preprocess(radio, config=PreprocessConfig(noise="local")).radio_islands > 0
    if global_fails_by == "flooding":  # one sigma: the crest of the ripple becomes an island
        assert (glob & ~truth).sum() > 2000
    else:  # the ripple inflates the one sigma, and the faint half of the lobes is lost
        assert (glob & truth).sum() < 0.7 * truth.sum()
    assert (loc & ~truth).sum() < 300
    assert (loc & truth).sum() > 0.9 * truth.sum()


def test_local_noise_follows_a_noisier_half():
    radio = _beam_noise(seed=2)
    radio[:, 105:] *= 4  # e.g. a sidelobe-dominated half of the field
    loc = preprocess(radio, config=PreprocessConfig(noise="local", background_box=35))
    glob = preprocess(radio)
    assert np.median(loc.radio_noise_map[:, 150:]) > 2.5 * np.median(loc.radio_noise_map[:, :60])
    # the global sigma puts the quiet half's islands into the noisy half
    assert (glob.radio_islands[:, 105:] > 0).sum() > 3 * max(1, (loc.radio_islands > 0).sum())
    assert (loc.radio_islands[:, :90] > 0).sum() < 50


def test_local_noise_ignores_blanked_pixels():
    radio = _beam_noise(seed=3) + _extended_source()
    radio[:40, :] = np.nan
    loc = preprocess(radio, config=PreprocessConfig(noise="local"))
    assert np.isfinite(loc.radio_noise_map[40:]).all()
    assert (loc.radio_islands[:40] == 0).all() and (loc.radio_islands > 0).sum() > 200


@pytest.mark.parametrize(
    "field, value",
    [("noise", "bane"), ("background_box", 4), ("background_filter", 2)],
)
def test_local_noise_options_are_validated(field, value):
    with pytest.raises(ConfigError, match=field):
        PreprocessConfig(**{field: value})
