"""The wide training sky: every knob does what its help text claims, the narrow default is
unchanged, and the ``wide`` preset gives valid labels in a sensible class mix."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest

from napari_radiogal.cli import main
from napari_radiogal.errors import ConfigError
from napari_radiogal.sky import SkyConfig, simulate_cutout
from napari_radiogal.sky.config import LOBE_FAMILIES, SKY_PRESETS, families_from_string
from napari_radiogal.sky.cutout import cutout_config
from napari_radiogal.sky.infrared import HostRequest, moffat_mixture, simulate_infrared
from napari_radiogal.sky.labels import distance_to_mask
from napari_radiogal.sky.morphology import apply_family, build_components, draw_recipe
from napari_radiogal.sky.noise import background_offset, correlated_noise, ripple, stripes
from napari_radiogal.sky.render import FWHM_TO_SIGMA, beam_covariance, render_gaussians

NEW_KNOBS = (
    "pixels_per_beam",
    "pixel_scale_range_arcsec",
    "beam_axis_ratio",
    "lobe_families",
    "stripe_amplitude_sigma",
    "sidelobe_amplitude",
    "ripple_fraction",
    "background_offset_sigma",
    "compact_density_scale",
    "mjysr_fraction",
    "ir_gradient_noise",
    "moffat_psf_fraction",
    "moffat_beta",
    "extended_host_fraction",
)


@pytest.fixture(scope="module")
def wide_cutouts():
    """A fixed sample of wide-preset cut-outs (shared: simulating is the slow part)."""
    seeds = np.random.SeedSequence(2024).spawn(40)
    return [simulate_cutout(np.random.default_rng(s), SkyConfig.wide()) for s in seeds]


# -- the narrow default is untouched -------------------------------------------------------------
def test_default_sky_is_bit_for_bit_what_it_was_before_the_wide_knobs():
    # Digest of images, masks and classes of three default cut-outs, recorded with the
    # simulator before the wide knobs existed (the bundled model's benchmark uses this sky).
    digest = hashlib.sha256()
    for seed in range(3):
        cut = simulate_cutout(np.random.default_rng(seed), SkyConfig(size=96))
        digest.update(cut.radio.data.tobytes())
        digest.update(cut.infrared.data.tobytes())
        for t in cut.truth:
            digest.update(np.packbits(t.mask).tobytes())
            digest.update(t.category.encode())
    assert digest.hexdigest() == "84407c5303bd13a33b932a423a2a6b67a2068fb2db9e7a94dba1847e6db798c1"


def test_new_knobs_default_to_off_and_say_why_real_data_needs_them():
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(SkyConfig)}
    for name in NEW_KNOBS:
        assert len(fields[name].metadata["help"]) > 60, name
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    cfg = SkyConfig()
    assert cutout_config(rng, cfg) is cfg
    assert rng.bit_generator.state == state  # nothing drawn
    assert SkyConfig.preset("default") == cfg
    assert SkyConfig.easy() == SkyConfig.preset("easy")
    with pytest.raises(ConfigError, match="preset"):
        SkyConfig.preset("noisy")


def test_wide_preset_holds_out_double_doubles_and_validates_its_knobs():
    wide = SkyConfig.wide()
    assert set(wide.family_weights) == set(LOBE_FAMILIES) - {"double_double"}
    assert "double_double" in SkyConfig.wide.__doc__
    assert SkyConfig.from_dict(json.loads(json.dumps(wide.to_dict()))) == wide
    assert families_from_string("classic=3,knotty=1") == (("classic", 3.0), ("knotty", 1.0))
    with pytest.raises(ConfigError, match="lobe families"):
        SkyConfig(lobe_families="spiral=1")
    with pytest.raises(ConfigError, match="beam_axis_ratio"):
        SkyConfig(pixels_per_beam=(3.0, 4.0), beam_axis_ratio=(0.5, 1.5))
    with pytest.raises(ConfigError, match="pixels_per_beam"):
        SkyConfig(pixels_per_beam=(0.0, 4.0))
    assert SKY_PRESETS["wide"]["pixels_per_beam"] == (2.5, 8.0)


# -- geometry ------------------------------------------------------------------------------------
def test_pixels_per_beam_range_is_achieved_and_written_to_the_header():
    cfg = SkyConfig.wide()
    seeds = np.random.SeedSequence(5).spawn(200)
    ppb, px = [], []
    for s in seeds:
        c = cutout_config(np.random.default_rng(s), cfg)
        ppb.append(math.sqrt(c.beam_major_arcsec * c.beam_minor_arcsec) / c.pixel_scale_arcsec)
        px.append(c.pixel_scale_arcsec)
        assert c.pixels_per_beam is None and c.beam_minor_arcsec <= c.beam_major_arcsec
    assert 2.5 <= min(ppb) < 3.0 and 7.0 < max(ppb) <= 8.0
    assert 1.5 <= min(px) < 1.7 and 2.8 < max(px) <= 3.0
    cut = simulate_cutout(np.random.default_rng(1), cfg)
    own = cut.config
    assert cut.radio.shape == (210, 210)
    assert cut.radio.pixel_scale_arcsec == pytest.approx(own.pixel_scale_arcsec)
    assert cut.radio.beam.major_deg * 3600 == pytest.approx(own.beam_major_arcsec)
    assert abs(cut.radio.wcs.wcs.cdelt[1]) * 3600 == pytest.approx(own.pixel_scale_arcsec)


# -- shapes --------------------------------------------------------------------------------------
def _recipe(family, cls="FR-I", seed=3):
    rng = np.random.default_rng(seed)
    recipe = draw_recipe(
        rng, cls, (100.0, 100.0), 90.0, beam_fwhm_px=6.0, bent_fraction=0.0,
        disconnected_lobe_fraction=0.0,
    )  # fmt: skip
    return recipe, apply_family(rng, recipe, family)


def test_every_family_changes_the_source_and_classic_draws_nothing():
    rng = np.random.default_rng(0)
    recipe = draw_recipe(
        rng, "FR-II", (100.0, 100.0), 90.0, beam_fwhm_px=6.0, bent_fraction=0.0,
        disconnected_lobe_fraction=0.0,
    )  # fmt: skip
    state = rng.bit_generator.state
    assert apply_family(rng, recipe, "classic") is recipe
    assert rng.bit_generator.state == state
    base, _ = build_components(recipe)
    for family in LOBE_FAMILIES[1:]:
        shaped = apply_family(np.random.default_rng(1), recipe, family)
        comps, _ = build_components(shaped)
        assert family in shaped.flags and shaped.family == family
        same = len(comps) == len(base) and all(
            np.allclose(getattr(comps, k), getattr(base, k)) for k in ("x", "y", "flux")
        )
        assert not same, family


def test_one_sided_sources_have_one_lobe():
    for cls in ("FR-I", "FR-II", "FR-X"):
        _, r = _recipe("one_sided", cls)
        comps, _ = build_components(r)
        ux, uy = math.cos(r.arm_angle[0]), math.sin(r.arm_angle[0])
        along = (comps.x - r.host[0]) * ux + (comps.y - r.host[1]) * uy
        counter = along < -2.0  # more than a core width on the counter-jet side
        assert comps.flux[counter].sum() <= 1e-9 * comps.flux.sum(), cls
        assert comps.flux[along > 0.3 * r.arm_length[0]].sum() > 0.2 * comps.flux.sum(), cls


def test_tailed_families_bend_the_way_their_names_say():
    for family, lo, hi in (("wat", 70.0, 160.0), ("nat", 0.0, 45.0), ("head_tail", 0.0, 1.0)):
        for seed in range(10):
            _, r = _recipe(family, seed=seed)
            # final direction of each arm (arm_path turns by bend over the arm)
            d0 = r.arm_angle[0] + r.bend[0]
            d1 = r.arm_angle[1] + r.bend[1]
            opening = math.degrees(abs(math.atan2(math.sin(d0 - d1), math.cos(d0 - d1))))
            assert lo <= opening <= hi, (family, seed, opening)


# -- noise and artefacts ---------------------------------------------------------------------------
def _large_scale_power(image, max_k=1.0 / 16.0):
    """Power at spatial frequencies below ``max_k`` cycles / px (no DC): total and share."""
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    low = float(power[np.hypot(kx, ky) < max_k].sum())
    return low, low / float(power.sum())


def test_stripes_ripple_and_offsets_raise_the_large_scale_power():
    shape = (128, 128)
    beam = beam_covariance(13.0, 11.0, 0.0, 2.0)
    noise = correlated_noise(np.random.default_rng(0), shape, beam)
    plain = _large_scale_power(noise)[1]
    striped = noise + stripes(np.random.default_rng(1), shape, 1.0, beam, (1.0, 1.0))
    rippled = noise + ripple(np.random.default_rng(3), shape, 1.0)
    assert _large_scale_power(striped)[1] > plain + 0.1
    very_large = 1.0 / 40.0  # wavelengths above 40 px
    assert _large_scale_power(rippled, very_large)[0] > _large_scale_power(noise, very_large)[0]
    for seed in range(5):
        wave = ripple(np.random.default_rng(seed), (210, 210), 1.0)
        assert 0.2 <= np.std(wave) <= 1.0
        assert _large_scale_power(wave, very_large)[1] > 0.8  # nothing but large scales
    # amplitudes follow the knobs
    s = stripes(np.random.default_rng(1), shape, 2.0, beam, (1.0, 1.0))
    assert np.std(s) == pytest.approx(2.0, rel=1e-6)
    offsets = [background_offset(np.random.default_rng(k), shape, 1.0, 0.5) for k in range(200)]
    assert np.std([o.mean() for o in offsets]) == pytest.approx(0.5, rel=0.2)


def test_strong_sidelobe_knob_makes_strong_rings():
    weak = SkyConfig(size=96, artefact_fraction=1.0, snr_range=(800.0, 1000.0))
    strong = weak.replace(sidelobe_amplitude=(0.05, 0.05))
    ring = {}
    for name, cfg in (("weak", weak), ("strong", strong)):
        cut = simulate_cutout(np.random.default_rng(4), cfg)
        assert cut.meta["artefact"] == "sidelobe_rings"
        ring[name] = float(np.std(cut.model - cut.compact_model - sum(t.model for t in cut.truth)))
    assert ring["strong"] > 2.5 * ring["weak"]


# -- infrared ------------------------------------------------------------------------------------
def test_moffat_psf_has_wings_a_gaussian_lacks():
    fwhm, beta = 4.0, 2.5
    mix = moffat_mixture(fwhm, beta)
    assert sum(w for w, _ in mix) == pytest.approx(1.0)
    r = np.array([0.0, 0.5, 1.0, 2.0, 3.0]) * fwhm
    alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    moffat = (1.0 + (r / alpha) ** 2) ** (-beta)
    mixed = sum(w * np.exp(-0.5 * (r / s) ** 2) / (2 * math.pi * s**2) for w, s in mix)
    mixed /= mixed[0]
    assert mixed[1] == pytest.approx(0.5, abs=0.05)  # the same FWHM
    assert np.allclose(mixed[3:], moffat[3:], rtol=0.35)
    gauss = np.exp(-0.5 * (r / (fwhm * FWHM_TO_SIGMA)) ** 2)
    assert mixed[3] > 20 * gauss[3]  # wings at 2 FWHM


def _ir(config, seed=0, n_hosts=1):
    hosts = [HostRequest(320.0, -55.0, np.zeros((0, 2))) for _ in range(n_hosts)]
    return simulate_infrared(np.random.default_rng(seed), config, 320.0, -55.0, hosts)


def test_ir_conventions_units_and_zero_points():
    mjy = _ir(SkyConfig(mjysr_fraction=1.0, unwise_fraction=0.0))
    assert mjy.header["BUNIT"] == "MJy/sr" and "MAGZP" not in mjy.header
    assert mjy.style.pixel_scale_arcsec == 2.0
    cut = simulate_cutout(np.random.default_rng(0), SkyConfig(size=96, mjysr_fraction=1.0))
    assert cut.infrared.unit == "MJy/sr" and cut.infrared.magzp is None
    unwise = _ir(SkyConfig(unwise_fraction=1.0))
    assert "BUNIT" not in unwise.header and unwise.header["MAGZP"] == 22.5


def _host_width(sky):
    """Second-moment radius (px) of the host's light within 12 px, on a sparse sky."""
    hx, hy = sky.host_xy[0]
    img = sky.data - np.median(sky.data)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    near = np.hypot(xx - hx, yy - hy) < 12
    w = np.clip(img[near], 0, None)
    return math.sqrt(((xx[near] - hx) ** 2 + (yy[near] - hy) ** 2) @ w / w.sum())


