"""SampleLoopConnection: pika's callback API on :class:`~pika_sample_loop.loop.SchedLoop`.

The whole adapter is two pieces, as docs/custom-adapters.md describes:

- :class:`SampleLoopIOServices` implements pika-core's ``AbstractIOServices`` over the loop:
  timers, the thread-safe callback and name resolution are written here; the non-blocking
  connect, the TLS handshake and the streaming transport come from pika-core's
  ``SocketConnectionMixin`` and ``StreamingConnectionMixin``, which need only the readiness
  callbacks of ``AbstractFileDescriptorServices`` (also written here) and ``call_later``.
- :class:`SampleLoopConnection` subclasses ``BaseConnection`` with pika's constructor signature
  and ``create_connection`` classmethod.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Sequence

from pika_core.adapters.base_connection import BaseConnection
from pika_core.adapters.utils.connection_workflow import AbstractAMQPConnectionWorkflow
from pika_core.adapters.utils.io_services_utils import (
    SocketConnectionMixin,
    StreamingConnectionMixin,
)
from pika_core.adapters.utils.nbio_interface import (
    AbstractFileDescriptorServices,
    AbstractIOReference,
    AbstractIOServices,
    AbstractTimerReference,
    GetaddrinfoResult,
)
from pika_core.parameters import Parameters
from pika_sample_loop.loop import SchedLoop, TimerHandle

__all__ = ["SampleLoopConnection", "SampleLoopIOServices"]


def _require_callable(value: object, name: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")


class _TimerReference(AbstractTimerReference):
    """pika-core's timer interface over the loop's own handle."""

    __slots__ = ("_handle",)

    def __init__(self, handle: TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class _Resolution(AbstractIOReference):
    """``socket.getaddrinfo`` on a daemon thread; the result is handed back to the loop thread."""

    def __init__(self, loop: SchedLoop, on_done: Callable[[GetaddrinfoResult], Any]) -> None:
        self._loop = loop
        # Read and cleared on the loop thread only (deliver and cancel both run there).
        self._on_done: Callable[[GetaddrinfoResult], Any] | None = on_done

    def start(
        self, host: str, port: int, family: int, socktype: int, proto: int, flags: int
    ) -> None:
        args = (host, port, family, socktype, proto, flags)
        threading.Thread(
            target=self._resolve, args=args, name="pika_sample_loop-getaddrinfo", daemon=True
        ).start()

    def _resolve(
        self, host: str, port: int, family: int, socktype: int, proto: int, flags: int
    ) -> None:
        result: Any
        try:
            result = socket.getaddrinfo(host, port, family, socktype, proto, flags)
        except Exception as exc:  # noqa: BLE001 - the failure is the result to report
            result = exc
        try:
            self._loop.add_callback_threadsafe(lambda: self._deliver(result))
        except RuntimeError:  # the loop was closed meanwhile: nobody is waiting any more
            pass

    def _deliver(self, result: GetaddrinfoResult) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(result)

    def cancel(self) -> bool:
        pending = self._on_done is not None
        self._on_done = None
        return pending


class SampleLoopIOServices(
    SocketConnectionMixin,
    StreamingConnectionMixin,
    AbstractIOServices,
    AbstractFileDescriptorServices,
):
    """pika-core's I/O services on a :class:`SchedLoop` (loop thread only, but for
    ``add_callback_threadsafe``)."""

    def __init__(self, loop: SchedLoop) -> None:
        if not isinstance(loop, SchedLoop):
            raise TypeError(f"SampleLoopIOServices needs a SchedLoop, got {loop!r}")
        self._loop = loop

    def get_native_ioloop(self) -> SchedLoop:
        return self._loop

    def close(self) -> None:
        self._loop.close()

    def run(self) -> None:
        self._loop.run()

    def stop(self) -> None:
        self._loop.stop()

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        _require_callable(callback, "callback")
        self._loop.add_callback_threadsafe(callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> AbstractTimerReference:
        _require_callable(callback, "callback")
        return _TimerReference(self._loop.call_later(delay, callback))

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
        _require_callable(on_done, "on_done")
        resolution = _Resolution(self._loop, on_done)
        resolution.start(host, port, family, socktype, proto, flags)
        return resolution

    # -- AbstractFileDescriptorServices: what the connect and stream mixins drive ---------------

    def set_reader(self, fd: int, on_readable: Callable[[], Any]) -> None:
        _require_callable(on_readable, "on_readable")
        self._loop.add_reader(fd, on_readable)

    def remove_reader(self, fd: int) -> bool:
        return self._loop.remove_reader(fd)

    def set_writer(self, fd: int, on_writable: Callable[[], Any]) -> None:
        _require_callable(on_writable, "on_writable")
        self._loop.add_writer(fd, on_writable)

    def remove_writer(self, fd: int) -> bool:
        return self._loop.remove_writer(fd)


def _services_for(custom_ioloop: object) -> AbstractIOServices:
    """The I/O services for ``custom_ioloop``: None (a new SchedLoop), a SchedLoop, or services."""
    if isinstance(custom_ioloop, AbstractIOServices):
        return custom_ioloop
    if custom_ioloop is None:
        return SampleLoopIOServices(SchedLoop())
    if isinstance(custom_ioloop, SchedLoop):
        return SampleLoopIOServices(custom_ioloop)
    raise TypeError(
        "custom_ioloop must be a pika_sample_loop.SchedLoop, its AbstractIOServices, or None "
        f"(for a new loop), got {custom_ioloop!r}"
    )


class SampleLoopConnection(BaseConnection):
    """pika's asynchronous connection on a SchedLoop; ``connection.ioloop`` is that loop."""

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
            _services_for(custom_ioloop),
            internal_connection_workflow,
        )

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: Callable[[Any], Any],
        custom_ioloop: Any = None,
        workflow: AbstractAMQPConnectionWorkflow | None = None,
    ) -> AbstractAMQPConnectionWorkflow:
        """Try each config in turn; ``on_done(connection | AMQPConnectorException)``."""
        nbio = _services_for(custom_ioloop)

        def connection_factory(params: Parameters) -> BaseConnection:
            return cls(parameters=params, custom_ioloop=nbio, internal_connection_workflow=False)

        return cls._start_connection_workflow(
            connection_configs=connection_configs,
            connection_factory=connection_factory,
            nbio=nbio,
            workflow=workflow,
            on_done=on_done,
        )
