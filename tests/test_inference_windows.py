"""Merging the detections of overlapping windows (inference.windows)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_radiogal.inference.windows import (
    PlacedMask,
    WindowDetection,
    is_cut,
    merge_windows,
)
from napari_radiogal.io.geometry import Window, window_grid

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


def _random_mosaic_detections(seed: int):
    """Discs and long streaks seen by every window of a 900 x 1300 mosaic that holds them,
    with random classes and scores: duplicates, cut parts and touching neighbours."""
    rng = np.random.default_rng(seed)
    shape = (900, 1300)
    windows = window_grid(shape, 210, 40)
    sources = [
        _disc(int(rng.integers(10, 890)), int(rng.integers(10, 1290)), int(rng.integers(3, 20)))
        for _ in range(60)
    ]
    # sources larger than a window, united from their cut parts whose boxes grow
    sources += [PlacedMask(int(rng.integers(0, 880)), 100, np.ones((12, 900), bool))]
    sources += [PlacedMask(int(rng.integers(0, 880)), 150, np.ones((12, 1000), bool))]
    sources += [PlacedMask(50, int(rng.integers(0, 1280)), np.ones((800, 12), bool))]
    dets = []
    for src in sources:
        full = src.to_array(shape)
        for w in windows:
            sub = full[w.slices]
            if not sub.any():
                continue
            rows, cols = np.nonzero(sub)
            r0, c0 = rows.min(), cols.min()
            placed = PlacedMask(
                w.row0 + int(r0), w.col0 + int(c0), sub[r0 : rows.max() + 1, c0 : cols.max() + 1]
            )
            category = int(rng.integers(1, 3))
            dets.append(WindowDetection(w, placed, category, float(rng.random())))
    return dets, shape


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_bucketed_merge_gives_what_comparing_every_pair_gives(monkeypatch, seed):
    import napari_radiogal.inference.windows as windows_module

    dets, shape = _random_mosaic_detections(seed)
    assert len(dets) > 100  # several windows see most sources
    bucketed = merge_windows(dets, shape)
    monkeypatch.setattr(windows_module, "_BUCKET_PIXELS", 10**9)  # one bucket: every pair
    every_pair = merge_windows(dets, shape)
    assert 40 < len(bucketed) == len(every_pair)
    for a, b in zip(bucketed, every_pair, strict=True):
        assert a.mask.box == b.mask.box and a.score == b.score
        assert np.array_equal(a.mask.mask, b.mask.mask)
    total = np.zeros(shape, np.int32)
    for d in bucketed:
        total += d.mask.to_array(shape)
    assert total.max() == 1


def test_a_double_seen_whole_replaces_the_windows_that_saw_one_lobe_each():
    """Window 0 sees the left lobe whole and the right one not at all, window 2 the
    reverse; window 1 sees the double. The lobe views score higher, but the double's view
    holds both and reaches past their windows: it is the one source kept."""
    windows = [Window(0, 0, 210, 210), Window(0, 100, 210, 210), Window(0, 190, 210, 210)]
    left = PlacedMask(95, 110, np.ones((10, 15), bool))
    right = PlacedMask(95, 250, np.ones((10, 15), bool))
    double = left.union(right)
    dets = [
        WindowDetection(windows[0], left, 2, 0.9),
        WindowDetection(windows[2], right, 2, 0.8),
        WindowDetection(windows[1], double, 1, 0.5),
    ]
    assert not any(is_cut(d, SHAPE) for d in dets)
    merged = merge_windows(dets, SHAPE)
    assert len(merged) == 1
    assert merged[0].window is windows[1] and merged[0].mask.area == double.area
    assert merged[0].category_id == 1
    # a view that holds a kept one but saw nothing beyond its window is the same source
    # seen again, and is dropped
    inside = PlacedMask(90, 105, np.ones((20, 25), bool))  # holds `left`, inside window 0
    kept = merge_windows(
        [WindowDetection(windows[0], left, 2, 0.9), WindowDetection(windows[1], inside, 1, 0.5)],
        SHAPE,
    )
    assert len(kept) == 1 and kept[0].score == 0.9


def test_a_window_detection_holds_its_box_not_the_whole_window_mask():
    # a view of the window's mask would keep all 210 x 210 of it alive per detection (about
    # 1 GB over the ~20k detections of a 12000² mosaic)
    from napari_radiogal.annotations import Instance
    from napari_radiogal.inference.windows import window_detection

    window = Window(100, 50, 210, 210)
    mask = np.zeros((210, 210), bool)
    mask[40:46, 60:70] = True
    inst = Instance.from_mask(mask, image_id=1, category_id=1, score=0.5, host=(65.0, 42.0))
    det = window_detection(window, inst)
    assert det.mask.box == (140, 110, 146, 120)
    assert det.mask.mask.shape == (6, 10) and det.mask.mask.all()
    assert det.mask.mask.base is None  # its own 60 bytes, not a view of 44,100
