"""The blocking pump's unsent-data queue: order, accounting, coalescing, no copies of big
buffers, against a real socket pair whose reader is held back."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from counting_socket import counting_pair

from pika_core.blocking.pump import SocketPump


class ScriptedProtocol:
    """Hands the pump one queued buffer per data_to_send() call."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []

    @property
    def outbound_size(self) -> int:
        return sum(len(b) for b in self.queue)

    def data_to_send(self, now: float | None = None) -> bytes:
        return self.queue.pop(0) if self.queue else b""

    def buffers_to_send(self, now: float | None = None) -> list[bytes]:
        data = self.data_to_send(now)
        return [data] if data else []


@pytest.fixture
def pair() -> Any:
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    right.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    left.setblocking(False)
    yield left, right
    right.close()


def drain(pump: SocketPump, right: socket.socket, expected: int) -> bytes:
    """Read everything while flushing until ``expected`` bytes arrived."""
    right.settimeout(5)
    received = bytearray()
    while len(received) < expected:
        with pump.lock:
            pump.flush_locked()
        received += right.recv(1 << 20)
    return bytes(received)


@pytest.mark.parametrize("gather", [True, False], ids=["sendmsg", "send"])
def test_big_and_small_buffers_arrive_whole_and_in_order(pair: Any, gather: bool) -> None:
    left, right = pair
    protocol = ScriptedProtocol()
    pump = SocketPump(left, protocol)
    assert pump._gather  # a plain socket where sendmsg exists
    pump._gather = gather  # False: one buffer per send, as over TLS
    big = bytes(range(256)) * 8192  # 2 MiB, far more than the socket buffers
    smalls = [bytes([i]) * 100 for i in range(50)]
    protocol.queue.append(big)
    with pump.lock:
        assert pump.flush_locked() is False  # the socket cannot take 2 MiB at once
    assert 0 < pump.out_size() < len(big)
    # The rest of the big buffer waits as a view of it, not a copy.
    head = pump._pending[0]
    assert isinstance(head, memoryview) and head.obj is big
    for small in smalls:
        protocol.queue.append(small)
        with pump.lock:
            pump.flush_locked()
    # Small buffers behind a pending one are coalesced (few entries, not 50).
    assert len(pump._pending) <= 3
    assert pump.has_pending()
    expected = big + b"".join(smalls)
    assert pump.out_size() <= len(expected)
    assert drain(pump, right, len(expected)) == expected
    assert pump.out_size() == 0 and not pump.has_pending()
    pump.close_socket()


def test_a_socket_error_stops_sending_and_is_kept(pair: Any) -> None:
    left, right = pair
    protocol = ScriptedProtocol()
    pump = SocketPump(left, protocol)
    protocol.queue.append(bytes(1 << 20))
    with pump.lock:
        pump.flush_locked()
    right.close()
    protocol.queue.append(b"more")
    with pump.lock:
        for _ in range(100):
            if pump.flush_locked() is False and pump.send_error is not None:
                break
    assert isinstance(pump.send_error, OSError)
    pump.close_socket()


class RecordingProtocol(ScriptedProtocol):
    """Records what the pump feeds; claims to miss ``missing`` bytes of a frame."""

    def __init__(self, missing: int) -> None:
        super().__init__()
        self.inbound_missing = missing
        self.inbound_streaming = False
        self.fed: list[Any] = []

    def feed(self, data: Any, now: float) -> list[Any]:
        self.fed.append((type(data), bytes(data)))
        return []

    def next_deadline(self) -> float | None:
        return None


@pytest.mark.parametrize("missing", [0, 1 << 20])
def test_the_rest_of_a_large_frame_is_read_into_its_own_bytes(pair: Any, missing: int) -> None:
    left, right = pair
    protocol = RecordingProtocol(missing)
    pump = SocketPump(left, protocol)
    right.sendall(b"abc" * 1000)
    received = b""
    for _ in range(50):
        pump.turn(0.1)
        received = b"".join(data for _, data in protocol.fed)
        if len(received) == 3000:
            break
    assert received == b"abc" * 1000
    kinds = {kind for kind, _ in protocol.fed}
    # Between frames: a view of the reused buffer (the reader copies it); inside a large frame:
    # a bytes object of its own, which the reader keeps without copying.
    assert kinds == ({bytes} if missing else {memoryview})
    pump.close_socket()


