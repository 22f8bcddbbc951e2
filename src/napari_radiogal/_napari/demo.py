"""``radiogal demo``: napari with the sample cut-out, segmented, and the plugin's docks open.

The docks are laid out for the window they open in (:func:`~._layout.arrange_docks`):
stacked when it is tall enough for both, tabbed otherwise (a 1366 x 768 laptop), with the
view refitted to the canvas they leave.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["open_demo", "run_demo"]

PLUGIN = "napari-radiogal"
SEGMENT_WIDGET = "Segment radio galaxies"
TABLE_WIDGET = "Radio galaxy instances"


def open_demo(
    viewer=None,
    *,
    segment: bool = True,
    model: str | Path | None = None,
    device: str = "auto",
    ground_truth: bool = False,
):
    """Open the sample cut-out in a viewer, dock the widgets and start segmenting it.

    Parameters
    ----------
    viewer : napari.Viewer, optional
        A new one is made when omitted.
    segment : bool
        Start the segmentation (in the widget's worker) right away.
    model : path, optional
        Weights file (``NAME.safetensors``); default: the bundled model.
    device : {"auto", "cpu", "cuda", "mps"}
    ground_truth : bool
        Show the simulator's ground truth as the annotation instead of segmenting (for
        screenshots and for trying the editing tools without a model).

    Returns
    -------
    (viewer, SegmentWidget, InstanceTableWidget)
    """
    import napari
    from napari.utils.notifications import show_info

    from napari_radiogal.models import default_weights_path

    from ._layout import arrange_docks
    from ._widget_segment import FILE_MODEL, Job

    if viewer is None:
        viewer = napari.Viewer(title="napari-radiogal demo")
    viewer.open_sample(PLUGIN, "radio-galaxy-cutout")
    seg_dock, seg = viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT_WIDGET)
    table_dock, table = viewer.window.add_plugin_dock_widget(PLUGIN, TABLE_WIDGET)
    # tabbed on a short screen: the segment dock in front while it works, then the table
    working = segment and not ground_truth
    arrange_docks(viewer, [seg_dock, table_dock], raise_index=0 if working else 1)
    seg.reset_choices()
    if device != "auto":
        seg._on_devices([device] if device != "cpu" else ["cpu"])
        seg.device.value = device
    if model is not None:
        seg.model.value = FILE_MODEL
        seg.weights.value = Path(model)
    if ground_truth:
        from ._sample_data import demo_truth

        seg.deliver(Job.for_layers(seg.radio.value, seg.infrared.value), demo_truth())
        seg.status.value = "Showing the simulator's ground truth (no model was run)."
    elif segment:
        if model is None and not default_weights_path().is_file():
            show_info(
                "No default model is bundled with this installation yet. Choose a weights file "
                "(NAME.safetensors from `radiogal train`) in 'Segment radio galaxies' and press "
                "Segment, or restart with `radiogal demo --model PATH`."
            )
        else:
            worker = seg.run()
            if worker is not None:
                worker.returned.connect(lambda *_: table_dock.raise_())
    return viewer, seg, table


def run_demo(**kwargs) -> int:
    """Open the demo and run napari's event loop until the window is closed."""
    import napari

    open_demo(**kwargs)
    napari.run()
    return 0
