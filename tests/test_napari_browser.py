"""The image browser: a folder of cut-outs, one image at a time, one autosave per image."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from napari_fits_helpers import radio_image, write_ir, write_radio
from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.errors import ConfigError

SHAPE = (64, 64)
STEMS = ("c0", "c1", "c2")


def write_folder(folder, stems=STEMS):
    """Three radio cut-outs (different noise seeds), each with its W1 image."""
    folder.mkdir(exist_ok=True)
    for k, stem in enumerate(stems):
        write_radio(folder / f"{stem}.fits", radio_image(SHAPE, seed=k))
        write_ir(folder / f"{stem}_w1.fits")
    return folder


def _disk(cy, cx, r):
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def two_galaxies(*, reviewed=False) -> CocoDataset:
    record = ImageRecord(id=1, file_name="c.fits", height=SHAPE[0], width=SHAPE[1])
    instances = [
        Instance.from_mask(
            _disk(20, 16, 4), image_id=1, category_id=1, score=0.9, reviewed=reviewed
        ),
        Instance.from_mask(
            _disk(48, 32, 3), image_id=1, category_id=4, score=0.6, reviewed=reviewed
        ),
    ]
    return CocoDataset(images=[record], instances=instances)


def truncate_data(path):
    """Cut a FITS file just after its header: the header reads, the pixels do not."""
    header_bytes = len(fits.Header.fromfile(path).tostring())
    with open(path, "r+b") as fh:
        fh.truncate(header_bytes + 16)


# ---------------------------------------------------------------------- listing, no Qt
def test_a_folder_lists_its_pairs_in_name_order_with_absolute_paths(tmp_path):
    from napari_radiogal._napari._browser import list_cutouts

    folder = write_folder(tmp_path / "cutouts")
    pairs = list_cutouts([folder])
    assert [p.radio.name for p in pairs] == ["c0.fits", "c1.fits", "c2.fits"]
    assert [p.infrared.name for p in pairs] == ["c0_w1.fits", "c1_w1.fits", "c2_w1.fits"]
    assert all(p.radio.is_absolute() and p.infrared.is_absolute() for p in pairs)


def test_listing_by_name_opens_no_file(tmp_path, monkeypatch):
    from astropy.io import fits as afits

    from napari_radiogal._napari._browser import list_cutouts

    folder = tmp_path / "cutouts"
    folder.mkdir()
    for stem in STEMS:  # not FITS at all inside: any read would fail
        (folder / f"{stem}.fits").write_bytes(b"garbage")
        (folder / f"{stem}_w1.fits").write_bytes(b"garbage")
    opened = []
    monkeypatch.setattr(afits, "open", lambda *a, **k: opened.append(a) or pytest.fail("opened"))
    assert len(list_cutouts([folder])) == 3
    assert opened == []


def test_listing_by_headers_reads_no_pixels(tmp_path):
    from napari_radiogal._napari._browser import image_status, list_cutouts
    from napari_radiogal.io.fits import read_radio

    folder = tmp_path / "radio_only"
    folder.mkdir()
    for k in range(3):  # no infrared partners by name: the headers decide
        truncate_data(write_radio(folder / f"r{k}.fits", radio_image(SHAPE, seed=k)))
    with pytest.raises((OSError, ValueError)):
        read_radio(folder / "r0.fits")  # the pixels cannot be read
    pairs = list_cutouts([folder])
    assert [(p.radio.name, p.infrared) for p in pairs] == [
        ("r0.fits", None),
        ("r1.fits", None),
        ("r2.fits", None),
    ]
    assert image_status(pairs[0].radio).state == "not segmented"


def test_the_reader_claims_folders_but_not_zarr_stores(tmp_path):
    from napari_radiogal._napari._reader import napari_get_reader, read_folder

    (tmp_path / "cutouts").mkdir()
    (tmp_path / "image.zarr").mkdir()
    assert napari_get_reader(str(tmp_path / "cutouts")) is read_folder
    assert napari_get_reader([str(tmp_path / "cutouts")]) is read_folder
    assert napari_get_reader(str(tmp_path / "image.zarr")) is None


def test_a_pairs_table_in_the_folder_decides(tmp_path):
    from napari_radiogal._napari._browser import list_cutouts

    folder = tmp_path / "odd_names"
    folder.mkdir()
    write_radio(folder / "emu.fits", radio_image(SHAPE))
    write_ir(folder / "wise.fits")
    (folder / "pairs.csv").write_text("radio,ir\nemu.fits,wise.fits\n")
    [pair] = list_cutouts([folder])
    assert (pair.radio.name, pair.infrared.name) == ("emu.fits", "wise.fits")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((), "the folder is empty"),
        (("notes.txt", "image.png"), "holds 2 item(s) but no FITS file"),
        (("a.fits", "a_w1.fits", "a_ir.fits"), "ambiguous radio/infrared pairing by name"),
    ],
)
def test_folders_that_cannot_be_browsed_say_why_and_how_to_fix(tmp_path, names, expected):
    from napari_radiogal._napari._browser import list_cutouts

    folder = tmp_path / "bad"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"x")
    with pytest.raises(ConfigError, match="pairs.csv") as info:
        list_cutouts([folder])
    assert expected in str(info.value)


def test_two_radio_images_never_share_one_autosave(tmp_path):
    from napari_radiogal._napari._browser import list_cutouts

    folder = tmp_path / "twins"
    folder.mkdir()
    write_radio(folder / "a.fits", radio_image(SHAPE))
    write_radio(folder / "a.fit", radio_image(SHAPE, seed=1))
    with pytest.raises(ConfigError, match="would share one autosave"):
        list_cutouts([folder])


def test_status_comes_from_the_autosave(tmp_path):
    from napari_radiogal._napari._autosave import HAND_EDITED_KEY, sidecar_path
    from napari_radiogal._napari._browser import image_status
    from napari_radiogal.io.coco import write_coco

    radio = tmp_path / "c.fits"
    assert image_status(radio).describe() == "not segmented"
    write_coco(sidecar_path(radio), two_galaxies())
    assert image_status(radio).describe() == "segmented, 2 instances"
    edited = two_galaxies()
    edited.images[0].extra[HAND_EDITED_KEY] = True
    write_coco(sidecar_path(radio), edited)
    assert image_status(radio).describe() == "edited, 2 instances"
    write_coco(sidecar_path(radio), two_galaxies(reviewed=True))
    assert image_status(radio).describe() == "reviewed, 2 instances"


# ---------------------------------------------------------------------- in a viewer
@pytest.fixture
def browse(make_napari_viewer, tmp_path, monkeypatch):
    """A viewer with the segment dock, and a function that opens a folder in it."""
    from napari_radiogal._napari import _autosave, _edits

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_autosave, "AUTOSAVE_DELAY_MS", 50)
    monkeypatch.setattr(_edits, "SYNC_DELAY_MS", 10)
    viewer = make_napari_viewer()
    _, seg = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")

    def open_folder(folder):
        from napari_radiogal._napari._browser import ImageBrowser

        assert viewer.open(str(folder), plugin="napari-radiogal") == []
        docks = [w for w in viewer.window.dock_widgets.values() if isinstance(w, ImageBrowser)]
        return docks[0] if docks else None

    return viewer, seg, open_folder


def _radio(viewer):
    [layer] = [lay for lay in viewer.layers if lay.metadata.get("radiogal_kind") == "radio"]
    return layer


def _ir(viewer):
    [layer] = [lay for lay in viewer.layers if lay.metadata.get("radiogal_kind") == "infrared"]
    return layer


def _messages():
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


@pytest.mark.gui
def test_folder_opens_in_the_browser_and_next_replaces_the_layers(browse, tmp_path):
    from napari.utils.key_bindings import coerce_keybinding

    from napari_radiogal._napari._browser import NEXT_KEY, PREVIOUS_KEY

    viewer, seg, open_folder = browse
    folder = write_folder(tmp_path / "cutouts")
    browser = open_folder(folder)
    rows = [browser.list.item(k).text() for k in range(browser.list.count())]
    assert rows == ["c0  (not segmented)", "c1  (not segmented)", "c2  (not segmented)"]
    # the first pair, as opening its two files gives it: names, one sky grid
    assert sorted(lay.name for lay in viewer.layers) == ["c0 radio", "c0_w1 W1"]
    radio, ir = _radio(viewer), _ir(viewer)
    np.testing.assert_array_equal(radio.data, radio_image(SHAPE, seed=0))
    assert ir.data.shape == SHAPE and ir.metadata["reprojected_onto"] == str(folder / "c0.fits")
    np.testing.assert_allclose(ir.scale, radio.scale)

    browser.next_button.click()
    assert browser.index == 1
    assert sorted(lay.name for lay in viewer.layers) == ["c1 radio", "c1_w1 W1"]
    np.testing.assert_array_equal(_radio(viewer).data, radio_image(SHAPE, seed=1))
    assert _ir(viewer).metadata["reprojected_onto"] == str(folder / "c1.fits")
    # the segment widget follows the switch
    assert seg.radio.value.name == "c1 radio" and seg.infrared.value.name == "c1_w1 W1"
    assert browser.position.text() == "2 / 3: c1"

    viewer.keymap[coerce_keybinding(NEXT_KEY)](viewer)
    assert browser.index == 2 and not browser.next()  # stays on the last one
    viewer.keymap[coerce_keybinding(PREVIOUS_KEY)](viewer)
    assert browser.index == 1 and _radio(viewer).name == "c1 radio"
    browser.list.setCurrentRow(0)  # a click in the list
    assert browser.index == 0 and _radio(viewer).name == "c0 radio"


@pytest.mark.gui
def test_edits_are_autosaved_per_image_and_come_back(browse, tmp_path, qtbot, monkeypatch):
    from napari_radiogal._napari._apply import add_annotations
    from napari_radiogal._napari._autosave import sidecar_path
    from napari_radiogal._napari._edits import sessions_in
    from napari_radiogal.io import coco

    viewer, seg, open_folder = browse
    folder = write_folder(tmp_path / "cutouts")
    browser = open_folder(folder)
    session = add_annotations(viewer, two_galaxies(), _radio(viewer), _ir(viewer))
    first = session.instance_ids()[0]
    session.set_class(first, "R")
    assert browser.list.item(0).text() == "c0  (edited, 2 instances)"

    assert browser.next()
    # image 1's layers all left with it, its edit is in its own autosave
    assert not [lay for lay in viewer.layers if "c0" in lay.name]
    side0, side1 = sidecar_path(folder / "c0.fits"), sidecar_path(folder / "c1.fits")
    saved = coco.read_coco(side0)
    assert saved.images[0].radio_file == "c0.fits"
    assert saved.scheme.name_of_id(saved.instances[0].category_id) == "R"
    assert browser.list.item(0).text() == "c0  (edited, 2 instances)"

    other = add_annotations(viewer, two_galaxies(), _radio(viewer), _ir(viewer))
    other.set_reviewed(other.instance_ids())
    assert browser.previous()
    assert side1 != side0 and coco.read_coco(side1).images[0].radio_file == "c1.fits"
    assert all(inst.reviewed for inst in coco.read_coco(side1).instances)
    assert browser.list.item(1).text() == "c1  (reviewed, 2 instances)"
    # back on image 1: its edit is restored from its autosave
    [restored] = sessions_in(viewer)
    assert restored.ctx.radio_key == str(folder / "c0.fits")
    assert restored.row(first)["class"] == "R"

    # an autosave that fails keeps the user on the image, with the edits in the layers
    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(coco, "write_coco", disk_full)
    restored.set_class(first, "FR-I")
    assert not browser.next()
    assert browser.index == 0 and _radio(viewer).name == "c0 radio"
    assert restored.row(first)["class"] == "FR-I"
    assert any("Stayed on c0" in m and "No space left" in m for m in _messages())
    # the images left no longer autosave (their last state is on disk)
    assert not any("c1.radiogal.json" in m for m in _messages())


@pytest.mark.gui
def test_filter_hides_reviewed_images_and_bad_folders_notify(browse, tmp_path):
    from napari_radiogal._napari._autosave import sidecar_path
    from napari_radiogal.io.coco import write_coco

    viewer, seg, open_folder = browse
    folder = write_folder(tmp_path / "cutouts")
    write_coco(sidecar_path(folder / "c1.fits"), two_galaxies(reviewed=True))
    browser = open_folder(folder)
    assert browser.statuses[1].state == "reviewed"
    browser.only_not_reviewed.setChecked(True)
    assert browser.list.isRowHidden(1) and not browser.list.isRowHidden(2)
    assert browser.next() and browser.index == 2
    assert browser.previous() and browser.index == 0

    empty, no_fits = tmp_path / "empty", tmp_path / "no_fits"
    empty.mkdir()
    no_fits.mkdir()
    (no_fits / "notes.txt").write_text("not an image")
    for bad, why in ((empty, "the folder is empty"), (no_fits, "no FITS file")):
        open_folder(bad)
        assert any(why in m and "pairs.csv" in m for m in _messages())
    # the viewer and the browser keep working
    assert _radio(viewer).name == "c0 radio" and browser.next() and browser.index == 2
