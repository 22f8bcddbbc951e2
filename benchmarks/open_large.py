"""How long opening a large radio FITS in napari blocks the GUI.

For every ``--sizes`` side, a synthetic float32 radio sky (``memory.write_sky``: SIN header,
2"/px, 30 uJy/beam noise, a double every 150 px) is written to a temporary file, then a
*shown* napari viewer opens it through our reader, and the script times, in wall-clock and
in CPU seconds of this process:

* **read**: ``napari_radiogal`` reader -> layer data (header, memory map, noise estimate on a
  subsample, contrast limits);
* **first draw**: ``viewer.open`` until the canvas has drawn the layer (napari loads what it
  shows: the whole plane for a plain image, one pyramid level for a multiscale one);
* **pan + zoom**: zoom to 1:1 on the centre and back to the whole image, each followed by
  the events it queues (what a user does next).

A 256 px file is opened first and not reported, so one-time imports and napari's first
viewer are not counted against the large files.

The GUI thread is blocked for the whole of each step; CPU seconds are reported because the
wall time on a loaded machine overstates it. Peak RSS is ``ru_maxrss`` of this process.

Run (a display is needed: the canvas must draw)::

    xvfb-run -a python benchmarks/open_large.py --sizes 4000,10000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import write_sky


class _Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _drain(app, seconds: float = 0.3) -> None:
    """Process Qt events until the queue has been quiet for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()


def measure(path: Path) -> dict:
    """The open timings of one file in a fresh shown viewer."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_radiogal._napari._reader import read_fits_paths

    with _Clock() as read:
        read_fits_paths(str(path))
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    _drain(app)
    try:
        with _Clock() as draw:
            layers = viewer.open(str(path), plugin="napari-radiogal")
            viewer.window._qt_viewer.canvas.native.repaint()
            app.processEvents()
        layer = layers[0]
        with _Clock() as navigate:
            h, w = layer.data[0].shape if layer.multiscale else layer.data.shape
            viewer.camera.center = tuple(layer.data_to_world((h / 2, w / 2)))
            viewer.camera.zoom = 1.0 / abs(float(layer.scale[1]))  # one screen px per pixel
            app.processEvents()
            viewer.window._qt_viewer.canvas.native.repaint()
            viewer.reset_view()
            app.processEvents()
            viewer.window._qt_viewer.canvas.native.repaint()
        return {
            "read_s": round(read.wall, 2),
            "read_cpu_s": round(read.cpu, 2),
            "first_draw_s": round(draw.wall, 2),
            "first_draw_cpu_s": round(draw.cpu, 2),
            "pan_zoom_s": round(navigate.wall, 2),
            "pan_zoom_cpu_s": round(navigate.cpu, 2),
            "multiscale": bool(layer.multiscale),
            "levels": len(layer.data) if layer.multiscale else 1,
        }
    finally:
        viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4000,10000", help="image sides, comma separated")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.fits"  # imports and the first viewer are not the file's cost
        write_sky(warm, 256)
        measure(warm)
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"radio_{size}.fits"
            write_sky(path, size)
            row = {"size": size, **measure(path)}
            row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            rows.append(row)
            print(json.dumps(row), flush=True)
            path.unlink()
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(
        "\n| side | read s (CPU) | first draw s (CPU) | zoom 1:1 + back s (CPU) | levels "
        "| peak RSS MB |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['read_s']} ({r['read_cpu_s']}) | {r['first_draw_s']} "
            f"({r['first_draw_cpu_s']}) | {r['pan_zoom_s']} ({r['pan_zoom_cpu_s']}) | {r['levels']} "
            f"| {r['peak_rss_mb']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
