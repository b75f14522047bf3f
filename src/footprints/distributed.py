"""Coarse tasks (a raster block, a batch of tiles, an image) on the run's Dask cluster, or in-process.

``DaskHook`` (footprints.hooks) hands the settings of ``conf/<env>/dask.yml`` to this module before a run
(the ``distributed.Client`` starts with the first task) and closes the client after. Library code calls
:func:`map_tasks`, which sends the work to that client when there is one and otherwise runs the same function
in this process: nodes never know which happened. Tasks carry paths and small specs, never pixels, so a task
costs the same whether its worker is a thread here or a process on another machine.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from footprints.errors import InputError

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"enabled": True, "address": None, "processes": False, "n_workers": None,
                            "threads_per_worker": None, "memory_limit": "auto", "resources": None,
                            "dashboard_address": None, "local_directory": None}


def dask_settings(config: dict[str, Any] | None) -> dict[str, Any]:
    """``dask.yml`` merged over the defaults; an unknown key is refused (a typo would silently do nothing)."""
    config = dict((config or {}).get("dask", config or {}))
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise InputError(f"conf dask.yml: unknown key(s) {unknown}; allowed: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **config}


def start_client(config: dict[str, Any] | None):
    """A ``distributed.Client`` for the run (set as Dask's default client), or None when Dask is disabled.

    ``address`` connects to a running scheduler (dask-jobqueue, Dask on Kubernetes, ``dask scheduler``);
    otherwise a ``LocalCluster`` sized to this machine is started: by default one process whose threads share
    the imports (the heavy work -- GDAL deflate and reads, GEOS -- releases the GIL), or ``processes: true``
    for one single-threaded worker process per core.
    """
    settings = dask_settings(config)
    if not settings["enabled"]:
        return None
    from distributed import Client, LocalCluster

    if settings["address"]:
        log.info("Dask: connecting to the scheduler at %s", settings["address"])
        return Client(settings["address"])
    cores = os.cpu_count() or 1
    processes = bool(settings["processes"])
    n_workers = settings["n_workers"] or (cores if processes else 1)
    threads = settings["threads_per_worker"] or (1 if processes else cores)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=processes,
                           memory_limit=settings["memory_limit"], resources=settings["resources"],
                           dashboard_address=settings["dashboard_address"],
                           local_directory=settings["local_directory"])
    log.info("Dask: local cluster of %d %s x %d thread(s)", n_workers, "processes" if processes else "worker",
             threads)
    return Client(cluster)


def close_client(client) -> None:
    """Close the client and the local cluster it started (a remote cluster is left running)."""
    if client is None:
        return
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


_pending: dict[str, Any] | None = None  # the run's cluster settings until its first task starts it
_started = None  # the client started from them


def start_on_first_task(config: dict[str, Any] | None) -> None:
    """Remember the run's cluster settings; the client starts when a task first needs it (``active_client``).

    A run whose nodes submit no task (training, a run with nothing left to do) starts no cluster: no
    seconds, no memory spent on one.
    """
    global _pending
    close_started()
    settings = dask_settings(config)
    _pending = settings if settings["enabled"] else None


def close_started() -> None:
    """Close the client ``active_client`` started, if any, and forget the pending settings."""
    global _pending, _started
    client, _pending, _started = _started, None, None
    close_client(client)


def active_client():
    """The run's client, or None: tasks then run in this process."""
    global _pending, _started
    if _pending is not None:
        settings, _pending = _pending, None
        _started = start_client(settings)
    if "distributed" not in sys.modules:  # no client can exist; importing Dask would cost ~0.5 s for nothing
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def map_tasks(func: Callable[..., Any], items: Iterable[Any], *, resources: dict[str, float] | None = None,
              desc: str | None = None) -> list[Any]:
    """``[func(item) for item in items]``, on the Dask cluster when the run has one (see ``run_tasks``)."""
    return run_tasks([partial(func, item) for item in items], resources=resources, desc=desc)


def run_tasks(calls: Iterable[Callable[[], Any]], *, resources: dict[str, float] | None = None,
              desc: str | None = None) -> list[Any]:
    """``[call() for call in calls]``, all submitted at once to the run's Dask cluster when there is one.

    Results come back in the order of ``calls``. A task whose worker dies is run again elsewhere by the
    scheduler (``distributed.scheduler.allowed-failures``), so every writer called here must be idempotent
    (the project's datasets write atomically to names fixed by their inputs). An exception raised by a task
    is raised here unchanged, so an ``InputError`` still reads as one line. ``resources`` (e.g. ``{"GPU":
    1}``) restricts the tasks to workers that declare them; ``desc`` names a progress bar (tasks done).
    """
    from tqdm.auto import tqdm

    calls = list(calls)
    client = active_client() if calls else None
    bar = tqdm(total=len(calls), desc=desc, unit="task", disable=desc is None or not calls, leave=False)
    with bar:
        if client is None:
            results = []
            for call in calls:
                results.append(call())
                bar.update(1)
            return results
        from distributed import as_completed

        futures = client.map(_call, calls, pure=False, resources=resources)
        try:
            for future in as_completed(futures):
                if future.status == "error":
                    future.result()  # raises the task's exception now, not after the other tasks
                bar.update(1)
            return client.gather(futures)
        finally:
            client.cancel(futures)


def imap_tasks(func: Callable[[Any, Any], Any], items: Iterable[Any], *, shared: Any = None,
               resources: dict[str, float] | None = None, desc: str | None = None) -> Iterator[Any]:
    """Yield ``func(item, shared)`` for each item, in order, as the results can be had.

    On the run's Dask cluster every item is submitted at once and ``shared`` (e.g. model weights) is sent
    to each worker once, not with every task; each result is released as soon as it is yielded, so the
    caller can save results while later tasks still run. Without a cluster the calls run here, one at a time
    as results are asked for. Retries, exceptions and ``resources`` as in ``run_tasks``.
    """
    from tqdm.auto import tqdm

    items = list(items)
    client = active_client() if items else None
    with tqdm(total=len(items), desc=desc, unit="task", disable=desc is None or not items, leave=False) as bar:
        if client is None:
            for item in items:
                yield func(item, shared)
                bar.update(1)
            return
        shared_on_workers = client.scatter(shared, broadcast=True, hash=False)
        futures = client.map(_call_shared, items, task=func, shared=shared_on_workers, pure=False,
                             resources=resources)
        try:
            for future in futures:
                yield future.result()
                future.release()
                bar.update(1)
        finally:
            client.cancel(futures)


def _call_shared(item: Any, task: Callable[[Any, Any], Any], shared: Any) -> Any:
    return _call(partial(task, item, shared))


def _call(call: Callable[[], Any]) -> Any:
    """Run one task on a worker. An ``InputError`` is raised again without its exception chain: the chain
    may hold GDAL errors that cannot be unpickled, which would reach the caller as a bare ``Exception``."""
    try:
        return call()
    except InputError as err:
        message = str(err)
    raise InputError(message)


def chunks(items: list[Any], max_size: int) -> list[list[Any]]:
    """Consecutive slices of ``items``, the unit of work of one task: at most ``max_size`` items, and small
    enough that every worker thread gets a few tasks (load balance, cheap retries) when items are few."""
    if not isinstance(max_size, int) or max_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {max_size!r}; fix it in the catalog")
    client = active_client()
    threads = sum(client.nthreads().values()) if client is not None else 1
    size = max(1, min(max_size, -(-len(items) // (4 * threads))))
    return [items[i:i + size] for i in range(0, len(items), size)]
