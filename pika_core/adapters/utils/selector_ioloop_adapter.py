"""``AbstractIOServices`` over a selector-style loop: pika's select IOLoop, tornado's IOLoop,
or anything with the :class:`AbstractSelectorIOLoop` methods.

Connect, TLS and the streaming transport come from ``io_services_utils``; this module maps
reader/writer callbacks onto the loop's ``add_handler``/``update_handler``/``remove_handler``,
wraps its timers, and resolves names on a helper thread.
"""

from __future__ import annotations

import abc
import logging
import socket
import threading
from typing import Any, Callable

from .io_services_utils import (
    SocketConnectionMixin,
    StreamingConnectionMixin,
    check_callback_arg,
    check_fd_arg,
)
from .nbio_interface import (
    AbstractFileDescriptorServices,
    AbstractIOReference,
    AbstractIOServices,
    AbstractTimerReference,
    GetaddrinfoResult,
)

__all__ = ["AbstractSelectorIOLoop", "SelectorIOServicesAdapter"]

LOGGER = logging.getLogger(__name__)


class AbstractSelectorIOLoop(abc.ABC):
    """The loop methods ``SelectorIOServicesAdapter`` uses (tornado's IOLoop names).

    A loop need not subclass this; having the methods is enough. Only ``add_callback`` is
    called from other threads; everything else from the loop's thread.
    """

    READ: int
    WRITE: int
    ERROR: int

    @abc.abstractmethod
    def close(self) -> None:
        """Release the loop's resources after ``start()`` returned. Loop thread."""

    @abc.abstractmethod
    def start(self) -> None:
        """Run until ``stop()``. The calling thread becomes the loop's thread."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask ``start()`` to return. Loop thread (use ``add_callback(stop)`` elsewhere)."""

    @abc.abstractmethod
    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Call ``callback()`` in ``delay`` seconds; return a handle for ``remove_timeout``."""

    @abc.abstractmethod
    def remove_timeout(self, timeout_handle: Any) -> None:
        """Cancel a ``call_later`` handle. Loop thread."""

    @abc.abstractmethod
    def add_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` on the loop's thread soon. Safe from ANY thread."""

    @abc.abstractmethod
    def add_handler(self, fd: int, handler: Callable[[int, int], Any], events: int) -> None:
        """Call ``handler(fd, events)`` when ``fd`` is ready. Loop thread."""

    @abc.abstractmethod
    def update_handler(self, fd: int, events: int) -> None:
        """Change the watched events of ``fd``. Loop thread."""

    @abc.abstractmethod
    def remove_handler(self, fd: int) -> None:
        """Stop watching ``fd``. Loop thread."""


class _FdCallbacks:
    """The reader and writer callbacks registered for one descriptor."""

    __slots__ = ("reader", "writer")

    def __init__(self) -> None:
        self.reader: Callable[[], Any] | None = None
        self.writer: Callable[[], Any] | None = None


