"""RLE and polygon masks (napari_radiogal.io.masks): exact polygons, vectorised RLE checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from mask_shapes import H, W, lobes_with_hole
from napari_radiogal.annotations import Instance, decode_rle, encode_mask
from napari_radiogal.errors import CocoFormatError
from napari_radiogal.io.masks import (
    check_rle_counts,
    compressed_rle,
    decode_rle_box,
    encode_placed_mask,
    exact_polygons,
    list_counts_to_rle,
    mask_to_polygons,
    polygons_to_rle,
    rle_counts,
    rle_strings_totals,
)


def column_runs(m):
    """Uncompressed COCO runs of a mask (down the columns, starting with background)."""
    flat = m.flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(int))) + 1
    counts = np.diff(np.r_[0, change, flat.size]).tolist()
    return [0, *counts] if flat[0] else counts


# ------------------------------------------------------------------- polygons -----------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 14), st.integers(1, 14), st.floats(0.05, 0.95))
def test_polygon_export_is_pixel_exact(seed, h, w, fill):
    # random masks: holes, pinches (diagonal contacts), single pixels, border pixels
    m = np.random.default_rng(seed).random((h, w)) < fill
    polygons = mask_to_polygons(m)
    if not m.any():
        assert polygons == []
        return
    assert polygons_to_rle(polygons, h, w)["counts"] == encode_mask(m)["counts"]


def test_polygons_are_one_part_per_8_connected_component():
    polys = mask_to_polygons(lobes_with_hole())
    assert len(polys) == 2
    assert all(len(p) % 2 == 0 and len(p) >= 8 for p in polys)


def test_one_pixel_polygon_is_its_pixel_edges():
    m = np.zeros((3, 4), dtype=bool)
    m[1, 2] = True  # row 1, column 2: covers x in [2, 3], y in [1, 2]
    (ring,) = mask_to_polygons(m)
    corners = {(ring[i], ring[i + 1]) for i in range(0, len(ring), 2)}
    assert corners == {(2.0, 1.0), (3.0, 1.0), (3.0, 2.0), (2.0, 2.0)}


def test_exact_polygons_reproduce_the_rle_or_refuse():
    rle = encode_mask(lobes_with_hole())
    polygons = exact_polygons(rle)
    assert polygons is not None
    assert polygons_to_rle(polygons, H, W)["counts"] == compressed_rle(rle)["counts"]
    assert exact_polygons(encode_mask(np.zeros((H, W), bool))) is None  # empty: keep RLE


@pytest.mark.parametrize(
    ("polygons", "field"),
    [
        ([[0, 0, 1, 0]], "seg[0]"),  # two vertices
        ([[0, 0, 1, 0, 1]], "seg[0]"),  # odd count
        ([[0, 0, "a", 0, 1, 1]], "seg[0]"),
        ([[0, 0, float("nan"), 0, 1, 1]], "seg[0]"),
        ([], "seg"),
    ],
)
def test_bad_polygons_name_the_part(polygons, field):
    with pytest.raises(CocoFormatError) as info:
        polygons_to_rle(polygons, 4, 4, path="x.json", field="seg")
    assert info.value.field == field


# ------------------------------------------------------------------------ RLE -----------


def test_compressed_rle_accepts_every_spelling():
    m = lobes_with_hole()
    expected = encode_mask(m)["counts"]
    as_bytes = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    assert compressed_rle(as_bytes) == {"size": [H, W], "counts": expected}
    assert compressed_rle({"size": (H, W), "counts": column_runs(m)})["counts"] == expected
    assert compressed_rle({"size": [H, W], "counts": expected})["counts"] == expected


def test_list_counts_are_checked_then_compressed():
    m = lobes_with_hole()
    rle = list_counts_to_rle(column_runs(m), H, W, None, "seg")
    assert np.array_equal(decode_rle(rle), m)
    with pytest.raises(CocoFormatError, match="add up to 5") as info:
        list_counts_to_rle([2, 3], H, W, "x.json", "annotations[0].segmentation")
    assert info.value.field == "annotations[0].segmentation.counts"
    with pytest.raises(CocoFormatError, match="integers"):
        list_counts_to_rle(["a"], 1, 1, None, "seg")


def test_vectorised_rle_check_agrees_with_pycocotools():
    rng = np.random.default_rng(0)
    strings, totals = [], []
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        m = rng.random((h, w)) < rng.random()
        strings.append(encode_mask(m)["counts"])
        totals.append(h * w)
    ok, sums = rle_strings_totals(strings)
    assert ok.all() and sums.tolist() == totals
    # one string per failure: truncated (last char continues), bad char, negative run,
    # and too long a run (13 continuation characters)
    ok, _ = rle_strings_totals(["6230009", "623000i", "62\x7f", "1O", "o" * 13 + "1"])
    assert ok.tolist() == [True, False, False, False, False]


def test_check_rle_counts_names_the_first_bad_mask():
    good = Instance.from_mask(lobes_with_hole(), image_id=1, category_id=1)
    check_rle_counts([good, good], "x.json")  # no error
    short = Instance(
        image_id=1, category_id=1, rle={"size": [H, W + 1], "counts": good.rle["counts"]}
    )
    with pytest.raises(CocoFormatError, match=f"adding up to {H * W} pixels") as info:
        check_rle_counts([good, short], "x.json")
    assert info.value.field == "annotations[1].segmentation.counts"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
)
def test_box_decoding_and_placed_encoding_agree_with_pycocotools(h, w, seed, fill):
    rng = np.random.default_rng(seed)
    full = rng.random((h, w)) < fill
    rle = encode_mask(full)
    assert rle_counts(rle).tolist() == column_runs(full)
    sub, r0, c0 = decode_rle_box(rle)
    if not full.any():
        assert sub.shape == (0, 0)
        return
    rows, cols = np.nonzero(full)
    assert (r0, c0) == (rows.min(), cols.min())
    assert np.array_equal(sub, full[r0 : rows.max() + 1, c0 : cols.max() + 1])
    assert encode_placed_mask(sub, r0, c0, (h, w)) == rle
    # uncompressed counts decode the same
    assert np.array_equal(decode_rle_box({"size": [h, w], "counts": column_runs(full)})[0], sub)


def test_a_placed_mask_on_a_large_image_needs_no_whole_image_mask():
    sub = np.zeros((40, 30), bool)
    sub[5:35, 3:9] = True
    sub[10:20, 20:28] = True  # a second lobe
    rle = encode_placed_mask(sub, 9000, 11000, (12000, 12000))
    assert rle["size"] == [12000, 12000]
    assert int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode()})) == int(
        sub.sum()
    )
    back, r0, c0 = decode_rle_box(rle)
    assert (r0, c0) == (9005, 11003) and back.sum() == sub.sum()
    with pytest.raises(ValueError, match="not inside"):
        encode_placed_mask(sub, 11990, 0, (12000, 12000))