class StreamingProtocol(RecordingProtocol):
    """Claims a large body frame is arriving: its payload (``room`` bytes) goes into
    ``target``, which has ``slack`` bytes of room after it for ``inbound_target(spill)``;
    after the payload only the frame-end byte is missing."""

    def __init__(self, room: int, slack: int = 0) -> None:
        super().__init__(room + 1)
        self.inbound_streaming = True
        self.target = bytearray(room + slack)
        self.written = 0

    def inbound_target(self, spill: int = 0) -> memoryview | None:
        room = self.inbound_missing - 1
        if not room:
            return None
        end = min(self.written + room + spill, len(self.target))
        return memoryview(self.target)[self.written : end]

    def inbound_written(self, count: int, now: float) -> list[Any]:
        # Bytes past the payload (spill) are what follows the frame: fed, as the protocol does.
        room = self.inbound_missing - 1
        payload = min(count, room)
        self.written += payload
        self.inbound_missing -= payload
        if payload == count:
            return []
        return self.feed(bytes(self.target[self.written : self.written + count - payload]), now)

    def feed(self, data: Any, now: float) -> list[Any]:
        self.inbound_streaming = False  # the frame-end came
        self.inbound_missing = 0
        return super().feed(data, now)


@pytest.mark.parametrize("slack", [4096, 0], ids=["spill", "no-spill"])
def test_a_streamed_body_frame_is_received_in_place_and_only_what_follows_is_fed(
    pair: Any, slack: int
) -> None:
    left, right = pair
    payload = bytes(range(256)) * 400  # 102,400 bytes
    protocol = StreamingProtocol(len(payload), slack)
    pump = SocketPump(left, protocol)
    header_of_next = b"\x03\x00\x01\x00\x01\x00\x00"
    right.setblocking(False)
    stream = payload + b"\xce" + header_of_next + b"rest of the next frame"
    sent = 0
    for _ in range(500):
        if sent < len(stream):
            try:
                sent += right.send(stream[sent:])
            except BlockingIOError:
                pass
        pump.turn(0.05)
        if sent == len(stream) and protocol.fed and len(b"".join(d for _, d in protocol.fed)) > 8:
            break
    assert bytes(protocol.target[: len(payload)]) == payload
    assert protocol.written == len(payload)
    # No payload byte went through feed: it starts with the frame-end and the next header
    # (read with the payload's rest into the room after it, else by a read of exactly those).
    assert protocol.fed[0][1].startswith(b"\xce" + header_of_next)
    if not slack:
        assert protocol.fed[0][1] == b"\xce" + header_of_next
    assert b"".join(data for _, data in protocol.fed) == stream[len(payload) :]
    pump.close_socket()


@pytest.mark.parametrize("slack", [4096, 0], ids=["spill", "no-spill"])
def test_a_payloads_rest_and_what_follows_come_in_one_read_with_spill(slack: int) -> None:
    counting, right = counting_pair()
    payload = bytes(range(256)) * 100  # 25,600 bytes: the socket holds it all at once
    protocol = StreamingProtocol(len(payload), slack)
    pump = SocketPump(counting, protocol)
    rest = b"\xce\x03\x00\x01\x00\x00\x00\x10" + b"start of the next payload"
    right.sendall(payload + rest)
    pump.turn(1.0)
    assert bytes(protocol.target[: len(payload)]) == payload
    assert b"".join(data for _, data in protocol.fed) == rest
    # With room after the payload: one call; without: the payload, the frame-end and header,
    # then the rest.
    assert counting.reads == (1 if slack else 3)
    pump.close_socket()
    right.close()
