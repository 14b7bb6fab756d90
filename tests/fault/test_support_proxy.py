"""The fault proxy itself: every mode seen from a raw socket, then from BlockingConnection."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Callable, Iterator

import pytest

import pika_core as pika
from pika_core import exceptions

from .support import BrokerNode, FaultProxy

# --- a loopback upstream that records what reaches it ------------------------------------------


class Upstream:
    """A TCP server on 127.0.0.1: echoes (or only records) what each connection sends."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.received = bytearray()
        self.reads: list[int] = []
        self.endings: list[str] = []
        self.accepted = 0
        self.peers: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.peers.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except ConnectionResetError:
                self.endings.append("reset")
                return
            except OSError:
                self.endings.append("error")
                return
            if not data:
                self.endings.append("eof")
                conn.close()
                return
            with self._lock:
                self.received += data
                self.reads.append(len(data))
            if self.echo:
                try:
                    conn.sendall(data)
                except OSError:
                    self.endings.append("send failed")
                    return

    def wait_received(self, size: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.received) < size and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.received)

    def wait_ending(self, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while not self.endings and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.endings[0] if self.endings else "still open"

    def close(self) -> None:
        self.listener.close()
        for peer in self.peers:
            peer.close()


@pytest.fixture
def echo() -> Iterator[Upstream]:
    server = Upstream(echo=True)
    yield server
    server.close()


@pytest.fixture
def sink() -> Iterator[Upstream]:
    server = Upstream(echo=False)
    yield server
    server.close()


def client_of(proxy: FaultProxy, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    proxy.wait_connections(1)
    return sock


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def expect_reset_on_connect(address: tuple[str, int]) -> None:
    """Connecting, or the first read after it, must fail with a reset."""
    with pytest.raises(ConnectionResetError), socket.create_connection(address, timeout=5) as sock:
        sock.recv(10)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# --- raw sockets: no broker needed ---------------------------------------------------------------


def test_pass_through_forwards_both_ways_and_counts(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy:
        with client_of(proxy) as sock:
            payload = b"hello through the proxy" * 100
            sock.sendall(payload)
            assert recv_exactly(sock, len(payload)) == payload
            (connection,) = proxy.connections
            # The proxy thread counts a write just after the kernel took it: allow it a moment.
            assert wait_until(lambda: connection.bytes_downstream == len(payload))
            assert connection.bytes_upstream == len(payload)
        assert proxy.bytes_upstream == proxy.bytes_downstream == len(payload)
        assert proxy.accepted == 1
        assert echo.wait_ending() == "eof"


def test_reset_sends_rst_to_both_sides(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy:
        with client_of(proxy) as sock:
            sock.sendall(b"x")
            assert recv_exactly(sock, 1) == b"x"
            assert proxy.reset_all() == 1
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
        assert echo.wait_ending() == "reset"
        assert proxy.connections == []
        assert proxy.history[0].close_reason == "reset by test"


def test_blackhole_keeps_sockets_open_and_drops_bytes(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy, timeout=0.5) as sock:
        proxy.blackhole()
        sock.sendall(b"lost" * 10)
        with pytest.raises(socket.timeout):
            sock.recv(10)
        (connection,) = proxy.connections
        assert connection.is_open
        assert connection.bytes_discarded == 40
        assert echo.received == b""
        assert echo.endings == []
        proxy.restore()
        sock.sendall(b"back")
        assert recv_exactly(sock, 4) == b"back"


def test_stall_stops_reading_until_restored(sink: Upstream) -> None:
    with FaultProxy(("127.0.0.1", sink.port)) as proxy, client_of(proxy) as sock:
        proxy.stall("upstream")
        sock.setblocking(False)
        sent = 0
        chunk = b"s" * 65536
        deadline = time.monotonic() + 10
        # TCP back-pressure: the client's sends stop being accepted.
        while time.monotonic() < deadline:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                break
        else:
            pytest.fail(f"the client could still send after {sent} bytes: not stalled")
        time.sleep(0.2)
        assert sink.received == b""
        proxy.restore()
        assert len(sink.wait_received(sent, timeout=10)) == sent


def test_half_close_downstream_gives_the_client_eof(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy) as sock:
        proxy.half_close("downstream")
        assert sock.recv(10) == b""
        # The other direction still carries bytes to the upstream.
        sock.sendall(b"still heard")
        assert echo.wait_received(11) == b"still heard"


def test_half_close_upstream_gives_the_server_eof(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy) as sock:
        proxy.half_close("upstream")
        assert echo.wait_ending() == "eof"
        # The echo server closes in turn, and the proxy passes that FIN on.
        assert sock.recv(10) == b""


def test_cut_after_upstream_bytes(sink: Upstream) -> None:
    with FaultProxy(("127.0.0.1", sink.port)) as proxy, client_of(proxy) as sock:
        proxy.cut_after(upstream=1000)
        try:
            sock.sendall(b"u" * 5000)
        except ConnectionResetError:
            pass
        assert sink.wait_ending() == "reset"
        assert bytes(sink.received) == b"u" * 1000
        with pytest.raises(ConnectionResetError):
            sock.recv(10)


def test_cut_after_downstream_bytes(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy) as sock:
        proxy.cut_after(downstream=30)
        sock.sendall(bytes(range(100)))
        received = bytearray()
        with pytest.raises(ConnectionResetError):
            while True:
                chunk = sock.recv(100)
                if not chunk:
                    break
                received += chunk
        assert bytes(received) == bytes(range(30))


def test_refuse_resets_new_connections_until_accept(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy:
        proxy.refuse()
        expect_reset_on_connect(proxy.address)
        assert proxy.refused == 1
        assert proxy.accepted == 0
        assert echo.accepted == 0
        proxy.accept()
        with client_of(proxy) as sock:
            sock.sendall(b"ok")
            assert recv_exactly(sock, 2) == b"ok"


def test_slicer_writes_tiny_pieces_in_order(echo: Upstream) -> None:
    payload = bytes(range(256)) * 4
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy) as sock:
        proxy.slicer("upstream", 1, 10)
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    # Unsliced, 1 KiB arrives in one read; sliced (1-10 bytes, 0.5 ms apart) in many.
    assert len(echo.reads) >= 20, echo.reads


def test_latency_holds_bytes(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, client_of(proxy) as sock:
        proxy.latency(0.3, "upstream")
        started = time.monotonic()
        sock.sendall(b"late")
        assert recv_exactly(sock, 4) == b"late"
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 5


def test_on_connect_arms_new_connections_and_heal_clears(sink: Upstream) -> None:
    with FaultProxy(("127.0.0.1", sink.port)) as proxy:
        proxy.on_connect(lambda connection: connection.cut_after(upstream=3))
        with client_of(proxy) as sock:
            try:
                sock.sendall(b"abcdef")
            except ConnectionResetError:
                pass
            assert sink.wait_ending() == "reset"
        assert bytes(sink.received) == b"abc"
        proxy.heal()
        with client_of(proxy) as sock:
            sock.sendall(b"whole")
            assert sink.wait_received(8) == b"abcwhole"


def test_upstream_down_resets_the_client() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with FaultProxy(("127.0.0.1", port)) as proxy:
        expect_reset_on_connect(proxy.address)
        assert proxy.upstream_failures == 1


def test_close_shuts_everything_down(echo: Upstream) -> None:
    proxy = FaultProxy(("127.0.0.1", echo.port)).start()
    sock = client_of(proxy)
    proxy.close()
    assert sock.recv(10) == b""
    sock.close()
    assert not proxy._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=2)


def test_proxy_refuses_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(("10.0.0.1", 5672))


# --- BlockingConnection through the proxy to the session's own node ----------------------------


def _params(proxy: FaultProxy, node: BrokerNode, query: str = "") -> pika.URLParameters:
    return pika.URLParameters(proxy.url(node.url(query)))


def test_pass_through_carries_an_amqp_session(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    queue = f"proxy-{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(_params(fault_proxy, own_node)) as connection:
        channel = connection.channel()
        channel.queue_declare(queue)
        channel.basic_publish("", queue, b"through")
        _method, _props, body = channel.basic_get(queue, auto_ack=True)
    assert body == b"through"
    assert fault_proxy.bytes_upstream > 0 and fault_proxy.bytes_downstream > 0


def test_reset_is_a_stream_lost_error_at_once(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    connection = pika.BlockingConnection(_params(fault_proxy, own_node))
    fault_proxy.reset_all()
    started = time.monotonic()
    with pytest.raises(exceptions.StreamLostError):
        connection.process_data_events(time_limit=5)
    assert time.monotonic() - started < 2


def test_blackhole_is_a_heartbeat_timeout_within_two_intervals(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    heartbeat = 2
    connection = pika.BlockingConnection(_params(fault_proxy, own_node, f"heartbeat={heartbeat}"))
    fault_proxy.blackhole()
    started = time.monotonic()
    with pytest.raises(exceptions.AMQPHeartbeatTimeout):
        connection.process_data_events(time_limit=4 * heartbeat + 5)
    assert time.monotonic() - started <= 2 * heartbeat + 1


def test_cut_mid_publish_enqueues_nothing(own_node: BrokerNode, fault_proxy: FaultProxy) -> None:
    queue = f"cut-{uuid.uuid4().hex[:8]}"
    own_node.api.declare_queue(queue, durable=False)
    connection = pika.BlockingConnection(_params(fault_proxy, own_node))
    channel = connection.channel()
    fault_proxy.cut_after(upstream=50_000)
    with pytest.raises(exceptions.AMQPConnectionError):
        channel.basic_publish("", queue, b"b" * 200_000)
        connection.process_data_events(time_limit=5)
    assert own_node.queue_depth(queue) == 0


def test_refused_connection_fails_to_open(own_node: BrokerNode, fault_proxy: FaultProxy) -> None:
    fault_proxy.refuse()
    params = _params(fault_proxy, own_node)
    params.connection_attempts = 1
    started = time.monotonic()
    with pytest.raises(exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)
    assert time.monotonic() - started < 5
    assert fault_proxy.refused == 1


def test_half_close_is_a_stream_lost_error(own_node: BrokerNode, fault_proxy: FaultProxy) -> None:
    connection = pika.BlockingConnection(_params(fault_proxy, own_node))
    fault_proxy.half_close("downstream")
    with pytest.raises(exceptions.StreamLostError):
        connection.process_data_events(time_limit=5)


def test_sliced_stream_still_opens_and_exchanges_messages(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    fault_proxy.on_connect(lambda connection: connection.slicer("both", 1, 10, delay=0.0002))
    queue = f"sliced-{uuid.uuid4().hex[:8]}"
    bodies = [f"message {i} ".encode() * (i + 1) for i in range(20)]
    with pika.BlockingConnection(_params(fault_proxy, own_node)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue)
        for body in bodies:
            channel.basic_publish("", queue, body)
        received = []
        for method, _props, body in channel.consume(queue, inactivity_timeout=10):
            assert method is not None, "a sliced delivery never arrived"
            received.append(body)
            channel.basic_ack(method.delivery_tag)
            if len(received) == len(bodies):
                break
        channel.cancel()
    assert received == bodies
    (sliced,) = fault_proxy.history
    assert sliced.bytes_downstream > sum(len(b) for b in bodies)
