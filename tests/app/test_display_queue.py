"""The display queue is bounded and drops the oldest frames; producers on another thread never block."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.display_queue import DisplayFrame, DisplayQueue


def frame(i: int) -> DisplayFrame:
    return DisplayFrame(np.full((2, 2, 3), i % 256, np.uint8), chunk=i // 24, frame=i)


def test_a_full_queue_drops_the_oldest_frame_and_counts_it():
    queue = DisplayQueue(3)
    assert [queue.put(frame(i)) for i in range(5)] == [0, 0, 0, 1, 1]
    assert len(queue) == 3 and queue.dropped == 2
    assert [queue.get().frame for _ in range(3)] == [2, 3, 4]
    assert queue.get() is None


def test_put_many_keeps_the_newest_frames_in_order_and_clear_forgets_everything():
    queue = DisplayQueue(4)
    assert queue.put_many([frame(i) for i in range(10)]) == 6
    assert [queue.get().frame for _ in range(2)] == [6, 7]
    queue.clear()
    assert len(queue) == 0 and queue.dropped == 0 and queue.get() is None


def test_concurrent_producer_and_consumer_lose_nothing_but_dropped_frames():
    queue = DisplayQueue(16)
    taken: list[int] = []
    done = threading.Event()

    def produce() -> None:
        for i in range(5000):
            queue.put(frame(i))
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    while not (done.is_set() and len(queue) == 0):
        item = queue.get()
        if item is not None:
            taken.append(item.frame)
    thread.join()
    assert taken == sorted(taken) and taken[-1] == 4999  # in order, newest kept
    assert len(taken) + queue.dropped == 5000


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        DisplayQueue(0)
