"""GeventConnection: pika's callback API on gevent's hub, with or without monkey-patching.

The stream is pika-core's ``StreamTransport`` driven by gevent io watchers (one per direction,
straight on the hub's loop); the per-loop-turn flush is a ``loop.run_callback``. Callbacks do
not run in the hub greenlet, where gevent forbids blocking: the hub hands each one to a
greenlet of the loop (``GeventIOLoop``), which runs them in order. So a callback may block the
gevent way (a patched socket, ``gevent.sleep``, starting a patched thread): the hub goes on
serving other greenlets, and this loop's later callbacks wait their turn, as they would behind
a blocking call on the select adapter. Names resolve through the hub's resolver (gevent's
threadpool resolver by default, or whichever ``GEVENT_RESOLVER`` selects).
"""

from __future__ import annotations

import collections
import functools
import logging
import socket
import sys
from typing import Any, Callable, Sequence

import gevent  # type: ignore[import-untyped, unused-ignore]
import gevent.event  # type: ignore[import-untyped, unused-ignore]
import gevent.hub  # type: ignore[import-untyped, unused-ignore]
import greenlet  # type: ignore[import-untyped, unused-ignore]

from pika_core.adapters.base_connection import BaseConnection
from pika_core.adapters.utils import connection_workflow
from pika_core.adapters.utils.io_services_utils import (
    SocketConnectionMixin,
    StreamingConnectionMixin,
    check_callback_arg,
    check_fd_arg,
)
from pika_core.adapters.utils.nbio_interface import (
    AbstractFileDescriptorServices,
    AbstractIOReference,
    AbstractIOServices,
    AbstractTimerReference,
    GetaddrinfoResult,
)
from pika_core.parameters import Parameters

__all__ = ["GeventConnection", "GeventIOLoop", "GeventIOServices"]

LOGGER = logging.getLogger(__name__)

# gevent's io watcher event bits (libev and libuv alike); gevent has no separate error bit.
_READ = 1
_WRITE = 2


