"""Time spent per stage of inference: :class:`StageTimer`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

__all__ = ["StageTimer"]


class StageTimer:
    """Wall-clock and process CPU milliseconds per named stage, added up over its uses.

    :func:`~napari_radiogal.inference.segment_batch` times each batch with one of these
    (``Prediction.timings`` is its :meth:`per_image` share); pass your own as ``timer=`` to
    get the totals of a whole run. CPU time counts every thread of the process, so it
    grows little when other jobs load the machine, unlike wall-clock time.

    Parameters
    ----------
    parent : StageTimer, optional
        Every time recorded here is added to ``parent`` too.

    Attributes
    ----------
    wall_ms, cpu_ms : dict of str to float
        Milliseconds per stage.

    Examples
    --------
    >>> timer = StageTimer()
    >>> with timer("prepare"):
    ...     pass
    >>> list(timer.wall_ms), timer.wall_ms["prepare"] >= 0
    (['prepare'], True)
    """

    def __init__(self, parent: StageTimer | None = None) -> None:
        self.parent = parent
        self.wall_ms: dict[str, float] = {}
        self.cpu_ms: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3)

    def add(self, name: str, wall_ms: float, cpu_ms: float) -> None:
        """Add milliseconds to stage ``name`` (and to the parent's)."""
        self.wall_ms[name] = self.wall_ms.get(name, 0.0) + wall_ms
        self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + cpu_ms
        if self.parent is not None:
            self.parent.add(name, wall_ms, cpu_ms)

    def per_image(self, n_images: int) -> dict[str, float]:
        """Wall-clock milliseconds per stage shared equally by ``n_images`` (at least 1)."""
        n = max(n_images, 1)
        return {k: v / n for k, v in self.wall_ms.items()}
