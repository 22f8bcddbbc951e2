"""Ship a trained model with the package: float16 copy into ``src/napari_radiogal/weights``.

Usage::

    python tools/bundle_model.py runs/mixed/model.safetensors default
    python tools/bundle_model.py runs/first/model.safetensors first

writes ``weights/NAME.safetensors`` (float16 tensors: half the size; loaded back as float32)
and ``weights/NAME.json`` (the run's card, its checksum renewed). The card's training record
(data, command, parent, history) is kept as it is. ``--set KEY=VALUE`` records an inference
setting the model is meant to run with (chosen on the validation split, never on test; see
``WeightsCard.inference``), e.g. ``--set class_threshold=0.2``. Then record the benchmark numbers of the
bundled file in its card (``python benchmarks/accuracy.py --record-in-card`` for the default
model) and commit both files.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import yaml

from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.models.weights import bundled_weights_dir, load_weights, save_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", type=Path, help="the run's model.safetensors")
    parser.add_argument("name", help="file stem in the package (default, first, ...)")
    parser.add_argument("--full", action="store_true", help="keep float32 tensors (twice the size)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recommended InferenceConfig setting for the card (YAML value)",
    )
    args = parser.parse_args(argv)
    model, card = load_weights(args.weights)
    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    InferenceConfig().replace(**settings)  # a bad key or value fails here, not at load
    card = dataclasses.replace(card, inference={**card.inference, **settings})
    path = save_weights(model, card, bundled_weights_dir() / args.name, half=not args.full)
    print(f"{card.name}: {path} ({path.stat().st_size / 1e6:.1f} MB), sha256 {card.sha256[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
