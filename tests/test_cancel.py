"""Cancel stops a run within about a second, at any stage."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_radiogal.errors import InferenceCancelled
from napari_radiogal.inference import InferenceConfig, segment
from napari_radiogal.inference.grid import grid_shape
from napari_radiogal.inference.random_walk import CANCEL_EVERY, propagate_batch
from napari_radiogal.inference.windows import PlacedMask, WindowDetection, merge_windows
from napari_radiogal.io.geometry import Window

#: The bound the tests hold a cancelled run to; generous, as the cores are shared in CI.
BOUND_SECONDS = 5.0


class _Stop(Exception):
    pass


def _raise_after(n: int):
    calls = []

    def cancel() -> None:
        calls.append(1)
        if len(calls) > n:
            raise _Stop

    return cancel, calls


def test_the_random_walk_checks_cancel_every_few_steps():
    rng = np.random.default_rng(0)
    maps = [rng.random((2, 12, 12)).astype(np.float32)]
    boundary = [rng.random((12, 12)).astype(np.float32) * 0.5]
    cancel, calls = _raise_after(10**6)
    propagate_batch(maps, boundary, steps=64, radius=3, cancel=cancel)
    assert len(calls) == 1 + 64 // CANCEL_EVERY  # once per grid, then every CANCEL_EVERY steps
    cancel, calls = _raise_after(2)
    with pytest.raises(_Stop):
        propagate_batch(maps, boundary, steps=64, radius=3, cancel=cancel)
    assert len(calls) == 3


def test_merging_windows_checks_cancel_per_detection():
    dets = [
        WindowDetection(
            Window(0, 10 * i, 50, 50), PlacedMask(5, 10 * i + 5, np.ones((4, 4), bool)), 1, 0.5
        )
        for i in range(6)
    ]
    cancel, calls = _raise_after(10**6)
    merge_windows(dets, (50, 110), cancel=cancel)
    assert len(calls) == 6
    cancel, calls = _raise_after(3)
    with pytest.raises(_Stop):
        merge_windows(dets, (50, 110), cancel=cancel)


def _slow_network(seconds: float, started: threading.Event):
    """A network stage of ``seconds`` per batch with outputs of the right shapes."""

    def step(lm, channels, config):
        started.set()
        time.sleep(seconds)
        b = len(channels)
        h4, w4 = grid_shape(channels[0].shape[-2:])
        rng = np.random.default_rng(b)
        return {
            "logits": rng.normal(size=(b, 4)).astype(np.float32),
            "cams": rng.random((b, 4, h4, w4), dtype=np.float32),
            "boundary": rng.random((b, h4, w4), dtype=np.float32),
            "displacement": rng.normal(size=(b, 2, h4, w4)).astype(np.float32),
        }

    return step


def test_cancel_from_another_thread_stops_a_run_of_many_windows_within_the_bound(tiny_weights):
    rng = np.random.default_rng(2)
    image = rng.normal(0.0, 1e-4, (840, 840)).astype(np.float32)  # 7 x 7 windows of 210 px
    image[400:420, 400:440] += 5e-3
    started, requested = threading.Event(), []
    config = InferenceConfig(batch_size=2)

    def press_cancel() -> None:
        started.wait(60)
        requested.append(time.perf_counter())

    presser = threading.Thread(target=press_cancel)
    presser.start()
    with pytest.raises(InferenceCancelled):
        segment(
            image,
            model=tiny_weights,
            config=config,
            network_step=_slow_network(0.3, started),
            cancel=lambda: bool(requested),
        )
    stopped = time.perf_counter()
    presser.join()
    assert stopped - requested[0] < BOUND_SECONDS
