"""How StreamTransport reads on one readable event: a large body frame's rest and what follows
it in one read (into the room the protocol gives after the payload), reads that got all they
asked for followed by more (up to a budget), a short read ending the event without another
call."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from counting_socket import counting_pair

from pika_core.adapters.utils import io_services_utils
from pika_core.adapters.utils.asyncio_io_services import _StreamBridge
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
    of that many bytes is arriving and goes into ``target``, which has ``slack`` bytes of
    room after it for ``inbound_target(spill)``."""

    def __init__(self, room: int = 0, slack: int = 0) -> None:
        self.fed: list[bytes] = []
        self.room = room
        self.target = bytearray(room + slack)
        self.written = 0
        self.streaming = room > 0

    def inbound_streaming(self) -> bool:
        return self.streaming

    def inbound_missing(self) -> int:
        return self.room - self.written + 1 if self.streaming else 0

    def inbound_target(self, spill: int = 0) -> memoryview | None:
        if self.written == self.room:
            return None
        end = min(self.room + spill, len(self.target))
        return memoryview(self.target)[self.written : end]

    def inbound_written(self, count: int) -> None:
        # Bytes past the payload (spill) are what follows the frame: fed, as the protocol does.
        payload = min(count, self.room - self.written)
        self.written += payload
        if payload < count:
            self.data_received(bytes(self.target[self.room : self.room + count - payload]))

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


@pytest.mark.parametrize("slack", [4096, 0], ids=["spill", "no-spill"])
def test_a_payloads_rest_and_what_follows_come_in_one_read_with_spill(
    pair: Any, slack: int
) -> None:
    sock, peer = pair
    payload = bytes(range(256)) * 100
    rest = b"\xce\x03\x00\x01\x00\x00\x00\x10" + b"start of the next payload"
    protocol = Recording(len(payload), slack)
    stream = transport(sock, protocol)
    peer.sendall(payload + rest)
    stream._on_readable()
    assert bytes(protocol.target[: len(payload)]) == payload
    assert b"".join(protocol.fed) == rest
    # With room after the payload: one call; without: the payload, the frame-end and header,
    # then the rest.
    assert sock.reads == (1 if slack else 3)


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


@pytest.mark.parametrize("slack", [4096, 0], ids=["spill", "no-spill"])
def test_the_asyncio_bridge_takes_a_payloads_rest_and_what_follows_in_one_read(
    slack: int,
) -> None:
    payload = bytes(range(256)) * 100
    rest = b"\xce\x03\x00\x01\x00\x00\x00\x10" + b"start of the next payload"
    incoming = payload + rest
    protocol = Recording(len(payload), slack)
    loop = asyncio.new_event_loop()
    try:
        bridge = _StreamBridge(loop, lambda: protocol)  # type: ignore[arg-type,return-value]
        bridge.protocol = protocol  # type: ignore[assignment]
        bridge.release()  # linked: events are no longer held back
        reads = 0
        offset = 0
        while offset < len(incoming):  # what asyncio does on each readable event
            buffer = bridge.get_buffer(-1)
            count = min(len(buffer), len(incoming) - offset)
            buffer[:count] = incoming[offset : offset + count]
            bridge.buffer_updated(count)
            offset += count
            reads += 1
    finally:
        loop.close()
    assert bytes(protocol.target[: len(payload)]) == payload
    assert b"".join(protocol.fed) == rest
    assert reads == (1 if slack else 3)
