"""BaseConnection: a Connection over any AbstractIOServices implementation.

A new non-blocking adapter subclasses this and hands its I/O services to ``__init__``; the
services supply timers, the thread-safe callback, name resolution, socket connect and the
streaming transport (docs/custom-adapters.md). The connection itself is the transport's stream
protocol (``connection_made``, ``data_received``, ``eof_received``, ``connection_lost``,
``pause_writing``, ``resume_writing``).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from pika_core import exceptions
from pika_core.adapters.utils import connection_workflow
from pika_core.adapters.utils.nbio_interface import (
    AbstractIOServices,
    AbstractStreamProtocol,
    AbstractStreamTransport,
)
from pika_core.connection import Connection
from pika_core.parameters import Parameters

__all__ = ["BaseConnection"]

LOGGER = logging.getLogger(__name__)

_OnDone = Callable[[Any], Any]


class BaseConnection(Connection, AbstractStreamProtocol):
    """pika's ``BaseConnection``: the callback API over an ``AbstractIOServices``."""

    def __init__(
        self,
        parameters: Parameters | None,
        on_open_callback: Callable[[Any], Any] | None,
        on_open_error_callback: Callable[[Any, BaseException], Any] | None,
        on_close_callback: Callable[[Any, BaseException], Any] | None,
        nbio: AbstractIOServices,
        internal_connection_workflow: bool,
    ) -> None:
        if parameters is not None and not isinstance(parameters, Parameters):
            raise ValueError(f"Expected instance of Parameters, not {parameters!r}")
        if not isinstance(nbio, AbstractIOServices):
            raise TypeError(f"nbio must be an AbstractIOServices implementation, got {nbio!r}")
        self._nbio = nbio
        self._connection_workflow: connection_workflow.AMQPConnectionWorkflow | None = None
        self._transport: AbstractStreamTransport | None = None
        self._got_eof = False
        super().__init__(
            parameters=parameters,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            internal_connection_workflow=internal_connection_workflow,
        )

    @classmethod
    def create_connection(
        cls,
        connection_configs: Sequence[Parameters],
        on_done: _OnDone,
        custom_ioloop: Any = None,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None = None,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Try each config in turn; ``on_done(connection | AMQPConnectorException)``."""
        raise NotImplementedError

    @classmethod
    def _start_connection_workflow(
        cls,
        connection_configs: Sequence[Parameters],
        connection_factory: Callable[[Parameters], BaseConnection],
        nbio: AbstractIOServices,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None,
        on_done: _OnDone,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Run ``workflow`` (default: AMQPConnectionWorkflow) with ``connection_factory``."""
        if workflow is None:
            workflow = connection_workflow.AMQPConnectionWorkflow()
        if isinstance(workflow, connection_workflow.AMQPConnectionWorkflow):
            workflow.set_io_services(nbio)

        configs = list(connection_configs)

        def recovering_factory(params: Parameters) -> BaseConnection:
            # A recovering connection may later try every config, not only the one it used.
            connection = connection_factory(params)
            connection._set_recovery_endpoints(configs)
            return connection

        def create_connector() -> connection_workflow.AMQPConnector:
            return connection_workflow.AMQPConnector(recovering_factory, nbio)

        workflow.start(
            connection_configs=connection_configs,
            connector_factory=create_connector,
            native_loop=nbio.get_native_ioloop(),
            on_done=on_done,
        )
        return workflow

    @property
    def ioloop(self) -> Any:
        """The native loop of the I/O services (select IOLoop, asyncio loop, ...)."""
        return self._nbio.get_native_ioloop()

    # ------------------------------------------------------------------------------------
    # Connection's transport interface

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self._nbio.call_later(delay, callback)

    def _adapter_remove_timeout(self, timeout_id: Any) -> None:
        timeout_id.cancel()

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self._nbio.add_callback_threadsafe(callback)

    def _adapter_connect_stream(self) -> None:
        """Bring the stream up with the connection workflow (one AMQP attempt)."""
        workflow = connection_workflow.AMQPConnectionWorkflow(_until_first_amqp_attempt=True)
        self._connection_workflow = workflow
        workflow.set_io_services(self._nbio)
        nbio = self._nbio

        def create_connector() -> connection_workflow.AMQPConnector:
            return connection_workflow.AMQPConnector(lambda _params: self, nbio)

        def on_done(conn_or_exc: Any) -> None:
            # A recovery may have started another workflow since: ignore a stale report.
            if self._connection_workflow is workflow:
                self._on_connection_workflow_done(conn_or_exc)

        workflow.start(
            [self.params],
            connector_factory=create_connector,
            native_loop=nbio.get_native_ioloop(),
            on_done=on_done,
        )

    def _on_connection_workflow_done(self, conn_or_exc: Any) -> None:
        self._connection_workflow = None
        if not isinstance(conn_or_exc, BaseException):
            return  # the stack is up; _on_stream_connected already ran
        error: BaseException | None = conn_or_exc
        if isinstance(conn_or_exc, connection_workflow.AMQPConnectionWorkflowAborted):
            LOGGER.info("Connection workflow aborted: %r", conn_or_exc)
            error = None
        else:
            LOGGER.error("Connection workflow failed: %r", conn_or_exc)
            if isinstance(
                conn_or_exc, connection_workflow.AMQPConnectionWorkflowFailed
            ) and isinstance(
                conn_or_exc.exceptions[-1], connection_workflow.AMQPConnectorSocketConnectError
            ):
                error = exceptions.AMQPConnectionError(conn_or_exc)
        if not self.is_closed:
            if error is None and self._error is None:
                self._error = exceptions.ConnectionOpenAborted("Connection workflow aborted")
            self._on_stream_terminated(error)

    def _adapter_disconnect_stream(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.close()
        elif self._connection_workflow is not None:
            self._connection_workflow.abort()

    def _adapter_abort_stream(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.abort()
        elif self._connection_workflow is not None:
            self._connection_workflow.abort()

    # AbstractStreamTransport.write takes bytes-like data (asyncio's transports do too).
    _adapter_takes_views = True

    def _adapter_emit_data(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None:
            transport.write(data)

    def _adapter_set_write_buffer_limits(self, high: int, low: int) -> None:
        set_limits = getattr(self._transport, "set_write_buffer_limits", None)
        if set_limits is not None:
            set_limits(high, low)

    def _adapter_get_write_buffer_size(self) -> int:
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    # ------------------------------------------------------------------------------------
    # AbstractStreamProtocol

    def connection_made(self, transport: AbstractStreamTransport) -> None:
        """The transport is connected: start the AMQP handshake over it."""
        self._transport = transport
        self._got_eof = False
        high = self.outbound_high_water_mark
        self._adapter_set_write_buffer_limits(high, high // 4)
        self._on_stream_connected()

    def connection_lost(self, error: BaseException | None) -> None:
        """The transport is gone; ``error`` None after our own close or abort."""
        self._transport = None
        if error is None:
            if self._got_eof:
                error = exceptions.StreamLostError("Transport indicated EOF")
        elif not isinstance(error, exceptions.StreamLostError):
            error = exceptions.StreamLostError(f"Stream connection lost: {error!r}")
        if error is not None:
            LOGGER.error("connection_lost: %r", error)
        self._on_stream_terminated(error)

    def eof_received(self) -> bool:
        """The broker closed its side: let the transport close (connection_lost follows)."""
        LOGGER.error("Transport indicated EOF.")
        self._got_eof = True
        return False

    data_received = Connection._on_data_available

    def pause_writing(self) -> None:
        """The transport's buffer is above its high-water mark."""
        self._on_writing_paused()

    def resume_writing(self) -> None:
        """The transport's buffer drained to its low-water mark."""
        self._on_writing_resumed()
