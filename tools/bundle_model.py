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

A run that trained only its last stage(s) on a copy of an earlier run's folder (``radiogal
train --stage irn`` after ``cp -r RUN/cam RUN/recam NEW/``) records only those stages; pass
``--earlier-run RUN/model.json`` to keep the earlier run's command, stages, recipe and
history in the card as ``training.earlier_run``, so the card says where every weight came
from::

    python tools/bundle_model.py runs/first5/model.safetensors first \
        --earlier-run runs/first4/model.json --set class_threshold=0.3
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import yaml

from napari_radiogal.inference.config import InferenceConfig
from napari_radiogal.models.weights import bundled_weights_dir, load_weights, save_weights


def with_earlier_run(card, earlier_card: Path):
    """``card`` with the training record of the run it continued under ``earlier_run``.

    The stages the later run did not train (its ``training.stages``) came from the earlier
    run; their command, recipe, parent and history are copied, nothing else changes.
    """
    import json

    earlier = json.loads(Path(earlier_card).read_text(encoding="utf-8"))
    record = earlier.get("training") or {}
    own = set(card.training.get("stages") or [])
    kept = [s for s in record.get("stages") or [] if s not in own]
    if not kept:
        sys.exit(
            f"{earlier_card}: its stages {record.get('stages')} are all retrained by this "
            f"run ({sorted(own)}); nothing of it is left in the weights."
        )
    history = record.get("history") or {}
    earlier_run = {
        "name": earlier.get("name"),
        "card": str(earlier_card),
        "stages": kept,
        "command": record.get("command"),
        "parent": record.get("parent"),
        "config": record.get("config"),
        "history": {k: v for k, v in history.items() if k in kept},
    }
    if record.get("earlier_run"):  # that run continued another: keep the whole chain
        earlier_run["earlier_run"] = record["earlier_run"]
    # the chain's stages that are still in the weights (metrics are named stage_...)
    chained = {*kept, *((record.get("earlier_run") or {}).get("stages") or [])} - own
    metrics = {
        k: v for k, v in (earlier.get("metrics") or {}).items() if k.split("_", 1)[0] in chained
    }
    return dataclasses.replace(
        card,
        training={**card.training, "earlier_run": earlier_run},
        metrics={**metrics, **card.metrics},
    )


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
    parser.add_argument(
        "--earlier-run",
        type=Path,
        default=None,
        metavar="CARD",
        help="the card (model.json) of the run whose earlier stages this run continued",
    )
    parser.add_argument(
        "--card-name",
        default=None,
        help="the model's name in its card (default: the run's --name), e.g. radiogal-r18-first",
    )
    args = parser.parse_args(argv)
    model, card = load_weights(args.weights)
    if args.card_name is not None:
        card = dataclasses.replace(card, name=args.card_name)
    if args.earlier_run is not None:
        card = with_earlier_run(card, args.earlier_run)
    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    InferenceConfig().replace(**settings)  # a bad key or value fails here, not at load
    card = dataclasses.replace(card, inference={**card.inference, **settings})
    path = save_weights(model, card, bundled_weights_dir() / args.name, half=not args.full)
    print(f"{card.name}: {path} ({path.stat().st_size / 1e6:.1f} MB), sha256 {card.sha256[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
