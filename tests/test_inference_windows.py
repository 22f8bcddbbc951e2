"""Merging the detections of overlapping windows (inference.windows)."""

from __future__ import annotations

import numpy as np

from napari_radiogal.inference.windows import (
    PlacedMask,
    WindowDetection,
    is_cut,
    merge_windows,
)
from napari_radiogal.io.geometry import window_grid

SHAPE = (210, 400)  # two windows of 210 overlapping by 20 px: cols 0-209 and 190-399
WINDOWS = window_grid(SHAPE, 210, 20)


def _disc(row, col, radius):
    size = 2 * radius + 1
    yy, xx = np.mgrid[:size, :size]
    return PlacedMask(
        row - radius, col - radius, (yy - radius) ** 2 + (xx - radius) ** 2 <= radius**2
    )


def _clipped(pm: PlacedMask, window) -> PlacedMask:
    """What a window sees of a mask: the part inside it."""
    full = pm.to_array(SHAPE)
    sub = np.zeros(SHAPE, bool)
    sub[window.slices] = full[window.slices]
    rows, cols = np.nonzero(sub)
    r0, c0 = rows.min(), cols.min()
    return PlacedMask(int(r0), int(c0), sub[r0 : rows.max() + 1, c0 : cols.max() + 1])


def _detect(pm, window, category=1, score=0.5):
    return WindowDetection(window, _clipped(pm, window), category, score)


def test_windows_are_the_expected_pair():
    assert [(w.col0, w.width) for w in WINDOWS] == [(0, 210), (190, 210)]


def test_a_source_in_the_overlap_is_kept_once_with_the_higher_score():
    src = _disc(100, 200, 5)  # inside both windows, touching neither inner edge
    a, b = _detect(src, WINDOWS[0], score=0.6), _detect(src, WINDOWS[1], score=0.7)
    assert not is_cut(a, SHAPE) and not is_cut(b, SHAPE)
    merged = merge_windows([a, b], SHAPE)
    assert len(merged) == 1 and merged[0].score == 0.7


def test_a_source_cut_by_one_window_is_taken_from_the_window_that_has_it_whole():
    src = _disc(100, 215, 12)  # cols 203-227: cut by window 0 (ends at 209), whole in window 1
    cut, whole = _detect(src, WINDOWS[0], score=0.9), _detect(src, WINDOWS[1], score=0.4)
    assert is_cut(cut, SHAPE) and not is_cut(whole, SHAPE)
    merged = merge_windows([cut, whole], SHAPE)
    assert len(merged) == 1
    assert merged[0].window is WINDOWS[1] and merged[0].mask.area == src.area


def test_a_source_larger_than_a_window_is_united_from_its_cut_parts():
    big = PlacedMask(90, 20, np.ones((20, 360), bool))  # 360 px long: no window holds it
    parts = [_detect(big, w, score=s) for w, s in zip(WINDOWS, (0.5, 0.6), strict=True)]
    assert all(is_cut(p, SHAPE) for p in parts)
    merged = merge_windows(parts, SHAPE)
    assert len(merged) == 1
    assert merged[0].mask.area == big.area and merged[0].score == 0.6
    assert merged[0].extra["merged_parts"] == 2


def test_different_sources_keep_their_pixels_and_never_share_one():
    left, right = _disc(60, 50, 8), _disc(150, 330, 8)
    touching = _disc(60, 62, 8)  # overlaps `left` by a few pixels: a different source
    dets = [
        _detect(left, WINDOWS[0], score=0.9),
        _detect(touching, WINDOWS[0], score=0.3),
        _detect(right, WINDOWS[1], score=0.8),
    ]
    merged = merge_windows(dets, SHAPE)
    assert len(merged) == 3
    total = np.zeros(SHAPE, np.int32)
    for d in merged:
        total += d.mask.to_array(SHAPE)
    assert total.max() == 1
    assert merged[0].mask.area == left.area  # the higher score keeps its whole mask
    assert 0 < merged[-1].mask.area < touching.area
