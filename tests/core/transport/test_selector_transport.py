"""Connect, TLS and the streaming transport over the select IOLoop (every poller)."""

from __future__ import annotations

import errno
import socket
import ssl
import time
from typing import Any, Callable

import pytest
from counting_socket import CountingSocket
from transport_support import (
    Certs,
    FlowProtocol,
    FullBacklog,
    RecordingProtocol,
    Server,
    client_context,
    connected_socket,
    refused_port,
    server_context,
    spin,
)

from pika_core.adapters.select_connection import IOLoop
from pika_core.adapters.utils.io_services_utils import READ_BUFFER_SIZE, StreamTransport
from pika_core.adapters.utils.selector_ioloop_adapter import SelectorIOServicesAdapter
from pika_core.exceptions import StreamLostError

MakeServer = Callable[..., Server]


def open_stream(
    loop: IOLoop,
    sock: socket.socket,
    protocol: RecordingProtocol,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Any:
    services = SelectorIOServicesAdapter(loop)
    results: list[Any] = []
    services.create_streaming_connection(
        lambda: protocol, sock, results.append, ssl_context, server_hostname
    )
    assert results == []  # never reported from inside the call
    spin(loop, lambda: bool(results))
    return results[0]


def test_connect_socket_success_and_refusal(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    services = SelectorIOServicesAdapter(ioloop)
    outcomes: list[BaseException | None] = []
    good = socket.socket()
    good.setblocking(False)
    bad = socket.socket()
    bad.setblocking(False)
    try:
        services.connect_socket(good, server.address, outcomes.append)
        services.connect_socket(bad, ("127.0.0.1", refused_port()), outcomes.append)
        assert outcomes == []
        spin(ioloop, lambda: len(outcomes) == 2)
        assert None in outcomes
        error = next(o for o in outcomes if o is not None)
        assert isinstance(error, ConnectionRefusedError) and error.errno == errno.ECONNREFUSED
    finally:
        good.close()
        bad.close()


def test_connect_socket_requires_an_ip_address(ioloop: IOLoop) -> None:
    services = SelectorIOServicesAdapter(ioloop)
    sock = socket.socket()
    try:
        with pytest.raises(ValueError, match="getaddrinfo"):
            services.connect_socket(sock, ("localhost", 5672), lambda exc: None)
    finally:
        sock.close()


def test_cancelled_connect_never_reports(ioloop: IOLoop, full_backlog: FullBacklog) -> None:
    services = SelectorIOServicesAdapter(ioloop)
    outcomes: list[Any] = []
    sock = socket.socket()
    sock.setblocking(False)
    try:
        ref = services.connect_socket(sock, full_backlog.address, outcomes.append)
        ioloop.call_later(0.05, lambda: None)
        ioloop.poll()
        ioloop.process_timeouts()
        assert outcomes == []  # the full backlog keeps the connect pending
        assert ref.cancel() is True
        assert ref.cancel() is False
        ioloop.call_later(0.1, ioloop.stop)
        ioloop.start()
        assert outcomes == []
    finally:
        sock.close()


def test_getaddrinfo_resolves_off_thread_and_can_be_cancelled(ioloop: IOLoop) -> None:
    services = SelectorIOServicesAdapter(ioloop)
    results: list[Any] = []
    services.getaddrinfo("127.0.0.1", 5672, results.append, socktype=socket.SOCK_STREAM)
    cancelled: list[Any] = []
    ref = services.getaddrinfo("127.0.0.1", 5673, cancelled.append)
    assert ref.cancel() is True
    spin(ioloop, lambda: bool(results))
    time.sleep(0.05)
    spin(ioloop, lambda: True)
    assert results[0][0][4] == ("127.0.0.1", 5672)
    assert cancelled == []


def test_getaddrinfo_failure_is_passed_as_the_exception(ioloop: IOLoop) -> None:
    services = SelectorIOServicesAdapter(ioloop)
    results: list[Any] = []
    services.getaddrinfo("no-such-host.invalid", 5672, results.append)
    spin(ioloop, lambda: bool(results), timeout=30)
    assert isinstance(results[0], socket.gaierror)


def test_plain_stream_round_trip(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    result = open_stream(ioloop, connected_socket(server.address), protocol)
    transport, linked_protocol = result
    assert linked_protocol is protocol and protocol.transport is transport
    assert transport.get_protocol() is protocol
    assert protocol.calls == ["connection_made"]
    transport.write(b"hello ")
    transport.write(b"world")
    assert transport.get_write_buffer_size() == 11
    spin(ioloop, lambda: bytes(protocol.data) == b"hello world")
    assert transport.get_write_buffer_size() == 0
    transport.abort()
    assert protocol.lost == []  # connection_lost is never called from inside abort()
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]
    assert protocol.calls[0] == "connection_made" and protocol.calls[-1] == "connection_lost"
    transport.write(b"ignored after close")  # no exception


def test_write_rejects_empty_data(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    transport, _ = open_stream(ioloop, connected_socket(server.address), RecordingProtocol())
    with pytest.raises(ValueError, match="non-empty"):
        transport.write(b"")
    transport.abort()


def test_writes_in_one_loop_turn_go_out_in_one_send(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("sink")
    sock = connected_socket(server.address, CountingSocket)
    transport, _ = open_stream(ioloop, sock, RecordingProtocol())
    frames = [bytes([i]) * 100 for i in range(50)]

    def produce_batch() -> None:
        for frame in frames:
            transport.write(frame)

    ioloop.call_later(0, produce_batch)
    spin(ioloop, lambda: transport.get_write_buffer_size() == 0 and sock.sends > 0)
    assert sock.sends == 1
    spin(ioloop, lambda: len(server.received) == 5000)
    assert bytes(server.received) == b"".join(frames)

    ioloop.call_later(0, produce_batch)
    spin(ioloop, lambda: len(server.received) == 10000)
    assert sock.sends == 2
    assert sock.gathered == 100  # each turn's 50 buffers went to one sendmsg, not joined
    transport.abort()


def test_large_buffers_are_gathered_uncopied_and_survive_partial_sends(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("sink")
    sock = connected_socket(server.address, CountingSocket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # partial sends for sure
    transport, _ = open_stream(ioloop, sock, RecordingProtocol())
    body = bytes(range(256)) * 4096  # 1 MiB, written as 128 KiB views with headers between
    pieces: list[Any] = []
    for offset in range(0, len(body), 131072):
        pieces.append(b"head")
        pieces.append(memoryview(body)[offset : offset + 131072])

    def produce() -> None:
        for piece in pieces:
            transport.write(piece)

    ioloop.call_later(0, produce)
    expected = b"".join(bytes(piece) for piece in pieces)
    spin(ioloop, lambda: len(server.received) == len(expected))
    assert bytes(server.received) == expected
    assert transport.get_write_buffer_size() == 0
    assert sock.sends > 1  # the socket took it in parts
    assert sock.gathered >= len(pieces)  # every piece went through sendmsg
    transport.abort()


def test_large_writes_survive_partial_sends(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    payload = bytes(range(256)) * (8 * 1024)  # 2 MiB: more than the socket buffers hold
    for offset in range(0, len(payload), 100_000):
        transport.write(payload[offset : offset + 100_000])
    spin(ioloop, lambda: len(protocol.data) == len(payload), timeout=20)
    assert bytes(protocol.data) == payload
    assert transport.bytes_sent == len(payload) == transport.bytes_received
    assert max(len(chunk) for chunk in protocol.chunks) <= READ_BUFFER_SIZE
    transport.abort()


def test_pause_and_resume_writing_around_the_limits(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("sink")
    protocol = FlowProtocol()
    flow = protocol.flow
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    assert isinstance(transport, StreamTransport)
    transport.set_write_buffer_limits(high=1000, low=100)
    assert transport.get_write_buffer_limits() == (100, 1000)
    transport.write(b"x" * 600)
    assert flow == []
    transport.write(b"x" * 600)
    assert flow == ["pause"]
    spin(ioloop, lambda: flow == ["pause", "resume"])
    with pytest.raises(ValueError):
        transport.set_write_buffer_limits(high=10, low=20)
    transport.abort()


def test_peer_eof_reaches_connection_lost_as_stream_lost(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("close")
    protocol = RecordingProtocol()
    open_stream(ioloop, connected_socket(server.address), protocol)
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.eof
    assert isinstance(protocol.lost[0], StreamLostError)
    assert protocol.calls == ["connection_made", "eof_received", "connection_lost"]


def test_eof_kept_open_leaves_closing_to_the_protocol(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("close")
    protocol = RecordingProtocol(eof_keep_open=True)
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    spin(ioloop, lambda: protocol.eof)
    ioloop.call_later(0.05, lambda: None)
    ioloop.poll()
    ioloop.process_timeouts()
    assert protocol.lost == []
    transport.abort()
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]


def test_peer_reset_reaches_connection_lost_with_the_error(
    ioloop: IOLoop, make_server: MakeServer
) -> None:
    server = make_server("reset")
    protocol = RecordingProtocol()
    open_stream(ioloop, connected_socket(server.address), protocol)
    spin(ioloop, lambda: bool(protocol.lost))
    assert isinstance(protocol.lost[0], ConnectionResetError)
    assert not protocol.eof


def test_exception_in_data_received_aborts_with_it(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    boom = RuntimeError("application bug")
    protocol.raise_on_data = boom
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    transport.write(b"ping")
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.lost == [boom]


def test_close_flushes_queued_data_first(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    protocol = RecordingProtocol()
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    transport.write(b"last words")
    transport.close()
    transport.write(b"dropped")
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]
    spin(ioloop, lambda: bytes(server.received) == b"last words")


def test_failing_protocol_factory_is_reported(ioloop: IOLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    services = SelectorIOServicesAdapter(ioloop)
    results: list[Any] = []
    sock = connected_socket(server.address)

    def factory() -> RecordingProtocol:
        raise RuntimeError("cannot build")

    services.create_streaming_connection(factory, sock, results.append)
    spin(ioloop, lambda: bool(results))
    assert isinstance(results[0], RuntimeError)
    assert sock.fileno() == -1


def test_tls_round_trip_with_hostname_verification(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    protocol = RecordingProtocol()
    context = client_context(tls_certs)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    result = open_stream(ioloop, connected_socket(server.address), protocol, context, "localhost")
    assert not isinstance(result, BaseException), result
    transport, _ = result
    payload = b"tls!" * 100_000  # several TLS records and partial writes
    transport.write(payload[:200_000])
    transport.write(payload[200_000:])
    spin(ioloop, lambda: len(protocol.data) == len(payload), timeout=20)
    assert bytes(protocol.data) == payload
    transport.abort()
    spin(ioloop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]


def test_tls_wrong_hostname_fails_the_handshake(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    protocol = RecordingProtocol()
    sock = connected_socket(server.address)
    result = open_stream(ioloop, sock, protocol, client_context(tls_certs), "wrong-host.example")
    assert isinstance(result, ssl.SSLCertVerificationError)
    assert "wrong-host.example" in str(result)
    assert protocol.calls == []  # the protocol was never linked
    assert sock.fileno() == -1


def test_tls_untrusted_certificate_fails_with_a_default_context(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    result = open_stream(
        ioloop,
        connected_socket(server.address),
        RecordingProtocol(),
        ssl.create_default_context(),  # system CAs only: our self-signed cert is unknown
        "localhost",
    )
    assert isinstance(result, ssl.SSLCertVerificationError)


def test_tls_peer_eof_is_reported(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("sink", tls=server_context(tls_certs))
    protocol = RecordingProtocol()
    result = open_stream(
        ioloop, connected_socket(server.address), protocol, client_context(tls_certs), "localhost"
    )
    transport, _ = result
    transport.write(b"x")
    spin(ioloop, lambda: bool(server.received))
    server.close()
    spin(ioloop, lambda: bool(protocol.lost))
    assert isinstance(protocol.lost[0], (StreamLostError, ssl.SSLError, OSError))


def test_cancelled_stream_setup_closes_the_socket(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("silent")  # accepts TCP, never answers the TLS hello
    services = SelectorIOServicesAdapter(ioloop)
    results: list[Any] = []
    sock = connected_socket(server.address)
    ref = services.create_streaming_connection(
        RecordingProtocol, sock, results.append, client_context(tls_certs), "localhost"
    )
    ioloop.call_later(0.1, ioloop.stop)
    ioloop.start()
    assert results == []
    assert server.eofs == 0
    assert ref.cancel() is True
    deadline = time.monotonic() + 5
    while server.eofs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.eofs == 1  # the socket was closed on cancel
    ioloop.call_later(0.05, ioloop.stop)
    ioloop.start()
    assert results == []
    assert ref.cancel() is False


def test_tls_without_hostname_is_refused_by_a_checking_context(
    ioloop: IOLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    result = open_stream(
        ioloop, connected_socket(server.address), RecordingProtocol(), client_context(tls_certs)
    )
    assert isinstance(result, ValueError)  # check_hostname needs a server_hostname


class LargeFrameProtocol(RecordingProtocol):
    """Claims to be inside a large frame: the transport reads into buffers of their own."""

    def inbound_missing(self) -> int:
        return 1 << 20


@pytest.mark.parametrize("protocol_class", [RecordingProtocol, LargeFrameProtocol])
def test_reads_arrive_whole_either_way_of_reading(
    ioloop: IOLoop, make_server: MakeServer, protocol_class: type[RecordingProtocol]
) -> None:
    server = make_server("echo")
    protocol = protocol_class()
    transport, _ = open_stream(ioloop, connected_socket(server.address), protocol)
    payload = bytes(range(256)) * 2000  # 512,000 bytes: several reads
    transport.write(payload)
    spin(ioloop, lambda: len(protocol.data) >= len(payload))
    assert bytes(protocol.data) == payload
    assert all(type(chunk) is bytes for chunk in protocol.chunks)
    transport.abort()
    spin(ioloop, lambda: bool(protocol.lost))
