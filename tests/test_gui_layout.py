"""The demo layout on a 1366 x 768 laptop screen: room for the sky, a usable table."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings("error:Private attribute access:FutureWarning"),
]


def _camera(viewer):
    # napari >= 0.9 keeps the camera in viewer.scene; older versions on the viewer
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def test_demo_layout_fits_1366x768(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    from napari_radiogal._napari._widget_table import MIN_VISIBLE_ROWS
    from napari_radiogal._napari.demo import open_demo

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1366, 768)
    _, seg, table = open_demo(viewer, ground_truth=True)
    window = table.window()
    qtbot.waitUntil(lambda: table.isVisible() and table.table.rowCount() >= 1, timeout=10000)
    qtbot.wait(300)  # the layout settles, then the view is refitted
    assert (window.width(), window.height()) == (1366, 768)

    canvas_width = float(viewer.canvas.size[1])
    assert canvas_width >= 0.5 * window.width()
    t = table.table
    rows = t.viewport().height() / t.verticalHeader().defaultSectionSize()
    assert rows >= MIN_VISIBLE_ROWS
    assert not t.horizontalScrollBar().isVisible()
    # the expert options wait in the collapsed Advanced group
    assert seg.advanced_form.native.isHidden()

    # the view was refitted to the canvas the docks left: reset_view changes nothing now
    camera = _camera(viewer)
    zoom, center = camera.zoom, np.array(camera.center)
    viewer.reset_view()
    assert camera.zoom == pytest.approx(zoom, rel=1e-6)
    np.testing.assert_allclose(camera.center, center, atol=1e-6)


def test_layer_names_say_radio_and_the_infrared_band(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-radiogal", "radio-galaxy-cutout")
    kinds = {layer.metadata["radiogal_kind"]: layer.name for layer in viewer.layers}
    assert kinds["radio"] == "radiogal_demo_emu radio"
    assert kinds["infrared"] == "radiogal_demo_wise_w1 W1"


def test_legend_and_class_swatches_use_the_layer_colours(make_napari_viewer, tmp_path, monkeypatch):
    from napari_radiogal._napari._layers import class_color
    from napari_radiogal._napari.demo import open_demo

    monkeypatch.setenv("RADIOGAL_CACHE_DIR", str(tmp_path))
    viewer = make_napari_viewer()
    _, _, table = open_demo(viewer, ground_truth=True)
    names = table.session.scheme.display_order
    assert table.legend.names == tuple(names)
    text = table.legend.text()
    for name in names:
        assert class_color(name)[:7] in text and name in text
    combo = table.table.cellWidget(0, 1)
    image = combo.itemIcon(combo.currentIndex()).pixmap(8, 8).toImage()
    assert image.pixelColor(4, 4).name() == class_color(combo.currentText())[:7]
    # the class names themselves keep the theme's text colour (readable on dark grey)
    assert "color" not in combo.styleSheet()
