"""``radiogal demo``: open napari with the sample radio galaxy cut-out, segmented."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "open napari with the sample EMU + WISE cut-out, segmented, ready to correct and export"
DESCRIPTION = (
    "Opens napari with the synthetic EMU + WISE radio galaxy cut-out (radio and infrared, "
    "aligned, north up), docks the 'Segment radio galaxies' and 'Radio galaxy instances' "
    "widgets and segments the cut-out with the bundled model (or --model). Correct the "
    "result with napari's Labels tools and the instance table, then Export."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-segment", action="store_true", help="open the data and widgets without segmenting"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="weights file NAME.safetensors (None = the bundled model)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="where the network runs",
    )
    parser.add_argument(
        "--ground-truth",
        action="store_true",
        help="show the simulator's ground truth instead of segmenting (try the editing tools "
        "without a model)",
    )


def _check_display() -> None:
    """Fail with a clear message (not a Qt abort) when there is no screen to open napari on."""
    import os
    import sys

    from napari_radiogal.errors import RadiogalError

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise RadiogalError(
            "no display to open napari on (neither DISPLAY nor WAYLAND_DISPLAY is set). Run "
            "it from a desktop session, with ssh -X, or without a screen as "
            "`xvfb-run -a radiogal demo`."
        )


def run(args: argparse.Namespace) -> int:
    from napari_radiogal.errors import WeightsError

    if args.model is not None and not Path(args.model).with_suffix(".safetensors").is_file():
        raise WeightsError(
            f"weights file {args.model} not found; pass the NAME.safetensors written by "
            "radiogal train (its NAME.json card beside it)."
        )
    _check_display()
    # napari is imported only here, inside the plugin package
    from napari_radiogal._napari.demo import run_demo

    return run_demo(
        segment=not args.no_segment,
        model=args.model,
        device=args.device,
        ground_truth=args.ground_truth,
    )
