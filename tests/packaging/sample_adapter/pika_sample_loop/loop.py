"""SchedLoop: a small single-threaded I/O loop on the standard library's ``sched`` and ``selectors``.

This is the "existing loop" of the sample: it knows nothing about pika-core, and pika-core ships
no adapter for it. Timers live in a ``sched.scheduler``, file readiness in a ``selectors``
selector, and other threads hand callbacks in through the scheduler (which has its own lock)
plus a wake-up socket pair that interrupts the selector's wait.

Every method belongs to the thread running :meth:`SchedLoop.run`, except
:meth:`SchedLoop.add_callback_threadsafe` and :meth:`SchedLoop.stop`. An exception raised by a
callback propagates out of ``run()``, as with pika's own IOLoop.
"""

from __future__ import annotations

import itertools
import sched
import selectors
import socket
import time
from typing import Any, Callable

__all__ = ["SchedLoop", "TimerHandle"]

Callback = Callable[[], Any]


def _never_sleep(seconds: float) -> None:
    """sched's delay function: the loop only runs due events, the selector does all waiting."""


class TimerHandle:
    """A scheduled call; ``cancel()`` stops it, and does nothing once it ran or was cancelled."""

    __slots__ = ("_event", "_scheduler")

    def __init__(self, scheduler: sched.scheduler, event: sched.Event) -> None:
        self._scheduler: sched.scheduler | None = scheduler
        self._event = event

    def cancel(self) -> None:
        """Take the call off the schedule if it is still there."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            try:
                scheduler.cancel(self._event)
            except ValueError:  # it already ran
                pass


class _FdHandlers:
    """The reader and writer callbacks of one file descriptor."""

    __slots__ = ("reader", "writer")

    def __init__(self) -> None:
        self.reader: Callback | None = None
        self.writer: Callback | None = None

    def events(self) -> int:
        return (selectors.EVENT_READ if self.reader is not None else 0) | (
            selectors.EVENT_WRITE if self.writer is not None else 0
        )


class SchedLoop:
    """Timers, readiness callbacks and thread-safe callbacks; ``run()`` until ``stop()``."""

    def __init__(self) -> None:
        # One turn runs the timers due when it began (the scheduler's clock is frozen during the
        # turn), so a callback that keeps rescheduling itself with delay 0 cannot starve I/O.
        self._turn_time = time.monotonic()
        self._scheduler = sched.scheduler(lambda: self._turn_time, _never_sleep)
        # sched breaks ties of equal times by priority: a counter keeps them first in, first out.
        self._sequence = itertools.count()
        self._selector = selectors.DefaultSelector()
        self._handlers: dict[int, _FdHandlers] = {}
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader.fileno(), selectors.EVENT_READ, None)
        self._running = False
        self._stopping = False
        self._closed = False

    # -- timers and callbacks ---------------------------------------------------------------

    def call_later(self, delay: float, callback: Callback) -> TimerHandle:
        """Call ``callback()`` once, ``delay`` seconds from now (loop thread)."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        when = time.monotonic() + max(0.0, delay)
        event = self._scheduler.enterabs(when, next(self._sequence), callback)
        return TimerHandle(self._scheduler, event)

    def add_callback_threadsafe(self, callback: Callback) -> None:
        """Call ``callback()`` on the loop's thread soon; safe from ANY thread."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if self._closed:
            raise RuntimeError("add_callback_threadsafe() called on a closed SchedLoop")
        self._scheduler.enterabs(time.monotonic(), next(self._sequence), callback)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:  # the buffer is full (the loop will wake anyway) or the loop closed
            pass

    # -- readiness ---------------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callback) -> None:
        """Call ``callback()`` whenever ``fd`` is readable; replaces a previous reader."""
        self._set(fd, callback, reading=True)

    def remove_reader(self, fd: int) -> bool:
        """Stop watching ``fd`` for reading; False if no reader was set."""
        return self._set(fd, None, reading=True)

    def add_writer(self, fd: int, callback: Callback) -> None:
        """Call ``callback()`` whenever ``fd`` is writable (or in error); replaces a writer."""
        self._set(fd, callback, reading=False)

    def remove_writer(self, fd: int) -> bool:
        """Stop watching ``fd`` for writing; False if no writer was set."""
        return self._set(fd, None, reading=False)

    def _set(self, fd: int, callback: Callback | None, reading: bool) -> bool:
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        handlers = self._handlers.get(fd)
        if handlers is None:
            if callback is None:
                return False
            handlers = self._handlers[fd] = _FdHandlers()
            before = 0
        else:
            before = handlers.events()
        had = (handlers.reader if reading else handlers.writer) is not None
        if reading:
            handlers.reader = callback
        else:
            handlers.writer = callback
        after = handlers.events()
        if after == 0:
            del self._handlers[fd]
            self._selector.unregister(fd)
        elif before == 0:
            self._selector.register(fd, after, handlers)
        elif after != before:
            self._selector.modify(fd, after, handlers)
        return had

    # -- running -----------------------------------------------------------------------------

    def run(self) -> None:
        """Run timers, readiness and thread-safe callbacks until ``stop()``."""
        if self._closed:
            raise RuntimeError("run() called on a closed SchedLoop; create a new one")
        if self._running:
            raise RuntimeError("this SchedLoop is already running")
        self._running = True
        try:
            while not self._stopping:
                self._turn()
        finally:
            self._running = False
            self._stopping = False

    def _turn(self) -> None:
        self._turn_time = time.monotonic()
        next_in = self._scheduler.run(blocking=False)
        if self._stopping:
            return
        timeout: float | None = None
        if next_in is not None:
            timeout = max(0.0, self._turn_time + next_in - time.monotonic())
        for key, mask in self._selector.select(timeout):
            handlers = key.data
            if handlers is None:
                self._drain_wakeups()
                continue
            # Re-read each callback: an earlier one in this batch may have removed it (removal
            # clears the field), and the writer may remove the reader.
            if mask & selectors.EVENT_WRITE and handlers.writer is not None:
                handlers.writer()
            if mask & selectors.EVENT_READ and handlers.reader is not None:
                handlers.reader()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except OSError:  # BlockingIOError: nothing more to read
            pass

    def stop(self) -> None:
        """Make ``run()`` return after the current callback; may be called from any thread."""
        self._stopping = True
        if not self._closed:
            self._wake()

    def close(self) -> None:
        """Release the selector and the wake-up sockets; call after ``run()`` returned."""
        if self._running:
            raise RuntimeError("close() called while the SchedLoop runs; stop() it first")
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()
        self._handlers.clear()
