"""The optional host head: geometry of its targets, its loss, the ``host`` stage, inference."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import ConfigError
from napari_radiogal.inference.hosts import host_from_head, host_head_region
from napari_radiogal.io.coco import read_coco, write_coco
from napari_radiogal.models import ModelConfig, WeightsCard, build_model, load_weights, save_weights
from napari_radiogal.preprocess import PreprocessConfig
from napari_radiogal.training.augment import affine_points, apply_affine, draw_affine
from napari_radiogal.training.config import TrainConfig
from napari_radiogal.training.launch import read_stage_epochs
from napari_radiogal.training.pipeline import train
from napari_radiogal.training.stages import host_loss, host_targets
from training_data import TINY_RECIPE, make_toy_dataset

SCHEME = ClassScheme(names=("single", "double"), coco_ids=(1, 2))
#: a host stage small enough for 8 toy images of 64 px
TINY_HOST = [
    "host.epochs=4",
    "host.batch_size=4",
    "host.width=8",
    "host.canvas_size=64",
    "host.lr=0.01",
    "pseudo_labels.masks=all",
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n=8, size=64, seed=0)


def _save_parent(path, *, host_head_width: int = 0):
    config = ModelConfig("resnet18", 2, 2, host_head_width=host_head_width)
    torch.manual_seed(0)
    model = build_model(config, scheme=SCHEME)
    with torch.no_grad():
        model.mean_displacement.copy_(torch.tensor([0.25, -0.5]))
    card = WeightsCard(
        name="toy-parent",
        architecture=config,
        classes=SCHEME,
        preprocess=PreprocessConfig(channels=("radio", "ir")),
        inference={"unclaimed_islands": "instance"},
    )
    return save_weights(model, card, path)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_affine_points_follow_a_point_source_through_the_augmentation(seed):
    rng = np.random.default_rng(seed)
    draw = draw_affine(rng, (60, 80), 64, scale_range=(0.7, 1.4), rotate=True, flip=True)
    x0, y0 = 40.0, 30.0  # the image centre: it stays well inside any output
    rows, cols = np.mgrid[0:60, 0:80]
    blob = np.exp(-((cols - x0) ** 2 + (rows - y0) ** 2) / (2 * 2.0**2)).astype(np.float32)
    out, _ = apply_affine(torch.from_numpy(blob)[None], draw)
    weight = out[0].numpy() / out[0].numpy().sum()
    r, c = np.mgrid[0:64, 0:64]
    centroid = ((weight * c).sum(), (weight * r).sum())
    moved = affine_points(draw, (60, 80), np.array([[x0, y0]]))[0]
    np.testing.assert_allclose(moved, centroid, atol=0.05)


def test_host_targets_peak_at_the_host_inside_the_region_only():
    instance_map = np.zeros((64, 64), np.int64)
    instance_map[20:28, 8:16] = 1  # two lobes of one source
    instance_map[20:28, 44:52] = 1
    instance_map[50:54, 50:54] = 2  # a compact source whose host is far away
    hosts = np.array([[29.5, 23.5], [5.5, 5.5]])
    regions, targets = host_targets(instance_map, hosts, (16, 16), sigma=1.0, margin_px=4.0)
    assert regions.shape == targets.shape == (8, 16, 16)
    # the gap between the lobes is in the region: the hull is searched, not the mask
    assert regions[0, 5, 7] and targets[0].sum() == pytest.approx(1.0)
    assert np.unravel_index(targets[0].argmax(), (16, 16)) == (5, 7)  # (23.5-1.5)/4, (29.5-1.5)/4
    assert not targets[0][~regions[0]].any()
    # a host the region cannot reach, and rows without an instance, are left out
    assert not regions[1].any() and not targets[1].any()
    assert not regions[2:].any()


def test_host_loss_is_lower_for_logits_that_peak_at_the_host():
    regions = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    regions[0, 0, 2:6, 2:6] = True
    targets = torch.zeros(1, 2, 8, 8)
    targets[0, 0, 3, 4] = 1.0
    right = torch.zeros(1, 8, 8, requires_grad=True)
    wrong = torch.zeros(1, 8, 8)
    with torch.no_grad():
        right[0, 3, 4] = 5.0
    wrong[0, 2, 2] = 5.0
    loss_right, n = host_loss(right, regions, targets)
    loss_wrong, _ = host_loss(wrong, regions, targets)
    assert int(n) == 1 and float(loss_right.detach()) < 0.1 < float(loss_wrong)
    # logits outside the region do not matter
    elsewhere = wrong.clone()
    elsewhere[0, 7, 7] = 100.0
    assert float(host_loss(elsewhere, regions, targets)[0]) == pytest.approx(float(loss_wrong))
    # no used row: zero, but still a graph (every DDP process needs gradients)
    empty, n0 = host_loss(right, torch.zeros_like(regions), torch.zeros_like(targets))
    assert float(empty.detach()) == 0.0 and int(n0) == 0
    empty.backward()
    assert right.grad is not None


def test_host_from_head_picks_the_peak_in_the_widened_hull():
    mask = np.zeros((40, 40), bool)
    mask[18:22, 4:8] = mask[18:22, 30:34] = True
    logits = np.zeros((40, 40))
    logits[20, 19] = 8.0  # between the lobes
    logits[2, 2] = 50.0  # far outside: never chosen
    assert host_from_head(logits, mask, 4.0, subpixel=False) == (19.0, 20.0)
    assert host_head_region(mask, 4.0)[20, 19] and not host_head_region(mask, 4.0)[2, 2]
    assert host_from_head(logits, np.zeros_like(mask), 4.0) is None


def test_a_model_without_host_head_keeps_its_tensors_and_outputs():
    plain = build_model(ModelConfig("resnet18", 2, 2), scheme=SCHEME).eval()
    assert plain.host is None and not any(k.startswith("host.") for k in plain.state_dict())
    assert "host" not in plain.infer(torch.zeros(1, 2, 64, 64))
    with_head = build_model(ModelConfig("resnet18", 2, 2, host_head_width=8), scheme=SCHEME)
    out = with_head.eval().infer(torch.zeros(1, 2, 64, 64))
    assert tuple(out["host"].shape) == tuple(out["boundary"].shape) == (1, 1, 16, 16)
    with pytest.raises(ConfigError, match="host_head_width"):
        ModelConfig("resnet18", 2, 2, host_head_width=-1)


@pytest.mark.slow
def test_host_stage_learns_the_hosts_and_changes_nothing_else(toy, tmp_path):
    from napari_radiogal.inference import load_model, segment
    from napari_radiogal.inference.config import InferenceConfig

    parent_path = _save_parent(tmp_path / "parent")
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, *TINY_HOST, f"init={parent_path}"])
    path = train(cfg, data=toy, out=tmp_path / "run", stage="host", device="cpu", progress=False)
    model, card = load_weights(path)
    assert card.architecture.host_head_width == 8
    assert card.training["stages"] == ["host"]
    assert card.inference == {"unclaimed_islands": "instance"}  # the parent's settings
    losses = [h["train_loss"] for h in card.training["history"]["host"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    parent = load_weights(parent_path)[0].state_dict()
    mine = model.state_dict()
    for key, value in parent.items():  # backbone, heads, BatchNorm statistics, mean shift
        torch.testing.assert_close(mine[key], value, rtol=0, atol=0, msg=key)

    # inference takes the hosts from the head (a double's host between its lobes)
    lm = load_model(path, device="cpu")
    rng = np.random.default_rng(0)
    radio = rng.normal(0, 30e-6, (64, 64)).astype(np.float32)
    radio[28:36, 16:24] += 3e-3
    radio[28:36, 40:48] += 3e-3
    ir = rng.normal(100, 1, (64, 64)).astype(np.float32)
    config = InferenceConfig(device="cpu", scales=(1.0,))
    pred = segment(radio, ir, model=lm, config=config)
    assert pred.instances
    assert {a.extra["host_from"] for a in pred.instances} == {"host head"}
    off = segment(radio, ir, model=lm, config=config.replace(host_head=False))
    assert "host head" not in {a.extra["host_from"] for a in off.instances}


def test_hosts_the_head_cannot_learn_are_refused_before_any_work(toy, tmp_path):
    dataset = read_coco(toy)
    far = dataclasses.replace(dataset.instances[0], host=(1.0, 1.0))
    bad = write_coco(
        tmp_path / "annotations" / "bad.json",
        dataclasses.replace(dataset, instances=[far, *dataset.instances[1:]]),
        backup=False,
    )
    # the images are the toy set's: the same folder layout
    for sub in ("radio", "ir"):
        (tmp_path / sub).symlink_to(toy.parent.parent / sub)
    parent_path = _save_parent(tmp_path / "parent")
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, *TINY_HOST, f"init={parent_path}"])
    with pytest.raises(ConfigError, match=r"img000\.fits instance .* px from its mask"):
        train(cfg, data=bad, out=tmp_path / "run", stage="host", device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_stage_host_needs_hosts_mask_supervision_and_a_model(toy, tmp_path):
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, "host.epochs=2"])
    with pytest.raises(ConfigError, match="--masks all"):
        train(cfg, data=toy, out=tmp_path / "a", stage="host", device="cpu", progress=False)
    cfg = TrainConfig().with_overrides([*TINY_RECIPE, *TINY_HOST])
    with pytest.raises(ConfigError, match="--init"):
        train(cfg, data=toy, out=tmp_path / "b", stage="host", device="cpu", progress=False)
    # images without hosts: nothing to learn from
    dataset = read_coco(toy)
    no_hosts = [dataclasses.replace(a, host=None) for a in dataset.instances]
    path = write_coco(
        tmp_path / "annotations" / "nohost.json",
        dataclasses.replace(dataset, instances=no_hosts),
        backup=False,
    )
    for sub in ("radio", "ir"):
        (tmp_path / sub).symlink_to(toy.parent.parent / sub)
    cfg = TrainConfig().with_overrides(
        [*TINY_RECIPE, *TINY_HOST, f"init={_save_parent(tmp_path / 'parent')}"]
    )
    with pytest.raises(ConfigError, match="no training image has instances with a mask and a host"):
        train(cfg, data=path, out=tmp_path / "c", stage="host", device="cpu", progress=False)
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c"))


def test_progress_counts_the_host_stage_only_with_mask_supervision(tmp_path):
    recipe = {s: {"epochs": n} for s, n in (("cam", 8), ("recam", 2), ("irn", 2), ("host", 30))}
    recipe["classify"] = {"epochs": 0}
    recipe["pseudo_labels"] = {"masks": "none"}
    (tmp_path / "config.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    assert read_stage_epochs(tmp_path) == {"cam": 8, "recam": 2, "irn": 2}
    recipe["pseudo_labels"] = {"masks": "reviewed"}
    (tmp_path / "config.yaml").write_text(json.dumps(recipe))
    assert read_stage_epochs(tmp_path) == {"cam": 8, "recam": 2, "irn": 2, "host": 30}
    # a --stage host run trains that stage alone: the progress bar counts its epochs only
    assert read_stage_epochs(tmp_path, "host") == {"host": 30}
    assert read_stage_epochs(tmp_path, "all") == {"cam": 8, "recam": 2, "irn": 2, "host": 30}
    assert read_stage_epochs(tmp_path, "nonexistent") is None
