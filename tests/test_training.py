"""Training: data, augmentation, pseudo-labels, IRNet pairs, the loop, resume, export, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_radiogal import errors
from napari_radiogal.errors import CocoFormatError, ConfigError
from napari_radiogal.io.coco import read_coco, write_coco
from napari_radiogal.models import load_weights
from napari_radiogal.models.cams import cams_to_image_grid
from napari_radiogal.preprocess import PreprocessConfig
from napari_radiogal.training.augment import IGNORE, AffineDraw, apply_affine, draw_affine
from napari_radiogal.training.config import PseudoLabelConfig, TrainConfig
from napari_radiogal.training.data import prepare_images
from napari_radiogal.training.distributed import DistContext
from napari_radiogal.training.engine import (
    EpochSampler,
    TrainingInterrupted,
    class_balance_weights,
)
from napari_radiogal.training.irn import PairGeometry, irn_losses
from napari_radiogal.training.pipeline import train, validation_metrics
from napari_radiogal.training.pseudo_labels import make_pseudo_label
from napari_radiogal.training.stages import recam_loss
from training_data import TINY_RECIPE, make_toy_dataset

TINY = list(TINY_RECIPE)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n=8, size=64, seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One pre-processing cache for the module's training runs (keys include the config)."""
    return tmp_path_factory.mktemp("cache")


def _params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- data -----------------------------------------------------------------------------------
def test_prepare_images_caches_and_reads_only_labels(toy, tmp_path):
    cfg = PreprocessConfig()
    images = prepare_images(toy, cfg, tmp_path / "cache")
    assert len(images) == 8
    assert images.labels.tolist() == [[1, 0], [0, 1]] * 4
    x = images.channels(0)
    assert x.shape == (2, 64, 64) and x.dtype == np.float32
    assert 0 < x[0].max() <= 1 and x[1].max() > 0
    assert images.islands(0).any()
    mtimes = [p.stat().st_mtime_ns for p in images.cache_files]
    again = prepare_images(toy, cfg, tmp_path / "cache")
    assert [p.stat().st_mtime_ns for p in again.cache_files] == mtimes
    other = prepare_images(toy, PreprocessConfig(island_sigma=5.0), tmp_path / "cache")
    assert set(other.cache_files).isdisjoint(images.cache_files)


@pytest.mark.slow
def test_masks_and_hosts_are_ignored(toy, tmp_path, cache):
    """Weak supervision: changing every mask and host changes nothing the training sees."""
    ds = read_coco(toy)
    for inst in ds.instances:
        empty = np.zeros((64, 64), bool)
        empty[0, :5] = True
        inst.rle = type(inst).from_mask(empty, image_id=0, category_id=1).rle
        inst.host = (1.0, 1.0)
    altered = toy.parent / "altered.json"
    write_coco(altered, ds)
    a = prepare_images(toy, PreprocessConfig(), tmp_path / "c")
    b = prepare_images(altered, PreprocessConfig(), tmp_path / "c")
    np.testing.assert_array_equal(a.labels, b.labels)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.channels(i), b.channels(i))
    cfg = TrainConfig().with_overrides(TINY + ["cam.epochs=1"])
    ma, _ = load_weights(
        train(
            cfg,
            data=toy,
            out=tmp_path / "a",
            stage="cam",
            device="cpu",
            progress=False,
            cache_dir=cache,
        )
    )
    mb, _ = load_weights(
        train(
            cfg,
            data=altered,
            out=tmp_path / "b",
            stage="cam",
            device="cpu",
            progress=False,
            cache_dir=cache,
        )
    )
    for k, v in ma.state_dict().items():
        torch.testing.assert_close(v, mb.state_dict()[k], rtol=0, atol=0)


def test_missing_image_file_is_a_coco_error(toy, tmp_path):
    ds = read_coco(toy)
    ds.images[0].radio_file = "radio/nope.fits"
    bad = toy.parent / "bad.json"
    write_coco(bad, ds)
    with pytest.raises(CocoFormatError, match="nope.fits"):
        prepare_images(bad, PreprocessConfig(), tmp_path / "c")


