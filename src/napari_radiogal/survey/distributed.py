"""The Dask path of a survey: batches of windows as tasks on a ``dask.distributed`` cluster.

``radiogal survey --workers N`` starts a :class:`~distributed.LocalCluster` of ``N``
single-threaded worker processes; ``--scheduler ADDRESS`` connects to a running scheduler
(e.g. a ``dask-jobqueue`` ``SLURMCluster``, see the README). Each task is one
:func:`~napari_radiogal.survey.work.run_batch`: the worker opens the mosaics and loads the
model once (both are cached per process) and returns the batch's detections; the driver
alone writes them to the manifest, so a crashed or killed run resumes the same way as a
single-process one, and the result is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from napari_radiogal.errors import ConfigError
from napari_radiogal.survey.work import BatchSpec, limit_threads, run_batch

__all__ = ["connect", "run_batches", "worker_environ"]


def worker_environ() -> dict[str, Any]:
    """The environment Dask sets in a new worker process before it starts, for our workers.

    Dask's default (``distributed.nanny.pre-spawn-environ``) also sets
    ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap threshold at its 128 kB
    minimum: every NumPy temporary above it is then mapped and unmapped again, and the
    pipeline's NumPy stages (the displacement-field centroids above all) ran 2.5-3x slower
    in a worker than in one process (0.57 s against 0.19 s for the same centroids; a whole
    batch of windows 1.8x), so two workers were slower than one process on two cores. It is
    dropped here; the thread limits are kept.

    Returns
    -------
    dict
        The variables, without ``MALLOC_TRIM_THRESHOLD_``.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


def connect(
    *, workers: int = 0, scheduler: str | None = None, threads: int = 1, timeout: float = 10.0
) -> tuple[Any, Any]:
    """A Dask client: on a new local cluster of ``workers`` processes, or on ``scheduler``.

    Parameters
    ----------
    workers : int
        Worker processes of a new :class:`~distributed.LocalCluster` (one thread each).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); wins over ``workers``.
    threads : int
        Torch threads of every worker (:func:`~napari_radiogal.survey.work.limit_threads`).
    timeout : float
        Seconds to wait for the scheduler.

    Returns
    -------
    (client, cluster)
        ``cluster`` is ``None`` for an existing scheduler; close both when done.

    Raises
    ------
    ConfigError
        ``dask.distributed`` is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "--workers / --scheduler need dask.distributed: pip install 'napari-radiogal[dask]'."
        ) from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({exc}); "
                "check the address (tcp://HOST:PORT) and that the scheduler is running."
            ) from exc
        client.run(limit_threads, threads)
        return client, None
    if workers < 1:
        raise ConfigError(f"workers={workers}: give at least 1 worker, or a scheduler address.")
    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
        cluster = LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    client = Client(cluster)
    client.run(limit_threads, threads)
    return client, cluster


def run_batches(
    client: Any, specs: Sequence[BatchSpec], on_result: Callable[[BatchSpec, Any], bool]
) -> None:
    """Run batches on a cluster, handing each result to ``on_result`` as it arrives.

    Parameters
    ----------
    client : distributed.Client
    specs : sequence of BatchSpec
    on_result : callable(spec, dataset) -> bool
        Called in the driver, in completion order; returning ``False`` stops the run
        (pending tasks are cancelled).
    """
    from distributed import as_completed

    futures = {client.submit(run_batch, spec, pure=False): spec for spec in specs}
    try:
        for future in as_completed(futures):
            if not on_result(futures[future], future.result()):
                break
    finally:
        client.cancel(list(futures))
