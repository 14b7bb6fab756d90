"""Bringing a connection up over several endpoints: pika's ``AMQPConnectionWorkflow``.

``AMQPConnector`` makes one attempt on one resolved address: TCP connect (bounded by
``socket_timeout``), the TLS handshake and transport link-up, then the AMQP handshake, the
whole bounded by ``stack_timeout``. ``AMQPConnectionWorkflow`` tries every config in order and
every address each config's host resolves to, and repeats the round ``connection_attempts``
times, ``retry_delay`` seconds apart (both read from the LAST config, as pika does).

The AMQP step is delegated to the connection class through ``conn_factory(params)``, which must
return a brand-new connection object (created with ``internal_connection_workflow=False``) that
is both the stream protocol and the handshake driver; see :class:`AMQPHandshakeConnection`.

Everything here runs on the I/O loop's thread; results come back through ``on_done``.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable, Iterator, Protocol, Sequence

from pika_core.exceptions import ConnectionOpenAborted

from .nbio_interface import (
    AbstractIOReference,
    AbstractIOServices,
    AbstractStreamProtocol,
    AbstractStreamTransport,
    AbstractTimerReference,
    AddressRecord,
)

__all__ = [
    "AMQPConnectionWorkflow",
    "AMQPConnectionWorkflowAborted",
    "AMQPConnectionWorkflowFailed",
    "AMQPConnectionWorkflowWrongState",
    "AMQPConnector",
    "AMQPConnectorAMQPHandshakeError",
    "AMQPConnectorAborted",
    "AMQPConnectorException",
    "AMQPConnectorPhaseErrorBase",
    "AMQPConnectorSocketConnectError",
    "AMQPConnectorStackTimeout",
    "AMQPConnectorTransportSetupError",
    "AMQPConnectorWrongState",
    "AMQPHandshakeConnection",
    "AbstractAMQPConnectionWorkflow",
]

LOGGER = logging.getLogger(__name__)


class AMQPConnectorException(Exception):
    """Base of the connection-workflow errors."""


class AMQPConnectorStackTimeout(AMQPConnectorException):
    """The TCP + TLS + AMQP bring-up took longer than ``stack_timeout``."""


class AMQPConnectorAborted(AMQPConnectorException):
    """The connection attempt was aborted by the caller."""


class AMQPConnectorWrongState(AMQPConnectorException):
    """The connector was used in the wrong state (started twice, aborted after it finished)."""


class AMQPConnectorPhaseErrorBase(AMQPConnectorException):
    """A bring-up phase failed; ``exception`` holds the cause."""

    def __init__(self, exception: BaseException, *args: Any) -> None:
        super().__init__(*args)
        self.exception = exception

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {self.exception!r}"


class AMQPConnectorSocketConnectError(AMQPConnectorPhaseErrorBase):
    """The TCP connect failed or timed out."""


class AMQPConnectorTransportSetupError(AMQPConnectorPhaseErrorBase):
    """The TLS handshake or transport link-up failed (after TCP connected)."""


class AMQPConnectorAMQPHandshakeError(AMQPConnectorPhaseErrorBase):
    """The AMQP handshake failed (bad credentials, vhost access, protocol error, ...)."""


class AMQPConnectionWorkflowAborted(AMQPConnectorException):
    """The workflow was aborted by the caller."""


class AMQPConnectionWorkflowWrongState(AMQPConnectorException):
    """The workflow was used in the wrong state (started twice, aborted after it finished)."""


class AMQPConnectionWorkflowFailed(AMQPConnectorException):
    """Every attempt failed; ``exceptions`` holds each attempt's error, in order."""

    def __init__(self, exceptions: Sequence[BaseException], *args: Any) -> None:
        super().__init__(*args)
        self.exceptions = tuple(exceptions)

    def __repr__(self) -> str:
        first = self.exceptions[0] if len(self.exceptions) > 1 else None
        last = self.exceptions[-1] if self.exceptions else None
        return (
            f"{self.__class__.__name__}: {len(self.exceptions)} exceptions in all; "
            f"last exception - {last!r}; first exception - {first!r}"
        )


class AMQPHandshakeConnection(Protocol):
    """What ``AMQPConnector`` needs of the object ``conn_factory(params)`` returns.

    It is also the stream protocol (an ``AbstractStreamProtocol``): ``connection_made(transport)`` starts the AMQP handshake.
    The connector then registers both callbacks below; exactly one of them must be called
    when the handshake ends. ``close(320, text)`` is used on abort or stack timeout while the
    handshake runs, and must end with the open-error callback.
    """

    @property
    def is_open(self) -> bool: ...

    @property
    def is_closing(self) -> bool: ...

    def add_on_open_callback(self, callback: Callable[[Any], Any]) -> None: ...

    def add_on_open_error_callback(
        self, callback: Callable[[Any, BaseException], Any], remove_default: bool = True
    ) -> None: ...

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None: ...