def test_radiogalaxynet_png_layout(tmp_path):
    """PNG channels are already pre-processed: decoded and used as they are."""
    from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
    from napari_radiogal.classes import RADIOGALAXYNET
    from napari_radiogal.io.radiogalaxynet import write_radiogalaxynet_png

    rng = np.random.default_rng(0)
    radio = np.where(rng.random((32, 32)) > 0.8, rng.random((32, 32)), 0.0)
    ir = np.where(rng.random((32, 32)) > 0.9, rng.random((32, 32)), 0.0)
    write_radiogalaxynet_png(tmp_path / "train2017" / "0001.png", radio, ir)
    ds = CocoDataset(
        images=[ImageRecord(id=1, file_name="0001.png", height=32, width=32)],
        instances=[Instance.from_mask(radio > 0, image_id=1, category_id=3)],
        scheme=RADIOGALAXYNET,
    )
    path = write_coco(tmp_path / "annotations" / "instances_train2017.json", ds)
    images = prepare_images(
        path, PreprocessConfig(channels=("radio", "ir", "radio_mask")), tmp_path / "cache"
    )
    x = images.channels(0)
    np.testing.assert_allclose(x[0], np.round(radio * 65535) / 65535, atol=1e-6)
    np.testing.assert_allclose(x[1], np.round(ir * 255) / 255, atol=1e-6)
    np.testing.assert_array_equal(x[2], (x[0] > 0).astype(np.float32))
    assert images.labels.tolist() == [[0, 0, 1, 0]]


def test_partial_infrared_coverage_is_summarised(tmp_path, caplog):
    from astropy.io import fits

    path = make_toy_dataset(tmp_path / "d", n=2, size=32, seed=3)
    ir_file = tmp_path / "d" / "ir" / "img000.fits"
    with fits.open(ir_file) as hdul:
        hdu = fits.PrimaryHDU(hdul[0].data[:, :20], hdul[0].header)
    hdu.writeto(ir_file, overwrite=True)
    with caplog.at_level("WARNING", logger="napari_radiogal.training.data"):
        images = prepare_images(path, PreprocessConfig(), tmp_path / "cache")
    assert "1 of 2 images gave a InputImageWarning" in caplog.text
    assert (images.channels(0)[1][:, 20:] == 0).all()


# --- augmentation ---------------------------------------------------------------------------
def test_identity_affine_is_exact():
    x = torch.rand(2, 10, 12)
    label = torch.randint(0, 3, (10, 12))
    draw = AffineDraw(scale=1.0, angle_deg=0.0, flip=False, offset=(0, 0), out_size=10)
    y, lab = apply_affine(x, draw, label=label)
    torch.testing.assert_close(y, x[:, :, :10])
    assert torch.equal(lab, label[:, :10])


def test_flip_rotation_and_fill():
    x = torch.zeros(1, 8, 8)
    x[0, 2, 1] = 1.0
    flipped, _ = apply_affine(x, AffineDraw(1.0, 0.0, True, (0, 0), 8))
    assert flipped[0, 2, 6] == pytest.approx(1.0)
    rot, _ = apply_affine(torch.ones(1, 16, 16), AffineDraw(1.0, 45.0, False, (0, 0), 16))
    assert rot[0, 0, 0] == 0.0  # corner: empty sky, not a channel mean
    assert rot[0, 8, 8] == pytest.approx(1.0)
    canvas, lab = apply_affine(
        torch.ones(1, 8, 8),
        AffineDraw(1.0, 0.0, False, (-4, -4), 16),
        label=torch.zeros(8, 8, dtype=torch.long),
    )
    assert canvas[0, :4].sum() == 0 and canvas[0, 4:12, 4:12].min() == pytest.approx(1.0)
    assert (lab[:4] == IGNORE).all() and (lab[4:12, 4:12] == 0).all()


def test_draw_affine_offsets_cover_crop_and_canvas():
    rng = np.random.default_rng(0)
    crops = [draw_affine(rng, (100, 100), 60).offset for _ in range(200)]
    assert min(min(c) for c in crops) >= 0 and max(max(c) for c in crops) <= 40
    places = [draw_affine(rng, (50, 50), 80).offset for _ in range(200)]
    assert min(min(p) for p in places) >= -30 and max(max(p) for p in places) <= 0


# --- pseudo-labels --------------------------------------------------------------------------
def test_pseudo_label_thresholds_and_islands():
    cams = np.zeros((2, 6, 6))
    cams[1, 1:3, 1:3] = 0.9  # confident class-1 foreground
    cams[1, 4, 4] = 0.2  # unsure
    cams[1, 0, 5] = 0.5  # confident but outside any island
    present = np.array([False, True])
    plain = make_pseudo_label(cams, present, None, PseudoLabelConfig(refine="none"))
    assert (plain[1:3, 1:3] == 2).all() and plain[4, 4] == IGNORE and plain[0, 5] == 2
    assert plain[5, 0] == 0
    islands = np.zeros((6, 6), bool)
    islands[1:3, 1:4] = True
    islands[4, 4] = True
    refined = make_pseudo_label(cams, present, islands, PseudoLabelConfig(refine="islands"))
    assert refined[0, 5] == 0 and refined[4, 4] == IGNORE and refined[1, 3] == 0
    vote = make_pseudo_label(cams, present, islands, PseudoLabelConfig(refine="island_vote"))
    assert (vote[1:3, 1:4] == 2).all()  # mean 0.6 >= 0.35: whole island
    none = make_pseudo_label(cams, np.zeros(2, bool), islands, PseudoLabelConfig())
    assert (none == 0).all()


