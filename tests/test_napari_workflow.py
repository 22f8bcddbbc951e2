"""The plugin as a user drives it: results -> layers -> corrections -> table -> export -> import.

A hand-made three-galaxy result is injected through the segment widget's ``deliver`` (the
path every worker result takes), so these tests do not depend on a trained model; the real
worker runs in ``test_napari_segment.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_fits_helpers import write_pair
from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import DISPLAY_COLORS

pytestmark = [
    pytest.mark.gui,
    # napari will forbid plugins private attribute access; fail now if we rely on any
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]

SHAPE = (64, 64)


def _disk(cy, cx, r):
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def truth() -> CocoDataset:
    """An FR-II with detached lobes (host between them), an R and a faint FR-I."""
    record = ImageRecord(id=1, file_name="field_emu.fits", height=SHAPE[0], width=SHAPE[1])
    fr2 = _disk(20, 16, 4) | _disk(20, 46, 4)
    instances = [
        Instance.from_mask(fr2, image_id=1, category_id=1, host=(31.0, 20.0), score=0.9),
        Instance.from_mask(
            _disk(48, 32, 3), image_id=1, category_id=4, host=(32.0, 48.0), score=0.6
        ),
        Instance.from_mask(_disk(44, 10, 3), image_id=1, category_id=2, host=None, score=0.3),
    ]
    return CocoDataset(images=[record], instances=instances, info={"description": "hand-made"})


@pytest.fixture
def gui(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """A viewer with the pair open, both docks, and the hand-made result delivered."""
    from napari_radiogal._napari import _autosave, _edits
    from napari_radiogal._napari._widget_segment import Job, SegmentWidget
    from napari_radiogal._napari._widget_table import InstanceTableWidget

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_autosave, "AUTOSAVE_DELAY_MS", 50)
    monkeypatch.setattr(_edits, "SYNC_DELAY_MS", 10)
    radio_path, ir_path = write_pair(tmp_path)
    viewer = make_napari_viewer()
    viewer.open([str(radio_path), str(ir_path)], plugin="napari-radiogal")
    # through napari's plugin machinery: the widgets get napari's public-only viewer proxy
    _, seg = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")
    _, table = viewer.window.add_plugin_dock_widget("napari-radiogal", "Radio galaxy instances")
    assert isinstance(seg, SegmentWidget) and isinstance(table, InstanceTableWidget)
    seg.reset_choices()
    session = seg.deliver(Job.for_layers(seg.radio.value, seg.infrared.value), truth())
    qtbot.waitUntil(lambda: table.session is session and table.table.rowCount() == 3, timeout=5000)
    return viewer, seg, table, session, radio_path


def _wait_synced(qtbot, session):
    from napari_radiogal._napari._layers import data_fingerprint

    qtbot.waitUntil(
        lambda: session._last_fingerprint == data_fingerprint(session.labels.data), timeout=5000
    )


def _row(session, iid):
    return session.row(iid)


def test_result_becomes_labels_points_and_contours(gui):
    viewer, seg, table, session, _ = gui
    labels, points = session.labels, session.points
    # named after the radio layer, which says what it is (its IR partner says W1 or IR)
    assert labels.name == "field_emu radio instances" and points.name == "field_emu radio hosts"
    f = labels.features
    for col in (
        "instance_id",
        "class",
        "score",
        "host_ra",
        "host_dec",
        "flux_jy",
        "size_arcsec",
        "reviewed",
    ):
        assert col in f.columns and col in points.features.columns
    assert sorted(f["class"]) == ["FR-I", "FR-II", "R"]
    # disjoint lobes share one label
    fr2 = int(f[f["class"] == "FR-II"]["index"].iloc[0])
    assert labels.data[20, 16] == labels.data[20, 46] == fr2
    # one host per instance with a host, coloured by class, on the same north-up grid
    assert len(points.data) == 2
    np.testing.assert_allclose(points.scale, labels.scale)
    np.testing.assert_allclose(points.face_color[0], _rgba(DISPLAY_COLORS["FR-II"]))
    np.testing.assert_allclose(labels.get_color(fr2), _rgba(DISPLAY_COLORS["FR-II"]))
    row = _row(session, fr2)
    assert np.isfinite(row["host_ra"]) and row["flux_jy"] > 0 and row["size_arcsec"] > 50
    # radio contours over the IR image (a Shapes path layer)
    contours = [lay for lay in viewer.layers if lay.metadata.get("radiogal_kind") == "contours"]
    assert len(contours) == 1 and contours[0].shape_type[0] == "path"
    # table: least confident first
    scores = [float(table.table.item(r, 2).text()) for r in range(3)]
    assert scores == sorted(scores)


def _rgba(hex_color):
    from napari.utils.colormaps.standardize_color import transform_color

    return transform_color(hex_color)[0]


def test_corrections_table_export_and_reimport(gui, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    viewer, seg, table, session, radio_path = gui
    labels, points = session.labels, session.points
    ids = {
        str(c): int(i)
        for c, i in zip(labels.features["class"], labels.features["index"], strict=True)
    }
    fr2, r, fr1 = ids["FR-II"], ids["R"], ids["FR-I"]

    # 1. paint a correction with napari's undoable data_setitem: grow the FR-I
    area0 = int((labels.data == fr1).sum())
    rr, cc = np.nonzero(_disk(44, 14, 2) & (labels.data == 0))
    labels.data_setitem((rr, cc), fr1)
    _wait_synced(qtbot, session)
    assert int((labels.data == fr1).sum()) == area0 + len(rr)
    labels.undo()
    _wait_synced(qtbot, session)
    assert int((labels.data == fr1).sum()) == area0
    labels.redo()
    _wait_synced(qtbot, session)

    # 2. merge the FR-I into the R through the table (the more confident R keeps its id)
    table.select([r, fr1])
    # the view centres on the first selected row (the least confident: the FR-I)
    rows, cols = np.nonzero(labels.data == fr1)
    centre = labels.data_to_world(((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2))
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], centre, atol=1.0)
    assert labels.selected_label == fr1
    kept = table.merge_selected()
    assert kept == r and fr1 not in session.instance_ids()
    assert (labels.data == r).sum() > area0
    assert len(points.data) == 2  # R keeps its own host
    labels.undo()  # the merge is one undo step and brings the FR-I row back
    _wait_synced(qtbot, session)
    assert fr1 in session.instance_ids() and _row(session, fr1)["class"] == "FR-I"
    labels.redo()
    _wait_synced(qtbot, session)
    assert fr1 not in session.instance_ids()

    # 3. move the FR-II host; add a host with napari's Points tool onto the R (replaces its host)
    session.set_host(fr2, (21.0, 30.0))
    np.testing.assert_allclose(points.data[session.host_index(fr2)], [21.0, 30.0])
    points.add(np.array([[47.0, 33.0]]))
    qtbot.waitUntil(lambda: len(points.data) == 2, timeout=5000)
    np.testing.assert_allclose(points.data[session.host_index(r)], [47.0, 33.0])

    # 4. change a class and tick reviewed in the table
    row = table.row_of(fr2)
    table.table.cellWidget(row, 1).setCurrentText("FR-X")
    assert _row(session, fr2)["class"] == "FR-X"
    np.testing.assert_allclose(labels.get_color(fr2), _rgba(DISPLAY_COLORS["FR-X"]))
    table.table.item(table.row_of(fr2), 7).setCheckState(Qt.CheckState.Checked)
    assert bool(_row(session, fr2)["reviewed"])
    assert points.features["class"].iloc[session.host_index(fr2)] == "FR-X"

    before = session.to_dataset()

    # 5. export: COCO (reviewed + provenance), ECSV catalogue, DS9 regions
    out = tmp_path / "export"
    paths = table.export(out)
    coco = json.loads(paths["coco"].read_text())
    assert {a["id"] for a in coco["annotations"]} == {fr2, r}
    assert [a["reviewed"] for a in coco["annotations"] if a["id"] == fr2] == [True]
    assert coco["info"]["description"] == "hand-made"
    assert coco["images"][0]["file_name"].endswith("field_emu.fits")
    from astropy.table import Table

    cat = Table.read(paths["catalogue"], format="ascii.ecsv")
    assert set(cat["class"]) == {"FR-X", "R"} and "reviewed" in cat.colnames
    assert cat["flux"].unit == "Jy"
    assert "polygon" in paths["regions"].read_text()

    # 6. re-import onto the image: identical masks, classes, hosts and flags
    imported = table.import_coco(paths["coco"])
    assert imported is not session
    after = imported.to_dataset()
    _assert_same(before, after)


def _assert_same(a: CocoDataset, b: CocoDataset):
    ia = {x.id: x for x in a.instances}
    ib = {x.id: x for x in b.instances}
    assert ia.keys() == ib.keys()
    for k in ia:
        assert np.array_equal(ia[k].mask, ib[k].mask)
        assert ia[k].category_id == ib[k].category_id
        assert ia[k].host == pytest.approx(ib[k].host) if ia[k].host else ib[k].host is None
        assert ia[k].reviewed == ib[k].reviewed


def test_split_delete_add_and_orphans(gui, qtbot):
    viewer, seg, table, session, _ = gui
    labels, points = session.labels, session.points
    ids = {
        str(c): int(i)
        for c, i in zip(labels.features["class"], labels.features["index"], strict=True)
    }
    fr2 = ids["FR-II"]
    # split the detached lobes into two instances; the host stays with one of them
    parts = session.split(fr2)
    assert len(parts) == 2 and parts[0] == fr2
    assert labels.data[20, 16] != labels.data[20, 46]
    assert _row(session, parts[1])["class"] == "FR-II"
    labels.undo()
    _wait_synced(qtbot, session)
    assert labels.data[20, 16] == labels.data[20, 46] == fr2
    # a one-piece instance needs a cut line
    from napari_radiogal._napari._edits import EditError

    with pytest.raises(EditError, match="one piece"):
        session.split(ids["R"])
    cut = session.split(ids["R"], line=np.array([[40.0, 32.0], [56.0, 32.0]]))
    assert len(cut) == 2
    # delete removes pixels and host
    session.delete(cut)
    assert ids["R"] not in session.instance_ids() and len(points.data) == 1
    # a new instance of a chosen class, next free label
    new = session.add_instance(_disk(8, 56, 3), "FR-I")
    assert new == max(session.instance_ids()) and _row(session, new)["class"] == "FR-I"
    # napari's own brush (what a paint stroke calls) grows it; the table follows
    area = _row(session, new)["size_arcsec"]
    labels.brush_size = 3
    labels.paint((8, 50), new)
    _wait_synced(qtbot, session)
    assert _row(session, new)["size_arcsec"] > area
    # napari's brush with a fresh label makes a new instance of the chosen class
    session.new_class = "FR-X"
    fresh = session.next_free_id()
    labels.paint((30, 5), fresh)
    _wait_synced(qtbot, session)
    assert _row(session, fresh)["class"] == "FR-X" and bool(_row(session, fresh)["reviewed"])
    # erasing the FR-II with napari's tools leaves its host as a flagged orphan
    rr, cc = np.nonzero(labels.data == fr2)
    labels.data_setitem((rr, cc), 0)
    _wait_synced(qtbot, session)
    assert bool(points.features["orphan"].iloc[0])
    assert session.to_dataset().images[0].extra["radiogal_orphan_hosts"]
    labels.undo()
    _wait_synced(qtbot, session)
    assert not points.features["orphan"].any()


def test_autosave_and_offer_back_on_reopen(gui, qtbot):
    from napari.utils.notifications import notification_manager

    from napari_radiogal._napari._apply import restore_sidecar
    from napari_radiogal._napari._autosave import sidecar_path

    viewer, seg, table, session, radio_path = gui
    side = sidecar_path(radio_path)
    assert side.name == "field_emu.radiogal.json" and side.parent == radio_path.parent
    fr2 = int(session.labels.features[session.labels.features["class"] == "FR-II"]["index"].iloc[0])
    session.set_class(fr2, "R")
    qtbot.waitUntil(side.exists, timeout=5000)
    # reopening the radio file offers the edits back
    n = len(notification_manager.records)
    viewer.open(str(radio_path), plugin="napari-radiogal")
    offers = [x for x in notification_manager.records[n:] if x.actions]
    assert offers and "Restore" in offers[0].actions[0][0]
    restored = restore_sidecar(viewer, radio_path)
    assert _row(restored, fr2)["class"] == "R"
    assert seg.restore_button.native.isVisibleTo(seg.native)


def test_file_save_writer_round_trips(gui, tmp_path):
    from napari_radiogal._napari._reader import napari_get_reader

    viewer, seg, table, session, _ = gui
    session.set_reviewed(session.instance_ids()[0])
    out = tmp_path / "saved.json"
    # File > Save Selected Layers with the instances + hosts selected
    viewer.layers.selection = {session.labels, session.points}
    written = viewer.layers.save(str(out), selected=True, plugin="napari-radiogal")
    assert written == [str(out)]
    reader = napari_get_reader(str(out))
    (ldata, lkw, ltype), (pdata, pkw, ptype) = reader(str(out))
    assert ltype == "labels" and np.array_equal(ldata, session.labels.data)
    np.testing.assert_allclose(pdata, session.points.data)
    assert lkw["features"]["reviewed"].tolist() == session.labels.features["reviewed"].tolist()
    # the catalogue and region writers take the same selection
    cat = viewer.layers.save(str(tmp_path / "cat.ecsv"), selected=True, plugin="napari-radiogal")
    reg = viewer.layers.save(str(tmp_path / "cat.reg"), selected=True, plugin="napari-radiogal")
    assert "reviewed" in open(cat[0]).read() and "# Region file format: DS9" in open(reg[0]).read()


def test_export_keeps_the_previous_set_as_bak(gui, tmp_path):
    from napari_radiogal._napari._apply import export_session
    from napari_radiogal._napari._writer import write_catalogue_layers, write_coco_layers

    _, _, _, session, _ = gui
    out = tmp_path / "out"
    first = export_session(session, out, "field")
    names = [p.name for p in first.values()]
    assert names == [
        "field.json",
        "field.ecsv",
        "field.cat.fits",
        "field.vot",
        "field.reg",
        "field.crtf",
    ]
    exported = first["coco"].read_bytes()
    first["coco"].write_text("{}")  # a hand edit of the exported file
    export_session(session, out, "field")
    assert (out / "field.json.bak").read_text() == "{}"
    assert first["coco"].read_bytes() == exported
    # one rule with radiogal predict --overwrite: the whole previous set is kept as .bak
    assert sorted(p.name for p in out.iterdir() if p.name[0] != ".") == sorted(
        names + [f"{n}.bak" for n in names]
    )
    # the File > Save writers: a suffix is added only when missing, the COCO file backed up
    layers = [lay.as_layer_data_tuple() for lay in (session.labels, session.points)]
    assert write_coco_layers(str(tmp_path / "w" / "a"), layers) == [str(tmp_path / "w" / "a.json")]
    write_coco_layers(str(tmp_path / "w" / "a.json"), layers)
    assert write_catalogue_layers(str(tmp_path / "w" / "C.ECSV"), layers)[0].endswith("C.ECSV")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["C.ECSV", "a.json", "a.json.bak"]


def test_autosave_falls_back_to_the_cache_for_read_only_folders(gui, qtbot, monkeypatch):
    from napari_radiogal._napari._autosave import existing_sidecar, sidecar_path
    from napari_radiogal.io import coco

    viewer, seg, table, session, radio_path = gui
    real_write = coco.write_coco

    def write_coco(path, dataset, **kw):
        if path == sidecar_path(radio_path):  # the data folder is read-only
            raise PermissionError(13, "Permission denied", str(path))
        return real_write(path, dataset, **kw)

    monkeypatch.setattr(coco, "write_coco", write_coco)
    session.set_reviewed(session.instance_ids(), True)
    qtbot.waitUntil(lambda: existing_sidecar(radio_path) is not None, timeout=5000)
    side = existing_sidecar(radio_path)
    assert side.parent.name == "autosave" and not sidecar_path(radio_path).exists()
    assert all(a.reviewed for a in coco.read_coco(side).instances)


def _state(session):
    """Everything an undo step must restore, as plain copies."""
    return (
        np.array(session.labels.data),
        session.labels.features.copy(),
        np.array(session.points.data),
        session.points.features.copy(),
    )


def _assert_state(session, want):
    labels, features, hosts, host_features = want
    np.testing.assert_array_equal(session.labels.data, labels)
    assert session.labels.features.equals(features)
    np.testing.assert_array_equal(session.points.data, hosts)
    assert session.points.features.equals(host_features)


def test_undo_and_redo_cover_class_host_reviewed_and_mask_edits(gui, qtbot):
    from napari.utils.key_bindings import coerce_keybinding
    from qtpy.QtCore import Qt

    from napari_radiogal._napari._edits import REDO_KEY, UNDO_KEY

    viewer, seg, table, session, _ = gui
    labels, points = session.labels, session.points
    ids = {
        str(c): int(i)
        for c, i in zip(labels.features["class"], labels.features["index"], strict=True)
    }
    fr2, r, fr1 = ids["FR-II"], ids["R"], ids["FR-I"]
    assert not table.undo_button.isEnabled() and not table.redo_button.isEnabled()
    states = [_state(session)]
    # a class through the table's combo box
    table.table.cellWidget(table.row_of(fr2), 1).setCurrentText("FR-X")
    states.append(_state(session))
    # a host placed with napari's Points tool on the R (replaces its host at the next sync)
    points.add(np.array([[47.0, 33.0]]))
    qtbot.waitUntil(lambda: len(session.points.data) == 2, timeout=5000)
    states.append(_state(session))
    # the reviewed flag through the table's check box
    table.table.item(table.row_of(r), 7).setCheckState(Qt.CheckState.Checked)
    states.append(_state(session))
    # a mask edit: merge the FR-I into the R
    table.select([r, fr1])
    assert table.merge_selected() == r
    states.append(_state(session))
    assert table.undo_button.isEnabled()

    for want in reversed(states[:-1]):
        assert table.undo()
        _assert_state(session, want)
    assert not table.undo() and not table.undo_button.isEnabled()
    assert table.table.cellWidget(table.row_of(fr2), 1).currentText() == "FR-II"
    assert table.table.item(table.row_of(r), 7).checkState() == Qt.CheckState.Unchecked
    for want in states[1:]:
        assert table.redo()
        _assert_state(session, want)
    assert not table.redo_button.isEnabled()
    assert table.table.cellWidget(table.row_of(fr2), 1).currentText() == "FR-X"

    # Ctrl+Z / Ctrl+Shift+Z on the annotation layers go through the same history
    for layer in (labels, points):
        assert coerce_keybinding(UNDO_KEY) in layer.keymap
    labels.keymap[coerce_keybinding(UNDO_KEY)](labels)
    _assert_state(session, states[-2])
    points.keymap[coerce_keybinding(REDO_KEY)](points)
    _assert_state(session, states[-1])

    # a new edit after an undo forgets what could have been redone
    assert table.undo()
    session.set_reviewed(fr2, True)
    assert not session.history.can_redo and not table.redo_button.isEnabled()


def test_undo_steps_back_a_paint_stroke_before_its_debounced_sync(gui, qtbot):
    viewer, seg, table, session, _ = gui
    labels = session.labels
    fr1 = int(labels.features[labels.features["class"] == "FR-I"]["index"].iloc[0])
    before = _state(session)
    session.set_class(fr1, "R")
    after_class = _state(session)
    rr, cc = np.nonzero(_disk(44, 14, 2) & (labels.data == 0))
    labels.data_setitem((rr, cc), fr1)  # napari's own undoable edit, as a brush stroke is
    assert session.undo()  # the stroke, though its sync is still pending
    _assert_state(session, after_class)
    assert session.undo()
    _assert_state(session, before)
    assert session.redo() and session.redo()
    assert int((labels.data == fr1).sum()) == int((after_class[0] == fr1).sum()) + len(rr)
    assert session.row(fr1)["class"] == "R"
