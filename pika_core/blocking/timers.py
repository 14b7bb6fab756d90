"""One-shot timers for ``call_later``: a heap ordered by due time, cancellable by id."""

from __future__ import annotations

import heapq
import itertools
from typing import Callable, Tuple

__all__ = ["TimerQueue"]

_Entry = Tuple[float, int]


class TimerQueue:
    """Due times in a heap; the callbacks in a dict, so that cancelling is O(1)."""

    __slots__ = ("_callbacks", "_heap", "_ids")

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count(1)

    def add(self, when: float, callback: Callable[[], None]) -> int:
        """Schedule ``callback`` at monotonic time ``when``; return its id."""
        timer_id = next(self._ids)
        self._callbacks[timer_id] = callback
        heapq.heappush(self._heap, (when, timer_id))
        return timer_id

    def remove(self, timer_id: int) -> bool:
        """Forget a timer that has not fired; return whether it was pending."""
        return self._callbacks.pop(timer_id, None) is not None

    def next_due(self) -> float | None:
        """The earliest due time of a live timer, or None."""
        heap = self._heap
        callbacks = self._callbacks
        while heap and heap[0][1] not in callbacks:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[tuple[int, Callable[[], None]]]:
        """Remove and return (id, callback) of every live timer due at ``now``, earliest first."""
        heap = self._heap
        callbacks = self._callbacks
        due: list[tuple[int, Callable[[], None]]] = []
        while heap and heap[0][0] <= now:
            _when, timer_id = heapq.heappop(heap)
            callback = callbacks.pop(timer_id, None)
            if callback is not None:
                due.append((timer_id, callback))
        return due

    def clear(self) -> None:
        """Drop every timer (the connection has closed)."""
        self._heap.clear()
        self._callbacks.clear()
