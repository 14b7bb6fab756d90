"""AsyncioIOServicesAdapter: timers, callbacks, resolve, connect and the stream (TCP and TLS).

Every test runs on the default asyncio loop and on a loop without add_reader/add_writer,
the way a ProactorEventLoop is, to show the adapter never needs them.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from counting_socket import CountingSocket
from transport_support import (
    Certs,
    FlowProtocol,
    RecordingProtocol,
    Server,
    client_context,
    connected_socket,
    refused_port,
    server_context,
)

from pika_core.adapters.utils.asyncio_io_services import AsyncioIOServicesAdapter
from pika_core.exceptions import StreamLostError

MakeServer = Callable[..., Server]


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop without the public fd-watching API, like Windows' ProactorEventLoop."""

    def add_reader(self, *args: Any) -> None:  # type: ignore[override]
        raise NotImplementedError("no add_reader on this loop")

    def add_writer(self, *args: Any) -> None:  # type: ignore[override]
        raise NotImplementedError("no add_writer on this loop")


@pytest.fixture(params=["default", "no_add_reader"])
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop() if request.param == "default" else NoReaderLoop()
    yield event_loop
    event_loop.close()


def run_until(
    loop: asyncio.AbstractEventLoop, until: Callable[[], bool], timeout: float = 5.0
) -> None:
    async def waiter() -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    loop.run_until_complete(waiter())


