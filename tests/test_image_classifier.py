"""The optional image classifier: architecture, the ``classify`` stage, and its use at inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_radiogal.classes import ClassScheme
from napari_radiogal.cli import build_parser
from napari_radiogal.commands.train import build_config
from napari_radiogal.errors import ConfigError
from napari_radiogal.inference.pipeline import class_probabilities
from napari_radiogal.models import (
    ModelConfig,
    WeightsCard,
    build_model,
    init_from_weights,
    load_weights,
    save_weights,
)
from napari_radiogal.preprocess import PreprocessConfig
from napari_radiogal.training.config import TrainConfig
from napari_radiogal.training.pipeline import train
from napari_radiogal.training.stages import image_class_targets
from training_data import TINY_RECIPE, make_toy_dataset

SCHEME = ClassScheme(names=("single", "double"), coco_ids=(1, 2))
WITH_CLASSIFIER = ModelConfig(
    "resnet18", in_channels=2, num_classes=2, image_classifier_width=4, image_classifier_size=32
)
#: a classify stage small enough for 8 toy images of 64 px
TINY_CLASSIFY = [
    "classify.epochs=3",
    "classify.batch_size=4",
    "classify.width=4",
    "classify.size=32",
    "classify.crop_size=64",
    "classify.lr=0.01",
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n=8, size=64, seed=0)


def _save(config: ModelConfig, path, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config, scheme=SCHEME)
    with torch.no_grad():
        model.mean_displacement.copy_(torch.tensor([0.25, -0.5]))
    card = WeightsCard(
        name="toy-parent",
        architecture=config,
        classes=SCHEME,
        preprocess=PreprocessConfig(channels=("radio", "ir")),
    )
    return save_weights(model, card, path)


def test_a_model_without_image_classifier_keeps_its_tensors_and_outputs():
    plain = build_model(ModelConfig("resnet18", 2, 2), scheme=SCHEME).eval()
    assert plain.image_classifier is None
    assert not any(k.startswith("image_classifier.") for k in plain.state_dict())
    assert "image_logits" not in plain.infer(torch.zeros(1, 2, 64, 64))
    assert plain.parameter_groups()["image_classifier"] == []


def test_image_classifier_gives_logits_for_any_window_size():
    net = build_model(WITH_CLASSIFIER, scheme=SCHEME).eval()
    for side in (64, 100):
        out = net.infer(torch.rand(3, 2, side, side))
        assert tuple(out["image_logits"].shape) == (3, 2)
    # its input is resized to 32 px: a 64 px image and its 2x2 block means give the same
    x = torch.rand(1, 2, 64, 64)
    small = torch.nn.functional.avg_pool2d(x, 2)
    torch.testing.assert_close(net.image_classifier(x), net.image_classifier(small))


def test_bad_image_classifier_architecture_is_a_clear_error():
    with pytest.raises(ConfigError, match="image_classifier_width >= 0"):
        ModelConfig("resnet18", 2, 2, image_classifier_width=-1)
    with pytest.raises(ConfigError, match="size >= 32"):
        TrainConfig().with_overrides(["classify.size=8"])


def test_class_probabilities_softmax_of_the_image_classifier_else_sigmoid():
    logits = np.array([[0.0, 2.0], [-1.0, -1.0]])
    sigmoid = class_probabilities({"logits": logits})
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-logits)))
    soft = class_probabilities({"logits": logits, "image_logits": np.array([[0.0, np.log(3.0)]])})
    np.testing.assert_allclose(soft, [[0.25, 0.75]])


def test_image_class_targets_share_the_mass_and_smooth():
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    targets, has_class = image_class_targets(y, 0.2)
    torch.testing.assert_close(targets[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))
    torch.testing.assert_close(targets[1], torch.tensor([0.45, 0.45, 0.05, 0.05]))
    assert has_class.tolist() == [True, True, False]


def test_init_copies_an_image_classifier_and_leaves_a_missing_one_new(tmp_path):
    with_path = _save(WITH_CLASSIFIER, tmp_path / "with", seed=1)
    without_path = _save(ModelConfig("resnet18", 2, 2), tmp_path / "without", seed=1)
    parent = load_weights(with_path)[0].state_dict()

    torch.manual_seed(5)
    child = build_model(WITH_CLASSIFIER, scheme=SCHEME)
    fresh = child.state_dict()["image_classifier.fc.weight"].clone()
    init_from_weights(child, with_path, channels=("radio", "ir"))
    torch.testing.assert_close(
        child.state_dict()["image_classifier.fc.weight"], parent["image_classifier.fc.weight"]
    )
    torch.manual_seed(5)
    child = build_model(WITH_CLASSIFIER, scheme=SCHEME)
    init_from_weights(child, without_path, channels=("radio", "ir"))
    torch.testing.assert_close(child.state_dict()["image_classifier.fc.weight"], fresh)
    torch.testing.assert_close(
        child.state_dict()["backbone.conv1.weight"],
        load_weights(without_path)[0].state_dict()["backbone.conv1.weight"],
    )


@pytest.mark.slow
def test_classify_stage_adds_a_trained_image_classifier_and_changes_nothing_else(toy, tmp_path):
    from napari_radiogal.inference import load_model, segment
    from napari_radiogal.inference.config import InferenceConfig

    parent_path = _save(ModelConfig("resnet18", 2, 2), tmp_path / "parent")
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, *TINY_CLASSIFY, f"init={parent_path}"])
    path = train(
        cfg, data=toy, val=toy, out=tmp_path / "run", stage="classify", device="cpu", progress=False
    )
    model, card = load_weights(path)
    assert card.architecture.image_classifier_width == 4
    assert card.architecture.image_classifier_size == 32
    assert card.training["stages"] == ["classify"]
    history = card.training["history"]["classify"]
    assert len(history) == 3 and all(np.isfinite(h["val_accuracy"]) for h in history)

    parent = load_weights(parent_path)[0].state_dict()
    mine = model.state_dict()
    for key, value in parent.items():  # backbone, heads, BatchNorm statistics, mean shift
        torch.testing.assert_close(mine[key], value, rtol=0, atol=0, msg=key)
    torch.manual_seed(0)
    untrained = build_model(WITH_CLASSIFIER, scheme=SCHEME).state_dict()
    assert not torch.equal(
        mine["image_classifier.fc.weight"], untrained["image_classifier.fc.weight"]
    )

    # inference takes the class probabilities from the image classifier: a softmax
    lm = load_model(path, device="cpu")
    rng = np.random.default_rng(0)
    radio = rng.normal(0, 30e-6, (64, 64)).astype(np.float32)
    radio[28:36, 20:44] += 3e-3
    ir = rng.normal(100, 1, (64, 64)).astype(np.float32)
    pred = segment(radio, ir, model=lm, config=InferenceConfig(device="cpu", scales=(1.0,)))
    assert pred.class_probabilities.sum() == pytest.approx(1.0)


def test_stage_classify_needs_epochs_and_a_model_to_add_to(toy, tmp_path):
    cfg = TrainConfig().with_overrides(list(TINY_RECIPE))
    with pytest.raises(ConfigError, match="classify.epochs=N"):
        train(cfg, data=toy, out=tmp_path / "a", stage="classify", device="cpu", progress=False)
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, *TINY_CLASSIFY])
    with pytest.raises(ConfigError, match="--init"):
        train(cfg, data=toy, out=tmp_path / "b", stage="classify", device="cpu", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_epochs_shortcut_leaves_the_optional_stage_off(tmp_path):
    args = build_parser().parse_args(
        ["train", "--data", "x.json", "--out", str(tmp_path), "--epochs", "2"]
    )
    config = build_config(args)
    assert (config.cam.epochs, config.irn.epochs, config.classify.epochs) == (2, 2, 0)
    args = build_parser().parse_args(
        ["train", "--data", "x.json", "--out", str(tmp_path), "--config", "first"]
        + ["--init", "first", "--stage", "classify", "--epochs", "5"]
    )
    assert build_config(args).classify.epochs == 5


def test_fine_tuning_keeps_the_parents_image_classifier_and_says_so(toy, tmp_path, caplog):
    parent_path = _save(WITH_CLASSIFIER, tmp_path / "parent", seed=2)
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, "cam.epochs=1", f"init={parent_path}"])
    with caplog.at_level("WARNING", logger="napari_radiogal"):
        path = train(cfg, data=toy, out=tmp_path / "run", stage="cam", device="cpu", progress=False)
    assert "image classifier is kept" in caplog.text
    model, card = load_weights(path)
    assert card.architecture.image_classifier_width == 4
    parent = load_weights(parent_path)[0].state_dict()
    for key in ("image_classifier.fc.weight", "image_classifier.stem.0.weight"):
        torch.testing.assert_close(model.state_dict()[key], parent[key], rtol=0, atol=0)
