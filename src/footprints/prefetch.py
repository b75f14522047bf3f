"""Run an iterator a few items ahead in a background thread, so producer and consumer overlap.

Prediction uses it twice: tile reading runs ahead of the model, and the model runs ahead of polygonising and
JSON writing. torch, GDAL and GEOS release the GIL in their heavy calls, so a GPU (or the CPU threads of the
model) never waits on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from queue import Queue
from threading import Thread
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Yield ``items`` in order while a daemon thread produces up to ``depth`` of them ahead.

    An exception raised while producing is raised here, in the consumer, at the item where it happened.
    """
    queue: Queue = Queue(maxsize=max(1, depth))

    def produce() -> None:
        try:
            for item in items:
                queue.put(item)
        except BaseException as error:  # handed to the consumer, which raises it
            queue.put(_Failure(error))
            return
        queue.put(_DONE)

    Thread(target=produce, daemon=True, name="prefetch").start()
    while (item := queue.get()) is not _DONE:
        if isinstance(item, _Failure):
            raise item.error
        yield item
