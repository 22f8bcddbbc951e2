"""The Fine-tune dock driving real ``radiogal train`` child processes on tiny data."""

from __future__ import annotations

import re
import sys

import pytest

from test_training_launch import TINY, _live_processes_of_group
from training_data import make_toy_dataset

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]

TIMEOUT_MS = 120_000
#: the tiny recipe with a one-epoch host stage (the toy images' hosts are reviewed)
TINY_ALL = (*TINY, "host.epochs=1", "host.canvas_size=64")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    train = make_toy_dataset(root / "train", n=8, size=64, seed=0)
    val = make_toy_dataset(root / "val", n=4, size=64, seed=1, name="val")
    return train, val


@pytest.fixture
def dock(make_napari_viewer, tmp_path, monkeypatch):
    """A viewer with the Fine-tune dock, its runs going to ``tmp_path/runs``."""
    from napari_radiogal._napari import _widget_finetune
    from napari_radiogal._napari._widget_finetune import FinetuneWidget

    monkeypatch.setattr(_widget_finetune, "POLL_MS", 50)  # a tiny run lasts about 2 s
    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the child
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-radiogal", "Fine-tune radio galaxy model"
    )
    assert isinstance(widget, FinetuneWidget)
    widget.run_root.value = tmp_path / "runs"
    widget.device.value = "cpu"
    yield viewer, widget
    if widget.process is not None and widget.process.running:  # a failed test: no orphan
        widget.process.cancel(grace=0)
        widget.process.wait(10)


def _shown(w) -> bool:
    """Whether a widget of the dock is shown (the test's window itself is never on screen)."""
    return not w.native.isHidden()


def _messages(start: int) -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records[start:]]


def _n_messages() -> int:
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def _fill(widget, data, *, val=None, init=None, settings=TINY_ALL, stage="all"):
    from napari_radiogal._napari._widget_finetune import SCRATCH, WEIGHTS_FILE

    widget.train_what.value = stage
    widget.data_files.value = list(data)
    if val is not None:
        widget.val_files.value = [val]
    if init is None:
        widget.init.value = SCRATCH
    else:
        widget.init.value = WEIGHTS_FILE
        widget.init_weights.value = init
    widget.settings.value = "; ".join(settings)


def test_form_builds_the_request_of_the_cli(dock, toy, tiny_weights, tmp_path):
    from napari_radiogal._napari._widget_finetune import SCRATCH, WEIGHTS_FILE

    _, widget = dock
    train, val = toy
    assert [c for c in widget.init.choices[:2]] == ["default", "first"]
    assert widget.train_what.value == "host"  # what corrections teach best (README)
    assert not _shown(widget.init_weights)
    widget.init.value = WEIGHTS_FILE
    assert _shown(widget.init_weights)
    with pytest.raises(ValueError, match="parent weights file"):
        widget.request(tmp_path / "run")
    widget.init_weights.value = tiny_weights
    with pytest.raises(ValueError, match="COCO file"):
        widget.request(tmp_path / "run")
    _fill(widget, [train], val=val, init=tiny_weights, settings=["cam.lr=0.005", "irn.radius=7"])
    widget.epochs.value = 2
    widget.model_name.value = "mine"
    request = widget.request(tmp_path / "run")
    assert request.data == (train,) and request.val == (val,)
    assert request.init == str(tiny_weights) and request.config == "finetune"
    assert request.epochs == 2 and request.device == "cpu" and request.name == "mine"
    assert request.overrides == ("cam.lr=0.005", "irn.radius=7")
    assert request.masks == "reviewed"  # the correction loop learns the corrected masks
    assert request.stage == "all"
    assert (
        "--stage" in request.argv() and request.argv()[request.argv().index("--stage") + 1] == "all"
    )
    widget.masks.value = "none"
    assert widget.request(tmp_path / "run").masks == "none"
    # the host head alone needs a parent model and corrected hosts to learn from
    widget.train_what.value = "host"
    with pytest.raises(ValueError, match="Learn from: reviewed"):
        widget.request(tmp_path / "run")
    widget.masks.value = "reviewed"
    assert widget.request(tmp_path / "run").stage == "host"
    widget.init.value = SCRATCH
    with pytest.raises(ValueError, match="added to a trained model"):
        widget.request(tmp_path / "run")
    widget.train_what.value = "all"
    widget.init.value, widget.epochs.value = SCRATCH, 0
    assert widget.request(tmp_path / "run").init is None
    assert widget.request(tmp_path / "run").epochs is None
    widget.init.value = "default"
    assert widget.request(tmp_path / "run").init == "default"