class GeventIOLoop:
    """The ``ioloop`` of a GeventConnection: a gevent hub with pika's IOLoop methods.

    ``start()`` blocks the calling greenlet (never the hub) until ``stop()``, letting the hub
    run everything else meanwhile. Callbacks (timers, handlers, the connection's) run one after
    another in a greenlet of this loop, never in the hub, so they may block gevent-style. Only
    ``add_callback`` / ``add_callback_threadsafe`` may be called from other threads; everything
    else belongs to the hub's thread.
    """

    READ = _READ
    WRITE = _WRITE
    ERROR = 0

    def __init__(self, hub: Any = None) -> None:
        if hub is None:
            hub = gevent.get_hub()
        if not isinstance(hub, gevent.hub.Hub):
            raise TypeError(f"GeventIOLoop needs a gevent Hub (gevent.get_hub()), got {hub!r}")
        self.hub: Any = hub
        self.loop: Any = hub.loop
        self._stopped = gevent.event.Event()
        self._handlers: dict[int, tuple[Any, Callable[[int, int], Any]]] = {}
        self._pending: collections.deque[Callable[[], Any]] = collections.deque()
        self._worker: Any = None
        self._worker_idle = False

    def dispatch(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` in this loop's callback greenlet (called from the hub)."""
        self._pending.append(callback)
        if self._worker_idle:
            self._worker_idle = False
            self._worker.switch()
        elif self._worker is None:
            self._worker = greenlet.greenlet(self._run_callbacks, parent=self.hub)
            self._worker.switch()

    def _run_callbacks(self) -> None:
        """The callback greenlet: run what is pending, then wait in the hub for more."""
        pending = self._pending
        hub = self.hub
        while True:
            while pending:
                callback = pending.popleft()
                try:
                    callback()
                except gevent.GreenletExit:
                    raise
                except BaseException:  # noqa: BLE001 - reported as gevent reports callbacks
                    hub.handle_error(callback, *sys.exc_info())
            self._worker_idle = True
            hub.switch()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} hub={self.hub!r}>"

    def start(self) -> None:
        """Run the hub until ``stop()``; the calling greenlet waits, the others run."""
        if gevent.getcurrent() is self.hub:
            raise RuntimeError(
                "GeventIOLoop.start() was called from the hub greenlet (inside a callback); "
                "call it from a greenlet of your own, e.g. the main one"
            )
        self._stopped.wait()
        self._stopped.clear()

    def stop(self) -> None:
        """Make ``start()`` return; before ``start()``, the next ``start()`` returns at once."""
        self._stopped.set()

    def close(self) -> None:
        """Stop the watchers this loop registered; the hub stays (it belongs to gevent)."""
        for watcher, _handler in self._handlers.values():
            watcher.close()
        self._handlers.clear()
        # An idle callback greenlet ends when collected (GreenletExit where it waits).
        self._worker = None
        self._worker_idle = False

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Call ``callback()`` in ``delay`` seconds; return a handle for ``remove_timeout``."""
        check_callback_arg(callback, "callback")
        timer = self.loop.timer(max(0.0, delay))
        timer.start(self.dispatch, callback)
        return timer

    def remove_timeout(self, timeout_handle: Any) -> None:
        """Cancel a ``call_later`` handle; cancelling twice does nothing."""
        timeout_handle.close()

    def add_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` in the hub soon. Safe from any thread, native ones included."""
        check_callback_arg(callback, "callback")
        self.loop.run_callback_threadsafe(self.dispatch, callback)

    add_callback_threadsafe = add_callback

    def add_handler(self, fd: int, handler: Callable[[int, int], Any], events: int) -> None:
        """Call ``handler(fd, events)`` whenever ``fd`` is ready for ``events``."""
        check_fd_arg(fd)
        check_callback_arg(handler, "handler")
        if fd in self._handlers:
            raise ValueError(f"fd {fd} already has a handler; use update_handler()")
        events &= _READ | _WRITE
        watcher = self.loop.io(fd, events)
        watcher.start(self.dispatch, functools.partial(handler, fd, events))
        self._handlers[fd] = (watcher, handler)

    def update_handler(self, fd: int, events: int) -> None:
        """Watch ``fd`` for ``events`` instead, keeping its handler."""
        old, handler = self._handlers.pop(fd)
        old.close()
        self.add_handler(fd, handler, events)

    def remove_handler(self, fd: int) -> None:
        """Stop watching ``fd``; unknown descriptors are ignored."""
        entry = self._handlers.pop(fd, None)
        if entry is not None:
            entry[0].close()


class _WatcherReference(AbstractTimerReference):
    """A timer or run_callback handle with the ``cancel()`` interface."""

    __slots__ = ("_watcher",)

    def __init__(self, watcher: Any) -> None:
        self._watcher = watcher

    def cancel(self) -> None:
        self._watcher.close()


class GeventIOServices(
    SocketConnectionMixin,
    StreamingConnectionMixin,
    AbstractIOServices,
    AbstractFileDescriptorServices,
):
    """``AbstractIOServices`` on a gevent hub: io watchers, timers, the hub's resolver."""

    def __init__(self, ioloop: GeventIOLoop | None = None) -> None:
        self._ioloop = ioloop if ioloop is not None else GeventIOLoop()
        self._loop: Any = self._ioloop.loop
        self._dispatch = self._ioloop.dispatch
        self._readers: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}

    def get_native_ioloop(self) -> GeventIOLoop:
        return self._ioloop

    def close(self) -> None:
        for watchers in (self._readers, self._writers):
            for watcher in watchers.values():
                watcher.close()
            watchers.clear()
        self._ioloop.close()

    def run(self) -> None:
        self._ioloop.start()

    def stop(self) -> None:
        self._ioloop.stop()

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        check_callback_arg(callback, "callback")
        self._loop.run_callback_threadsafe(self._dispatch, callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> AbstractTimerReference:
        if delay <= 0:
            # The flush of every loop turn comes here: a run_callback is far cheaper than a
            # timer, and runs before the hub polls again.
            return _WatcherReference(self._loop.run_callback(self._dispatch, callback))
        check_callback_arg(callback, "callback")
        timer = self._loop.timer(delay)
        timer.start(self._dispatch, callback)
        return _WatcherReference(timer)

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
        resolver = _HubResolver(self._ioloop, on_done)
        resolver.start(host, port, family, socktype, proto, flags)
        return resolver

    # --- AbstractFileDescriptorServices ------------------------------------------------------

    def set_reader(self, fd: int, on_readable: Callable[[], Any]) -> None:
        self._watch(self._readers, fd, _READ, on_readable)

    def remove_reader(self, fd: int) -> bool:
        return self._unwatch(self._readers, fd)

    def set_writer(self, fd: int, on_writable: Callable[[], Any]) -> None:
        self._watch(self._writers, fd, _WRITE, on_writable)

    def remove_writer(self, fd: int) -> bool:
        return self._unwatch(self._writers, fd)

    def _watch(
        self, watchers: dict[int, Any], fd: int, events: int, callback: Callable[[], Any]
    ) -> None:
        check_fd_arg(fd)
        check_callback_arg(callback, "callback")
        watcher = watchers.get(fd)
        if watcher is None:
            watcher = watchers[fd] = self._loop.io(fd, events)
        else:
            watcher.stop()
        watcher.start(self._dispatch, callback)

    @staticmethod
    def _unwatch(watchers: dict[int, Any], fd: int) -> bool:
        check_fd_arg(fd)
        watcher = watchers.pop(fd, None)
        if watcher is None:
            return False
        watcher.close()
        return True


class _HubResolver(AbstractIOReference):
    """``getaddrinfo`` through the hub's resolver in a greenlet; the result via the hub."""

    def __init__(self, ioloop: GeventIOLoop, on_done: Callable[[GetaddrinfoResult], Any]) -> None:
        self._ioloop = ioloop
        self._hub = ioloop.hub
        self._on_done: Callable[[GetaddrinfoResult], Any] | None = on_done
        self._greenlet: Any = None

    def start(
        self, host: str, port: int, family: int, socktype: int, proto: int, flags: int
    ) -> None:
        self._greenlet = gevent.spawn(self._resolve, host, port, family, socktype, proto, flags)

    def _resolve(
        self, host: str, port: int, family: int, socktype: int, proto: int, flags: int
    ) -> None:
        result: Any
        try:
            result = self._hub.resolver.getaddrinfo(host, port, family, socktype, proto, flags)
        except socket.gaierror as exc:
            result = exc
        except Exception as exc:  # noqa: BLE001 - any failure is the outcome to report
            result = exc
        if self._on_done is not None:
            self._hub.loop.run_callback(
                self._ioloop.dispatch, functools.partial(self._deliver, result)
            )

    def _deliver(self, result: GetaddrinfoResult) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(result)

    def cancel(self) -> bool:
        if self._on_done is None:
            return False
        self._on_done = None
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=False)
        return True


