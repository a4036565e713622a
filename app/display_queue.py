"""A bounded, thread-safe queue of frames waiting to be shown; when full, the OLDEST frame is dropped.

Why: the engine worker produces frames in bursts (a whole chunk of 24 at once) on its own thread, while the viewport
plays them at the video frame rate on the UI thread. If the UI falls behind (a modal dialog, a slow repaint), the
queue must not grow without bound and the picture must stay current, so new frames push out the oldest ones rather
than being refused. The worker puts, the UI takes; neither ever waits for the other.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisplayFrame:
    """One frame to show: ``image`` uint8 ``(H, W, 3)``, the chunk it belongs to and its pixel frame in the stream."""

    image: np.ndarray
    chunk: int
    frame: int


class DisplayQueue:
    """Bounded FIFO of :class:`DisplayFrame` (see the module docstring). ``capacity`` >= 1."""

    def __init__(self, capacity: int = 48) -> None:
        if capacity < 1:
            raise ValueError(f"display queue capacity: expected at least 1, found {capacity}")
        self._items: deque[DisplayFrame] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def dropped(self) -> int:
        """Frames pushed out unseen since the queue was made (or last :meth:`clear`)."""
        with self._lock:
            return self._dropped

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, item: DisplayFrame) -> int:
        """Append ``item``; returns how many old frames were dropped to make room (0 or 1)."""
        return self.put_many([item])

    def put_many(self, items: list[DisplayFrame]) -> int:
        """Append ``items`` in order (dropping the oldest as needed); returns how many were dropped."""
        dropped = 0
        with self._lock:
            for item in items:
                if len(self._items) >= self._capacity:
                    self._items.popleft()
                    dropped += 1
                self._items.append(item)
            self._dropped += dropped
        return dropped

    def get(self) -> DisplayFrame | None:
        """The oldest waiting frame, removed from the queue; None when empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        """Forget every waiting frame (after a rewind the queued frames belong to an abandoned future)."""
        with self._lock:
            self._items.clear()
            self._dropped = 0