class _TimerHandle(AbstractTimerReference):
    """A native loop timer handle with the ``cancel()`` interface."""

    __slots__ = ("_handle", "_loop")

    def __init__(self, handle: Any, loop: Any) -> None:
        self._handle = handle
        self._loop: Any = loop

    def cancel(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.remove_timeout(self._handle)
            self._handle = None


class SelectorIOServicesAdapter(
    SocketConnectionMixin,
    StreamingConnectionMixin,
    AbstractIOServices,
    AbstractFileDescriptorServices,
):
    """:class:`.AbstractIOServices` over a loop with the :class:`AbstractSelectorIOLoop` methods.

    Every method is for the loop's thread except ``add_callback_threadsafe``.
    """

    def __init__(self, native_loop: Any) -> None:
        self._loop = native_loop
        self._watchers: dict[int, _FdCallbacks] = {}
        self._read_mask: int = native_loop.READ
        # ERROR goes with WRITE: a failed connect shows only as an error on Windows.
        self._write_mask: int = native_loop.WRITE | native_loop.ERROR
        self._error_mask: int = native_loop.ERROR

    def get_native_ioloop(self) -> Any:
        return self._loop

    def close(self) -> None:
        self._loop.close()

    def run(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        check_callback_arg(callback, "callback")
        self._loop.add_callback(callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> AbstractTimerReference:
        check_callback_arg(callback, "callback")
        return _TimerHandle(self._loop.call_later(delay, callback), self._loop)

    def getaddrinfo(
        self,
        host: str,
        port: int,
        on_done: Callable[[GetaddrinfoResult], Any],
        family: int = 0,
        socktype: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> AbstractIOReference:
        check_callback_arg(on_done, "on_done")
        resolver = _AddressResolver(self._loop, on_done)
        resolver.start((host, port, family, socktype, proto, flags))
        return resolver

    # --- AbstractFileDescriptorServices -----------------------------------------------------

    def set_reader(self, fd: int, on_readable: Callable[[], Any]) -> None:
        check_fd_arg(fd)
        check_callback_arg(on_readable, "on_readable")
        callbacks = self._watchers.get(fd)
        if callbacks is None:
            callbacks = self._watchers[fd] = _FdCallbacks()
            callbacks.reader = on_readable
            self._loop.add_handler(fd, self._on_fd_events, self._read_mask)
        elif callbacks.reader is None:
            callbacks.reader = on_readable
            self._loop.update_handler(fd, self._read_mask | self._write_mask)
        else:
            callbacks.reader = on_readable

    def remove_reader(self, fd: int) -> bool:
        check_fd_arg(fd)
        callbacks = self._watchers.get(fd)
        if callbacks is None or callbacks.reader is None:
            return False
        callbacks.reader = None
        if callbacks.writer is None:
            del self._watchers[fd]
            self._loop.remove_handler(fd)
        else:
            self._loop.update_handler(fd, self._write_mask)
        return True

    def set_writer(self, fd: int, on_writable: Callable[[], Any]) -> None:
        check_fd_arg(fd)
        check_callback_arg(on_writable, "on_writable")
        callbacks = self._watchers.get(fd)
        if callbacks is None:
            callbacks = self._watchers[fd] = _FdCallbacks()
            callbacks.writer = on_writable
            self._loop.add_handler(fd, self._on_fd_events, self._write_mask)
        elif callbacks.writer is None:
            callbacks.writer = on_writable  # set before the mask, in case the loop calls now
            self._loop.update_handler(fd, self._read_mask | self._write_mask)
        else:
            callbacks.writer = on_writable

    def remove_writer(self, fd: int) -> bool:
        check_fd_arg(fd)
        callbacks = self._watchers.get(fd)
        if callbacks is None or callbacks.writer is None:
            return False
        callbacks.writer = None
        if callbacks.reader is None:
            del self._watchers[fd]
            self._loop.remove_handler(fd)
        else:
            self._loop.update_handler(fd, self._read_mask)
        return True

    def _on_fd_events(self, fd: int, events: int) -> None:
        """Dispatch one readiness event: the writer first, then the reader (if still set)."""
        callbacks = self._watchers.get(fd)
        if callbacks is None:
            return
        if events & self._write_mask:
            writer = callbacks.writer
            if writer is not None:
                writer()
        # An error also goes to the reader: its recv() reports it, instead of the loop
        # spinning on an error nobody reads.
        if events & (self._read_mask | self._error_mask):
            reader = callbacks.reader
            if reader is not None and self._watchers.get(fd) is callbacks:
                reader()


class _AddressResolver(AbstractIOReference):
    """``socket.getaddrinfo`` on a daemon thread; the result comes back via ``add_callback``."""

    def __init__(self, loop: Any, on_done: Callable[[GetaddrinfoResult], Any]) -> None:
        self._loop = loop
        self._on_done: Callable[[GetaddrinfoResult], Any] | None = on_done
        self._lock = threading.Lock()

    def start(self, args: tuple[str, int, int, int, int, int]) -> None:
        thread = threading.Thread(
            target=self._resolve, args=args, name="pika_core-getaddrinfo", daemon=True
        )
        thread.start()

    def _resolve(
        self, host: str, port: int, family: int, socktype: int, proto: int, flags: int
    ) -> None:
        result: Any
        try:
            result = socket.getaddrinfo(host, port, family, socktype, proto, flags)
        except Exception as exc:  # noqa: BLE001 - the failure is the result to report
            result = exc
        with self._lock:
            if self._on_done is None:
                return
            self._loop.add_callback(lambda: self._deliver(result))

    def _deliver(self, result: GetaddrinfoResult) -> None:
        with self._lock:
            on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(result)

    def cancel(self) -> bool:
        with self._lock:
            was_pending = self._on_done is not None
            self._on_done = None
        return was_pending
