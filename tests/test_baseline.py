"""The non-learned baseline on hand-made images with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_radiogal.baseline import BaselineConfig, baseline_segment, group_islands
from napari_radiogal.classes import RADIOGALAXYNET

SIGMA = 30e-6  # Jy/beam


def _noise(rng, shape=(128, 128)):
    from scipy import ndimage

    white = rng.normal(0, 1, shape)
    smooth = ndimage.gaussian_filter(white, 2.5)
    return smooth / smooth.std() * SIGMA


def _blob(shape, x, y, sx, sy, peak):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return peak * np.exp(-0.5 * (((xx - x) / sx) ** 2 + ((yy - y) / sy) ** 2))


def test_group_islands_merges_near_and_keeps_far():
    labels = np.zeros((40, 60), dtype=np.int32)
    labels[10:13, 5:8] = 1
    labels[10:13, 14:17] = 2  # 7 px gap from island 1
    labels[30:33, 50:53] = 3  # far away
    groups = group_islands(labels, radius_px=10)
    assert groups[11, 6] == groups[11, 15] != 0
    assert groups[31, 51] not in (0, groups[11, 6])
    assert groups.max() == 2


def test_two_resolved_lobes_make_one_fr2_with_ir_host():
    rng = np.random.default_rng(1)
    shape = (128, 128)
    radio = _noise(rng, shape)
    for hotspot_x, lobe_x in ((30, 40), (98, 88)):
        # An edge-brightened lobe: compact hotspot at the outer end, diffuse emission inward.
        # The two lobes are disjoint at 3 sigma (a ~9 px gap), as FR-II lobes often are.
        radio += _blob(shape, hotspot_x, 64, 2.5, 2.5, 200 * SIGMA)
        radio += _blob(shape, lobe_x, 64, 8, 4, 60 * SIGMA)
    ir = rng.normal(0, 1, shape) + _blob(shape, 64.3, 63.8, 1.5, 1.5, 50.0)
    found = baseline_segment(radio, ir)
    assert len(found) == 1
    (src,) = found
    assert RADIOGALAXYNET.name_of_id(src.category_id) == "FR-II"
    assert src.mask[64, 30] and src.mask[64, 98] and not src.mask[64, 64]
    assert src.host is not None
    assert np.hypot(src.host[0] - 64.3, src.host[1] - 63.8) < 0.5
    assert 0 < src.score < 1


def test_chance_pair_of_point_sources_is_not_a_radio_galaxy():
    rng = np.random.default_rng(2)
    shape = (128, 128)
    beam_sigma = 6.0 / 2.3548
    radio = _noise(rng, shape)
    radio += _blob(shape, 50, 60, beam_sigma, beam_sigma, 40 * SIGMA)
    radio += _blob(shape, 70, 60, beam_sigma, beam_sigma, 30 * SIGMA)  # ~9 px gap: grouped
    assert baseline_segment(radio) == []


def test_noise_only_and_blank_images_give_nothing():
    rng = np.random.default_rng(3)
    assert baseline_segment(_noise(rng)) == []
    assert baseline_segment(np.full((64, 64), np.nan)) == []
    assert baseline_segment(np.zeros((64, 64))) == []


def test_no_ir_means_no_host():
    rng = np.random.default_rng(4)
    shape = (128, 128)
    radio = _noise(rng, shape) + _blob(shape, 64, 64, 12, 4, 300 * SIGMA)
    (src,) = baseline_segment(radio, None)
    assert src.host is None


@pytest.mark.parametrize("factor", [1.0, 3.0])
def test_resolved_factor_controls_what_counts_as_extended(factor):
    rng = np.random.default_rng(5)
    shape = (128, 128)
    radio = _noise(rng, shape) + _blob(shape, 64, 64, 5, 3, 300 * SIGMA)
    found = baseline_segment(radio, config=BaselineConfig(resolved_factor=factor))
    assert len(found) == (1 if factor == 1.0 else 0)


def test_baseline_and_simulator_share_one_ab_rule_and_baseline_needs_no_simulator():
    import subprocess
    import sys

    from napari_radiogal import ab_rule, sky
    from napari_radiogal.sky import labels

    assert sky.measure_morphology is ab_rule.measure_morphology
    assert labels.classify_ratio is ab_rule.classify_ratio
    code = (
        "import sys, napari_radiogal.baseline; "
        "print(any(m.startswith('napari_radiogal.sky') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_for_beam_scales_every_length_with_the_beam():
    assert BaselineConfig.for_beam(6.0) == BaselineConfig()
    wide = BaselineConfig.for_beam(12.0, island_sigma=4.0)
    assert wide.group_radius_px == 24.0 and wide.min_extent_px == 28.0
    assert wide.host_radius_px == 20.0 and wide.beam_fwhm_px == 12.0
    assert wide.island_sigma == 4.0 and wide.min_island_pixels == 5
