"""``radiogal demo`` and its napari side."""

from __future__ import annotations

import argparse

import pytest

from napari_radiogal.errors import WeightsError

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]


def test_demo_opens_sample_docks_and_shows_an_annotation(make_napari_viewer, tmp_path, monkeypatch):
    from napari_radiogal._napari.demo import open_demo

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    viewer = make_napari_viewer()
    _, seg, table = open_demo(viewer, ground_truth=True)
    kinds = {layer.metadata.get("radiogal_kind") for layer in viewer.layers}
    assert {"radio", "infrared", "instances", "hosts", "contours"} <= kinds
    assert seg.radio.value is not None and seg.infrared.value is not None
    assert table.session is not None and table.table.rowCount() >= 1
    fr2 = table.session.labels.features
    assert "FR-II" in set(fr2["class"])  # the demo's double-lobed galaxy


def test_demo_without_weights_says_so_and_waits(make_napari_viewer, tmp_path, monkeypatch):
    from napari.utils.notifications import notification_manager

    from napari_radiogal._napari import demo
    from napari_radiogal.models import weights

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(weights, "default_weights_path", lambda: tmp_path / "none.safetensors")
    import napari_radiogal.models as models

    monkeypatch.setattr(models, "default_weights_path", lambda: tmp_path / "none.safetensors")
    viewer = make_napari_viewer()
    n = len(notification_manager.records)
    _, seg, _ = demo.open_demo(viewer)
    assert not seg.running
    assert any("No default model" in str(r.message) for r in notification_manager.records[n:])
    assert "instances" not in {layer.metadata.get("radiogal_kind") for layer in viewer.layers}


def test_demo_command_rejects_a_missing_weights_file(tmp_path):
    from napari_radiogal.commands import demo

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(["--model", str(tmp_path / "nope.safetensors")])
    with pytest.raises(WeightsError, match="not found"):
        demo.run(args)


def test_demo_command_without_a_display_says_how_to_run_it(monkeypatch):
    import sys

    from napari_radiogal.commands import demo
    from napari_radiogal.errors import RadiogalError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    with pytest.raises(RadiogalError, match="xvfb-run"):
        demo.run(parser.parse_args([]))