def _io_services(custom_ioloop: Any) -> AbstractIOServices:
    """The I/O services for ``custom_ioloop``: None, a Hub, a hub's loop or a GeventIOLoop."""
    if isinstance(custom_ioloop, AbstractIOServices):
        return custom_ioloop
    if custom_ioloop is None or isinstance(custom_ioloop, gevent.hub.Hub):
        return GeventIOServices(GeventIOLoop(custom_ioloop))
    if isinstance(custom_ioloop, GeventIOLoop):
        return GeventIOServices(custom_ioloop)
    hub = gevent.get_hub()
    if custom_ioloop is hub.loop:
        return GeventIOServices(GeventIOLoop(hub))
    raise TypeError(
        "custom_ioloop must be a gevent Hub, the current hub's loop, a GeventIOLoop or an "
        f"AbstractIOServices; got {custom_ioloop!r} (a loop of another thread's hub: pass "
        "that hub instead)"
    )


class GeventConnection(BaseConnection):
    """pika's GeventConnection; ``custom_ioloop`` is a gevent Hub or loop (default: this
    thread's hub), a GeventIOLoop, or an AbstractIOServices."""

    def __init__(
        self,
        parameters: Parameters | None = None,
        on_open_callback: Callable[[Any], Any] | None = None,
        on_open_error_callback: Callable[[Any, BaseException], Any] | None = None,
        on_close_callback: Callable[[Any, BaseException], Any] | None = None,
        custom_ioloop: Any = None,
        internal_connection_workflow: bool = True,
    ) -> None:
        super().__init__(
            parameters,
            on_open_callback,
            on_open_error_callback,
            on_close_callback,
            _io_services(custom_ioloop),
            internal_connection_workflow,
        )

    @property
    def ioloop(self) -> GeventIOLoop:
        """The GeventIOLoop: ``start()``/``stop()`` it as pika's gevent ioloop."""
        loop: GeventIOLoop = self._nbio.get_native_ioloop()
        return loop

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: Callable[[Any], Any],
        custom_ioloop: Any = None,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None = None,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Connect through the first config that works; ``on_done(connection | exception)``."""
        nbio = _io_services(custom_ioloop)

        def connection_factory(params: Parameters) -> GeventConnection:
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
