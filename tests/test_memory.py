"""The memory budget of inference, lazy pixels and the infrared reprojected in blocks."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.inference import InferenceConfig, MemoryBudgetError, segment
from napari_radiogal.inference import inputs as inputs_module
from napari_radiogal.inference.inputs import image_pixels, infrared_on_grid, radio_array
from napari_radiogal.inference.resolution import (
    FIXED_BYTES,
    InputPlan,
    check_memory,
    memory_estimate,
)
from napari_radiogal.io.fits import (
    infrared_image_from_array,
    radio_image_from_array,
    read_radio,
)
from napari_radiogal.io.geometry import Resampling


def _plan(shape, out=None) -> InputPlan:
    return InputPlan(None, None, Resampling(1.0 if out is None else 0.5, shape, out or shape), [])


def test_the_estimate_grows_with_the_pixels_and_counts_resampling_and_inputs():
    small = memory_estimate((1000, 1000), _plan((1000, 1000)), has_infrared=False)
    large = memory_estimate((4000, 4000), _plan((4000, 4000)), has_infrared=False)
    assert small.parts["fixed"] == large.parts["fixed"] == FIXED_BYTES
    assert (large.total - FIXED_BYTES) == 16 * (small.total - FIXED_BYTES)
    with_ir = memory_estimate((1000, 1000), _plan((1000, 1000)), has_infrared=True)
    assert with_ir.parts["infrared"] == 4_000_000
    held = memory_estimate(
        (1000, 1000), _plan((1000, 1000)), has_infrared=False, inputs_in_memory=1
    )
    assert held.total == small.total + 4_000_000
    resampled = memory_estimate((1000, 1000), _plan((1000, 1000), (2000, 2000)), has_infrared=False)
    assert resampled.parts["resampling"] > 4 * small.parts["radio"]


def test_check_memory_passes_under_the_budget_and_refuses_with_the_numbers_over_it():
    plan = _plan((20000, 20000))
    fits_it = InferenceConfig(memory_budget_gb=100.0)
    assert (
        check_memory(
            (20000, 20000), plan, fits_it, has_infrared=True, inputs_in_memory=2, name="big"
        ).total_gb
        < 100.0
    )
    with pytest.raises(MemoryBudgetError) as info:
        check_memory(
            (20000, 20000),
            plan,
            InferenceConfig(memory_budget_gb=4.0),
            has_infrared=True,
            inputs_in_memory=2,
            name="big.fits",
        )
    error = info.value
    assert isinstance(error, ValueError)
    assert error.shape == (20000, 20000) and error.budget_gb == 4.0 and error.estimate_gb > 4.0
    message = str(error)
    assert "big.fits is 20000 x 20000" in message and "budget of 4 GB" in message
    assert "--memory-budget-gb" in message and "memory_budget_gb" in message


def test_segment_refuses_an_image_over_the_budget_before_the_network(tiny_weights):
    calls = []

    def network_step(lm, channels, config):
        calls.append(len(channels))
        raise AssertionError("the network must not run")

    config = InferenceConfig(memory_budget_gb=1.0)  # the fixed part alone takes 1.3 GB
    with pytest.raises(MemoryBudgetError, match="400 x 400"):
        segment(
            np.zeros((400, 400), np.float32),
            model=tiny_weights,
            config=config,
            network_step=network_step,
        )
    assert calls == []


def test_the_memory_budget_is_a_config_field_with_a_laptop_default():
    assert InferenceConfig().memory_budget_gb == 4.0
    with pytest.raises(ValueError, match="memory_budget_gb"):
        InferenceConfig(memory_budget_gb=0.0)


def _write_radio(path, data, unit="mJy/beam"):
    header = fits.Header()
    header["BUNIT"] = unit
    fits.PrimaryHDU(data.astype(">f4"), header=header).writeto(path)


def test_lazy_pixels_are_blanked_and_in_jy_like_an_eager_read(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(1.0, 0.1, (40, 30)).astype(np.float32)
    data[3, 4] = np.inf
    path = tmp_path / "r.fits"
    _write_radio(path, data)
    with pytest.warns(Warning):
        eager = read_radio(path)
        lazy = read_radio(path, lazy=True)
    with pytest.warns(Warning, match="infinite"):
        pixels = radio_array(lazy)
    np.testing.assert_array_equal(pixels, eager.data)
    assert np.isnan(pixels[3, 4]) and pixels.dtype == np.float32 and pixels.dtype.isnative
    with pytest.warns(Warning, match="infinite"):
        window = image_pixels(lazy, np.s_[2:6, 3:9])
    np.testing.assert_array_equal(window, eager.data[2:6, 3:9])


def _wcs(shape, scale_arcsec, crval=(150.0, -30.0)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = crval
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    return w


def test_the_infrared_reprojected_in_blocks_equals_one_whole_pass(monkeypatch):
    rng = np.random.default_rng(1)
    shape = (150, 130)
    radio = radio_image_from_array(np.zeros(shape, np.float32), _wcs(shape, 2.0))
    ir_shape = (260, 250)
    ir = infrared_image_from_array(
        rng.normal(size=ir_shape).astype(np.float32), _wcs(ir_shape, 1.375)
    )
    whole, _ = infrared_on_grid(ir, radio, shape, 1)
    monkeypatch.setattr(inputs_module, "REPROJECT_BLOCK", 64)
    calls = []
    blocks, _ = infrared_on_grid(ir, radio, shape, 1, cancel=lambda: calls.append(1))
    assert len(calls) == 9  # 3 x 3 blocks of 64 px, each preceded by a cancel check
    np.testing.assert_allclose(blocks, whole, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert np.isfinite(blocks).mean() > 0.9


# the header-less file is read in pixel-only mode, with a warning this test is not about
@pytest.mark.filterwarnings("ignore::napari_radiogal.errors.FitsFormatWarning")
def test_predict_refuses_an_image_over_memory_budget_with_exit_2_and_writes_nothing(
    tiny_weights, tmp_path, capsys
):
    from napari_radiogal.cli import main

    path = tmp_path / "big.fits"
    _write_radio(path, np.zeros((300, 300), np.float32), unit="Jy/beam")
    out = tmp_path / "out"
    argv = ["predict", str(path), "--model", str(tiny_weights), "--out", str(out), "--no-resample"]
    # --memory-budget is the unambiguous prefix of --memory-budget-gb
    assert main([*argv, "--memory-budget", "1", "--device", "cpu", "--no-progress"]) == 2
    message = capsys.readouterr().err
    assert "300 x 300" in message and "memory budget of 1 GB" in message
    assert not out.exists() or not any(out.iterdir())
