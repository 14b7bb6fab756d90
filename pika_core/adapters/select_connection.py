"""pika's own I/O loop (``IOLoop``) over epoll, kqueue, poll or select, and SelectConnection.

The loop is single-threaded: every method belongs to the thread that runs it, except
``add_callback_threadsafe`` (alias ``add_callback``) and ``stop``, which any thread may call.
Set the module attribute ``SELECT_TYPE`` to ``'epoll'``, ``'kqueue'``, ``'poll'`` or
``'select'`` before creating an ``IOLoop`` to force a poller; ``None`` picks the best available.
"""

from __future__ import annotations

import collections
import heapq
import logging
import select
import socket
import threading
import time
from typing import Any, Callable, List, Tuple

__all__ = ["SELECT_TYPE", "IOLoop", "PollEvents"]

LOGGER = logging.getLogger(__name__)

#: Poller to use: None (automatic: epoll, kqueue, poll, select), or one of those names.
SELECT_TYPE: str | None = None

_POLLER_NAMES = ("epoll", "kqueue", "poll", "select")

Handler = Callable[[int, int], Any]
PollResult = List[Tuple[int, int]]


class PollEvents:
    """Event bits for ``add_handler``/``update_handler``; combine with ``|``."""

    READ = 0x0001  # same values as POLLIN, POLLOUT, POLLERR (and the epoll flags)
    WRITE = 0x0004
    ERROR = 0x0008


_READ = PollEvents.READ
_WRITE = PollEvents.WRITE
_ERROR = PollEvents.ERROR
_EVENT_MASK = _READ | _WRITE | _ERROR
_HANGUP = 0x0010  # POLLHUP / EPOLLHUP: reported as READ | ERROR so a reader sees the end


class _Timeout:
    """The handle ``call_later`` returns; pass it to ``remove_timeout``."""

    __slots__ = ("callback", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], Any] | None) -> None:
        self.deadline = deadline
        self.callback = callback

    def __repr__(self) -> str:
        state = "cancelled or done" if self.callback is None else repr(self.callback)
        return f"<_Timeout deadline={self.deadline:.6f} {state}>"


