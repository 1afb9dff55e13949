"""Scheduling a cube fit's chunks: in this process or on a Dask cluster (docs/method.md §8).

:func:`make_client` starts the local cluster (or adopts the caller's client, or finds
that the fit must run in this process); :func:`run_chunks` feeds the chunks to it, two
per worker at a time, and stores each result as soon as it arrives, so that an
interrupted run loses at most the chunks in flight.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence

from .interrupt import sigint_ignored
from .mainguard import unguarded_call
from .store import ResultStore
from .worker import ChunkSettings, ChunkTask, fit_chunk

__all__ = ["WORKER_CONFIG", "close_client", "make_client", "progress_bar", "run_chunks"]

WORKER_CONFIG: dict[str, object] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "2s",
}
"""Dask settings of the LocalCluster that :func:`~spectuner_nb.cube.fit_cube` starts.
Dask's default ``MALLOC_TRIM_THRESHOLD_`` for worker processes freezes glibc's mmap
threshold, so every model call's work arrays (> 128 kB) are mapped and unmapped afresh:
the compiled model ran 1.2–1.7× slower in a worker than in a plain process (measured,
same kernels). The statistical profiler and frequent event-loop ticks also take the GIL
from the tasks. Use these settings for your own cluster with
``dask.config.set(WORKER_CONFIG)`` before starting it."""


def make_client(client, n_workers: int | None, *, caller: str = "fit_cube"):
    """``(client, owned)``: the given client, or a new LocalCluster client with
    ``n_workers`` single-threaded processes (default all cores); ``(None, False)`` (run in
    this process) when ``caller`` was called from the top level of a script without a
    ``__main__`` guard (:mod:`.mainguard`), with a warning."""
    if client is not None:
        return client, False
    where = unguarded_call()
    if where is not None:
        warnings.warn(
            f"{caller} was called at the top level of {where} without an "
            '`if __name__ == "__main__":` guard; Dask worker processes would re-run the '
            "script, so the pixels are fitted in this process instead. Put the call under "
            "such a guard to fit on all cores.",
            stacklevel=3,
        )
        return None, False
    import dask
    from dask.distributed import Client, LocalCluster

    n = n_workers or os.cpu_count() or 1
    with dask.config.set(WORKER_CONFIG), sigint_ignored():  # see .interrupt
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    return Client(cluster), True


def close_client(client) -> None:
    """Close a client made by :func:`make_client` and its cluster."""
    cluster = client.cluster
    client.close()
    cluster.close()


def progress_bar(total: int, initial: int, enabled: bool):
    """A tqdm bar over pixels (pixels/s and ETA)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="px",
        desc="fit_cube",
        disable=not enabled,
        smoothing=0.1,
        dynamic_ncols=True,
    )


def run_chunks(
    store: ResultStore,
    chunk_ids: Sequence[int],
    make_task: Callable[[int], ChunkTask],
    settings: ChunkSettings,
    lines: list,
    proposer,
    client,
    bar,
) -> None:
    """Fit the chunks ``chunk_ids`` that ``store`` has not finished and store each result.

    ``client`` None fits them here one after the other; otherwise the line lists and the
    proposer are sent to every worker once and at most two chunks per worker are queued.
    """
    pending = set(store.pending())
    todo = [i for i in chunk_ids if i in pending]
    if not todo:
        return
    if client is None:
        for i in todo:
            store.write(i, fit_chunk(make_task(i), settings, lines, proposer))
            bar.update(store.chunk_pixels(i).size)
        return
    from dask.distributed import as_completed

    # fresh keys (hash=False): a second call with the same data (the lending pass) must not
    # reuse the keys of the first call's futures, which the scheduler may still be releasing
    lines_f = client.scatter(lines, broadcast=True, hash=False)
    proposer_f = None if proposer is None else client.scatter(proposer, broadcast=True, hash=False)
    n_slots = 2 * max(1, len(client.scheduler_info().get("workers", {})) or 1)
    queue = list(todo)
    running = as_completed()
    keys = {}

    def submit():
        i = queue.pop(0)
        fut = client.submit(fit_chunk, make_task(i), settings, lines_f, proposer_f, pure=False)
        keys[fut.key] = i
        running.add(fut)

    for _ in range(min(n_slots, len(queue))):
        submit()
    for fut in running:
        i = keys.pop(fut.key)
        store.write(i, fut.result())
        bar.update(store.chunk_pixels(i).size)
        fut.release()
        if queue:
            submit()