def test_extended_hosts_are_resolved_and_gradients_follow_their_knob():
    sparse = SkyConfig(ir_density_per_arcmin2=1e-6, unwise_fraction=0.0, host_mag_range=(12, 12))
    point = np.mean([_host_width(_ir(sparse, seed=k)) for k in range(5)])
    big = np.mean(
        [_host_width(_ir(sparse.replace(extended_host_fraction=1.0), k)) for k in range(5)]
    )
    assert big > 1.3 * point

    def slope(cfg):
        sky = _ir(cfg.replace(ir_psf_fwhm_arcsec=6.1), seed=3)
        rows = sky.data.mean(axis=1)
        cols = sky.data.mean(axis=0)
        return math.hypot(np.polyfit(np.arange(rows.size), rows, 1)[0],
                          np.polyfit(np.arange(cols.size), cols, 1)[0]) / sky.pixel_noise  # fmt: skip

    assert slope(sparse.replace(ir_gradient_noise=20.0)) > 10 * slope(sparse)


# -- crowding ------------------------------------------------------------------------------------
def test_compact_density_scale_crowds_the_field():
    def mean_compact(scale):
        cfg = SkyConfig(size=96, compact_density_scale=scale)
        cuts = [simulate_cutout(np.random.default_rng(k), cfg) for k in range(6)]
        return np.mean([c.meta["n_compact"] for c in cuts])

    assert mean_compact((4.0, 4.0)) > 2.5 * mean_compact((1.0, 1.0))


