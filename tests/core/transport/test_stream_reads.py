"""How StreamTransport reads on one readable event: a large body frame's rest and what follows
it in one scatter read, reads that got all they asked for followed by more (up to a budget),
a short read ending the event without another call."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from counting_socket import counting_pair

from pika_core.adapters.utils import io_services_utils
from pika_core.adapters.utils.io_services_utils import StreamTransport


class NoServices:
    """The transport's services, for a test that calls _on_readable itself."""

    def set_reader(self, fd: int, callback: Any) -> None:
        pass

    def remove_reader(self, fd: int) -> bool:
        return True

    def set_writer(self, fd: int, callback: Any) -> None:
        pass

    def remove_writer(self, fd: int) -> bool:
        return True

    def call_later(self, delay: float, callback: Any) -> Any:
        raise AssertionError("nothing here is scheduled")


class Recording:
    """A protocol that records what it receives; with ``room``, a large body frame's payload
    of that many bytes is arriving and goes into ``target``."""

    def __init__(self, room: int = 0) -> None:
        self.fed: list[bytes] = []
        self.target = bytearray(room)
        self.written = 0
        self.streaming = room > 0

    def inbound_streaming(self) -> bool:
        return self.streaming

    def inbound_missing(self) -> int:
        return len(self.target) - self.written + 1 if self.streaming else 0

    def inbound_target(self) -> memoryview | None:
        if self.written == len(self.target):
            return None
        return memoryview(self.target)[self.written :]

    def inbound_written(self, count: int) -> None:
        self.written += count

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.streaming = False  # the frame-end came
        self.fed.append(data)


@pytest.fixture
def pair() -> Any:
    counting, right = counting_pair()
    yield counting, right
    counting.close()
    right.close()


def transport(sock: socket.socket, protocol: Recording) -> StreamTransport:
    return StreamTransport(sock, protocol, NoServices())  # type: ignore[arg-type]


@pytest.mark.parametrize("scatter", [True, False], ids=["recvmsg_into", "recv_into"])
def test_a_payloads_rest_and_what_follows_come_in_one_scatter_read(
    pair: Any, scatter: bool
) -> None:
    sock, peer = pair
    payload = bytes(range(256)) * 100
    rest = b"\xce\x03\x00\x01\x00\x00\x00\x10" + b"start of the next payload"
    protocol = Recording(len(payload))
    stream = transport(sock, protocol)
    stream._scatter = scatter
    peer.sendall(payload + rest)
    stream._on_readable()
    assert bytes(protocol.target) == payload
    assert b"".join(protocol.fed) == rest
    # recvmsg_into: one call; recv_into: the payload, the frame-end and header, then more.
    assert sock.reads == (1 if scatter else 3)


def test_full_reads_go_on_until_the_event_budget(
    pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, peer = pair
    monkeypatch.setattr(io_services_utils, "READ_BUFFER_SIZE", 1000)
    monkeypatch.setattr(io_services_utils, "READ_EVENT_BUDGET", 3500)
    protocol = Recording()
    stream = transport(sock, protocol)
    data = bytes(range(250)) * 40  # 10,000 bytes
    peer.sendall(data)
    stream._on_readable()
    assert [len(piece) for piece in protocol.fed] == [1000] * 4  # 4,000 >= 3,500: event over
    assert sock.reads == 4
    stream._on_readable()
    stream._on_readable()
    assert b"".join(protocol.fed) == data
    # The tenth read got all it asked for: one more call finds the socket empty.
    assert sock.reads == 11


def test_a_short_read_ends_the_event_without_another_call(
    pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, peer = pair
    monkeypatch.setattr(io_services_utils, "READ_BUFFER_SIZE", 1000)
    protocol = Recording()
    stream = transport(sock, protocol)
    peer.sendall(b"x" * 1500)
    stream._on_readable()
    assert [len(piece) for piece in protocol.fed] == [1000, 500]
    assert sock.reads == 2
