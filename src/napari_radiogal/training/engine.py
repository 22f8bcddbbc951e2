"""The training loop shared by all stages: SGD + poly decay, AMP, DDP, checkpoints, resume.

Exact resume: the sampler's order is a function of ``(seed, epoch)`` (torch's
DistributedSampler), each image's augmentation a function of ``(seed, epoch, index)``, and a
checkpoint stores the model, optimiser (momentum buffers), scheduler, AMP scaler, position
(epoch, step in epoch) and the RNG states. Resuming skips the batches already done in the
interrupted epoch, so the parameters after a resumed run equal those of an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from napari_radiogal.errors import TrainingInterrupted
from napari_radiogal.training.checkpoint import restore_checkpoint, rng_state, save_checkpoint
from napari_radiogal.training.config import OptimConfig, TrainConfig
from napari_radiogal.training.distributed import DistContext, all_reduce_sum, barrier

__all__ = [
    "EpochSampler",
    "StageResult",
    "TrainingInterrupted",
    "class_balance_weights",
    "poly_lambda",
    "warmup_poly_lambda",
    "run_stage",
]

log = logging.getLogger(__name__)


class EpochSampler(DistributedSampler):
    """DistributedSampler that yields ``(epoch, index)`` keys and can start mid-epoch.

    The dataset sees the epoch with each index, which makes augmentation a pure function of
    ``(seed, epoch, index)`` even inside DataLoader worker processes.

    With ``weights``, an epoch is ``len(dataset)`` draws *with replacement*, image ``i``
    drawn with probability proportional to ``weights[i]`` (class-balanced sampling, see
    :func:`class_balance_weights`); the draws are a function of ``(seed, epoch)`` and are
    dealt to the processes like DistributedSampler deals its permutation.
    """

    def __init__(
        self,
        dataset: Dataset,
        ctx: DistContext,
        *,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = False,
        weights: np.ndarray | None = None,
    ) -> None:
        super().__init__(
            dataset,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (len(dataset),) or not np.all(weights >= 0) or weights.sum() <= 0:
                raise ValueError(
                    f"EpochSampler: weights must be {len(dataset)} non-negative numbers with a "
                    f"positive sum; got shape {weights.shape}."
                )
        self.weights = weights
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` samples of this process's share of the epoch."""
        self.start = start

    def _weighted_indices(self) -> list[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        draws = torch.multinomial(
            torch.from_numpy(self.weights), self.total_size, replacement=True, generator=g
        ).tolist()
        return draws[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.weights is None:
            indices = list(super().__iter__())
        else:
            indices = self._weighted_indices()
        return iter([(self.epoch, i) for i in indices[self.start :]])

    def __len__(self) -> int:
        return super().__len__() - self.start


def class_balance_weights(labels: np.ndarray, balance: float) -> np.ndarray | None:
    """Per-image sampling weights that temper the class frequencies.

    Parameters
    ----------
    labels : ndarray, shape (N, K)
        Image-level multi-hot labels.
    balance : float
        0 gives ``None`` (every image once per epoch); otherwise image ``i`` weighs
        ``n_c ** -balance`` for its rarest class ``c`` (``n_c`` images carry class ``c``;
        images with no class form a class of their own). With 1 every class is drawn about
        equally often, with 0.5 in proportion to the square root of its frequency.

    Returns
    -------
    ndarray of float64, shape (N,), or None
    """
    if balance <= 0:
        return None
    positive = np.asarray(labels) > 0
    counts = positive.sum(axis=0).astype(np.float64)
    n_empty = float(np.count_nonzero(~positive.any(axis=1)))
    per_class = np.where(counts > 0, np.maximum(counts, 1.0) ** -balance, 0.0)
    weights = np.where(
        positive.any(axis=1),
        np.max(np.where(positive, per_class[None, :], 0.0), axis=1),
        max(n_empty, 1.0) ** -balance,
    )
    return weights


def poly_lambda(total_steps: int, power: float) -> Callable[[int], float]:
    """``t -> (1 - t/T)^power`` (clamped at 0), the paper's poly learning-rate decay."""

    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / max(total_steps, 1)) ** power

    return factor


@dataclass
class StageResult:
    """What a stage run produced."""

    last_checkpoint: Path
    best_checkpoint: Path | None
    best_val: float | None
    history: list[dict[str, Any]] = field(default_factory=list)


def _to(batch, device):
    return [t.to(device, non_blocking=True) for t in batch]


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def warmup_poly_lambda(
    total_steps: int, power: float, warmup_fraction: float
) -> Callable[[int], float]:
    """A linear rise over the first ``warmup_fraction`` of the steps, then the poly decay.

    Examples
    --------
    >>> f = warmup_poly_lambda(100, 1.0, 0.1)
    >>> [round(f(t), 2) for t in (0, 5, 10, 55, 100)]
    [0.1, 0.6, 1.0, 0.5, 0.0]
    """
    ramp = max(int(round(total_steps * warmup_fraction)), 1)

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return max(0.0, 1.0 - (step - ramp) / max(total_steps - ramp, 1)) ** power

    return factor


def run_stage(
    *,
    name: str,
    loss_module: nn.Module,
    param_groups: list[dict],
    train_set: Dataset,
    stage_cfg: OptimConfig,
    config: TrainConfig,
    out_dir: Path,
    ctx: DistContext,
    resume: bool = False,
    validate: Callable[[], float | Mapping[str, float]] | None = None,
    stop_after_steps: int | None = None,
    progress: bool = True,
    sample_weights: np.ndarray | None = None,
) -> StageResult:
    """Train one stage; checkpoints go to ``out_dir/name/{last,best}.pt``.

    Parameters
    ----------
    name : str
        Stage name (``cam``, ``recam``, ``irn``).
    loss_module : nn.Module
        ``forward(*batch) -> (loss, logs)``; wrapped in DDP when distributed. Its ``model``
        attribute is the network whose state is checkpointed.
    param_groups : list of dict
        SGD parameter groups (``params``, ``lr``, ``name``).
    train_set : Dataset
        Addressed by ``(epoch, index)``.
    stage_cfg : OptimConfig
        Epochs, batch size and optimiser numbers.
    config : TrainConfig
        The whole recipe (stored in checkpoints).
    out_dir : Path
        Run folder.
    ctx : DistContext
    resume : bool
        Continue from ``out_dir/name/last.pt`` if it exists.
    validate : callable, optional
        Returns a validation loss after each epoch (lower is better), or a mapping with
        ``loss`` and further metrics (logged as ``val_<name>``); the best epoch's checkpoint
        (lowest loss) is copied to ``best.pt``.
    stop_after_steps : int, optional
        Save a checkpoint and raise :class:`TrainingInterrupted` after this many global steps.
    progress : bool
        Show a tqdm bar (main process only).
    sample_weights : ndarray, shape (N,), optional
        Draw images with replacement in proportion to these (:func:`class_balance_weights`).
    """
    from tqdm.auto import tqdm

    model = loss_module.model
    stage_dir = out_dir / name
    last_path, best_path = stage_dir / "last.pt", stage_dir / "best.pt"
    log_path = out_dir / "train_log.jsonl"
    stage_dir.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    use_amp = config.amp and device.type == "cuda"

    sampler = EpochSampler(
        train_set, ctx, seed=config.seed, shuffle=True, drop_last=False, weights=sample_weights
    )
    per_process = len(sampler)
    batch_size = stage_cfg.batch_size
    steps_per_epoch = per_process // batch_size
    if steps_per_epoch == 0:
        from napari_radiogal.errors import ConfigError

        raise ConfigError(
            f"stage {name}: {len(train_set)} training images over {ctx.world_size} process(es) "
            f"give no full batch of {batch_size}; lower --batch-size."
        )
    total_steps = steps_per_epoch * stage_cfg.epochs
    warmup = getattr(stage_cfg, "warmup_fraction", None)
    if warmup is None:  # the paper's stages: SGD, poly decay from the first step
        optimizer = torch.optim.SGD(
            param_groups,
            lr=param_groups[0]["lr"],
            momentum=stage_cfg.momentum,
            weight_decay=stage_cfg.weight_decay,
        )
        factor = poly_lambda(total_steps, stage_cfg.poly_power)
    else:  # the image classifier, a small network from scratch: AdamW and a warm-up
        optimizer = torch.optim.AdamW(
            param_groups, lr=param_groups[0]["lr"], weight_decay=stage_cfg.weight_decay
        )
        factor = warmup_poly_lambda(total_steps, stage_cfg.poly_power, warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, start_step, global_step = 0, 0, 0
    best_val = math.inf
    history: list[dict[str, Any]] = []
    if resume and last_path.is_file():
        ckpt = restore_checkpoint(
            last_path,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            map_location=device,
        )
        start_epoch, start_step = int(ckpt["epoch"]), int(ckpt["step_in_epoch"])
        global_step = int(ckpt["global_step"])
        best_val = float(ckpt.get("best_val", math.inf))
        history = list(ckpt.get("history", []))
        if ctx.is_main:
            log.info(
                "%s: resumed from %s at epoch %d, step %d", name, last_path, start_epoch, start_step
            )

    wrapped: nn.Module = loss_module
    if ctx.distributed:
        wrapped = nn.parallel.DistributedDataParallel(
            loss_module, device_ids=[device.index] if device.type == "cuda" else None
        )

    def checkpoint(epoch: int, step_in_epoch: int) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if use_amp else {},
            "config": config.to_dict(),
            "stage": name,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "best_val": best_val,
            "history": history,
            "rng": rng_state(),
        }

    if ctx.is_main:
        log.info(
            "%s: %d epochs x %d steps of %d images (x%d processes), lr %s",
            name,
            stage_cfg.epochs,
            steps_per_epoch,
            batch_size,
            ctx.world_size,
            {g["name"]: g["lr"] for g in param_groups},
        )
    for epoch in range(start_epoch, stage_cfg.epochs):
        sampler.set_epoch(epoch)
        skip = start_step if epoch == start_epoch else 0
        sampler.set_start(skip * batch_size)
        loader = DataLoader(
            train_set,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
        )
        loss_module.train()
        bar = tqdm(
            total=steps_per_epoch,
            initial=skip,
            desc=f"{name} {epoch + 1}/{stage_cfg.epochs}",
            disable=not (progress and ctx.is_main),
            leave=False,
        )
        sums: dict[str, float] = {}
        n_logged = 0
        t0 = time.perf_counter()
        for step_in_epoch, batch in enumerate(loader, start=skip):
            batch = _to(batch, device)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                loss, logs = wrapped(*batch)
            if not torch.isfinite(loss):
                from napari_radiogal.errors import ConfigError

                raise ConfigError(
                    f"stage {name}: the loss became {loss.item()} at step {global_step}; "
                    "lower the learning rates of this stage."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            global_step += 1
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_logged += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            if ctx.is_main and global_step % max(config.log_every_steps, 1) == 0:
                record = {
                    "stage": name,
                    "step": global_step,
                    "epoch": epoch + 1,
                    "lr": scheduler.get_last_lr()[0],
                    **{k: float(v) for k, v in logs.items()},
                }
                _append_jsonl(log_path, record)
                log.debug("%s step %d: %s", name, global_step, record)
            done_in_epoch = step_in_epoch + 1
            at_epoch_end = done_in_epoch == steps_per_epoch
            if (
                config.checkpoint_every_steps
                and global_step % config.checkpoint_every_steps == 0
                and not at_epoch_end
                and ctx.is_main
            ):
                save_checkpoint(last_path, checkpoint(epoch, done_in_epoch))
            stop = stop_after_steps is not None and global_step >= stop_after_steps
            if stop and not at_epoch_end:
                if ctx.is_main:
                    save_checkpoint(last_path, checkpoint(epoch, done_in_epoch))
                bar.close()
                barrier(ctx)
                raise TrainingInterrupted(f"{name}: stopped after {global_step} steps")
        bar.close()
        means = torch.tensor(
            [sums.get(k, 0.0) for k in sorted(sums)] + [float(n_logged)], dtype=torch.float64
        )
        all_reduce_sum(means, ctx)
        epoch_logs = {
            k: float(v / max(means[-1].item(), 1))
            for k, v in zip(sorted(sums), means[:-1].tolist(), strict=True)
        }
        record = {
            "stage": name,
            "epoch": epoch + 1,
            "step": global_step,
            "seconds": round(time.perf_counter() - t0, 2),
            **{f"train_{k}": v for k, v in epoch_logs.items()},
        }
        improved = False
        if validate is not None:
            metrics = validate()
            if isinstance(metrics, Mapping):
                record.update({f"val_{k}": float(v) for k, v in metrics.items()})
                val = float(metrics["loss"])
            else:
                val = float(metrics)
            record["val_loss"] = val
            improved = val <= best_val
            best_val = min(best_val, val)
        history.append(record)
        if ctx.is_main:
            log.info(
                "%s epoch %d/%d: %s",
                name,
                epoch + 1,
                stage_cfg.epochs,
                ", ".join(f"{k} {v:.4g}" for k, v in record.items() if isinstance(v, float)),
            )
            _append_jsonl(log_path, record)
            ckpt = checkpoint(epoch + 1, 0)
            save_checkpoint(last_path, ckpt)
            if improved:
                save_checkpoint(best_path, ckpt)
        barrier(ctx)
        if (
            stop_after_steps is not None
            and global_step >= stop_after_steps
            and epoch + 1 < stage_cfg.epochs
        ):
            raise TrainingInterrupted(f"{name}: stopped after {global_step} steps")
    if ctx.is_main and not last_path.is_file():  # zero epochs: still leave a checkpoint
        save_checkpoint(last_path, checkpoint(stage_cfg.epochs, 0))
    barrier(ctx)
    return StageResult(
        last_checkpoint=last_path,
        best_checkpoint=best_path if best_path.is_file() else None,
        best_val=None if math.isinf(best_val) else best_val,
        history=history,
    )