ConnectionFactory = Callable[[Any], Any]
OnConnectorDone = Callable[[Any], Any]


def _apply_tcp_options(sock: socket.socket, tcp_options: dict[str, int] | None) -> None:
    """Set TCP_NODELAY and the caller's ``tcp_options`` (keepalive is turned on with them)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tcp_options:
        return
    keepalive = False
    for name, value in tcp_options.items():
        option = getattr(socket, name, None)
        if option is None and name == "TCP_KEEPIDLE":
            option = getattr(socket, "TCP_KEEPALIVE", None)  # macOS spelling
        if option is None:
            LOGGER.warning("tcp_options: %s is not supported on this platform; ignored", name)
            continue
        keepalive = keepalive or name.startswith("TCP_KEEP")
        sock.setsockopt(socket.IPPROTO_TCP, option, value)
    if keepalive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


_INIT, _TCP, _TRANSPORT, _AMQP, _TIMEOUT, _ABORTING, _DONE = range(7)


class AMQPConnector:
    """One TCP/[TLS]/AMQP attempt on one resolved address (loop thread only)."""

    def __init__(self, conn_factory: ConnectionFactory, nbio: AbstractIOServices) -> None:
        """``conn_factory(params)`` returns a new connection (see AMQPHandshakeConnection)."""
        self._conn_factory: ConnectionFactory | None = conn_factory
        self._nbio: AbstractIOServices | None = nbio
        self._addr_record: AddressRecord | None = None
        self._params: Any = None
        self._on_done: OnConnectorDone | None = None
        self._tcp_timer: AbstractTimerReference | None = None
        self._stack_timer: AbstractTimerReference | None = None
        self._task: AbstractIOReference | None = None
        self._sock: socket.socket | None = None
        self._amqp_conn: Any = None
        self._state = _INIT

    def start(self, addr_record: AddressRecord, conn_params: Any, on_done: OnConnectorDone) -> None:
        """Begin the attempt; ``on_done(connection | AMQPConnector*Error | Aborted)`` ends it."""
        if self._state != _INIT:
            raise AMQPConnectorWrongState(f"Already in progress or finished; state={self._state}")
        assert self._nbio is not None
        self._addr_record = addr_record
        self._params = conn_params
        self._on_done = on_done
        self._state = _TCP
        family, socktype, proto = addr_record[0], addr_record[1], addr_record[2]
        sock = socket.socket(family, socktype, proto)
        self._sock = sock
        try:
            _apply_tcp_options(sock, getattr(conn_params, "tcp_options", None))
            sock.setblocking(False)
        except OSError as exc:
            self._report_soon(AMQPConnectorSocketConnectError(exc))
            return
        LOGGER.info("Connecting to %r (%s)", addr_record[4], conn_params.host)
        self._task = self._nbio.connect_socket(sock, addr_record[4], self._on_tcp_done)
        if conn_params.socket_timeout is not None:
            self._tcp_timer = self._nbio.call_later(
                conn_params.socket_timeout, self._on_tcp_timeout
            )
        if conn_params.stack_timeout is not None:
            self._stack_timer = self._nbio.call_later(
                conn_params.stack_timeout, self._on_stack_timeout
            )

    def abort(self) -> None:
        """Abort; ``on_done(AMQPConnectorAborted())`` follows from the loop."""
        if self._state == _INIT:
            raise AMQPConnectorWrongState("Cannot abort before starting.")
        if self._state == _DONE:
            raise AMQPConnectorWrongState("Cannot abort after completion was reported")
        prev_state, self._state = self._state, _ABORTING
        self._cancel_tasks()
        if self._amqp_conn is None:
            self._report_soon(AMQPConnectorAborted())
        elif not self._amqp_conn.is_closing:
            self._amqp_conn.close(320, "Client-initiated abort of AMQP Connection Workflow.")
        else:
            assert prev_state in (_TIMEOUT, _ABORTING), prev_state

    # --- phases ------------------------------------------------------------------------------

    def _on_tcp_timeout(self) -> None:
        self._tcp_timer = None
        self._report(
            AMQPConnectorSocketConnectError(
                socket.timeout(
                    f"TCP connection attempt timed out: {self._params.host!r}/{self._addr_record}"
                )
            )
        )

    def _on_stack_timeout(self) -> None:
        self._stack_timer = None
        prev_state, self._state = self._state, _TIMEOUT
        where = f"{self._params.host!r}/{self._addr_record}"
        if prev_state == _AMQP:
            LOGGER.error("Timeout during the AMQP handshake with %s", where)
            if not self._amqp_conn.is_closing:
                self._amqp_conn.close(320, f"Timeout while setting up AMQP to {where}")
            return
        timeout = AMQPConnectorStackTimeout(f"stack_timeout expired while connecting to {where}")
        if prev_state == _TCP:
            self._report(AMQPConnectorSocketConnectError(timeout))
        else:
            self._report(AMQPConnectorTransportSetupError(timeout))

    def _on_tcp_done(self, error: BaseException | None) -> None:
        self._task = None
        if self._tcp_timer is not None:
            self._tcp_timer.cancel()
            self._tcp_timer = None
        if error is not None:
            LOGGER.error("TCP connection to %r failed: %r", self._addr_record, error)
            self._report(AMQPConnectorSocketConnectError(error))
            return
        self._state = _TRANSPORT
        ssl_context = server_hostname = None
        ssl_options = getattr(self._params, "ssl_options", None)
        if ssl_options is not None:
            ssl_context = ssl_options.context
            server_hostname = ssl_options.server_hostname or self._params.host
        assert self._nbio is not None and self._conn_factory is not None
        factory, params = self._conn_factory, self._params
        sock, self._sock = self._sock, None  # the streaming connection owns it now
        assert sock is not None
        self._task = self._nbio.create_streaming_connection(
            protocol_factory=lambda: factory(params),
            sock=sock,
            on_done=self._on_transport_done,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
        )

    def _on_transport_done(
        self, result: tuple[AbstractStreamTransport, AbstractStreamProtocol] | BaseException
    ) -> None:
        self._task = None
        if isinstance(result, BaseException):
            LOGGER.error("Transport setup to %r failed: %r", self._addr_record, result)
            self._report(AMQPConnectorTransportSetupError(result))
            return
        self._state = _AMQP
        conn: Any = result[1]
        self._amqp_conn = conn
        conn.add_on_open_error_callback(self._on_handshake_done, remove_default=True)
        conn.add_on_open_callback(self._on_handshake_done)

    def _on_handshake_done(self, connection: Any, error: BaseException | None = None) -> None:
        self._amqp_conn = None
        result: Any
        if self._state == _ABORTING:
            result = AMQPConnectorAborted()
        elif self._state == _TIMEOUT:
            result = AMQPConnectorAMQPHandshakeError(
                AMQPConnectorStackTimeout(
                    f"Timeout during AMQP handshake {self._params.host!r}/{self._addr_record}"
                )
            )
        elif self._state == _AMQP:
            result = connection if error is None else AMQPConnectorAMQPHandshakeError(error)
        else:
            return
        self._report(result)

    # --- completion --------------------------------------------------------------------------

    def _cancel_tasks(self) -> None:
        for timer in (self._tcp_timer, self._stack_timer):
            if timer is not None:
                timer.cancel()
        self._tcp_timer = self._stack_timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _report_soon(self, result: Any) -> None:
        assert self._nbio is not None
        self._nbio.add_callback_threadsafe(lambda: self._report(result))

    def _report(self, result: Any) -> None:
        if self._state == _DONE or self._on_done is None:
            return
        on_done = self._on_done
        self._cancel_tasks()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._state = _DONE
        self._on_done = self._conn_factory = self._nbio = None
        if isinstance(result, BaseException):
            LOGGER.error("AMQPConnector: attempt failed: %r", result)
        on_done(result)


class AbstractAMQPConnectionWorkflow:
    """A connection workflow: pass one to ``XConnection.create_connection(workflow=...)``."""

    def start(
        self,
        connection_configs: Sequence[Any],
        connector_factory: Callable[[], AMQPConnector],
        native_loop: Any,
        on_done: Callable[[Any], Any],
    ) -> None:
        """Begin; ``on_done(connection | AMQPConnectionWorkflowFailed | ...Aborted)`` ends it."""
        raise NotImplementedError

    def abort(self) -> None:
        """Abort; ``on_done(AMQPConnectionWorkflowAborted())`` follows from the loop."""
        raise NotImplementedError


_W_INIT, _W_ACTIVE, _W_ABORTING, _W_DONE = range(4)


class AMQPConnectionWorkflow(AbstractAMQPConnectionWorkflow):
    """pika's default workflow: every config, every address, several rounds (loop thread)."""

    _SOCK_TYPE = socket.SOCK_STREAM
    _IPPROTO = socket.IPPROTO_TCP

    def __init__(self, _until_first_amqp_attempt: bool = False) -> None:
        """``_until_first_amqp_attempt``: end after the first AMQP handshake, whatever it gave
        (used by a connection that runs the workflow internally)."""
        self._until_first_amqp_attempt = _until_first_amqp_attempt
        self._nbio: AbstractIOServices | None = None
        self._configs: Sequence[Any] = ()
        self._connector_factory: Callable[[], AMQPConnector] | None = None
        self._on_done: Callable[[Any], Any] | None = None
        self._connector: AMQPConnector | None = None
        self._task: AbstractTimerReference | AbstractIOReference | None = None
        self._attempts_remaining = 0
        self._retry_delay = 0.0
        self._config_index = -1
        self._addresses: Iterator[AddressRecord] | None = None
        self._errors: list[BaseException] = []
        self._state = _W_INIT

    def set_io_services(self, nbio: AbstractIOServices) -> None:
        """Give the workflow the adapter's I/O services; the adapter calls this before start."""
        self._nbio = nbio

    def start(
        self,
        connection_configs: Sequence[Any],
        connector_factory: Callable[[], AMQPConnector],
        native_loop: Any,
        on_done: Callable[[Any], Any],
    ) -> None:
        if self._state != _W_INIT:
            raise AMQPConnectorWrongState(f"Already in progress or finished; state={self._state}")
        try:
            iter(connection_configs)
        except TypeError as exc:
            raise TypeError(f"connection_configs does not support iteration: {exc!r}") from exc
        if not connection_configs:
            raise ValueError(f"connection_configs is empty: {connection_configs!r}.")
        if self._nbio is None:
            raise AMQPConnectionWorkflowWrongState(
                "call set_io_services(nbio) before start(); the connection adapter does this"
            )
        self._configs = connection_configs
        self._connector_factory = connector_factory
        self._on_done = on_done
        self._attempts_remaining = connection_configs[-1].connection_attempts
        self._retry_delay = connection_configs[-1].retry_delay
        self._state = _W_ACTIVE
        # Begin from the loop, never re-entrantly from the caller's call.
        self._task = self._nbio.call_later(0, lambda: self._start_round(first=True))

    def abort(self) -> None:
        if self._state == _W_INIT:
            raise AMQPConnectorWrongState("Cannot abort before starting.")
        if self._state == _W_DONE:
            raise AMQPConnectorWrongState("Cannot abort after completion was reported")
        self._state = _W_ABORTING
        self._cancel_task()
        if self._connector is None:
            assert self._nbio is not None
            self._nbio.add_callback_threadsafe(
                lambda: self._report(AMQPConnectionWorkflowAborted())
            )
        else:
            self._connector.abort()

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _start_round(self, first: bool) -> None:
        self._task = None
        if self._attempts_remaining <= 0:
            self._report(AMQPConnectionWorkflowFailed(self._errors))
            return
        self._attempts_remaining -= 1
        self._config_index = -1
        assert self._nbio is not None
        self._task = self._nbio.call_later(0 if first else self._retry_delay, self._next_config)

    def _next_config(self) -> None:
        self._task = None
        self._config_index += 1
        if self._config_index >= len(self._configs):
            self._start_round(first=False)
            return
        params = self._configs[self._config_index]
        assert self._nbio is not None
        self._task = self._nbio.getaddrinfo(
            host=params.host,
            port=params.port,
            on_done=self._on_resolved,
            socktype=self._SOCK_TYPE,
            proto=self._IPPROTO,
        )

    def _on_resolved(self, result: list[AddressRecord] | BaseException) -> None:
        self._task = None
        if isinstance(result, BaseException):
            LOGGER.error("getaddrinfo failed: %r", result)
            self._errors.append(result)
            self._start_round(first=False)
            return
        self._addresses = iter(result)
        self._next_address()

    def _next_address(self) -> None:
        assert self._addresses is not None and self._connector_factory is not None
        record = next(self._addresses, None)
        if record is None:
            self._next_config()
            return
        self._connector = self._connector_factory()
        self._connector.start(record, self._configs[self._config_index], self._on_connector_done)

    def _on_connector_done(self, result: Any) -> None:
        self._connector = None
        if not isinstance(result, BaseException):
            self._report(result)
            return
        self._errors.append(result)
        if isinstance(result, AMQPConnectorAborted):
            self._report(AMQPConnectionWorkflowAborted())
        elif self._until_first_amqp_attempt and isinstance(result, AMQPConnectorAMQPHandshakeError):
            if isinstance(result.exception, ConnectionOpenAborted):
                self._report(AMQPConnectionWorkflowAborted())
            else:
                self._report(AMQPConnectionWorkflowFailed(self._errors))
        else:
            self._next_address()

    def _report(self, result: Any) -> None:
        if self._state == _W_DONE or self._on_done is None:
            return
        on_done = self._on_done
        self._cancel_task()
        self._state = _W_DONE
        self._on_done = self._connector_factory = None
        self._nbio = None
        self._addresses = None
        if isinstance(result, BaseException):
            LOGGER.error("AMQPConnectionWorkflow failed: %r", result)
        on_done(result)
