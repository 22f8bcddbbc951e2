"""How much the plugin costs napari at start-up, and how long a click takes to give layers.

1. **Import time** (each in a fresh interpreter, napari already imported, best of N): the
   npe2 manifest (all napari reads at start-up), then each plugin module napari imports
   on first use (reader, sample data, writer, the two widgets), and whether torch got
   imported along the way (it must not).
2. **Click to layers** (needs an X server): open the sample cut-out, press *Segment* in the
   widget and time until the instance Labels and host Points layers are in the viewer;
   the first click (torch import + model load) and a second one (model cached). Uses the
   bundled default model, or ``--model``, or else a randomly initialised ResNet-18 (the
   network cost is the same; only the answers are meaningless).

Run::

    xvfb-run -a python benchmarks/plugin_import_time.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = [
    "napari_radiogal._napari._reader",
    "napari_radiogal._napari._sample_data",
    "napari_radiogal._napari._writer",
    "napari_radiogal._napari._widget_segment",
    "napari_radiogal._napari._widget_table",
]

# What a running napari window has imported already (napari, npe2, Qt, magicgui) is set up
# before the clock starts: only the plugin's own cost is counted.
_PROBE = r"""
import json, sys, time
import napari, npe2, napari.qt, qtpy.QtWidgets, magicgui.widgets, pandas
t0 = time.perf_counter()
{body}
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "torch": "torch" in sys.modules}}))
"""


def _probe(body: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_times(repeat: int) -> list[tuple[str, float, bool]]:
    """(what, best seconds, torch imported) per probe."""
    probes = [
        ("manifest (napari start-up)", "npe2.PluginManifest.from_distribution('napari-radiogal')"),
        *[(m, f"import {m}") for m in MODULES],
        ("all plugin modules", "; ".join(f"import {m}" for m in MODULES)),
    ]
    rows = []
    for name, body in probes:
        runs = [_probe(body) for _ in range(repeat)]
        rows.append((name, min(r["seconds"] for r in runs), any(r["torch"] for r in runs)))
    return rows


def _tiny_random_model(folder: Path) -> Path:
    import torch

    from napari_radiogal.classes import RADIOGALAXYNET
    from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY
    from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights
    from napari_radiogal.preprocess import PreprocessConfig

    torch.manual_seed(0)
    net = build_model(ModelConfig("resnet18", in_channels=2, num_classes=4), scheme=RADIOGALAXYNET)
    card = WeightsCard(
        name="random-resnet18",
        architecture=net.config,
        classes=RADIOGALAXYNET,
        preprocess=PreprocessConfig(channels=("radio", "ir")),
        geometry=EMU_PILOT_GEOMETRY,
        training={"command": "benchmarks/plugin_import_time.py (random)"},
    )
    return save_weights(net, card, folder / "random-resnet18")


def click_to_layers(model: Path | None, clicks: int) -> tuple[str, list[float], str]:
    """Seconds from pressing Segment to the layers being in the viewer, per click."""
    os.environ["RADIOGAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="radiogal-bench-")
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_radiogal._napari._widget_segment import FILE_MODEL, SegmentWidget
    from napari_radiogal.models import default_weights_path

    if model is None and default_weights_path().is_file():
        label = "bundled default model"
    else:
        model = model or _tiny_random_model(Path(tempfile.mkdtemp()))
        label = f"{Path(model).name}"
    viewer = napari.Viewer(show=False)
    viewer.open_sample("napari-radiogal", "radio-galaxy-cutout")
    seg = SegmentWidget(viewer)
    seg.reset_choices()
    if model is not None:
        seg.model.value = FILE_MODEL
        seg.weights.value = Path(model)
    times = []
    for _ in range(clicks):
        t0 = time.perf_counter()
        seg.run_button.clicked.emit()
        while seg.running:
            QApplication.processEvents()
            time.sleep(0.002)
        QApplication.processEvents()
        if seg.last_result is None:
            raise RuntimeError(f"segmentation failed: {seg.status.value}")
        times.append(time.perf_counter() - t0)
        stages = ", ".join(f"{k} {v:.0f}" for k, v in seg.last_timings.items())
        print(
            f"  click {len(times)}: {times[-1]:.2f} s (worker {seg.last_seconds:.2f} s; "
            f"pipeline ms: {stages})"
        )
    shape = "x".join(str(s) for s in seg.radio.value.data.shape)
    viewer.close()
    return label, times, shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per import probe")
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--no-gui", action="store_true", help="import times only")
    args = parser.parse_args(argv)

    print(f"plugin import cost (napari already imported; best of {args.repeat} fresh interpreters)")
    for name, seconds, torch in import_times(args.repeat):
        print(f"  {name:45s} {seconds * 1000:8.1f} ms   torch imported: {'YES' if torch else 'no'}")
    if args.no_gui:
        return 0
    label, times, shape = click_to_layers(args.model, args.clicks)
    print(
        f"click to layers, {shape} sample cut-out, {label}, CPU, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:"
    )
    print(f"  first click (torch import + model load): {times[0]:.2f} s")
    if len(times) > 1:
        print(
            f"  later clicks (model cached): median {statistics.median(times[1:]):.2f} s "
            f"({', '.join(f'{t:.2f}' for t in times[1:])})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
