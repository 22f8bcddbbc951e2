"""Click to segment in napari: the mode, the worker, the annotation it edits, the keys."""

from __future__ import annotations

import numpy as np
import pytest

SHAPE = (64, 64)

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]


def _docks(viewer):
    _, seg = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")
    _, table = viewer.window.add_plugin_dock_widget("napari-radiogal", "Radio galaxy instances")
    seg.reset_choices()
    return seg, table


class _MouseEvent:
    """What napari hands a mouse callback: a press, then the release at the same place."""

    def __init__(self, position, pos=(10.0, 10.0)):
        self.type, self.button, self.modifiers = "mouse_press", 1, ()
        self.position, self.pos = tuple(position), pos


def _click(segmenter, viewer, position, moved_px=0.0):
    event = _MouseEvent(position)
    callback = segmenter.on_mouse(viewer, event)
    next(callback)
    event.type, event.pos = "mouse_release", (10.0 + moved_px, 10.0)
    with pytest.raises(StopIteration):
        next(callback)


def test_click_mode_segments_the_source_under_a_click(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    """The sample cut-out, the bundled model: a click on a lobe of the FR-II adds it."""
    from napari_radiogal.sky import demo_cutout

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-radiogal", "radio-galaxy-cutout")
    seg, table = _docks(viewer)
    seg.click.toggle.value = True
    assert seg.click.on_mouse in viewer.mouse_drag_callbacks
    source = demo_cutout().truth[0].mask
    row, col = 138, 130  # the brightest pixel of a lobe
    world = seg.radio.value.data_to_world((row, col))
    _click(seg.click, viewer, world, moved_px=20.0)  # a drag pans: nothing runs
    assert seg.click.worker is None
    _click(seg.click, viewer, world)
    assert seg.click.worker is not None
    qtbot.waitUntil(lambda: seg.click.worker is None, timeout=900_000)
    assert seg.click.last_result.found, seg.status.value
    session = table.session
    assert session is not None and session.instance_ids() == [1]
    mask = np.asarray(session.labels.data) == 1
    assert (mask & source).sum() / (mask | source).sum() > 0.6
    assert session.row(1)["class"] == "FR-II" and not session.row(1)["reviewed"]
    assert session.host_index(1) is not None
    assert " s." in seg.status.value and "instance 1" in seg.status.value
    seg.click.toggle.value = False
    assert seg.click.on_mouse not in viewer.mouse_drag_callbacks


def test_the_form_toggles_switch_on_and_off_on_their_own(make_napari_viewer):
    """magicgui draws a ToggleButton as a QRadioButton: in one form two of them were
    exclusive (Click to segment switched Advanced off, and could not be switched off)."""
    viewer = make_napari_viewer()
    seg, _ = _docks(viewer)
    seg.advanced_toggle.value = True
    seg.click.toggle.value = True
    assert seg.advanced_toggle.value and seg.click.active
    assert seg.click.on_mouse in viewer.mouse_drag_callbacks
    seg.click.toggle.value = False
    assert not seg.click.active and seg.advanced_toggle.value
    assert seg.click.on_mouse not in viewer.mouse_drag_callbacks
    seg.advanced_toggle.value = False
    assert seg.advanced_form.native.isHidden()


def _disk(cy, cx, r):
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _three_galaxies():
    """An FR-II with detached lobes (score 0.9), an R (0.6) and a faint FR-I (0.3)."""
    from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance

    record = ImageRecord(id=1, file_name="field_emu.fits", height=SHAPE[0], width=SHAPE[1])
    fr2 = _disk(20, 16, 4) | _disk(20, 46, 4)
    instances = [
        Instance.from_mask(fr2, image_id=1, category_id=1, host=(31.0, 20.0), score=0.9),
        Instance.from_mask(_disk(48, 32, 3), image_id=1, category_id=4, score=0.6),
        Instance.from_mask(_disk(44, 10, 3), image_id=1, category_id=2, score=0.3),
    ]
    return CocoDataset(images=[record], instances=instances)


@pytest.fixture
def annotated(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """Three hand-made galaxies on a 64 x 64 field, delivered as a segmentation result."""
    from napari_fits_helpers import write_pair
    from napari_radiogal._napari import _edits
    from napari_radiogal._napari._widget_segment import Job

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_edits, "SYNC_DELAY_MS", 10)
    radio_path, ir_path = write_pair(tmp_path)
    viewer = make_napari_viewer()
    viewer.open([str(radio_path), str(ir_path)], plugin="napari-radiogal")
    seg, table = _docks(viewer)
    session = seg.deliver(Job.for_layers(seg.radio.value, seg.infrared.value), _three_galaxies())
    qtbot.waitUntil(
        lambda: table.session is session and table.table.rowCount() == 3, timeout=60_000
    )
    return viewer, seg, table, session


def _result(mask, *, point=(20.0, 46.0), found=True):
    """A ClickResult as segment_at returns it, for a mask on the 64 x 64 field."""
    from napari_radiogal.inference.click import ClickResult
    from napari_radiogal.inference.windows import PlacedMask
    from napari_radiogal.io.geometry import Window

    if not found:
        return ClickResult(point, Window(0, 0, *SHAPE), SHAPE, "no source found at (20, 46)")
    return ClickResult(
        point,
        Window(0, 0, *SHAPE),
        SHAPE,
        "FR-I (score 0.70) under the click",
        mask=PlacedMask(0, 0, mask),
        category_id=2,
        class_name="FR-I",
        score=0.7,
        host=(31.0, 21.0),
    )


def test_a_click_replaces_only_its_instance_and_undo_restores_it(annotated):
    from napari_radiogal._napari._widget_segment import Job

    viewer, seg, _, session = annotated
    before = np.array(session.labels.data)
    features = session.labels.features.copy()
    # the FR-II (instance 1) segmented again: its right lobe larger, the gap filled
    mask = _disk(20, 16, 4) | _disk(20, 46, 6)
    job = Job.for_layers(seg.radio.value, seg.infrared.value)
    delivered = seg.click.deliver(job, _result(mask))
    assert delivered == (session, 1)
    after = np.asarray(session.labels.data)
    assert np.array_equal(after == 1, mask & ~np.isin(before, [2, 3]))
    for other in (2, 3):  # untouched
        assert np.array_equal(after == other, before == other)
    row = session.row(1)
    assert (row["class"], row["score"], row["reviewed"]) == ("FR-I", pytest.approx(0.7), False)
    assert np.asarray(session.points.data)[session.host_index(1)] == pytest.approx((21.0, 31.0))
    assert session.undo()
    assert np.array_equal(np.asarray(session.labels.data), before)
    assert session.labels.features.equals(features)


def test_a_click_on_empty_sky_changes_nothing_and_says_so(annotated):
    from napari_radiogal._napari._widget_segment import Job

    _, seg, _, session = annotated
    before = np.array(session.labels.data)
    job = Job.for_layers(seg.radio.value, seg.infrared.value)
    assert seg.click.deliver(job, _result(None, found=False)) is None
    assert np.array_equal(np.asarray(session.labels.data), before)
    assert seg.status.value.startswith("no source found")


def test_the_shortcuts_are_bound_once_and_call_the_table_edits(annotated, qtbot):
    from napari.utils.key_bindings import coerce_keybinding

    from napari_radiogal._napari import _click

    viewer, seg, table, session = annotated
    keymap = viewer.keymap
    bound = {key: keymap[coerce_keybinding(key)] for key, _ in _click.SHORTCUTS}
    assert bound == {
        "Shift+C": _click.toggle_click_mode,
        "N": _click.next_to_review,
        "R": _click.mark_reviewed,
        "Shift+M": _click.merge_selected,
        "Shift+S": _click.split_selected,
        "Shift+D": _click.delete_selected,
    }
    for key, _ in _click.SHORTCUTS:  # every key is in the toggle's tooltip
        assert key in seg.click.toggle.tooltip
    bound["Shift+C"](viewer)
    assert seg.click.active
    bound["Shift+C"](viewer)
    assert not seg.click.active
    # scores 0.9, 0.6, 0.3: the least confident first, then up
    assert bound["N"](viewer) == 3 and table.selected_ids() == [3]
    bound["R"](viewer)
    assert session.row(3)["reviewed"] and not session.row(2)["reviewed"]
    assert bound["N"](viewer) == 2
    table.select([2, 3])
    bound["Shift+M"](viewer)
    assert session.instance_ids() == [1, 2]
    table.select([1])
    bound["Shift+S"](viewer)  # the FR-II's two lobes
    assert len(session.instance_ids()) == 3
    table.select([2])
    bound["Shift+D"](viewer)
    assert 2 not in session.instance_ids()
