"""Model geometry, resampling onto the model's pixels per beam, and windows."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from napari_radiogal.errors import ConfigError, InputImageError
from napari_radiogal.io.geometry import (
    EMU_PILOT_GEOMETRY,
    ModelGeometry,
    Resampling,
    plan_resampling,
    resample,
    resample_wcs,
    window_grid,
)

FIELD_ARCSEC = 420.0  # a 7' field
BEAM_ARCSEC = 13.0


def _sky(pixel_scale: float, n: int | None = None) -> np.ndarray:
    """The same sky rendered at ``pixel_scale`` arcsec/px: two beam-sized Gaussian sources.

    Pixel (r, c) has its centre at ((c + 1/2) p, (r + 1/2) p) arcsec from the field corner.
    """
    n = round(FIELD_ARCSEC / pixel_scale) if n is None else n
    centres = (np.arange(n) + 0.5) * pixel_scale
    y, x = np.meshgrid(centres, centres, indexing="ij")
    sig = BEAM_ARCSEC / 2.3548
    img = np.zeros((n, n))
    for x0, y0, peak in ((150.0, 200.0, 1.0), (260.0, 230.0, 0.5)):
        img += peak * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sig**2))
    return img


@pytest.mark.parametrize("pixel_scale", [1.0, 1.8, 2.0, 4.0])
def test_the_same_sky_at_any_pixel_scale_resamples_to_the_same_image(pixel_scale):
    """Rendered at 1, 1.8, 2 and 4"/px, the sky lands on the model's grid alike."""
    image = _sky(pixel_scale)
    geometry = ModelGeometry(pixel_scale_arcsec=2.0, beam_fwhm_px=(6.5, 6.5), cutout_size=210)
    plan = plan_resampling(image.shape, BEAM_ARCSEC / pixel_scale, geometry, tolerance=0.0)
    out = resample(image, plan)
    target_scale = pixel_scale * plan.factor  # arcsec per output pixel
    assert target_scale == pytest.approx(2.0, rel=1e-9)
    reference = _sky(target_scale, n=out.shape[0])
    assert out.shape[0] == pytest.approx(210, abs=1)
    # same image to a few per cent of the peak (4"/px is only 3.25 px per beam)
    tol = 0.06 if pixel_scale == 4.0 else 0.02
    assert np.abs(out - reference).max() < tol
    # the brightest source maps back to its true position on the user's grid
    r, c = np.unravel_index(np.argmax(out), out.shape)
    x_in, y_in = plan.to_input_xy(float(c), float(r))
    assert (x_in + 0.5) * pixel_scale == pytest.approx(150.0, abs=target_scale / 2 + 1e-6)
    assert (y_in + 0.5) * pixel_scale == pytest.approx(200.0, abs=target_scale / 2 + 1e-6)


def test_masks_map_back_onto_the_users_grid_with_the_same_sky_area():
    plan = plan_resampling((300, 300), 3.0, EMU_PILOT_GEOMETRY)  # FIRST -> ~6 px per beam
    assert plan.factor == pytest.approx(3.0 / EMU_PILOT_GEOMETRY.pixels_per_beam)
    mask = np.zeros(plan.output_shape, bool)
    mask[100:200, 250:400] = True
    back = plan.to_input_grid(mask)
    assert back.shape == (300, 300)
    assert back.sum() * 1.0 == pytest.approx(mask.sum() * plan.factor**2, rel=0.03)
    labels = np.zeros(plan.output_shape, np.int32)
    labels[:50, :50], labels[300:, 300:] = 1, 2
    assert set(np.unique(plan.to_input_grid(labels))) == {0, 1, 2}
    with pytest.raises(InputImageError, match="not on the resampled grid"):
        plan.to_input_grid(np.zeros((10, 10)))


