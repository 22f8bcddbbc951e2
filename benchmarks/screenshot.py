"""Screenshot of the whole napari window with the plugin at work (docs/images/screenshot.png).

Opens the sample cut-out, docks "Segment radio galaxies" and "Radio galaxy instances",
segments the cut-out with the bundled model (or ``--model``) through the widget's own
worker, or shows the simulator's ground truth when no weights exist, and saves the window
(``viewer.screenshot(canvas_only=False)``).

Run it under an X server::

    xvfb-run -a -s "-screen 0 1920x1200x24" python benchmarks/screenshot.py

The layout screenshots of the README: ``--ground-truth --size 1366x768 --out
docs/images/layout_1366x768.png`` (and ``1920x1080``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "screenshot.png")
    parser.add_argument("--model", type=Path, default=None, help="weights NAME.safetensors")
    parser.add_argument("--ground-truth", action="store_true", help="show the simulator's truth")
    parser.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT")
    args = parser.parse_args(argv)

    # a private cache: no autosave offers from earlier sessions in the picture
    os.environ["RADIOGAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="radiogal-screenshot-")
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_radiogal._napari.demo import open_demo
    from napari_radiogal.models import default_weights_path

    have_model = args.model is not None or default_weights_path().is_file()
    viewer = napari.Viewer(title="napari-radiogal", show=True)
    width, height = (int(v) for v in args.size.split("x"))
    viewer.window.resize(width, height)  # first: the docks are laid out for this size
    t0 = time.perf_counter()
    _, seg, table = open_demo(
        viewer,
        segment=have_model and not args.ground_truth,
        model=args.model,
        ground_truth=args.ground_truth or not have_model,
    )
    while seg.running:  # the widget's worker: keep the event loop turning
        QApplication.processEvents()
        time.sleep(0.02)
    what = "ground truth" if (args.ground_truth or not have_model) else "segmentation"
    print(f"{what} on screen after {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    # the least confident instance selected in the table, as a user would start reviewing
    if table.table.rowCount():
        table.table.selectRow(0)
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"saved {args.out}", file=sys.stderr)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
