"""``prefetch`` keeps order, stays bounded and hands producer errors to the consumer."""

import threading

import pytest

from footprints.prefetch import prefetch


def test_items_come_in_order_from_another_thread():
    threads = []

    def produce():
        for i in range(50):
            threads.append(threading.current_thread())
            yield i

    assert list(prefetch(produce(), depth=3)) == list(range(50))
    assert threading.main_thread() not in threads


def test_the_producer_runs_at_most_depth_ahead():
    produced = []

    def produce():
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetch(produce(), depth=4)
    assert next(stream) == 0
    threading.Event().wait(0.2)
    assert len(produced) <= 1 + 4 + 1  # the one taken, the queue, the one waiting to be put


def test_a_producer_error_is_raised_at_its_item():
    def produce():
        yield 1
        raise ValueError("tile 2 is unreadable")

    stream = prefetch(produce(), depth=2)
    assert next(stream) == 1
    with pytest.raises(ValueError, match="tile 2"):
        next(stream)
