"""The synthetic sky: noise, labels, hosts, class mix, determinism (napari_radiogal.sky)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from napari_radiogal.errors import ConfigError
from napari_radiogal.sky import (
    SkyConfig,
    classify_ratio,
    demo_cutout,
    measure_morphology,
    mix_from_string,
    relabel,
    simulate_cutout,
)
from napari_radiogal.sky.infrared import host_is_detected
from napari_radiogal.sky.labels import count_components, distance_to_mask, ownership, truth_mask
from napari_radiogal.sky.noise import correlated_noise
from napari_radiogal.sky.render import (
    FWHM_TO_SIGMA,
    beam_covariance,
    gaussian_covariance,
    peak_for_flux,
    render_gaussians,
)
from napari_radiogal.stats import clipped_noise, ir_threshold

BEAM_PX = 13.0 / 2.0  # beam FWHM major axis in 2" pixels


@pytest.fixture(scope="module")
def cutouts():
    """A small fixed sample of default cut-outs (shared: simulating is the slow part)."""
    seeds = np.random.SeedSequence(12345).spawn(24)
    return [simulate_cutout(np.random.default_rng(s)) for s in seeds]


# -- determinism -----------------------------------------------------------------------------
def test_same_seed_gives_identical_cutout_and_other_seed_does_not():
    config = SkyConfig(size=96)
    a = simulate_cutout(np.random.default_rng(7), config)
    b = simulate_cutout(np.random.default_rng(7), config)
    c = simulate_cutout(np.random.default_rng(8), config)
    assert np.array_equal(a.radio.data, b.radio.data)
    assert np.array_equal(a.infrared.data, b.infrared.data)
    assert [t.category for t in a.truth] == [t.category for t in b.truth]
    assert all(np.array_equal(s.mask, t.mask) for s, t in zip(a.truth, b.truth, strict=True))
    assert a.radio_fits_header.tostring() == b.radio_fits_header.tostring()
    assert not np.array_equal(a.radio.data, c.radio.data)


# -- noise -----------------------------------------------------------------------------------
def test_image_rms_from_the_papers_estimator_is_25_to_35_ujy(cutouts):
    for cut in cutouts:
        sigma = clipped_noise(cut.radio.data)
        assert 25e-6 <= sigma <= 35e-6
        assert sigma == pytest.approx(cut.noise_sigma, rel=1e-6)
        assert cut.radio.unit == "Jy/beam"


def _autocorrelation_fwhm(field: np.ndarray, pixel_arcsec: float, half: int = 10):
    """FWHM (major, minor) in arcsec and PA (deg E of N) of a 2-D Gaussian fitted to the
    autocorrelation of ``field`` (central (2 half + 1)^2 lags)."""
    f = field - field.mean()
    spec = np.fft.rfft2(f)
    ac = np.fft.fftshift(np.fft.irfft2(np.abs(spec) ** 2, s=f.shape))
    cy, cx = f.shape[0] // 2, f.shape[1] // 2
    win = ac[cy - half : cy + half + 1, cx - half : cx + half + 1]
    win = win / ac[cy, cx]
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]

    def model(coords, a, b, c, amp):
        x, y = coords
        return amp * np.exp(-0.5 * (a * x**2 + 2 * b * x * y + c * y**2))

    (a, b, c, _amp), _ = optimize.curve_fit(
        model, (xx.ravel(), yy.ravel()), win.ravel(), p0=(0.1, 0.0, 0.1, 1.0)
    )
    cov = np.linalg.inv(np.array([[a, b], [b, c]]))
    evals, evecs = np.linalg.eigh(cov)
    fwhm = np.sqrt(evals[::-1]) / FWHM_TO_SIGMA * pixel_arcsec
    major = evecs[:, 1]
    pa = math.degrees(math.atan2(-major[0], major[1])) % 180.0  # from +y through -x
    return fwhm[0], fwhm[1], pa


@pytest.mark.parametrize("pa", [0.0, 35.0, 120.0])
def test_noise_autocorrelation_has_the_beam_shape(pa):
    cov = beam_covariance(13.0, 11.0, pa, 2.0)
    noise = correlated_noise(np.random.default_rng(3), (256, 256), cov)
    assert noise.std() == pytest.approx(1.0, abs=0.08)
    major, minor, fitted_pa = _autocorrelation_fwhm(noise, 2.0)
    assert major == pytest.approx(13.0, rel=0.15)
    assert minor == pytest.approx(11.0, rel=0.15)
    diff = abs((fitted_pa - pa + 90.0) % 180.0 - 90.0)
    assert diff < 25.0


def test_noise_of_a_whole_cutout_is_beam_correlated(cutouts):
    cut = cutouts[0]
    residual = cut.radio.data.astype(np.float64) - cut.model
    major, minor, _ = _autocorrelation_fwhm(residual, 2.0)
    assert major == pytest.approx(13.0, rel=0.15)
    assert minor == pytest.approx(11.0, rel=0.15)


# -- rendering -------------------------------------------------------------------------------
def test_rendered_gaussians_conserve_flux_and_points_peak_at_their_flux():
    beam = beam_covariance(13.0, 11.0, 20.0, 2.0)
    intrinsic = gaussian_covariance([4.0], [2.0], [0.7])[0]
    cov = intrinsic + beam
    amp = peak_for_flux([2.0], cov[None], beam)
    image = render_gaussians((128, 128), [60.3], [70.6], cov[None], amp)
    beam_area = 2 * math.pi * math.sqrt(np.linalg.det(beam))
    assert image.sum() / beam_area == pytest.approx(2.0, rel=1e-3)
    point = render_gaussians(
        (64, 64), [31.0], [30.0], beam[None], peak_for_flux([0.5], beam[None], beam)
    )
    assert point.max() == pytest.approx(0.5)
    assert np.unravel_index(point.argmax(), point.shape) == (30, 31)


# -- the paper's a/b rule on hand-made images ------------------------------------------------
def _bar_with_peaks(peaks_along, *, angle_deg=0.0, length=100, plateau=6.0, peak=50.0):
    """Flat bar of ``plateau`` sigma, ``length`` px long and 9 px wide, with sharp peaks at
    the given positions along it (px from its start); rotated by ``angle_deg``; sigma = 1."""
    n = 200
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    t = math.radians(angle_deg)
    u = (xx - 100) * math.cos(t) + (yy - 100) * math.sin(t) + length / 2
    v = -(xx - 100) * math.sin(t) + (yy - 100) * math.cos(t)
    image = np.where((u >= 0) & (u < length) & (np.abs(v) <= 4), plateau, 0.0)
    for p in peaks_along:
        image += peak * np.exp(-0.5 * (((u - p) / 1.5) ** 2 + (v / 1.5) ** 2))
    return image


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 137.0])
@pytest.mark.parametrize(
    ("peaks", "expected"),
    [((20.0, 80.0), "FR-II"), ((25.0, 75.0), "FR-X"), ((40.0, 60.0), "FR-I"), ((50.0,), "R")],
)
def test_ab_rule_on_hand_made_bars(peaks, expected, angle):
    image = _bar_with_peaks(peaks, angle_deg=angle)
    morph = measure_morphology(image, 1.0, peak_footprint=5)
    assert morph.category == expected
    if len(peaks) == 2:
        assert morph.a_px == pytest.approx(peaks[1] - peaks[0], abs=1.5)
    # b is the bar length (pixel edges included), whatever the orientation.
    assert morph.b_px == pytest.approx(100.0, rel=0.06)


def test_noise_bumps_are_not_peaks_but_disjoint_islands_are():
    rng = np.random.default_rng(0)
    bumpy = _bar_with_peaks((50.0,)) + np.where(
        _bar_with_peaks(()) > 0, rng.uniform(0, 1.5, (200, 200)), 0
    )
    assert measure_morphology(bumpy, 1.0).category == "R"
    # Two separate 5 sigma islands: the faint one still counts as a peak (a disjoint lobe).
    two = np.zeros((120, 120))
    yy, xx = np.mgrid[0:120, 0:120]
    two += 200 * np.exp(-0.5 * ((xx - 20) ** 2 + (yy - 60) ** 2) / 3.0**2)
    two += 5.6 * np.exp(-0.5 * ((xx - 100) ** 2 + (yy - 60) ** 2) / 3.0**2)
    morph = measure_morphology(two, 1.0)
    assert len(morph.peaks) == 2
    assert morph.a_px == pytest.approx(80.0, abs=1.0)
    assert morph.category == "FR-II"
    assert measure_morphology(np.zeros((20, 20)), 1.0).category is None


def test_classify_ratio_thresholds():
    assert classify_ratio(44.9, 100, 2) == "FR-I"
    assert classify_ratio(45.0, 100, 2) == "FR-X"
    assert classify_ratio(55.0, 100, 2) == "FR-X"
    assert classify_ratio(55.1, 100, 2) == "FR-II"
    assert classify_ratio(0.0, 100, 1) == "R"


# -- masks -----------------------------------------------------------------------------------
def test_mask_keeps_owned_pixels_above_3_sigma_and_drops_brighter_unrelated_sources():
    yy, xx = np.mgrid[0:64, 0:64]
    source = 20 * np.exp(-0.5 * ((xx - 32) ** 2 / 12.0**2 + (yy - 32) ** 2 / 4.0**2))
    compact = 60 * np.exp(-0.5 * ((xx - 44) ** 2 + (yy - 32) ** 2) / 2.5**2)
    owned = ownership([source], 0, 1.0, compact=compact)
    mask = truth_mask(source + compact, 1.0, owned)
    assert mask[32, 32] and not mask[32, 44]
    assert not mask[5, 5]
    assert count_components(mask) == 1
    assert distance_to_mask(mask, 32.0, 32.0) == 0.0


def test_truth_masks_hosts_and_components(cutouts):
    n_multi = 0
    for cut in cutouts:
        for t in cut.truth:
            assert t.mask.dtype == bool and t.mask.shape == cut.radio.shape and t.mask.any()
            # Mask pixels are above 3 sigma on the noisy image.
            assert np.all(cut.radio.data[t.mask] > 3.0 * cut.noise_sigma)
            # The host is inside or within one beam of its mask.
            assert distance_to_mask(t.mask, *t.host) <= BEAM_PX
            assert t.n_components == count_components(t.mask)
            assert ("multi_component" in t.flags) == (t.n_components > 1)
            n_multi += t.n_components > 1
            assert t.category in ("FR-I", "FR-II", "FR-X", "R")
    assert n_multi > 0  # disjoint lobes do occur


def test_labels_can_be_re_derived_from_the_written_image(cutouts):
    for cut in cutouts:
        again = relabel(cut, SkyConfig())
        for (mask, morph), t in zip(again, cut.truth, strict=True):
            assert np.array_equal(mask, t.mask)
            assert morph.category == t.category
            assert morph.a_px == pytest.approx(t.morphology.a_px)
    # Other rules relabel the same sky: a 3 sigma contour can only make b longer.
    cut = cutouts[0]
    wider = relabel(cut, SkyConfig(contour_sigma=3.0))
    assert wider[0][1].b_px >= cut.truth[0].morphology.b_px


def test_every_host_is_an_ir_source_at_the_right_sky_position(cutouts):
    for cut in cutouts:
        ir = cut.infrared
        threshold = ir_threshold(ir.data)
        radius = max(1.5, 0.5 * 6.1 / ir.pixel_scale_arcsec)
        for t in cut.truth:
            ra, dec = cut.radio.wcs.pixel_to_world_values(*t.host)
            assert ra == pytest.approx(t.host_ra, abs=1e-7)
            assert dec == pytest.approx(t.host_dec, abs=1e-7)
            x, y = ir.wcs.world_to_pixel_values(ra, dec)
            assert host_is_detected(ir.data, float(x), float(y), threshold, radius)
            assert 8.0 <= t.host_w1_mag <= 17.0


def test_ir_field_covers_the_radio_field(cutouts):
    for cut in cutouts[:6]:
        n = cut.radio.shape[0]
        corners = cut.radio.wcs.pixel_to_world_values([0, n - 1, 0, n - 1], [0, 0, n - 1, n - 1])
        x, y = cut.infrared.wcs.world_to_pixel_values(*corners)
        h, w = cut.infrared.shape
        assert np.all((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1))
        assert cut.infrared.magzp in (20.5, 22.5)


# -- class mix -------------------------------------------------------------------------------
def _achieved_fractions(config: SkyConfig, n: int, seed: int) -> dict[str, float]:
    counts: dict[str, int] = {}
    for ss in np.random.SeedSequence(seed).spawn(n):
        for t in simulate_cutout(np.random.default_rng(ss), config).truth:
            counts[t.category] = counts.get(t.category, 0) + 1
    total = sum(counts.values())
    return {k: counts.get(k, 0) / total for k in ("FR-I", "FR-II", "FR-X", "R")}


def test_balanced_mix_is_reached_on_small_images():
    config = SkyConfig(size=128, size_arcmin=(0.5, 3.0)).balanced()
    fractions = _achieved_fractions(config, 60, seed=5)
    for value in fractions.values():
        assert value == pytest.approx(0.25, abs=0.11)


@pytest.mark.slow
def test_default_mix_is_reached_on_a_few_hundred_cutouts():
    config = SkyConfig()
    fractions = _achieved_fractions(config, 300, seed=11)
    for name, wanted in config.class_weights.items():
        assert fractions[name] == pytest.approx(wanted, abs=0.06)
    assert fractions["FR-II"] > fractions["R"] > fractions["FR-I"] > fractions["FR-X"]


# -- configuration ---------------------------------------------------------------------------
def test_config_validation_round_trip_and_mix_parsing():
    config = SkyConfig(edge_fraction=0.2, noise_ujy=(26.0, 30.0))
    assert SkyConfig.from_dict(config.to_dict()) == config
    assert SkyConfig.from_dict({"class_mix": [["FR-I", 1.0]]}).class_weights == {"FR-I": 1.0}
    with pytest.raises(ConfigError, match="edge_fraction"):
        SkyConfig(edge_fraction=1.5)
    with pytest.raises(ConfigError, match="noise_ujy"):
        SkyConfig(noise_ujy=(35.0, 25.0))
    with pytest.raises(ConfigError, match="unknown"):
        SkyConfig.from_dict({"edge_fractoin": 0.1})
    with pytest.raises(ConfigError, match="not simulated classes"):
        SkyConfig(class_mix=(("FR-III", 1.0),))
    assert dict(mix_from_string("frii=3,R=1")) == {"FR-II": 3.0, "R": 1.0}
    assert mix_from_string("gupta2023")[0] == ("FR-I", 328.0)
    with pytest.raises(ConfigError):
        mix_from_string("lots of FR-II")
    easy = SkyConfig.easy()
    assert easy.second_source_fraction == 0 and easy.artefact_fraction == 0


def test_forced_intent_and_easy_config():
    cut = simulate_cutout(np.random.default_rng(2), SkyConfig.easy(), intended=["R", "FR-II"])
    assert [t.intended for t in cut.truth] == ["R", "FR-II"]
    assert cut.meta["artefact"] is None


# -- the demo --------------------------------------------------------------------------------
def test_demo_cutout_is_an_obvious_fr2_with_disjoint_lobes_and_a_host():
    cut = demo_cutout()
    assert len(cut.truth) == 1
    fr2 = cut.truth[0]
    assert fr2.category == "FR-II" and fr2.category_id == 1
    assert fr2.n_components >= 2
    assert fr2.peak_snr > 50
    assert cut.meta["n_compact_5sigma"] >= 2
    assert distance_to_mask(fr2.mask, *fr2.host) <= BEAM_PX
    again = demo_cutout()
    assert np.array_equal(again.radio.data, cut.radio.data)
    instances = cut.to_instances(1)
    assert instances[0].host == pytest.approx(fr2.host, abs=1e-3)
    assert np.array_equal(instances[0].mask, fr2.mask)
