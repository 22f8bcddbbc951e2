"""The segment widget with its real worker and a real (tiny, randomly initialised) model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]


@pytest.fixture
def widget(make_napari_viewer, tmp_path, monkeypatch, tiny_weights, qtbot):
    from napari_radiogal._napari._widget_segment import FILE_MODEL, SegmentWidget

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-radiogal", "radio-galaxy-cutout")
    _, seg = viewer.window.add_plugin_dock_widget("napari-radiogal", "Segment radio galaxies")
    assert isinstance(seg, SegmentWidget)
    seg.reset_choices()
    seg.model.value = FILE_MODEL
    seg.weights.value = tiny_weights
    # one scale, no flip: the quickest real run
    seg.set_config(seg.config().replace(scales=(1.0,), flip=False))
    qtbot.waitUntil(lambda: seg._available is not None, timeout=30000)
    return viewer, seg


def _kinds(viewer):
    return [layer.metadata.get("radiogal_kind") for layer in viewer.layers]


def test_form_is_built_from_inference_config(widget):
    from napari_radiogal.inference.config import InferenceConfig, config_fields

    viewer, seg = widget
    names = {f["name"] for f in config_fields()} - {"device"}
    assert set(seg.option_widgets) == names
    # the everyday options are in sight, the expert ones in the collapsed Advanced group
    from napari_radiogal._napari._widget_segment import EVERYDAY_OPTIONS

    assert {w.name for w in seg.advanced_form} == names - set(EVERYDAY_OPTIONS)
    # isHidden: the state asked for (the test viewer's window is never shown)
    assert seg.advanced_form.native.isHidden() and "Advanced" in seg.advanced_toggle.text
    shown = [id(w) for w in seg]
    assert all(id(seg.option_widgets[name]) in shown for name in EVERYDAY_OPTIONS)
    seg.advanced_toggle.value = True
    assert not seg.advanced_form.native.isHidden()
    assert seg.advanced_toggle.text.startswith("▾")
    seg.advanced_toggle.value = False
    wanted = InferenceConfig(scales=(1.0, 0.5), flip=False, class_threshold=0.25, device="cpu")
    seg.set_config(wanted)
    assert seg.config() == wanted
    # the device list holds only what torch finds here, and says what it runs on
    assert seg.device.choices[0] == "auto" and "cpu" in seg.device.choices
    assert seg.runs_on.value.startswith("Runs on: ")
    # the chosen weights card is described
    assert "tiny-random" in seg.model_info.value


def test_every_option_widget_shows_its_default_as_built():
    """Each form widget holds its field's default exactly (a spin box with too few
    decimals would store 0.001 as 0 and show the user a value that does not run)."""
    from napari_radiogal._napari._widget_segment import _option_widget
    from napari_radiogal.inference.config import config_fields

    specs = [s for s in config_fields() if s["name"] != "device"]
    assert any(0 < s["default"] < 0.01 for s in specs if type(s["default"]) is float)
    for spec in specs:
        w = _option_widget(spec)
        default = spec["default"]
        if isinstance(default, tuple):
            assert w.value == ", ".join(f"{v:g}" for v in default), spec["name"]
        elif isinstance(default, float):
            assert w.value == pytest.approx(default, rel=1e-9, abs=1e-12), spec["name"]
        else:
            assert w.value == default, spec["name"]


def test_the_card_decides_what_the_user_did_not_change(widget, tmp_path, tiny_weights, qtbot):
    import json
    import shutil

    viewer, seg = widget
    tuned = tmp_path / "tuned.safetensors"
    shutil.copy(tiny_weights, tuned)
    card = json.loads(tiny_weights.with_suffix(".json").read_text())
    card["inference"] = {"class_threshold": 0.15}
    tuned.with_suffix(".json").write_text(json.dumps(card))
    seg._edited.discard("class_threshold")  # the fixture's set_config counts as the user's
    seg.weights.value = tuned
    assert "Its card sets class threshold 0.15" in seg.model_info.value
    assert seg.option_widgets["class_threshold"].value == 0.15  # the form shows what runs
    assert "class_threshold" not in seg.settings()
    seg.run()
    qtbot.waitUntil(lambda: not seg.running, timeout=120000)
    info = seg.last_result.to_dataset().info
    used = info["parameters"]["inference"]
    assert used["class_threshold"] == 0.15
    seg.option_widgets["class_threshold"].value = 0.5  # the library default, chosen by hand
    assert seg.settings()["class_threshold"] == 0.5
    seg.weights.value = tiny_weights  # another model keeps the user's choice
    assert seg.option_widgets["class_threshold"].value == 0.5
    assert "Its card sets" not in seg.model_info.value


def test_real_worker_runs_to_completion(widget, qtbot):
    viewer, seg = widget
    worker = seg.run()
    assert worker is not None and seg.running
    qtbot.waitUntil(lambda: not seg.running, timeout=120000)
    assert "instances" in _kinds(viewer) and "hosts" in _kinds(viewer)
    session = seg.last_result
    assert session is not None
    f = session.labels.features
    assert set(f["class"]) <= {"FR-I", "FR-II", "FR-X", "R"}
    assert (f["score"].between(0, 1) | f["score"].isna()).all()
    assert session.ctx.info["model"]["name"] == "tiny-random"
    assert seg.runs_on.value == "Runs on: cpu (last run)"
    assert "radio galax" in seg.status.value


def test_cancel_mid_run_leaves_the_viewer_usable(widget, qtbot):
    viewer, seg = widget
    seg._relay.progressed.connect(lambda done, total: seg.cancel())  # cancel at the first stage
    seg.run()
    qtbot.waitUntil(lambda: not seg.running, timeout=120000)
    assert seg.status.value == "Cancelled."
    assert "instances" not in _kinds(viewer)
    assert seg.run_button.enabled and not seg.cancel_button.enabled
    # the viewer and the widget still work
    viewer.add_image(np.zeros((8, 8)), name="still alive")
    assert viewer.layers[-1].name == "still alive"


def test_result_for_changed_data_is_dropped(widget, qtbot):
    from napari.utils.notifications import notification_manager

    from napari_radiogal._napari._widget_segment import Job
    from napari_radiogal.annotations import CocoDataset, ImageRecord

    viewer, seg = widget
    radio = seg.radio.value
    job = Job.for_layers(radio, seg.infrared.value)
    # the user edits the image while the job runs
    radio.data = radio.data + np.float32(1e-3)
    h, w = radio.data.shape
    empty = CocoDataset(images=[ImageRecord(id=1, file_name="x.fits", height=h, width=w)])
    n = len(notification_manager.records)
    assert seg.deliver(job, empty) is None
    assert "instances" not in _kinds(viewer)
    assert any("dropped" in str(m.message) for m in notification_manager.records[n:])
    # a removed layer too
    job = Job.for_layers(radio, None)
    viewer.layers.remove(radio)
    assert seg.deliver(job, empty) is None
    assert dataclasses.is_dataclass(job)