class _TimerHeap:
    """Timers in a heap; cancelled ones stay until popped, or until they are the majority."""

    _COMPACT_MIN = 512

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Timeout]] = []
        self._seq = 0  # ties run in scheduling order
        self._cancelled = 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def call_later(self, delay: float, callback: Callable[[], Any]) -> _Timeout:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if delay < 0:
            raise ValueError(f"call_later: delay must be non-negative, got {delay!r}")
        timeout = _Timeout(time.monotonic() + delay, callback)
        self._seq += 1
        heapq.heappush(self._heap, (timeout.deadline, self._seq, timeout))
        return timeout

    def remove_timeout(self, timeout: _Timeout) -> None:
        if timeout.callback is None:
            return
        timeout.callback = None
        self._cancelled += 1
        heap = self._heap
        if self._cancelled > self._COMPACT_MIN and self._cancelled * 2 > len(heap):
            self._heap = [entry for entry in heap if entry[2].callback is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def wait_seconds(self) -> float | None:
        """Seconds until the next live timer (0 if due), or None if there is none."""
        heap = self._heap
        while heap and heap[0][2].callback is None:
            heapq.heappop(heap)
            self._cancelled -= 1
        if not heap:
            return None
        return max(0.0, heap[0][0] - time.monotonic())

    def run_due(self) -> None:
        """Run every timer due now; timers they schedule for now run on the next pass."""
        heap = self._heap
        if not heap:
            return
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            timeout = heapq.heappop(heap)[2]
            callback = timeout.callback
            if callback is None:
                self._cancelled -= 1
                continue
            timeout.callback = None
            callback()
            heap = self._heap  # a callback may have compacted the heap

    def clear(self) -> None:
        for entry in self._heap:
            entry[2].callback = None
        self._heap = []
        self._cancelled = 0


class _Poller:
    """One kernel readiness mechanism; ``poll`` returns ``(fd, READ|WRITE|ERROR bits)``."""

    name = ""

    def register(self, fd: int, events: int) -> None:
        raise NotImplementedError

    def modify(self, fd: int, events: int) -> None:
        raise NotImplementedError

    def unregister(self, fd: int) -> None:
        raise NotImplementedError

    def poll(self, timeout: float | None) -> PollResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release the kernel object, if any."""


def _with_hangup(events: list[tuple[int, int]]) -> PollResult:
    """Turn hang-up bits into READ | ERROR, so whoever reads the fd learns of it."""
    return [(fd, (ev & _EVENT_MASK) | (_READ | _ERROR if ev & _HANGUP else 0)) for fd, ev in events]


class _EPollPoller(_Poller):
    name = "epoll"

    def __init__(self) -> None:
        self._epoll = select.epoll()

    def register(self, fd: int, events: int) -> None:
        self._epoll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, events)

    def unregister(self, fd: int) -> None:
        self._epoll.unregister(fd)

    def poll(self, timeout: float | None) -> PollResult:
        return _with_hangup(self._epoll.poll(-1 if timeout is None else timeout))

    def close(self) -> None:
        self._epoll.close()


class _PollPoller(_Poller):
    name = "poll"

    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, fd: int, events: int) -> None:
        self._poll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        self._poll.modify(fd, events)

    def unregister(self, fd: int) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout: float | None) -> PollResult:
        # poll() takes milliseconds; round up so a due timer is never polled with 0 early.
        millis = None if timeout is None else int(timeout * 1000.0 + 0.999)
        return _with_hangup(self._poll.poll(millis))


class _SelectPoller(_Poller):
    name = "select"

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._errors: set[int] = set()

    def register(self, fd: int, events: int) -> None:
        self.modify(fd, events)

    def modify(self, fd: int, events: int) -> None:
        for bit, fds in ((_READ, self._readers), (_WRITE, self._writers), (_ERROR, self._errors)):
            if events & bit:
                fds.add(fd)
            else:
                fds.discard(fd)

    def unregister(self, fd: int) -> None:
        self.modify(fd, 0)

    def poll(self, timeout: float | None) -> PollResult:
        if not (self._readers or self._writers or self._errors):
            # select() with no descriptors is an error on Windows; just wait.
            if timeout is None:
                raise RuntimeError("IOLoop has nothing to wait for: no handlers and no timers")
            time.sleep(timeout)
            return []
        readable, writable, errored = select.select(
            self._readers, self._writers, self._errors, timeout
        )
        merged: dict[int, int] = {}
        for fd in readable:
            merged[fd] = _READ
        for fd in writable:
            merged[fd] = merged.get(fd, 0) | _WRITE
        for fd in errored:
            merged[fd] = merged.get(fd, 0) | _ERROR
        return list(merged.items())


class _KQueuePoller(_Poller):
    name = "kqueue"

    def __init__(self) -> None:
        self._kqueue = select.kqueue()  # type: ignore[attr-defined,unused-ignore]
        self._events: dict[int, int] = {}

    def register(self, fd: int, events: int) -> None:
        self._events[fd] = 0
        self.modify(fd, events)

    def modify(self, fd: int, events: int) -> None:
        old = self._events.get(fd, 0)
        changes = []
        for bit, kfilter in (
            (_READ, select.KQ_FILTER_READ),  # type: ignore[attr-defined,unused-ignore]
            (_WRITE, select.KQ_FILTER_WRITE),  # type: ignore[attr-defined,unused-ignore]
        ):
            if events & bit and not old & bit:
                flags = select.KQ_EV_ADD  # type: ignore[attr-defined,unused-ignore]
            elif old & bit and not events & bit:
                flags = select.KQ_EV_DELETE  # type: ignore[attr-defined,unused-ignore]
            else:
                continue
            changes.append(select.kevent(fd, filter=kfilter, flags=flags))  # type: ignore[attr-defined,unused-ignore]
        self._events[fd] = events
        if changes:
            self._kqueue.control(changes, 0, 0)

    def unregister(self, fd: int) -> None:
        self.modify(fd, 0)
        del self._events[fd]

    def poll(self, timeout: float | None) -> PollResult:
        kevents = self._kqueue.control(None, max(1, 2 * len(self._events)), timeout)
        merged: dict[int, int] = {}
        for kev in kevents:
            bits = _READ if kev.filter == select.KQ_FILTER_READ else _WRITE  # type: ignore[attr-defined,unused-ignore]
            if kev.flags & select.KQ_EV_ERROR:  # type: ignore[attr-defined,unused-ignore]
                bits |= _ERROR
            if kev.flags & select.KQ_EV_EOF:  # type: ignore[attr-defined,unused-ignore]
                bits |= _READ
            merged[kev.ident] = merged.get(kev.ident, 0) | bits
        return list(merged.items())

    def close(self) -> None:
        self._kqueue.close()


_POLLER_CLASSES: dict[str, Callable[[], _Poller]] = {
    "epoll": _EPollPoller,
    "kqueue": _KQueuePoller,
    "poll": _PollPoller,
    "select": _SelectPoller,
}


def _available(name: str) -> bool:
    return hasattr(select, name)


def _choose_poller(select_type: str | None) -> Callable[[], _Poller]:
    if select_type is not None:
        if select_type not in _POLLER_CLASSES:
            raise ValueError(
                f"SELECT_TYPE must be None or one of {', '.join(_POLLER_NAMES)}; "
                f"got {select_type!r}"
            )
        if _available(select_type):
            return _POLLER_CLASSES[select_type]
        LOGGER.warning("SELECT_TYPE=%r is not available here; choosing automatically", select_type)
    for name in _POLLER_NAMES:
        if _available(name):
            return _POLLER_CLASSES[name]
    raise RuntimeError("no usable poller: the select module offers none of epoll/kqueue/poll")


def _as_fd(fd: Any) -> int:
    return fd if isinstance(fd, int) else int(fd.fileno())


class IOLoop:
    """A single-threaded I/O loop: timers, fd handlers and thread-safe callbacks.

    Only ``add_callback_threadsafe``/``add_callback`` and ``stop`` may be called from other
    threads; everything else belongs to the thread running ``start()`` (or ``poll()``).
    """

    READ = PollEvents.READ
    WRITE = PollEvents.WRITE
    ERROR = PollEvents.ERROR

    def __init__(self) -> None:
        self._poller_factory = _choose_poller(SELECT_TYPE)
        self._poller: _Poller | None = None
        self._handlers: dict[int, Handler] = {}
        self._events: dict[int, int] = {}
        self._timers = _TimerHeap()
        self._callbacks: collections.deque[Callable[[], Any]] = collections.deque()
        self._thread_id: int | None = None
        self._running = False
        self._stopping = False
        self._closed = False
        self._wake_pending = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_fd = self._wake_r.fileno()
        self._handlers[self._wake_fd] = self._on_wakeup
        self._events[self._wake_fd] = _READ

    @property
    def poller_name(self) -> str:
        """The poller in use: 'epoll', 'kqueue', 'poll' or 'select'."""
        return str(getattr(self._poller_factory, "name", ""))

    # --- timers ------------------------------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], Any]) -> _Timeout:
        """Call ``callback()`` after ``delay`` seconds; return a handle for ``remove_timeout``.

        Timers due at the same time run in the order they were added. Loop thread only.
        """
        return self._timers.call_later(delay, callback)

    def remove_timeout(self, timeout_handle: _Timeout) -> None:
        """Cancel a timer from ``call_later``; harmless if it already ran. Loop thread only."""
        self._timers.remove_timeout(timeout_handle)

    def process_timeouts(self) -> None:
        """Run the queued thread-safe callbacks, then the timers that are due. Loop thread."""
        callbacks = self._callbacks
        if callbacks:
            for _ in range(len(callbacks)):
                callbacks.popleft()()
        self._timers.run_due()

    # --- thread-safe callbacks ---------------------------------------------------------------

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` on the loop's thread soon. Safe from ANY thread."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if self._closed:
            LOGGER.warning("add_callback_threadsafe(%r) on a closed IOLoop: dropped", callback)
            return
        self._callbacks.append(callback)
        if threading.get_ident() != self._thread_id:
            self._wake()

    add_callback = add_callback_threadsafe

    def _wake(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the pipe is full, so the loop is awake already
        except OSError:
            if not self._closed:
                raise

    def _on_wakeup(self, _fd: int, _events: int) -> None:
        # Drain first, then clear the flag: a waker that still sees the flag set appended its
        # callback before this point, so process_timeouts() (after this poll) will run it.
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self._wake_pending = False

    # --- fd handlers -------------------------------------------------------------------------

    def add_handler(self, fd: Any, handler: Handler, events: int) -> None:
        """Call ``handler(fd, events)`` when ``fd`` is ready for ``events``. Loop thread only."""
        fd = _as_fd(fd)
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if fd in self._handlers:
            raise ValueError(f"fd {fd} already has a handler; use update_handler()")
        self._handlers[fd] = handler
        self._events[fd] = events
        if self._poller is not None:
            self._poller.register(fd, events)

    def update_handler(self, fd: Any, events: int) -> None:
        """Change the events watched on ``fd``. Loop thread only."""
        fd = _as_fd(fd)
        if fd not in self._handlers:
            raise ValueError(f"fd {fd} has no handler; use add_handler() first")
        self._events[fd] = events
        if self._poller is not None:
            self._poller.modify(fd, events)

    def remove_handler(self, fd: Any) -> None:
        """Stop watching ``fd``; unknown descriptors are ignored. Loop thread only."""
        fd = _as_fd(fd)
        if self._handlers.pop(fd, None) is None:
            return
        del self._events[fd]
        if self._poller is not None:
            try:
                self._poller.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass  # the descriptor was closed first; the kernel dropped it already

    # --- running -----------------------------------------------------------------------------

    def activate_poller(self) -> None:
        """Create the kernel poller and register every handler (``start()`` does this)."""
        if self._closed:
            raise RuntimeError("IOLoop is closed; create a new one")
        if self._poller is not None:
            return
        poller = self._poller_factory()
        for fd, events in self._events.items():
            poller.register(fd, events)
        self._poller = poller

    def deactivate_poller(self) -> None:
        """Release the kernel poller; handlers stay registered for the next activation."""
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.close()

    def poll(self) -> None:
        """Wait for I/O (until the next timer at most) once and dispatch the handlers."""
        poller = self._poller
        if poller is None:
            self.activate_poller()
            poller = self._poller
            assert poller is not None
        self._thread_id = threading.get_ident()
        if self._callbacks or self._stopping:
            timeout: float | None = 0.0
        else:
            timeout = self._timers.wait_seconds()
        events = poller.poll(timeout)
        handlers = self._handlers
        for fd, bits in events:
            handler = handlers.get(fd)
            if handler is not None:
                handler(fd, bits)

    def start(self) -> None:
        """Run until ``stop()``; exceptions from callbacks propagate out of here."""
        if self._running:
            raise RuntimeError("IOLoop is not reentrant and is already running")
        self._running = True
        self.activate_poller()
        try:
            while not self._stopping:
                self.poll()
                self.process_timeouts()
        finally:
            self._stopping = False
            self._running = False
            self.deactivate_poller()

    def stop(self) -> None:
        """Make ``start()`` return after the current iteration. Safe from any thread.

        Called before ``start()``, it makes the next ``start()`` return at once (as pika).
        """
        self._stopping = True
        if threading.get_ident() != self._thread_id:
            self._wake()

    def close(self) -> None:
        """Release the loop's resources; call after ``start()`` returned, and nothing after."""
        if self._closed:
            return
        self._closed = True
        self.deactivate_poller()
        self._timers.clear()
        self._callbacks.clear()
        self._handlers.clear()
        self._events.clear()
        self._wake_r.close()
        self._wake_w.close()


# ------------------------------------------------------------------------------------------
# SelectConnection goes below this line (added by the connection-facade work).
# ------------------------------------------------------------------------------------------

from pika_core.adapters.base_connection import BaseConnection
from pika_core.adapters.utils import connection_workflow
from pika_core.adapters.utils.nbio_interface import AbstractIOServices
from pika_core.adapters.utils.selector_ioloop_adapter import (
    SelectorIOServicesAdapter,
)
from pika_core.parameters import Parameters

__all__ += ["SelectConnection"]


class SelectConnection(BaseConnection):
    """pika's SelectConnection: the callback API on this module's IOLoop.

    ``custom_ioloop`` is an IOLoop (a new one by default) or an AbstractIOServices.
    """

    def __init__(
        self,
        parameters: Parameters | None = None,
        on_open_callback: Callable[[Any], Any] | None = None,
        on_open_error_callback: Callable[[Any, BaseException], Any] | None = None,
        on_close_callback: Callable[[Any, BaseException], Any] | None = None,
        custom_ioloop: Any = None,
        internal_connection_workflow: bool = True,
    ) -> None:
        if isinstance(custom_ioloop, AbstractIOServices):
            nbio: AbstractIOServices = custom_ioloop
        else:
            nbio = SelectorIOServicesAdapter(custom_ioloop or IOLoop())
        super().__init__(
            parameters,
            on_open_callback,
            on_open_error_callback,
            on_close_callback,
            nbio,
            internal_connection_workflow,
        )

    @classmethod
    def create_connection(
        cls,
        connection_configs: Any,
        on_done: Callable[[Any], Any],
        custom_ioloop: Any = None,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None = None,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Connect through the first config that works; ``on_done(connection | exception)``."""
        nbio = SelectorIOServicesAdapter(custom_ioloop or IOLoop())

        def connection_factory(params: Parameters) -> SelectConnection:
            if params is None:
                raise ValueError(
                    "Expected pika.connection.Parameters instance, but got None in params arg."
                )
            return cls(parameters=params, custom_ioloop=nbio, internal_connection_workflow=False)

        return cls._start_connection_workflow(
            connection_configs=connection_configs,
            connection_factory=connection_factory,
            nbio=nbio,
            workflow=workflow,
            on_done=on_done,
        )
