"""Multi-process training: two CPU processes with the gloo backend end with the same weights."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from training_data import make_toy_dataset

TINY = [
    "backbone=resnet18",
    "cam.epochs=2",
    "cam.batch_size=2",
    "cam.crop_size=64",
    "cam.scale_range=[0.9, 1.1]",
    "num_workers=0",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from napari_radiogal.models import ModelConfig, build_model
    from napari_radiogal.training.config import TrainConfig
    from napari_radiogal.training.data import prepare_images
    from napari_radiogal.training.distributed import barrier, init_distributed, shutdown
    from napari_radiogal.training.engine import run_stage
    from napari_radiogal.training.pipeline import train
    from napari_radiogal.training.stages import (
        CamLoss,
        ClassificationDataset,
        StagePlan,
        set_trainable,
    )

    cfg = TrainConfig().with_overrides(TINY)
    out_dir = Path(out)
    ctx = init_distributed("cpu")
    # the public entry point under DDP: rank 0 exports, the others return None
    path = train(
        cfg,
        data=data,
        out=out_dir / "pipeline",
        stage="cam",
        device="cpu",
        cache_dir=out_dir / "cache",
        progress=False,
    )
    assert (path is not None) == (rank == 0)
    # the loop itself, keeping each rank's model to compare
    images = prepare_images(data, cfg.preprocess, out_dir / "cache")
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    model = build_model(ModelConfig("resnet18", 2, 2), scheme=images.scheme)
    set_trainable(model, ("backbone", "classifier"), freeze_stem=True)
    run_stage(
        name="cam",
        loss_module=CamLoss(model),
        param_groups=StagePlan.cam(cfg.cam).param_groups(model),
        train_set=ClassificationDataset(images, cfg.cam, cfg.seed),
        stage_cfg=cfg.cam,
        config=cfg,
        out_dir=out_dir / "loop",
        ctx=ctx,
        progress=False,
    )
    params = {k: v.detach() for k, v in model.named_parameters()}
    torch.save(params, out_dir / f"rank{rank}.pt")
    barrier(ctx)
    shutdown(ctx)


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    data = make_toy_dataset(tmp_path / "data", n=8, size=64, seed=1)
    out = tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(out)), nprocs=2, join=True)
    p0 = torch.load(out / "rank0.pt", weights_only=True)
    p1 = torch.load(out / "rank1.pt", weights_only=True)
    assert p0.keys() == p1.keys()
    for k in p0:
        torch.testing.assert_close(p0[k], p1[k], rtol=0, atol=0, msg=k)
    # 8 images over 2 processes of 2 images: 2 steps per epoch, 4 in all
    ckpt = torch.load(out / "loop" / "cam" / "last.pt", weights_only=True)
    assert ckpt["global_step"] == 4
    assert (out / "pipeline" / "model.safetensors").is_file()