def _two_lobes_and_a_far_island(shape=(40, 60)):
    """Islands: two 'lobes' 16 px apart (cols 10-13, 30-33) and one far island (col 56)."""
    islands = np.zeros(shape, bool)
    islands[18:22, 10:14] = islands[18:22, 30:34] = True
    islands[18:22, 56:58] = True
    return islands


def test_bridge_joins_the_lobes_of_a_multi_component_class_only():
    islands = _two_lobes_and_a_far_island()
    cams = np.zeros((2,) + islands.shape)
    cams[:, islands] = 0.9  # both classes claim every island; class 0 wins the ties
    present = np.array([True, False])
    config = PseudoLabelConfig(bridge_gap=20)
    off = make_pseudo_label(cams, present, islands, PseudoLabelConfig())
    on = make_pseudo_label(cams, present, islands, config, bridged=[0])
    assert (off[20, 14:30] == 0).all()  # the paper: empty sky between the lobes
    assert (on[20, 14:30] == 1).all() and (on[18:22, 10:34] == 1).all()  # one region
    assert (on[20, 34:56] == 0).all()  # 22 px from the second lobe: another source
    assert (on[islands] == off[islands]).all() and on[5, 5] == 0  # islands keep their labels
    # a single-component class (R, Compact) is never bridged
    single = make_pseudo_label(cams, present, islands, config, bridged=[])
    assert np.array_equal(single, off)


def test_bridge_instances_fills_each_annotated_instance_only():
    from napari_radiogal.training.pseudo_labels import bridge_instances

    islands = _two_lobes_and_a_far_island()
    double = islands.copy()
    double[:, 50:] = False
    single = islands & ~double
    label = np.where(double, 1, np.where(single, 2, 0)).astype(np.uint8)
    out = bridge_instances(label, [(double, 0), (single, 1)], bridged=[0, 1])
    assert (out[20, 14:30] == 1).all() and (out[20, 34:56] == 0).all()
    assert np.array_equal(bridge_instances(label, [(double, 0)], bridged=[]), label)


def test_bridge_gap_is_checked():
    with pytest.raises(ConfigError, match="bridge_gap"):
        TrainConfig().with_overrides(["pseudo_labels.bridge_gap=-1"])


def test_cams_to_image_grid_aligns_cells():
    cams = torch.zeros(1, 1, 4, 4)
    cams[0, 0, 1, 2] = 1.0  # cell covering input pixels rows 16-31, cols 32-47
    up = cams_to_image_grid(cams, (64, 64), (64, 64), 16)[0, 0]
    assert up[23:25, 39:41].min() == pytest.approx(1.0, abs=0.1)
    assert up.argmax() // 64 in (23, 24)


# --- losses ---------------------------------------------------------------------------------
def test_recam_loss_reads_positive_rows_only():
    logits = torch.zeros(2, 3, 3)
    logits[0, 1, 1] = 10.0  # image 0, class 1 confidently right
    labels = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    loss = recam_loss(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits[0, 1][None], torch.tensor([1])) / 2
    torch.testing.assert_close(loss, expected)


def test_irn_losses_prefer_the_right_fields():
    g = PairGeometry(4)
    h = w = 12
    label = torch.zeros(1, h, w, dtype=torch.long)
    label[0, :, 6:] = 1  # two regions split at column 6
    boundary_good = torch.zeros(1, 1, h, w)
    boundary_good[..., 5:7] = 1.0
    boundary_bad = torch.zeros(1, 1, h, w)
    # a displacement field pointing at each region's centroid
    yy, xx = torch.meshgrid(torch.arange(h.__float__()), torch.arange(w.__float__()), indexing="ij")
    cy = torch.full((h, w), (h - 1) / 2)
    cx = torch.where(xx < 6, torch.tensor(2.5), torch.tensor(8.5))
    d_good = torch.stack([cy - yy, cx - xx])[None]
    good = irn_losses(g, boundary_good.clamp(1e-3, 1 - 1e-3), d_good, label)
    bad = irn_losses(g, boundary_bad + 1e-3, torch.zeros(1, 2, h, w), label)
    assert good["neg"] < bad["neg"]
    assert good["dp_fg"] < 1e-4 < bad["dp_fg"]