@pytest.mark.slow
def test_a_run_shows_progress_and_its_weights_load_into_segment(
    dock, toy, tiny_weights, qtbot, tmp_path
):
    from napari_radiogal._napari._widget_segment import FILE_MODEL, SegmentWidget

    viewer, widget = dock
    train, val = toy
    before = train.read_bytes(), val.read_bytes()
    _fill(widget, [train], val=val, init=tiny_weights)
    widget.model_name.value = "toy-finetuned"
    n = _n_messages()
    process = widget.start()
    assert process is not None and widget.running
    assert "Classes new to the parent model: single, double." in " ".join(_messages(n))
    assert not widget.start_button.enabled and widget.cancel_button.enabled
    assert widget.start() is None  # one run at a time
    statuses = set()

    def finished() -> bool:  # sample the dock as a user watching it would
        statuses.add(widget.status.value)
        return not widget.running and "Finished" in widget.status.value

    qtbot.waitUntil(finished, timeout=TIMEOUT_MS)
    # progress as it came: stage lines while running, one line per epoch with val numbers
    assert "Preparing the images…" in statuses
    assert any(
        re.fullmatch(r"(cam|recam|irn): epoch 1/1, step \d+, loss [\d.]+", s) for s in statuses
    )
    lines = widget.history.value.splitlines()
    assert [line.split(":")[0] for line in lines] == ["cam 1/1", "recam 1/1", "irn 1/1"]
    assert "val loss" in lines[0] and "val accuracy" in lines[0]
    assert (widget.progress.value, widget.progress.max) == (4, 4)  # + the host stage
    assert widget.weights == process.out / "model.safetensors" and widget.weights.is_file()
    assert process.out.parent == tmp_path / "runs"
    assert _shown(widget.load_button) and widget.start_button.enabled
    assert (train.read_bytes(), val.read_bytes()) == before
    # load: the Segment dock opens with the new model chosen
    segment = widget.load_into_segment()
    assert isinstance(segment, SegmentWidget)
    assert segment.model.value == FILE_MODEL and segment.weights.value == widget.weights
    assert "toy-finetuned" in segment.model_info.value
    assert "single, double" in segment.model_info.value
    _, again = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")
    assert again is segment


@pytest.mark.slow
def test_cancel_stops_the_child_and_offers_no_model(dock, toy, qtbot):
    viewer, widget = dock
    train, _ = toy
    _fill(widget, [train], settings=[*TINY, "cam.epochs=500"])
    process = widget.start()
    qtbot.waitUntil(lambda: process.progress.step >= 1, timeout=TIMEOUT_MS)
    n = _n_messages()
    widget.cancel_button.native.click()  # the user clicks Cancel
    qtbot.waitUntil(
        lambda: not widget.running and "Cancelled" in widget.status.value, timeout=30_000
    )
    assert process.returncode != 0 and process.state == "cancelled"
    if sys.platform.startswith("linux"):
        assert _live_processes_of_group(process.pid) == []
    assert widget.weights is None and not _shown(widget.load_button)
    assert widget.start_button.enabled and not widget.cancel_button.enabled
    assert "Fine-tuning cancelled." in _messages(n)
    assert widget.load_into_segment() is None


@pytest.mark.slow
def test_failed_runs_show_the_cli_error_and_the_dock_keeps_working(dock, toy, qtbot, tmp_path):
    _, widget = dock
    train, val = toy
    before = train.read_bytes(), val.read_bytes()
    n = _n_messages()
    _fill(widget, [train], val=val, settings=[*TINY, "cam.nope=1"])
    widget.start()
    qtbot.waitUntil(
        lambda: not widget.running and "Failed" in widget.status.value, timeout=TIMEOUT_MS
    )
    assert "cam.nope" in widget.status.value
    assert any(m.startswith("Fine-tuning failed:") and "cam.nope" in m for m in _messages(n))
    assert widget.weights is None and not _shown(widget.load_button)
    # a COCO file that does not exist: the next run starts and fails with its own message
    _fill(widget, [tmp_path / "missing.json"])
    assert widget.start() is not None
    qtbot.waitUntil(
        lambda: not widget.running and "Failed" in widget.status.value, timeout=TIMEOUT_MS
    )
    assert "missing.json" in widget.status.value and "no such file" in widget.status.value
    assert (train.read_bytes(), val.read_bytes()) == before
    assert widget.start_button.enabled