# -- the wide preset as a whole --------------------------------------------------------------------
def test_wide_preset_labels_are_valid(wide_cutouts):
    for cut in wide_cutouts:
        beam_px = cut.config.beam_major_arcsec / cut.config.pixel_scale_arcsec
        assert cut.truth
        for t in cut.truth:
            assert t.mask.any() and t.category in ("FR-I", "FR-II", "FR-X", "R")
            assert distance_to_mask(t.mask, *t.host) <= beam_px * 1.0001
            assert 0 <= t.host[0] < 210 and 0 <= t.host[1] < 210


def test_wide_preset_class_mix_families_and_conventions(wide_cutouts):
    classes = Counter(t.category for c in wide_cutouts for t in c.truth)
    total = sum(classes.values())
    assert all(classes[k] >= 0.08 * total for k in ("FR-I", "FR-II", "FR-X", "R")), classes
    assert classes["FR-II"] == max(classes.values())
    flags = Counter(f for c in wide_cutouts for t in c.truth for f in t.flags)
    assert sum(flags[f] for f in LOBE_FAMILIES) >= 0.3 * total
    assert len([f for f in LOBE_FAMILIES if flags[f]]) >= 6
    assert flags["double_double"] == 0
    assert flags["touches_edge"] >= 3
    styles = Counter(c.meta["ir_style"] for c in wide_cutouts)
    assert set(styles) == {"allwise", "unwise", "mjysr"}