@pytest.mark.parametrize("ctype", ["SIN", "TAN"])
def test_resampled_wcs_sees_the_same_sky_as_the_affine_pixel_map(ctype):
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{ctype}", f"DEC--{ctype}"]
    theta = np.deg2rad(20.0)  # a rotated CD matrix, reference pixel off the image
    w.wcs.cd = (1.8 / 3600) * np.array(
        [[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    )
    w.wcs.crpix = [-400.0, 1200.0]
    w.wcs.crval = [210.0, -45.0]
    w.wcs.set()
    for plan in (Resampling(0.45, (300, 300), (667, 667)), Resampling(2.3, (300, 300), (130, 130))):
        out = resample_wcs(w, plan)
        x_r, y_r = np.array([0.0, 17.3, 129.0]), np.array([0.0, 88.1, 5.0])
        x_i, y_i = plan.to_input_xy(x_r, y_r)
        ra_r, dec_r = out.pixel_to_world_values(x_r, y_r)
        ra_i, dec_i = w.pixel_to_world_values(x_i, y_i)
        assert np.allclose(ra_r, ra_i, atol=1e-9) and np.allclose(dec_r, dec_i, atol=1e-9)
    assert resample_wcs(None, Resampling(2.0, (4, 4), (2, 2))) is None


def test_blank_pixels_stay_blank_and_finite_pixels_stay_finite():
    image = _sky(1.8)
    image[:40] = np.nan
    plan = plan_resampling(image.shape, BEAM_ARCSEC / 1.8, EMU_PILOT_GEOMETRY)
    out = resample(image, plan)
    rows_in = plan.to_input_xy(0.0, np.arange(out.shape[0]))[1]
    blank_rows = np.floor(rows_in + 0.5) < 40
    assert np.isnan(out[blank_rows]).all()
    assert np.isfinite(out[~blank_rows]).all()


def test_close_sampling_and_unknown_beams_are_left_alone():
    assert plan_resampling((210, 210), 6.3, EMU_PILOT_GEOMETRY).is_identity
    assert plan_resampling((210, 210), None, EMU_PILOT_GEOMETRY).is_identity
    assert not plan_resampling((210, 210), 6.3, EMU_PILOT_GEOMETRY, tolerance=0.0).is_identity


def test_a_resampled_image_over_the_memory_budget_is_refused_with_the_numbers():
    with pytest.raises(InputImageError, match=r"12000 x 12000.*Mpx.*budget of 100\.0 Mpx"):
        plan_resampling((12000, 12000), 3.0, EMU_PILOT_GEOMETRY, max_pixels=100_000_000)


@pytest.mark.parametrize("shape", [(210, 210), (150, 500), (1000, 777)])
def test_windows_cover_the_image_with_the_overlap_asked_for(shape):
    size, overlap = 210, 60
    windows = window_grid(shape, size, overlap)
    covered = np.zeros(shape, np.int32)
    for win in windows:
        assert win.row0 >= 0 and win.col0 >= 0
        assert win.row0 + win.height <= shape[0] and win.col0 + win.width <= shape[1]
        covered[win.slices] += 1
    assert (covered >= 1).all()
    starts = sorted({w.col0 for w in windows})
    widths = {w.width for w in windows}
    assert all(b - a <= min(widths) - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_geometry_validation_and_round_trip():
    assert ModelGeometry.from_dict(EMU_PILOT_GEOMETRY.to_dict()) == EMU_PILOT_GEOMETRY
    assert EMU_PILOT_GEOMETRY.beam_arcsec == pytest.approx((13.0, 11.0))
    with pytest.raises(ConfigError, match="beam_fwhm_px"):
        ModelGeometry(pixel_scale_arcsec=2.0, beam_fwhm_px=(0.0, 5.0), cutout_size=210)
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelGeometry.from_dict({"pixel_scale_arcsec": 2, "beam_fwhm_px": [6, 5], "beam": 1})
    with pytest.raises(ConfigError, match="overlap"):
        window_grid((300, 300), 210, 210)


def test_a_wide_model_resamples_only_images_outside_its_training_range():
    wide = ModelGeometry(2.0, (4.5, 4.5), 210, pixels_per_beam_range=(2.5, 8.0))
    assert plan_resampling((300, 300), 3.0, wide).is_identity  # FIRST: inside the range
    coarse = plan_resampling((300, 300), 16.0, wide)  # e.g. 25" at 1.5"/px: down to 8
    assert coarse.factor == pytest.approx(2.0) and coarse.output_shape == (150, 150)
    fine = plan_resampling((300, 300), 1.25, wide)  # undersampled: up to 2.5
    assert fine.factor == pytest.approx(0.5) and fine.output_shape == (600, 600)
    with pytest.raises(ConfigError, match="pixels_per_beam_range"):
        ModelGeometry(2.0, (4.5, 4.5), 210, pixels_per_beam_range=(8.0, 2.5))


def test_the_run_range_of_the_inference_config_narrows_the_training_range():
    """``InferenceConfig.pixels_per_beam_range`` replaces the card's range for planning: an
    image inside the training range but outside the run range is resampled to its end."""
    from napari_radiogal.inference.config import InferenceConfig
    from napari_radiogal.inference.resolution import sampling_geometry

    wide = ModelGeometry(2.0, (4.5, 4.5), 210, pixels_per_beam_range=(2.5, 8.0))
    assert sampling_geometry(wide, InferenceConfig()) is wide
    run = sampling_geometry(wide, InferenceConfig(pixels_per_beam_range=(3.5, 7.0)))
    assert run.pixels_per_beam_range == (3.5, 7.0)
    assert run.cutout_size == wide.cutout_size and run.beam_fwhm_px == wide.beam_fwhm_px
    assert plan_resampling((300, 300), 3.0, wide).is_identity
    up = plan_resampling((300, 300), 2.8, run)  # 2.8 -> 3.5 px per beam: 375 px
    assert up.factor == pytest.approx(0.8) and up.output_shape == (375, 375)
    assert plan_resampling((300, 300), 5.0, run).is_identity
    with pytest.raises(ConfigError, match="LOW <= HIGH"):
        InferenceConfig(pixels_per_beam_range=(7.0, 3.5))
    with pytest.raises(ConfigError, match="LOW,HIGH"):
        InferenceConfig(pixels_per_beam_range=(3.5,))
