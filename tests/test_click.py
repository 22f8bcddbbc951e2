"""Click to segment one source: ``inference.segment_at`` and ``editing.replace_instances``.

The clicks run the bundled default model on the simulator's demo FR-II, placed in the
bottom-right corner of a larger field, so that the window (the model's 210 px cut-out) is
smaller than the image and shifted inside it at the edge.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_radiogal.editing import next_least_confident, replace_instances
from napari_radiogal.errors import EditError, InputImageError
from napari_radiogal.inference import load_model, segment_at
from napari_radiogal.io.fits import RadioImage
from napari_radiogal.io.geometry import Window
from napari_radiogal.sky import demo_cutout

FIELD = 420
OFFSET = FIELD - 210  # the demo cut-out's corner in the field


@pytest.fixture(scope="module")
def field():
    """The demo radio cut-out at rows and cols 210-420 of a 420 px field of its noise (2"/px),
    and the truth mask of its FR-II on the field."""
    demo = demo_cutout()
    radio = demo.radio
    data = np.random.default_rng(0).normal(0, demo.noise_sigma, (FIELD, FIELD))
    data = data.astype(np.float32)
    data[OFFSET:, OFFSET:] = radio.data
    wcs = radio.wcs.deepcopy()
    wcs.wcs.crpix = wcs.wcs.crpix + OFFSET
    image = RadioImage(data, wcs, beam=radio.beam, pixel_scale_arcsec=radio.pixel_scale_arcsec)
    truth = np.zeros((FIELD, FIELD), bool)
    truth[OFFSET:, OFFSET:] = demo.truth[0].mask
    return image, truth


@pytest.fixture(scope="module")
def model():
    from napari_radiogal.models import default_weights_path

    return load_model(default_weights_path(), device="cpu")


def _brightest(image, mask):
    """``(row, col)`` of the brightest pixel of a mask (on a lobe)."""
    values = np.where(mask, np.nan_to_num(image.data), -np.inf)
    return np.unravel_index(int(np.argmax(values)), mask.shape)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def on_the_source(field, model):
    image, truth = field
    return segment_at(image, None, _brightest(image, truth), model=model)


def test_a_click_on_a_source_returns_that_source_alone(field, on_the_source):
    image, truth = field
    hit = on_the_source
    assert hit.found and hit.class_name == "FR-II" and hit.distance_px == 0
    mask = hit.full_mask()
    assert mask.shape == (FIELD, FIELD)
    assert _iou(mask, truth) > 0.6
    # only that source: (almost) nothing of the mask lies outside it
    assert (mask & ~truth).sum() < 0.2 * mask.sum()
    # placed on the field's grid: the box, the host and its sky position agree
    r0, c0, r1, c1 = hit.mask.box
    assert mask[r0:r1, c0:c1].sum() == mask.sum() == hit.mask.area
    col, row = hit.host
    ra, dec = image.wcs.pixel_to_world_values(col, row)
    assert (ra, dec) == pytest.approx((hit.host_ra, hit.host_dec), abs=1e-6)
    assert truth[int(round(row)) - 8 : int(round(row)) + 9, int(round(col)) - 8 :].any()
    assert "FR-II" in hit.message and hit.seconds > 0


def test_the_window_is_the_model_cutout_shifted_inside_at_the_corner(on_the_source):
    # the click is ~100 px from the bottom-right corner: the 210 px window cannot be
    # centred on it and keeps its size, flush with the corner
    assert on_the_source.window == Window(OFFSET, OFFSET, 210, 210)


def test_a_click_on_empty_sky_says_nothing_was_found(field, model):
    image, _ = field
    miss = segment_at(image, None, (60.0, 60.0), model=model)
    assert not miss.found and miss.mask is None and np.isnan(miss.distance_px)
    assert miss.message.startswith("no source")
    assert miss.window == Window(0, 0, 210, 210)
    assert not miss.full_mask().any()


def test_a_click_off_the_image_is_refused_before_any_work(field):
    image, _ = field
    with pytest.raises(InputImageError, match="outside the image"):
        segment_at(image, None, (FIELD + 3.0, 10.0), model="no-such-model")


def test_the_window_covers_the_model_cutout_on_a_resampled_grid(tiny_weights):
    """At 1"/px a 13" x 11" beam is 12 px: twice the tiny model's 6, so the window is
    twice the 210 px cut-out in the image's pixels (one cut-out on the model grid)."""
    from astropy.wcs import WCS

    from napari_radiogal.io.fits import Beam

    rng = np.random.default_rng(1)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    wcs.wcs.crval = [320.0, -55.0]
    wcs.wcs.crpix = [250.5, 250.5]
    data = rng.normal(0, 3e-5, (500, 500)).astype(np.float32)
    image = RadioImage(data, wcs, beam=Beam(13 / 3600, 11 / 3600, 0.0), pixel_scale_arcsec=1.0)
    hit = segment_at(image, None, (480.0, 20.0), model=load_model(tiny_weights, device="cpu"))
    assert hit.window == Window(80, 0, 420, 420)


# ---- the edits that put a click's instance into a label image ------------------------------
def test_replace_instances_reuses_the_id_and_leaves_the_others_alone():
    labels = np.zeros((6, 10), np.int32)
    labels[1:3, 1:4] = 1  # the old version of the clicked source
    labels[1:5, 6:9] = 2  # a neighbour the new mask touches by one pixel
    labels[5, 0] = 3
    mask = np.zeros((6, 10), bool)
    mask[1:4, 1:7] = True
    new, iid, replaced = replace_instances(labels, mask)
    assert (iid, replaced) == (1, [1])
    assert np.array_equal(new == 2, labels == 2) and np.array_equal(new == 3, labels == 3)
    assert np.array_equal(new == 1, mask & (labels != 2))
    # nothing overlapped: a new label
    fresh = np.zeros((6, 10), bool)
    fresh[5, 5:8] = True
    new, iid, replaced = replace_instances(labels, fresh, new_id=9)
    assert (iid, replaced) == (9, []) and (new == 9).sum() == 3


def test_replace_instances_replaces_the_instance_under_the_click():
    labels = np.zeros((4, 12), np.int32)
    labels[:, :8] = 5  # large: the new mask covers little of it
    mask = np.zeros((4, 12), bool)
    mask[1:3, 7:12] = True  # 2 of its 10 pixels on instance 5
    _, iid, replaced = replace_instances(labels, mask)
    assert replaced == [] and iid == 6  # by overlap alone it stays
    new, iid, replaced = replace_instances(labels, mask, point=(1, 7))
    assert (iid, replaced) == (5, [5]) and np.array_equal(new == 5, mask)


def test_replace_instances_refuses_a_mask_with_no_free_pixel():
    with pytest.raises(EditError, match="no pixels"):
        replace_instances(np.zeros((3, 3), int), np.zeros((3, 3), bool))
    with pytest.raises(EditError, match="shape|is"):
        replace_instances(np.zeros((3, 3), int), np.ones((2, 3), bool))


def test_next_least_confident_skips_reviewed_and_counts_drawn_ones_last():
    scores = {1: 0.4, 2: float("nan"), 3: 0.1, 4: 0.4}
    assert next_least_confident(scores, {}) == 3
    assert next_least_confident(scores, {}, current=3) == 1
    assert next_least_confident(scores, {}, current=1) == 4  # ties by id
    assert next_least_confident(scores, {}, current=4) == 2  # drawn by hand: last
    assert next_least_confident(scores, {3: True, 1: True}, current=2) == 4  # wraps
    assert next_least_confident(scores, dict.fromkeys(scores, True)) is None