def test_pair_geometry_matches_the_paper():
    g = PairGeometry(10)
    assert len(g.offsets) == 152
    assert max(len(p) for p in g.paths) == 22
    h, w = g.window(128, 128)
    assert h * w == 13090


# --- the loop -------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_end_to_end_loss_decreases(toy, tmp_path, cache):
    cfg = TrainConfig().with_overrides(
        TINY + ["cam.epochs=8", "cam.lr=0.01", "cam.classifier_lr=0.1"]
    )
    path = train(
        cfg, data=toy, val=toy, out=tmp_path / "run", device="cpu", progress=False, cache_dir=cache
    )
    model, card = load_weights(path)
    hist = card.training["history"]["cam"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert card.training["stages"] == ["cam", "recam", "irn"]
    assert card.classes.names == ("single", "double")
    assert card.preprocess.channels == ("radio", "ir")
    # the toy images: 64 px, 13" beam on the toy WCS's pixels, all alike
    assert card.geometry is not None and card.geometry.cutout_size == 64
    assert card.geometry.pixels_per_beam == pytest.approx(13.0 / 2.0, rel=1e-6)
    assert torch.count_nonzero(model.mean_displacement) == 2
    assert (tmp_path / "run" / "cam" / "best.pt").is_file()
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").open()]
    assert {r["stage"] for r in records} == {"cam", "recam", "irn"}
    # IRNet trains its heads only: the backbone (weights AND BatchNorm statistics) is the
    # ReCAM one
    recam = torch.load(tmp_path / "run" / "recam" / "last.pt", weights_only=True)["model"]
    for k, v in model.state_dict().items():
        if k.startswith(("backbone.", "classifier.")):
            torch.testing.assert_close(v, recam[k], rtol=0, atol=0, msg=k)
    ckpt = torch.load(tmp_path / "run" / "irn" / "last.pt", weights_only=True)
    assert {
        "model",
        "optimizer",
        "scheduler",
        "config",
        "epoch",
        "step_in_epoch",
        "rng",
        "version",
    } <= set(ckpt)


@pytest.mark.slow
def test_resume_equals_uninterrupted(toy, tmp_path, cache):
    cfg = TrainConfig().with_overrides(TINY + ["cam.epochs=2", "cam.batch_size=2"])
    ref_path = train(
        cfg,
        data=toy,
        out=tmp_path / "ref",
        stage="cam",
        device="cpu",
        progress=False,
        cache_dir=cache,
    )
    with pytest.raises(errors.TrainingInterrupted) as info:
        train(
            cfg,
            data=toy,
            out=tmp_path / "cut",
            stage="cam",
            device="cpu",
            progress=False,
            stop_after_steps=3,
            cache_dir=cache,
        )  # mid-epoch 1 of 4 steps
    # the one class, importable from training.engine too; the CLI reports it as our error
    assert TrainingInterrupted is errors.TrainingInterrupted
    assert isinstance(info.value, errors.RadiogalError) and isinstance(info.value, RuntimeError)
    ckpt = torch.load(tmp_path / "cut" / "cam" / "last.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["step_in_epoch"], ckpt["global_step"]) == (0, 3, 3)
    cut_path = train(
        cfg,
        data=toy,
        out=tmp_path / "cut",
        stage="cam",
        device="cpu",
        progress=False,
        resume=True,
        cache_dir=cache,
    )
    ref, _ = load_weights(ref_path)
    cut, _ = load_weights(cut_path)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(cut.state_dict()[k], v, rtol=0, atol=0, msg=k)


def test_class_balance_weights_temper_the_class_frequencies():
    # 8 FRI-like, 2 Bent-like, 1 image with both, 1 with none
    labels = np.zeros((12, 2), np.float32)
    labels[:8, 0] = 1
    labels[8:10, 1] = 1
    labels[10] = 1
    assert class_balance_weights(labels, 0.0) is None
    w = class_balance_weights(labels, 1.0)
    # class 0 is carried by 9 images, class 1 by 3; the two-class image counts as the rarer
    np.testing.assert_allclose(w[:8], 1 / 9)
    np.testing.assert_allclose(w[8:11], 1 / 3)
    np.testing.assert_allclose(w[11], 1.0)  # the one image with no class is a class of its own
    half = class_balance_weights(labels, 0.5)
    np.testing.assert_allclose(half[0] / half[8], np.sqrt(3 / 9))


class _Sized(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def test_weighted_epoch_sampler_draws_by_weight_and_deals_to_ranks():
    weights = np.array([1.0] * 90 + [9.0] * 10)  # the 10 rare images weigh 9x: half the draws
    sampler = EpochSampler(_Sized(100), DistContext(), seed=3, weights=weights)
    sampler.set_epoch(0)
    drawn = np.array([i for _, i in sampler])
    assert len(drawn) == len(sampler) == 100
    counts = [np.mean(np.array([i for _, i in _epoch(sampler, e)]) >= 90) for e in range(20)]
    assert 0.4 < np.mean(counts) < 0.6  # unweighted it would be 0.1
    # a function of (seed, epoch): the same epoch again, another epoch differs
    assert [i for _, i in _epoch(sampler, 0)] == drawn.tolist()
    assert [i for _, i in _epoch(sampler, 1)] != drawn.tolist()
    # two processes share one epoch's draws between them, each its own half
    ranks = [
        EpochSampler(_Sized(100), DistContext(rank=r, world_size=2), seed=3, weights=weights)
        for r in (0, 1)
    ]
    halves = [[i for _, i in _epoch(s, 0)] for s in ranks]
    assert len(halves[0]) == len(halves[1]) == 50
    merged = [i for pair in zip(*halves, strict=True) for i in pair]
    assert merged == drawn.tolist()
    # resume mid-epoch skips the first draws, exactly
    sampler.set_start(30)
    assert [i for _, i in _epoch(sampler, 0)] == drawn[30:].tolist()
    with pytest.raises(ValueError, match="non-negative"):
        EpochSampler(_Sized(3), DistContext(), seed=0, weights=np.array([1.0, -1.0, 1.0]))


def _epoch(sampler: EpochSampler, epoch: int):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_class_balance_is_a_checked_config_field_and_validation_logs_accuracy(toy, tmp_path, cache):
    with pytest.raises(ConfigError, match="class_balance"):
        TrainConfig().with_overrides(["cam.class_balance=2"])
    cfg = TrainConfig().with_overrides(TINY + ["cam.epochs=1", "cam.class_balance=1"])
    train(
        cfg,
        data=toy,
        val=toy,
        out=tmp_path / "run",
        stage="cam",
        device="cpu",
        progress=False,
        cache_dir=cache,
    )
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").open()]
    epoch = [r for r in records if "val_loss" in r]
    assert len(epoch) == 1 and {"val_accuracy", "val_loss"} <= set(epoch[0])


class _Answers(torch.nn.Module):
    """Hands out fixed logits in the order the images are asked for."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = torch.as_tensor(logits, dtype=torch.float32)
        self.served = 0

    def forward(self, x):
        out = self.logits[self.served : self.served + len(x)]
        self.served += len(x)
        return out


def test_validation_accuracy_counts_the_top_logit_of_single_class_images(toy, tmp_path):
    images = prepare_images(toy, PreprocessConfig(), tmp_path / "cache")  # labels 10 01 10 ...
    truth = images.labels
    right = 5 * (2 * truth - 1)
    assert validation_metrics(_Answers(right), images, torch.device("cpu"))["accuracy"] == 1.0
    wrong = right.copy()
    wrong[:3] *= -1  # three of eight images get the other class on top
    metrics = validation_metrics(_Answers(wrong), images, torch.device("cpu"), batch_size=3)
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert (
        metrics["loss"] > validation_metrics(_Answers(right), images, torch.device("cpu"))["loss"]
    )


def test_config_errors(toy, tmp_path):
    with pytest.raises(ConfigError, match="did you mean"):
        TrainConfig().with_overrides(["cam.epoch=3"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("cam.epochs=abc", "cam.epochs: expected an integer, got 'abc'"),
        ("cam.epochs=2.5", "cam.epochs: expected an integer, got 2.5"),
        ("cam.lr=fast", "cam.lr: expected a number, got 'fast'"),
        ("cam.flip=3", "cam.flip: expected true or false, got 3"),
        ("cam.scale_range=[a, 1]", "cam.scale_range: expected a list of numbers"),
        ("backbone=18", "backbone: expected a string, got 18"),
    ],
)
def test_override_of_the_wrong_kind_names_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig().with_overrides([override])


def test_overrides_of_the_right_kind_are_converted():
    cfg = TrainConfig().with_overrides(["cam.lr=1", "cam.epochs=3.0", "cam.scale_range=[1, 2]"])
    assert cfg.cam.lr == 1.0 and isinstance(cfg.cam.lr, float)
    assert cfg.cam.epochs == 3 and isinstance(cfg.cam.epochs, int)
    assert cfg.cam.scale_range == (1.0, 2.0)
    assert TrainConfig().with_overrides(["init=null"]).init is None


def test_training_stops_on_config_errors(toy, tmp_path):
    with pytest.raises(ConfigError, match="no full batch"):
        train(
            TrainConfig().with_overrides(TINY + ["cam.batch_size=64"]),
            data=toy,
            out=tmp_path / "r",
            stage="cam",
            device="cpu",
            progress=False,
        )
    with pytest.raises(ConfigError, match="not found"):
        train(
            TrainConfig().with_overrides(TINY),
            data=toy,
            out=tmp_path / "r2",
            stage="recam",
            device="cpu",
            progress=False,
        )


def test_cli_train(toy, tmp_path, repo_root):
    from napari_radiogal.cli import main

    args = [
        "train",
        "--data",
        str(toy),
        "--out",
        str(tmp_path / "cli"),
        "--stage",
        "cam",
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--no-progress",
        "--config",
        str(repo_root / "src" / "napari_radiogal" / "training" / "configs" / "cpu.yaml"),
        "--set",
        "cam.crop_size=64",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    card = json.loads((tmp_path / "cli" / "model.json").read_text())
    assert card["training"]["config"]["seed"] == 3
    # relative to the data set root, not a folder of the training machine
    assert card["training"]["data"] == "annotations/train.json"
    assert card["training"]["config"]["cam"]["epochs"] == 1
    assert card["architecture"]["backbone"] == "resnet18"
    assert (
        main(
            [
                "train",
                "--data",
                str(toy),
                "--out",
                str(tmp_path / "x"),
                "--config",
                "nonexistent-recipe",
            ]
        )
        == 2
    )


def _save_toy_parent(path: Path, names=("single", "double"), channels=("radio", "ir")) -> Path:
    """A small untrained ResNet-18 saved as a weights file (a stand-in parent model)."""
    from napari_radiogal.classes import ClassScheme
    from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights

    scheme = ClassScheme(names=names, coco_ids=tuple(range(1, len(names) + 1)))
    config = ModelConfig("resnet18", in_channels=len(channels), num_classes=len(names))
    torch.manual_seed(7)
    model = build_model(config, scheme=scheme)
    with torch.no_grad():
        model.mean_displacement.copy_(torch.tensor([0.25, -0.5]))
    card = WeightsCard(
        name="toy-parent",
        architecture=config,
        classes=scheme,
        preprocess=PreprocessConfig(channels=channels),
    )
    return save_weights(model, card, path)


def test_init_from_weights_matches_classes_and_channels_by_name(tmp_path):
    from napari_radiogal.classes import ClassScheme
    from napari_radiogal.models import ModelConfig, build_model, init_from_weights

    parent_path = _save_toy_parent(tmp_path / "parent")
    parent, _ = load_weights(parent_path)
    # the child: classes reordered plus a new one; radio only
    scheme = ClassScheme(names=("double", "bent", "single"), coco_ids=(1, 2, 3))
    child = build_model(ModelConfig("resnet18", in_channels=1, num_classes=3), scheme=scheme)
    fresh_bent_row = child.state_dict()["classifier.weight_conv.weight"][1].clone()
    info = init_from_weights(child, parent_path, channels=("radio",))

    theirs, mine = parent.state_dict(), child.state_dict()
    for key in ("classifier.weight_conv.weight", "recam.weight_conv.weight"):
        torch.testing.assert_close(mine[key][0], theirs[key][1], rtol=0, atol=0)  # double
        torch.testing.assert_close(mine[key][2], theirs[key][0], rtol=0, atol=0)  # single
    torch.testing.assert_close(
        mine["classifier.weight_conv.weight"][1], fresh_bent_row, rtol=0, atol=0
    )
    # radio filters are the parent's radio filters (channel 0 of 2), not a mean or a copy of IR
    torch.testing.assert_close(
        mine["backbone.conv1.weight"][:, 0], theirs["backbone.conv1.weight"][:, 0], rtol=0, atol=0
    )
    torch.testing.assert_close(mine["mean_displacement"], torch.tensor([0.25, -0.5]))
    for key in (
        "displacement.shallow1.0.weight",
        "boundary.branches.0.0.weight",
        "backbone.bn1.weight",
    ):
        if key in theirs:
            torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=0, msg=key)
    assert "displacement.shallow1.0.weight" in mine
    assert info["classes_kept"] == ["double", "single"] and info["classes_new"] == ["bent"]
    assert info["channels_kept"] == ["radio"] and info["channels_new"] == []
    assert info["name"] == "toy-parent" and len(info["sha256"]) == 64


def test_init_from_weights_new_channel_starts_at_zero(tmp_path):
    from napari_radiogal.classes import ClassScheme
    from napari_radiogal.models import ModelConfig, build_model, init_from_weights

    parent_path = _save_toy_parent(tmp_path / "parent", channels=("radio",))
    parent, _ = load_weights(parent_path)
    scheme = ClassScheme(names=("single", "double"), coco_ids=(1, 2))
    child = build_model(ModelConfig("resnet18", in_channels=2, num_classes=2), scheme=scheme)
    info = init_from_weights(child, parent_path, channels=("radio", "ir"))
    conv = child.state_dict()["backbone.conv1.weight"]
    torch.testing.assert_close(conv[:, 0], parent.state_dict()["backbone.conv1.weight"][:, 0])
    assert torch.count_nonzero(conv[:, 1]) == 0
    assert info["channels_new"] == ["ir"]


def test_init_a_first_model_from_a_radiogalaxynet_one_through_aliases(tmp_path):
    from napari_radiogal.classes import FIRST
    from napari_radiogal.models import ModelConfig, build_model, init_from_weights

    parent_path = _save_toy_parent(tmp_path / "p", names=("FR-II", "FR-I", "FR-X", "R"))
    theirs = load_weights(parent_path)[0].state_dict()
    child = build_model(ModelConfig("resnet18", in_channels=1, num_classes=4), scheme=FIRST)
    info = init_from_weights(child, parent_path, channels=("radio_display",))
    mine = child.state_dict()
    row = "classifier.weight_conv.weight"
    torch.testing.assert_close(mine[row][0], theirs[row][1], rtol=0, atol=0)  # FRI <- FR-I
    torch.testing.assert_close(mine[row][1], theirs[row][0], rtol=0, atol=0)  # FRII <- FR-II
    conv = "backbone.conv1.weight"
    torch.testing.assert_close(mine[conv][:, 0], theirs[conv][:, 0], rtol=0, atol=0)
    assert info["classes_kept"] == ["FRI<-FR-I", "FRII<-FR-II"]
    assert info["classes_new"] == ["Compact", "Bent"]
    assert info["channels_kept"] == ["radio_display<-radio"] and info["channels_new"] == []


def test_init_from_another_backbone_is_a_clear_error(tmp_path):
    from napari_radiogal.classes import ClassScheme
    from napari_radiogal.models import ModelConfig, build_model, init_from_weights

    parent_path = _save_toy_parent(tmp_path / "parent")
    scheme = ClassScheme(names=("single", "double"), coco_ids=(1, 2))
    child = build_model(ModelConfig("resnet34", in_channels=2, num_classes=2), scheme=scheme)
    with pytest.raises(errors.WeightsError, match="backbone: resnet18"):
        init_from_weights(child, parent_path, channels=("radio", "ir"))


def test_unknown_init_fails_before_preprocessing(toy, tmp_path):
    cfg = TrainConfig().with_overrides(TINY + ["init=no-such-model"])
    with pytest.raises(errors.WeightsError, match="bundled models"):
        train(cfg, data=toy, out=tmp_path / "run", device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_cli_fine_tunes_on_two_files(toy, tmp_path, cache):
    """``--init`` + two ``--data`` files: one training set, the parent in the card."""
    from napari_radiogal.cli import main

    second = make_toy_dataset(tmp_path / "second", n=6, size=64, seed=5)
    parent_path = _save_toy_parent(tmp_path / "parent")
    parent_state = load_weights(parent_path)[0].state_dict()
    args = ["train", "--data", str(toy), str(second), "--val", str(toy), "--init",
            str(parent_path), "--out", str(tmp_path / "ft"), "--stage", "cam", "--device",
            "cpu", "--no-progress", "--cache-dir", str(cache), "--set", "cam.crop_size=64",
            "--set", "backbone=resnet18", "--set", "cam.epochs=1", "--set", "cam.batch_size=4",
            "--set", "cam.lr=0", "--set", "cam.classifier_lr=0", "--set", "cam.momentum=0",
            "--set", "cam.weight_decay=0"]  # fmt: skip
    assert main(args) == 0
    card = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert card["training"]["images"] == 8 + 6
    first, second_name = card["training"]["data"]  # told apart by their folders' names
    assert first == f"{toy.parents[1].name}/annotations/train.json"
    assert second_name == "second/annotations/train.json"
    assert card["training"]["parent"]["sha256"] == load_weights(parent_path)[1].sha256
    # zero learning rate: the weights are the parent's (BatchNorm statistics aside)
    model, _ = load_weights(tmp_path / "ft" / "model")
    for key, value in model.state_dict().items():
        if "running_" not in key and "num_batches" not in key:
            torch.testing.assert_close(value, parent_state[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", ["paper", "cpu", "finetune", "first"])
def test_shipped_recipes_load(name, tmp_path, monkeypatch):
    from napari_radiogal.commands.train import resolve_config_path
    from napari_radiogal.training.config import RECIPES_DIR, load_config

    monkeypatch.chdir(tmp_path)  # found by name from anywhere: they ship with the package
    path = resolve_config_path(name)
    assert path == RECIPES_DIR / f"{name}.yaml"
    cfg = load_config(path)
    assert cfg.cam.epochs > 0 and cfg.irn.epochs > 0
    if name == "paper":
        assert (
            cfg.backbone,
            cfg.cam.batch_size,
            cfg.cam.epochs,
            cfg.recam.epochs,
            cfg.irn.epochs,
        ) == ("resnet50", 4, 30, 15, 3)


@pytest.mark.needs_cuda
def test_cuda_amp_stage(toy, tmp_path, cache):
    """The same tiny stage on a GPU with mixed precision (GradScaler state in the checkpoint)."""
    cfg = TrainConfig().with_overrides(TINY + ["cam.epochs=1", "amp=true"])
    path = train(
        cfg,
        data=toy,
        out=tmp_path / "gpu",
        stage="cam",
        device="cuda",
        progress=False,
        cache_dir=cache,
    )
    ckpt = torch.load(tmp_path / "gpu" / "cam" / "last.pt", weights_only=True)
    assert ckpt["scaler"]
    model, _ = load_weights(path)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def _mark_reviewed(coco: Path, image_ids: set[int], out: Path) -> Path:
    dataset = read_coco(coco)
    for inst in dataset.instances:
        inst.reviewed = inst.image_id in image_ids
    return write_coco(out, dataset)


def test_mixed_supervision_takes_stage_d_labels_from_the_selected_images_masks(toy, tmp_path):
    from napari_radiogal.models import ModelConfig, RadioGalaxyNet
    from napari_radiogal.training.pipeline import compute_pseudo_labels

    reviewed = _mark_reviewed(toy, {2, 5}, toy.parent / "reviewed.json")
    images = prepare_images(reviewed, PreprocessConfig(), tmp_path / "cache")
    truth = read_coco(reviewed)
    selected = {
        which: [i for i in range(len(images)) if images.is_mask_supervised(i, which)]
        for which in ("none", "all", "reviewed")
    }
    assert selected == {"none": [], "all": list(range(8)), "reviewed": [1, 4]}
    # the label of a mask-supervised image is its instance's class inside its mask
    label = images.mask_label(4)
    inst = next(a for a in truth.instances if a.image_id == 5)
    k = images.scheme.index_of_id(inst.category_id)
    assert np.array_equal(label == k + 1, inst.mask) and set(np.unique(label)) == {0, k + 1}

    torch.manual_seed(0)
    model = RadioGalaxyNet(ModelConfig("resnet18", 2, 2), images.scheme).eval()
    base = TrainConfig(backbone="resnet18")
    config = base.with_overrides(["pseudo_labels.scales=[1.0]", "pseudo_labels.masks=reviewed"])
    weak = base.with_overrides(["pseudo_labels.scales=[1.0]"])
    mixed = compute_pseudo_labels(model, images, config, torch.device("cpu"), progress=False)
    plain = compute_pseudo_labels(model, images, weak, torch.device("cpu"), progress=False)
    for i in range(len(images)):
        expected = images.mask_label(i) if i in (1, 4) else plain[i]
        assert np.array_equal(mixed[i], expected), i
    assert not np.array_equal(plain[4], images.mask_label(4))  # the CAMs of a random net
    # with the bridge, a mask-supervised double is one region of its class
    bridged = compute_pseudo_labels(
        model,
        images,
        config.with_overrides(["pseudo_labels.bridge_gap=30"]),
        torch.device("cpu"),
        progress=False,
    )
    multi = [
        i
        for i in (1, 4)
        for mask, k in images.instance_masks(i)
        if images.scheme.names[k] != "R" and ndimage.label(mask, np.ones((3, 3)))[1] > 1
    ]
    assert multi, "the toy set should hold a multi-part instance among the reviewed images"
    for i in multi:
        assert (bridged[i] > 0).sum() > (mixed[i] > 0).sum()
        assert (bridged[i][mixed[i] > 0] == mixed[i][mixed[i] > 0]).all()


def test_mask_supervision_option_is_checked():
    with pytest.raises(ConfigError, match="pseudo_labels.masks='some'"):
        TrainConfig().with_overrides(["pseudo_labels.masks=some"])
