"""Tail: watch the messages an engine sees, through a bounded queue or a callback.

A full queue never blocks the message path: the event is dropped and ``tail_dropped_total``
counts it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Iterator, NamedTuple

from typing_extensions import Self

from pika_streamdal.context import Audience

__all__ = ["LoggingTailSink", "TailEvent", "TailSubscription"]


class TailEvent(NamedTuple):
    """One message as the engine saw it: the original payload and the one passed on."""

    ts_ns: int
    audience: Audience
    pipeline_ids: tuple[str, ...]
    original: bytes | None
    new: bytes | None
    verdict: str
    status: str
    message: str
    headers: dict | None = None  # type: ignore[type-arg]
    exchange: str = ""
    routing_key: str = ""


_CLOSED = object()


class TailSubscription:
    """A subscription: iterate it, call ``get``, or give a callback; ``close()`` ends it.

    ``sample_rate`` caps the events to that many per ``sample_interval`` seconds (None: all).
    """

    def __init__(
        self,
        matcher: Callable[[Audience], bool],
        *,
        sample_rate: int | None = None,
        sample_interval: float = 1.0,
        include_original: bool = True,
        redact_original: bool = False,
        maxsize: int = 1000,
        callback: Callable[[TailEvent], None] | None = None,
        on_overflow: Callable[[], None] | None = None,
        on_close: Callable[[TailSubscription], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if sample_rate is not None and sample_rate < 0:
            raise ValueError("sample_rate must be None or >= 0 events per interval")
        self._matcher = matcher
        self.sample_rate = sample_rate
        self.sample_interval = sample_interval
        self.include_original = include_original
        self.redact_original = redact_original
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._callback = callback
        self._on_overflow = on_overflow
        self._on_close = on_close
        self._window_start = 0.0
        self._window_count = 0
        self._lock = threading.Lock()
        self.closed = False
        #: Events dropped because the queue was full.
        self.dropped = 0
        #: Events skipped by sampling.
        self.sampled_out = 0
        #: Events delivered (queued or given to the callback).
        self.delivered = 0

    def wants(self, audience: Audience) -> bool:
        """Whether this subscription's audience pattern matches."""
        return not self.closed and self._matcher(audience)

    def _admit(self) -> bool:
        if self.sample_rate is None:
            return True
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= self.sample_interval:
                self._window_start, self._window_count = now, 0
            if self._window_count >= self.sample_rate:
                self.sampled_out += 1
                return False
            self._window_count += 1
            return True

    def offer(self, event: TailEvent) -> None:
        """Hand one event over (the engine calls this); never blocks."""
        if self.closed or not self._admit():
            return
        if not self.include_original:
            event = event._replace(original=None)
        elif self.redact_original:
            event = event._replace(original=event.new)
        callback = self._callback
        if callback is not None:
            try:
                callback(event)
            except Exception:
                logging.getLogger("pika_streamdal").exception("tail callback failed")
            self.delivered += 1
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self._on_overflow is not None:
                self._on_overflow()
            return
        self.delivered += 1

    def get(self, timeout: float | None = None) -> TailEvent | None:
        """The next event, or None after ``timeout`` seconds or once closed."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep waking other readers
            return None
        event: TailEvent = item
        return event

    def __iter__(self) -> Iterator[TailEvent]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """End the subscription; iterators stop once the queued events are read."""
        if self.closed:
            return
        self.closed = True
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self)
        while True:
            try:
                self._queue.put_nowait(_CLOSED)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LoggingTailSink:
    """A tail callback that logs each event at INFO (bodies truncated to ``max_body`` bytes)."""

    def __init__(self, logger: logging.Logger | None = None, max_body: int = 512) -> None:
        self.logger = logger or logging.getLogger("pika_streamdal.tail")
        self.max_body = max_body

    def __call__(self, event: TailEvent) -> None:
        self.logger.info(
            "%s %s status=%s pipelines=%s original=%r new=%r",
            event.audience,
            event.verdict,
            event.status,
            ",".join(event.pipeline_ids),
            None if event.original is None else event.original[: self.max_body],
            None if event.new is None else event.new[: self.max_body],
        )
