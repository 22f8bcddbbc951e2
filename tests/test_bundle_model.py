"""tools/bundle_model.py: a run that retrained only its last stage keeps its earlier run's record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "bundle_model", ROOT / "tools" / "bundle_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _card(stages):
    from napari_radiogal.classes import FIRST
    from napari_radiogal.models import ModelConfig, WeightsCard

    return WeightsCard(
        name="first-like",
        architecture=ModelConfig("resnet18", in_channels=2, num_classes=4),
        classes=FIRST,
        training={"stages": stages, "command": ["radiogal", "train", "--stage", "irn"]},
        metrics={},
    )


def _earlier(tmp_path, stages=("cam", "recam", "irn")):
    record = {
        "name": "radiogal-r18-first",
        "training": {
            "stages": list(stages),
            "command": ["radiogal", "train", "--set", "cam.crop_size=300"],
            "parent": {"name": "radiogal-r18-first", "sha256": "ab" * 32},
            "config": {"cam": {"crop_size": 300}},
            "history": {s: [{"epoch": 1, "stage": s}] for s in stages},
        },
        "metrics": {"cam_best_val_loss": 0.27, "recam_best_val_loss": 0.28, "irn_x": 1.0},
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(record))
    return path


def test_the_earlier_runs_stages_that_were_not_retrained_are_kept(tmp_path):
    card = _tool().with_earlier_run(_card(["irn"]), _earlier(tmp_path))
    earlier = card.training["earlier_run"]
    assert earlier["stages"] == ["cam", "recam"]
    assert earlier["command"][-1] == "cam.crop_size=300"
    assert set(earlier["history"]) == {"cam", "recam"}  # not the retrained irn's
    assert card.training["stages"] == ["irn"] and card.training["command"][-1] == "irn"
    assert card.metrics == {"cam_best_val_loss": 0.27, "recam_best_val_loss": 0.28}


def test_an_earlier_run_of_which_nothing_is_left_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="nothing of it is left"):
        _tool().with_earlier_run(_card(["cam", "recam", "irn"]), _earlier(tmp_path))


def test_an_earlier_run_that_continued_another_keeps_the_chain(tmp_path):
    path = _earlier(tmp_path, stages=("irn",))
    record = json.loads(path.read_text())
    record["training"]["earlier_run"] = {"name": "first4", "stages": ["cam", "recam"]}
    path.write_text(json.dumps(record))
    card = _tool().with_earlier_run(_card(["classify"]), path)
    earlier = card.training["earlier_run"]
    assert earlier["stages"] == ["irn"]
    assert earlier["earlier_run"] == {"name": "first4", "stages": ["cam", "recam"]}
    # the chain's metrics stay with the stages they describe
    assert card.metrics == {"cam_best_val_loss": 0.27, "recam_best_val_loss": 0.28, "irn_x": 1.0}
