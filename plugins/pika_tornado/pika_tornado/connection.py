"""TornadoConnection: pika's callback API on a Tornado 6 IOLoop.

Tornado 6's IOLoop is a wrapper over an asyncio event loop (``IOLoop.asyncio_loop``), so the
adapter runs pika-core's asyncio I/O services on that loop: asyncio's own transports, a
``recv_into`` buffer and one write per loop turn, instead of readiness handlers going through
tornado's callback wrappers. What the application sees is tornado's: ``connection.ioloop`` is
the IOLoop, callbacks run on its thread, ``ioloop.start()``/``stop()`` drive it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tornado.ioloop import IOLoop

from pika_core.adapters.base_connection import BaseConnection
from pika_core.adapters.utils import connection_workflow
from pika_core.adapters.utils.asyncio_io_services import AsyncioIOServicesAdapter
from pika_core.adapters.utils.nbio_interface import AbstractIOServices
from pika_core.parameters import Parameters

__all__ = ["TornadoConnection", "TornadoIOServices"]


class TornadoIOServices(AsyncioIOServicesAdapter):
    """``AbstractIOServices`` for a tornado IOLoop, on the asyncio loop under it."""

    def __init__(self, ioloop: IOLoop | None = None) -> None:
        if ioloop is None:
            ioloop = IOLoop.current()
        elif not isinstance(ioloop, IOLoop):
            raise TypeError(
                f"custom_ioloop must be a tornado IOLoop or an AbstractIOServices, got {ioloop!r}"
            )
        asyncio_loop = getattr(ioloop, "asyncio_loop", None)
        if asyncio_loop is None:  # pragma: no cover - every tornado 6 IOLoop has one
            raise TypeError(f"{ioloop!r} does not run on asyncio; pika-tornado needs tornado 6")
        super().__init__(asyncio_loop)
        self._ioloop = ioloop

    def get_native_ioloop(self) -> IOLoop:  # type: ignore[override]
        return self._ioloop

    def close(self) -> None:
        self._ioloop.close()

    def run(self) -> None:
        self._ioloop.start()

    def stop(self) -> None:
        self._ioloop.stop()


def _io_services(custom_ioloop: Any) -> AbstractIOServices:
    if isinstance(custom_ioloop, AbstractIOServices):
        return custom_ioloop
    return TornadoIOServices(custom_ioloop)


class TornadoConnection(BaseConnection):
    """pika's TornadoConnection; ``custom_ioloop`` is a tornado IOLoop (default:
    ``IOLoop.current()``) or an AbstractIOServices."""

    def __init__(
        self,
        parameters: Parameters | None = None,
        on_open_callback: Callable[[Any], Any] | None = None,
        on_open_error_callback: Callable[[Any, BaseException], Any] | None = None,
        on_close_callback: Callable[[Any, BaseException], Any] | None = None,
        custom_ioloop: IOLoop | AbstractIOServices | None = None,
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
    def ioloop(self) -> IOLoop:
        """The tornado IOLoop the connection runs on."""
        loop: IOLoop = self._nbio.get_native_ioloop()
        return loop

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: Callable[[Any], Any],
        custom_ioloop: IOLoop | None = None,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None = None,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Connect through the first config that works; ``on_done(connection | exception)``."""
        nbio = _io_services(custom_ioloop)

        def connection_factory(params: Parameters) -> TornadoConnection:
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