def open_stream(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol: RecordingProtocol,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Any:
    services = AsyncioIOServicesAdapter(loop)
    results: list[Any] = []
    services.create_streaming_connection(
        lambda: protocol, sock, results.append, ssl_context, server_hostname
    )
    assert results == []
    run_until(loop, lambda: bool(results))
    return results[0]


def test_uses_the_running_loop_by_default() -> None:
    async def main() -> Any:
        return AsyncioIOServicesAdapter().get_native_ioloop() is asyncio.get_running_loop()

    assert asyncio.run(main()) is True


def test_timers_cancel_and_threadsafe_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    services = AsyncioIOServicesAdapter(loop)
    order: list[str] = []
    services.call_later(0.02, lambda: order.append("b"))
    services.call_later(0.0, lambda: order.append("a"))
    services.call_later(0.01, lambda: order.append("never")).cancel()
    threading.Thread(
        target=lambda: services.add_callback_threadsafe(lambda: order.append("thread"))
    ).start()
    services.call_later(0.2, services.stop)
    services.run()
    assert order.count("thread") == 1
    assert [x for x in order if x != "thread"] == ["a", "b"]
    with pytest.raises(TypeError):
        services.add_callback_threadsafe(42)  # type: ignore[arg-type]


def test_getaddrinfo_and_connect(loop: asyncio.AbstractEventLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    services = AsyncioIOServicesAdapter(loop)
    resolved: list[Any] = []
    services.getaddrinfo(
        "127.0.0.1", server.address[1], resolved.append, socktype=socket.SOCK_STREAM
    )
    run_until(loop, lambda: bool(resolved))
    record = resolved[0][0]
    assert record[4] == server.address

    outcomes: list[Any] = []
    good = socket.socket(record[0], record[1], record[2])
    good.setblocking(False)
    bad = socket.socket()
    bad.setblocking(False)
    try:
        services.connect_socket(good, record[4], outcomes.append)
        services.connect_socket(bad, ("127.0.0.1", refused_port()), outcomes.append)
        run_until(loop, lambda: len(outcomes) == 2)
        assert None in outcomes
        error = next(o for o in outcomes if o is not None)
        assert isinstance(error, ConnectionRefusedError) and error.errno == errno.ECONNREFUSED
        with pytest.raises(ValueError, match="getaddrinfo"):
            services.connect_socket(bad, ("localhost", 1), outcomes.append)
    finally:
        good.close()
        bad.close()


def test_cancelled_getaddrinfo_never_reports(loop: asyncio.AbstractEventLoop) -> None:
    services = AsyncioIOServicesAdapter(loop)
    results: list[Any] = []
    ref = services.getaddrinfo("127.0.0.1", 1, results.append)
    assert ref.cancel() is True
    assert ref.cancel() is False
    loop.run_until_complete(asyncio.sleep(0.05))
    assert results == []


def test_plain_round_trip_and_abort(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer
) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    transport, linked = open_stream(loop, connected_socket(server.address), protocol)
    assert linked is protocol and protocol.transport is transport
    assert protocol.calls == ["connection_made"]
    transport.write(b"hello ")
    transport.write(b"world")
    assert transport.get_write_buffer_size() == 11
    run_until(loop, lambda: bytes(protocol.data) == b"hello world")
    transport.abort()
    assert protocol.lost == []
    run_until(loop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]
    transport.write(b"ignored")  # after abort: dropped, no exception

    other, _ = open_stream(loop, connected_socket(server.address), RecordingProtocol())
    with pytest.raises(ValueError, match="non-empty"):
        other.write(b"")
    other.abort()


def test_writes_in_one_turn_reach_the_socket_in_one_send(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer
) -> None:
    server = make_server("sink")
    sock = connected_socket(server.address, CountingSocket)
    transport, _ = open_stream(loop, sock, RecordingProtocol())
    frames = [bytes([i]) * 100 for i in range(50)]
    sends_before = sock.sends
    for frame in frames:
        transport.write(frame)
    run_until(loop, lambda: len(server.received) == 5000)
    assert bytes(server.received) == b"".join(frames)
    assert sock.sends - sends_before == 1
    transport.abort()


def test_large_transfer(loop: asyncio.AbstractEventLoop, make_server: MakeServer) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    transport, _ = open_stream(loop, connected_socket(server.address), protocol)
    payload = bytes(range(256)) * (8 * 1024)
    for offset in range(0, len(payload), 100_000):
        transport.write(payload[offset : offset + 100_000])
    run_until(loop, lambda: len(protocol.data) == len(payload), timeout=20)
    assert bytes(protocol.data) == payload
    transport.abort()


def test_eof_and_reset_are_reported(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer
) -> None:
    closing = make_server("close")
    protocol = RecordingProtocol()
    open_stream(loop, connected_socket(closing.address), protocol)
    run_until(loop, lambda: bool(protocol.lost))
    assert protocol.eof
    assert isinstance(protocol.lost[0], StreamLostError)

    resetting = make_server("reset")
    protocol = RecordingProtocol()
    # Under load the RST can arrive while the stream is still being set up; then it is the
    # set-up's caller that hears of it. Either way it must be reported as a reset.
    try:
        result = open_stream(loop, connected_socket(resetting.address), protocol)
    except ConnectionResetError:
        return
    if isinstance(result, BaseException):
        reset = result if isinstance(result, ConnectionResetError) else result.__cause__
        assert isinstance(reset, ConnectionResetError), repr(result)
        return
    run_until(loop, lambda: bool(protocol.lost))
    assert isinstance(protocol.lost[0], ConnectionResetError)


def test_exception_in_data_received_aborts_with_it(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer
) -> None:
    server = make_server("echo")
    protocol = RecordingProtocol()
    boom = RuntimeError("application bug")
    protocol.raise_on_data = boom
    transport, _ = open_stream(loop, connected_socket(server.address), protocol)
    transport.write(b"ping")
    run_until(loop, lambda: bool(protocol.lost))
    assert protocol.lost == [boom]


def test_close_flushes(loop: asyncio.AbstractEventLoop, make_server: MakeServer) -> None:
    server = make_server("sink")
    protocol = RecordingProtocol()
    transport, _ = open_stream(loop, connected_socket(server.address), protocol)
    transport.write(b"last words")
    transport.close()
    run_until(loop, lambda: bool(protocol.lost))
    assert protocol.lost == [None]
    deadline = time.monotonic() + 5
    while bytes(server.received) != b"last words" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bytes(server.received) == b"last words"


def test_tls_round_trip_and_wrong_hostname(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    protocol = RecordingProtocol()
    result = open_stream(
        loop, connected_socket(server.address), protocol, client_context(tls_certs), "localhost"
    )
    assert not isinstance(result, BaseException), result
    transport, _ = result
    payload = b"tls!" * 100_000
    transport.write(payload)
    run_until(loop, lambda: len(protocol.data) == len(payload), timeout=20)
    assert bytes(protocol.data) == payload
    transport.abort()
    run_until(loop, lambda: bool(protocol.lost))

    wrong = RecordingProtocol()
    result = open_stream(
        loop, connected_socket(server.address), wrong, client_context(tls_certs), "wrong.example"
    )
    assert isinstance(result, ssl.SSLCertVerificationError)
    assert wrong.calls == []


def test_tls_without_hostname_is_refused_by_a_checking_context(
    loop: asyncio.AbstractEventLoop, make_server: MakeServer, tls_certs: Certs
) -> None:
    server = make_server("echo", tls=server_context(tls_certs))
    result = open_stream(
        loop, connected_socket(server.address), RecordingProtocol(), client_context(tls_certs), None
    )
    assert isinstance(result, ValueError)  # check_hostname needs a server_hostname


def test_a_burst_waits_here_not_in_asyncios_buffer_and_flow_follows_our_limits(
    loop: asyncio.AbstractEventLoop,
) -> None:
    from pika_core.adapters.utils import asyncio_io_services as module

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the kernel holds little
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sock = connected_socket(listener.getsockname())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer, _ = listener.accept()
    listener.close()
    protocol = FlowProtocol()
    flow = protocol.flow
    transport, _ = open_stream(loop, sock, protocol)
    transport.set_write_buffer_limits(high=4 << 20, low=1 << 20)
    assert transport.get_write_buffer_limits() == (1 << 20, 4 << 20)
    body = bytes(range(256)) * (32 * 1024)  # 8 MiB as 128 KiB views, with small writes between
    expected = bytearray()
    for offset in range(0, len(body), 131072):
        transport.write(b"frame-header")
        transport.write(memoryview(body)[offset : offset + 131072])  # type: ignore[arg-type]
        expected += b"frame-header" + body[offset : offset + 131072]
    assert flow == ["pause"]  # 8 MiB queued, over the 4 MiB high mark
    run_until(loop, lambda: transport._native_full)  # the peer reads nothing yet
    native = transport._transport.get_write_buffer_size()
    assert native <= module._NATIVE_HIGH + 131072  # asyncio holds about 1 MiB, not 8
    assert transport.get_write_buffer_size() > 4 << 20
    received = bytearray()

    def drain() -> None:
        while len(received) < len(expected):
            chunk = peer.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    run_until(loop, lambda: transport.get_write_buffer_size() == 0, timeout=20)
    reader.join(10)
    assert bytes(received) == bytes(expected)
    assert flow == ["pause", "resume"]
    transport.abort()
    peer.close()