def test_session_source_uses_reviewed_images_only(dock, qtbot, tmp_path):
    """Images with unreviewed instances or no file on disk are skipped, and said so."""
    from napari_radiogal._napari._widget_finetune import (
        SESSION,
        WEIGHTS_FILE,
        export_sessions,
        reviewed_sessions,
    )

    viewer, widget = dock
    session = _annotated_pair(viewer, tmp_path)
    widget.source.value = SESSION
    assert not _shown(widget.data_files) and _shown(widget.session_info)
    assert "0 reviewed images" in widget.session_info.value
    assert "3 instances not marked reviewed" in widget.session_info.value
    n = _n_messages()
    assert widget.start() is None
    assert any("No reviewed image" in m for m in _messages(n))
    session.set_reviewed(session.instance_ids(), True)
    widget.reset_choices()
    assert widget.session_info.value.startswith("1 reviewed image to train on.")
    usable, skipped = reviewed_sessions(viewer)
    assert usable == [session] and skipped == []
    widget.init.value = WEIGHTS_FILE  # and no file chosen: nothing is exported
    n = _n_messages()
    assert widget.start() is None and not (tmp_path / "runs").exists()
    assert any("parent weights file" in m for m in _messages(n))
    paths = export_sessions(usable, tmp_path / "out")
    assert [p.name for p in paths] == ["01-field_emu.json"]
    from napari_radiogal.io.coco import read_coco

    exported = read_coco(paths[0])
    assert len(exported.instances) == 3 and all(a.reviewed for a in exported.instances)
    assert (paths[0].parent / exported.images[0].radio_file).resolve() == session.ctx.radio_path


@pytest.mark.slow
def test_training_on_the_session_leaves_it_untouched(dock, qtbot, tmp_path):
    from napari_radiogal._napari._layers import data_fingerprint
    from napari_radiogal._napari._widget_finetune import SESSION

    viewer, widget = dock
    session = _annotated_pair(viewer, tmp_path)
    session.set_reviewed(session.instance_ids(), True)
    labels_fp = data_fingerprint(session.labels.data)
    features = session.labels.features.copy()
    widget.source.value = SESSION
    one_image = [s.replace("batch_size=4", "batch_size=1") for s in TINY]
    # the dock's default: a host head for the bundled model, from the reviewed hosts
    assert widget.train_what.value == "host" and widget.init.value == "default"
    widget.settings.value = "; ".join([*one_image, "host.epochs=2", "host.batch_size=1"])
    process = widget.start()
    assert process is not None and process.request.stage == "host"
    assert [p.name for p in process.request.data] == ["01-field_emu.json"]
    assert process.request.data[0].parent == process.out / "annotations"
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.weights is not None, widget.status.value
    assert process.progress.stage_epochs == {"host": 2}
    assert data_fingerprint(session.labels.data) == labels_fp
    assert session.labels.features.equals(features)


def _annotated_pair(viewer, tmp_path):
    """The radio + IR pair opened from FITS files, with a hand-made three-galaxy result."""
    from napari_fits_helpers import write_pair
    from napari_radiogal._napari._widget_segment import Job, SegmentWidget
    from test_napari_workflow import truth

    (tmp_path / "data").mkdir()
    radio_path, ir_path = write_pair(tmp_path / "data")
    viewer.open([str(radio_path), str(ir_path)], plugin="napari-radiogal")
    _, seg = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")
    assert isinstance(seg, SegmentWidget)
    seg.reset_choices()
    return seg.deliver(Job.for_layers(seg.radio.value, seg.infrared.value), truth())


@pytest.mark.slow
def test_closing_the_dock_stops_the_training(dock, toy, qtbot):
    viewer, widget = dock
    train, _ = toy
    _fill(widget, [train], settings=[*TINY, "cam.epochs=500"])
    process = widget.start()
    qtbot.waitUntil(lambda: process.running and process.output().count("\n") > 1, timeout=60_000)
    viewer.window.remove_dock_widget(widget.native)  # what the dock's close button does
    qtbot.waitUntil(lambda: not process.running, timeout=30_000)
    assert process.state == "cancelled"


@pytest.mark.slow
def test_closing_napari_stops_the_training(dock, toy, qtbot):
    viewer, widget = dock
    train, _ = toy
    _fill(widget, [train], settings=[*TINY, "cam.epochs=500"])
    process = widget.start()
    qtbot.waitUntil(lambda: process.progress.step >= 1, timeout=TIMEOUT_MS)
    viewer.close()
    qtbot.waitUntil(lambda: not process.running, timeout=30_000)
    assert process.state == "cancelled"
