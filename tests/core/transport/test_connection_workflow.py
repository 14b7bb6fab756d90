"""AMQPConnectionWorkflow and AMQPConnector against local servers and a fake AMQP handshake.

The AMQP step is played by ``FakeAMQPConnection``: it writes a protocol header when the stream
is linked and opens when the server answers ``OK`` (fails on ``NO``), which is all the
connector asks of a connection class.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Callable, ClassVar

import pytest
from transport_support import (
    Certs,
    FullBacklog,
    Server,
    client_context,
    refused_port,
    server_context,
    spin,
)

from pika_core.adapters.select_connection import IOLoop
from pika_core.adapters.utils.asyncio_io_services import AsyncioIOServicesAdapter
from pika_core.adapters.utils.connection_workflow import (
    AMQPConnectionWorkflow,
    AMQPConnectionWorkflowAborted,
    AMQPConnectionWorkflowFailed,
    AMQPConnector,
    AMQPConnectorAborted,
    AMQPConnectorAMQPHandshakeError,
    AMQPConnectorException,
    AMQPConnectorSocketConnectError,
    AMQPConnectorStackTimeout,
    AMQPConnectorTransportSetupError,
    AMQPConnectorWrongState,
)
from pika_core.adapters.utils.nbio_interface import (
    AbstractIOServices,
    AbstractStreamProtocol,
    AbstractStreamTransport,
)
from pika_core.adapters.utils.selector_ioloop_adapter import SelectorIOServicesAdapter
from pika_core.exceptions import ConnectionOpenAborted, ProbableAuthenticationError
from pika_core.parameters import ConnectionParameters, SSLOptions

MakeServer = Callable[..., Server]
HEADER = b"AMQP\x00\x00\x09\x01"


class FakeAMQPConnection(AbstractStreamProtocol):
    """The smallest connection the connector can drive."""

    instances: ClassVar[list[FakeAMQPConnection]] = []

    def __init__(self, params: Any) -> None:
        self.params = params
        self.transport: AbstractStreamTransport | None = None
        self._on_open: list[Callable[[Any], Any]] = []
        self._on_open_error: list[Callable[[Any, BaseException], Any]] = []
        self.is_open = False
        self.is_closing = False
        self.close_calls: list[tuple[int, str]] = []
        self._finished = False
        FakeAMQPConnection.instances.append(self)

    # handshake interface used by AMQPConnector
    def add_on_open_callback(self, callback: Callable[[Any], Any]) -> None:
        self._on_open.append(callback)

    def add_on_open_error_callback(
        self, callback: Callable[[Any, BaseException], Any], remove_default: bool = True
    ) -> None:
        self._on_open_error.append(callback)

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        self.close_calls.append((reply_code, reply_text))
        self.is_closing = True
        assert self.transport is not None
        self.transport.abort()

    # stream protocol
    def connection_made(self, transport: AbstractStreamTransport) -> None:
        self.transport = transport
        transport.write(HEADER)

    def data_received(self, data: bytes) -> None:
        if data.startswith(b"OK"):
            self._finish(None)
        elif data.startswith(b"NO"):
            self._finish(ProbableAuthenticationError("bad credentials"))

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, error: BaseException | None) -> None:
        self._finish(error if error is not None else ConnectionOpenAborted("closed"))

    def _finish(self, error: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        if error is None:
            self.is_open = True
            for callback in self._on_open:
                callback(self)
        else:
            for error_callback in self._on_open_error:
                error_callback(self, error)


@pytest.fixture(autouse=True)
def _reset_instances() -> None:
    FakeAMQPConnection.instances = []


def params(port: int, host: str = "127.0.0.1", **kwargs: Any) -> ConnectionParameters:
    return ConnectionParameters(host=host, port=port, **kwargs)


def run_workflow(
    loop: IOLoop,
    configs: list[ConnectionParameters],
    services: AbstractIOServices | None = None,
    workflow: AMQPConnectionWorkflow | None = None,
    timeout: float = 10.0,
    before: Callable[[AMQPConnectionWorkflow], Any] | None = None,
) -> Any:
    services = services if services is not None else SelectorIOServicesAdapter(loop)
    workflow = workflow if workflow is not None else AMQPConnectionWorkflow()
    workflow.set_io_services(services)
    results: list[Any] = []
    workflow.start(
        configs, lambda: AMQPConnector(FakeAMQPConnection, services), loop, results.append
    )
    assert results == []  # never reported from inside start()
    if before is not None:
        before(workflow)
    spin(loop, lambda: bool(results), timeout)
    return results[0]


@pytest.fixture
def loop() -> Any:
    ioloop = IOLoop()
    yield ioloop
    ioloop.close()


def test_first_endpoint_refuses_second_is_used(loop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"OK")
    result = run_workflow(loop, [params(refused_port()), params(server.address[1])])
    assert isinstance(result, FakeAMQPConnection) and result.is_open
    assert result.params.port == server.address[1]
    spin(loop, lambda: bytes(server.received) == HEADER)
    # the connection is fully linked: TCP_NODELAY set on its socket
    sock = result.transport._sock  # type: ignore[union-attr]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_every_resolved_address_is_tried(loop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"OK")
    bad_port = refused_port()
    attempted: list[Any] = []

    class TwoAddressServices(SelectorIOServicesAdapter):
        def getaddrinfo(self, host: str, port: int, on_done: Any, *args: Any, **kw: Any) -> Any:
            assert host == "broker.test"
            records = [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", bad_port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", server.address),
            ]
            return self.call_later(0, lambda: on_done(records))

        def connect_socket(self, sock: socket.socket, addr: Any, on_done: Any) -> Any:
            attempted.append(addr)
            return super().connect_socket(sock, addr, on_done)

    result = run_workflow(loop, [params(1, host="broker.test")], TwoAddressServices(loop))
    assert isinstance(result, FakeAMQPConnection) and result.is_open
    assert attempted == [("127.0.0.1", bad_port), server.address]


def test_all_fail_reports_every_exception_and_honours_retry_delay(loop: IOLoop) -> None:
    configs = [
        params(refused_port(), connection_attempts=9, retry_delay=30),
        params(refused_port(), connection_attempts=3, retry_delay=0.15),  # the last one rules
    ]
    started = time.monotonic()
    result = run_workflow(loop, configs)
    elapsed = time.monotonic() - started
    assert isinstance(result, AMQPConnectionWorkflowFailed)
    assert len(result.exceptions) == 6  # 3 rounds x 2 configs
    for error in result.exceptions:
        assert isinstance(error, AMQPConnectorSocketConnectError)
        assert isinstance(error.exception, ConnectionRefusedError)
    assert 0.3 <= elapsed < 5  # two pauses of 0.15 s between three rounds
    assert "6 exceptions in all" in repr(result)


def test_resolution_failure_counts_as_a_failed_round(loop: IOLoop) -> None:
    result = run_workflow(
        loop, [params(5672, host="no-such-host.invalid", retry_delay=0.01)], timeout=30
    )
    assert isinstance(result, AMQPConnectionWorkflowFailed)
    assert len(result.exceptions) == 1 and isinstance(result.exceptions[0], socket.gaierror)


def test_socket_timeout_bounds_the_tcp_connect(loop: IOLoop, full_backlog: FullBacklog) -> None:
    started = time.monotonic()
    result = run_workflow(
        loop, [params(full_backlog.address[1], socket_timeout=0.2, stack_timeout=10)]
    )
    elapsed = time.monotonic() - started
    assert isinstance(result, AMQPConnectionWorkflowFailed)
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorSocketConnectError)
    assert isinstance(error.exception, socket.timeout)
    assert 0.15 <= elapsed < 3


def test_stack_timeout_during_tcp_connect(loop: IOLoop, full_backlog: FullBacklog) -> None:
    result = run_workflow(
        loop, [params(full_backlog.address[1], socket_timeout=10, stack_timeout=0.2)]
    )
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorSocketConnectError)
    assert isinstance(error.exception, AMQPConnectorStackTimeout)


def test_stack_timeout_during_the_amqp_handshake_closes_the_connection(
    loop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("silent")
    started = time.monotonic()
    result = run_workflow(loop, [params(server.address[1], stack_timeout=0.3)])
    assert 0.25 <= time.monotonic() - started < 3
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorAMQPHandshakeError)
    assert isinstance(error.exception, AMQPConnectorStackTimeout)
    (conn,) = FakeAMQPConnection.instances
    assert conn.close_calls and conn.close_calls[0][0] == 320


def test_stack_timeout_during_the_tls_handshake(
    loop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("silent")  # never answers the TLS client hello
    ssl_options = SSLOptions(client_context(tls_certs), "localhost")
    result = run_workflow(
        loop, [params(server.address[1], ssl_options=ssl_options, stack_timeout=0.3)]
    )
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorTransportSetupError)
    assert isinstance(error.exception, AMQPConnectorStackTimeout)


def test_amqp_handshake_failure_is_wrapped(loop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"NO")
    result = run_workflow(loop, [params(server.address[1])])
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorAMQPHandshakeError)
    assert isinstance(error.exception, ProbableAuthenticationError)


def test_until_first_amqp_attempt_stops_after_one_handshake(
    loop: IOLoop, make_server: MakeServer
) -> None:
    refusing = make_server("hello", greeting=b"NO")
    accepting = make_server("hello", greeting=b"OK")
    result = run_workflow(
        loop,
        [params(refusing.address[1]), params(accepting.address[1])],
        workflow=AMQPConnectionWorkflow(_until_first_amqp_attempt=True),
    )
    assert isinstance(result, AMQPConnectionWorkflowFailed)
    assert len(FakeAMQPConnection.instances) == 1  # the second endpoint was never tried


def test_tls_through_the_workflow_checks_the_host_name(
    loop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("hello", tls=server_context(tls_certs), greeting=b"OK")
    good = SSLOptions(client_context(tls_certs))  # server_hostname defaults to params.host
    result = run_workflow(loop, [params(server.address[1], host="localhost", ssl_options=good)])
    assert isinstance(result, FakeAMQPConnection) and result.is_open

    wrong = SSLOptions(client_context(tls_certs), server_hostname="wrong.example")
    result = run_workflow(loop, [params(server.address[1], ssl_options=wrong)])
    (error,) = result.exceptions
    assert isinstance(error, AMQPConnectorTransportSetupError)
    assert "wrong.example" in str(error.exception)


def test_tcp_options_turn_keepalive_on(loop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"OK")
    result = run_workflow(loop, [params(server.address[1], tcp_options={"TCP_KEEPIDLE": 77})])
    sock = result.transport._sock
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 77


def test_abort_right_after_start(loop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"OK")
    result = run_workflow(loop, [params(server.address[1])], before=lambda wf: wf.abort())
    assert isinstance(result, AMQPConnectionWorkflowAborted)
    assert FakeAMQPConnection.instances == []


def test_abort_during_the_amqp_handshake_closes_the_connection(
    loop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("silent")
    services = SelectorIOServicesAdapter(loop)
    workflow = AMQPConnectionWorkflow()
    workflow.set_io_services(services)
    results: list[Any] = []
    workflow.start(
        [params(server.address[1])],
        lambda: AMQPConnector(FakeAMQPConnection, services),
        loop,
        results.append,
    )
    spin(loop, lambda: bool(FakeAMQPConnection.instances))
    spin(loop, lambda: FakeAMQPConnection.instances[0].transport is not None)
    loop.call_later(0.05, lambda: None)
    loop.poll()
    loop.process_timeouts()
    workflow.abort()
    spin(loop, lambda: bool(results))
    assert isinstance(results[0], AMQPConnectionWorkflowAborted)
    assert FakeAMQPConnection.instances[0].close_calls[0][0] == 320
    with pytest.raises(AMQPConnectorWrongState):
        workflow.abort()


def never_called() -> AMQPConnector:
    raise AssertionError("the workflow was aborted before it made a connector")


def test_wrong_state_and_bad_arguments(loop: IOLoop) -> None:
    workflow = AMQPConnectionWorkflow()
    with pytest.raises(AMQPConnectorWrongState):
        workflow.abort()
    workflow.set_io_services(SelectorIOServicesAdapter(loop))
    with pytest.raises(ValueError, match="empty"):
        workflow.start([], never_called, loop, lambda r: None)
    workflow.start([params(refused_port())], never_called, loop, lambda r: None)
    with pytest.raises(AMQPConnectorWrongState):
        workflow.start([params(1)], never_called, loop, lambda r: None)
    workflow.abort()
    spin(loop, lambda: workflow._state == 3)


def test_connector_alone_reports_abort_and_rejects_reuse(
    loop: IOLoop, full_backlog: FullBacklog
) -> None:
    services = SelectorIOServicesAdapter(loop)
    connector = AMQPConnector(FakeAMQPConnection, services)
    with pytest.raises(AMQPConnectorWrongState):
        connector.abort()
    results: list[Any] = []
    record = (socket.AF_INET, socket.SOCK_STREAM, 6, "", full_backlog.address)
    connector.start(record, params(full_backlog.address[1]), results.append)
    with pytest.raises(AMQPConnectorWrongState):
        connector.start(record, params(1), results.append)
    connector.abort()
    spin(loop, lambda: bool(results))
    assert isinstance(results[0], AMQPConnectorAborted)
    assert isinstance(results[0], AMQPConnectorException)
    with pytest.raises(AMQPConnectorWrongState):
        connector.abort()


def test_workflow_over_asyncio(make_server: MakeServer) -> None:
    server = make_server("hello", greeting=b"OK")
    event_loop = asyncio.new_event_loop()
    try:
        services = AsyncioIOServicesAdapter(event_loop)
        workflow = AMQPConnectionWorkflow()
        workflow.set_io_services(services)
        results: list[Any] = []

        def on_done(result: Any) -> None:
            results.append(result)
            event_loop.stop()

        workflow.start(
            [params(refused_port()), params(server.address[1])],
            lambda: AMQPConnector(FakeAMQPConnection, services),
            event_loop,
            on_done,
        )
        event_loop.call_later(10, event_loop.stop)
        event_loop.run_forever()
        assert isinstance(results[0], FakeAMQPConnection) and results[0].is_open
        assert results[0].params.port == server.address[1]
        transport = results[0].transport
        assert transport is not None
        transport.abort()
        event_loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        event_loop.close()