def test_wide_labels_can_be_re_derived_with_each_cutouts_own_beam(wide_cutouts):
    from napari_radiogal.sky import relabel

    for cut in wide_cutouts[:8]:
        again = relabel(cut, SkyConfig.wide())
        for t, (mask, morph) in zip(cut.truth, again, strict=True):
            assert np.array_equal(t.mask, mask) and morph.category == t.category


def test_wide_preset_is_reproducible():
    a = simulate_cutout(np.random.default_rng(9), SkyConfig.wide())
    b = simulate_cutout(np.random.default_rng(9), SkyConfig.wide())
    c = simulate_cutout(np.random.default_rng(10), SkyConfig.wide())
    assert np.array_equal(a.radio.data, b.radio.data)
    assert np.array_equal(a.infrared.data, b.infrared.data)
    assert all(np.array_equal(s.mask, t.mask) for s, t in zip(a.truth, b.truth, strict=True))
    assert a.config == b.config and not np.array_equal(a.radio.data, c.radio.data)


def test_cli_preset_and_new_options(tmp_path):
    out = tmp_path / "wide"
    args = ["simulate", "--n", "2", "--seed", "1", "--out", str(out), "--no-progress"]
    extra = ["--preset", "wide", "--lobe-families", "plume=1", "--pixels-per-beam", "3:4"]
    assert main([*args, *extra, "--split", "1:0:0"]) == 0
    cfg = json.loads((out / "annotations" / "train.json").read_text())["info"]["sky_config"]
    assert cfg["lobe_families"] == [["plume", 1.0]] and cfg["pixels_per_beam"] == [3.0, 4.0]
    assert cfg["ripple_fraction"] == SKY_PRESETS["wide"]["ripple_fraction"]
    assert main([*args, "--preset", "wide", "--easy"]) == 2
    ok = main([*args, "--pixels-per-beam", "none", "--out", str(tmp_path / "n"), "--size", "96"])
    assert ok == 0


def test_gaussians_render_the_moffat_mixture_flux_exactly():
    # The IR painter splits a source's flux over the mixture: total flux is preserved.
    mix = moffat_mixture(5.0, 3.0)
    image = np.zeros((101, 101))
    for w, s in mix:
        render_gaussians(image.shape, [50.0], [50.0], np.eye(2) * s**2, [w / (2 * math.pi * s**2)],
                         out=image)  # fmt: skip
    assert image.sum() == pytest.approx(1.0, rel=1e-3)


def test_a_second_source_is_placed_even_inside_a_source_that_covers_the_whole_cut_out():
    """Seed 13 of the wide preset drew such a pair; the placement returned no position."""
    from types import SimpleNamespace

    from napari_radiogal.sky.cutout import _place_host

    cfg = SkyConfig.preset("wide")
    huge = SimpleNamespace(core_xy=(cfg.size / 2, cfg.size / 2), las_px=100.0 * cfg.size)
    (x, y), edge = _place_host(np.random.default_rng(0), cfg, 1, [huge])
    assert edge is False
    assert 0.08 * cfg.size <= x <= 0.92 * cfg.size
    assert 0.08 * cfg.size <= y <= 0.92 * cfg.size
