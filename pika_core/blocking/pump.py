"""The event pump: moves bytes between one socket and the sans-I/O protocol in the caller's thread.

One ``turn(timeout)`` flushes what the protocol has queued (coalesced into one ``send``),
waits with ``selectors`` for the socket, the wake-up socketpair or the timeout, reads what is
available with ``recv_into`` into a large buffer (the payload of a large body frame straight into
its message: ``protocol.inbound_target()``), feeds it to the protocol and ticks heartbeats when
their deadline has passed. The only other thread that may touch the socket is the heartbeat
thread, and only for writing, under ``lock``; the lock also guards the protocol, whose outbound
buffer both threads drain.
"""

from __future__ import annotations

import collections
import itertools
import logging
import selectors
import socket
import ssl
import threading
import time
from typing import Any

from pika_core import exceptions

__all__ = ["SocketPump"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")

#: Size of the receive buffer: big enough to take a burst of deliveries in one system call.
RECV_SIZE = 256 * 1024
#: When the frame being received still needs this many bytes, the next read allocates its own
#: buffer (recv) instead of filling the reused one (recv_into, then a copy).
LARGE_REST = 64 * 1024
#: The size of the first read after a large body frame (see _read).
AFTER_STREAM_READ = 4096
#: A heartbeat frame (type 8, channel 0, size 0, frame end).
HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_SOCK = 1
#: Pending buffers smaller than this are coalesced; larger ones wait as they are.
_COALESCE_LIMIT = 64 * 1024
#: At most this many buffers go to one sendmsg (well under every platform's IOV_MAX).
_IOV_MAX = 64
_WAKE = 2


class SocketPump:
    """Socket I/O for one connection: flush, wait, read, feed, tick."""

    def __init__(self, sock: socket.socket, protocol: Any) -> None:
        self.sock = sock
        self.protocol = protocol
        #: Guards the protocol and the unsent tail; shared with the heartbeat thread.
        self.lock = threading.Lock()
        #: Unsent buffers, oldest first, and how many bytes they hold.
        self._pending: collections.deque[Any] = collections.deque()
        self._pending_size = 0
        self._rbuf = bytearray(RECV_SIZE)
        self._after_stream = False  # the last read was part of a large body frame
        self._rview = memoryview(self._rbuf)
        self._tls = isinstance(sock, ssl.SSLSocket)
        #: Whether pending buffers may go out in one sendmsg (plain sockets where it exists).
        self._gather = not self._tls and hasattr(sock, "sendmsg")
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, _SOCK)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._want_write = False
        #: Monotonic time of the last successful send (read by the heartbeat thread).
        self.last_send = time.monotonic()
        #: The first socket error a send met (the reading side turns it into connection_lost).
        self.send_error: BaseException | None = None
        self.closed = False

    # -- writing -------------------------------------------------------------------------------

    def flush_locked(self) -> bool:
        """Send what is pending (caller holds ``lock``); return True when nothing is left.

        What the socket does not take waits in ``_pending``, oldest first: large buffers as
        they are (a partial send keeps a memoryview of the rest, no copy), small ones
        coalesced into one bytearray so that a backlog of small frames still goes out in few
        system calls.
        """
        buffers = self.protocol.buffers_to_send(time.monotonic())
        pending = self._pending
        if not buffers and not pending:
            return True
        if self.closed or self.send_error is not None:
            return False  # the connection is lost: nothing more goes out
        if len(buffers) == 1 and not pending:
            # The common case: one buffer and nothing waiting; only what the socket does not
            # take waits, as a view of the rest.
            data = buffers[0]
            sent = self._send(data)
            if sent == len(data):
                return True
            if sent >= 0:
                pending.append(memoryview(data)[sent:])
                self._pending_size += len(data) - sent
            return False
        for data in buffers:
            self._enqueue(data)
        while pending:
            # Several buffers go out in one sendmsg (scatter/gather, no join) where possible.
            gather = len(pending) > 1 and self._gather
            sent = self._send(
                list(itertools.islice(pending, _IOV_MAX)) if gather else pending[0], gather
            )
            if sent < 0:
                return False
            self._pending_size -= sent
            while sent:
                head = pending[0]
                if sent < len(head):
                    if type(head) is bytearray:
                        del head[:sent]  # cheap at the front of a bytearray
                    else:
                        pending[0] = memoryview(head)[sent:]
                    return False
                sent -= len(head)
                pending.popleft()
            if pending:
                return False  # the socket is full
        return True

    def _send(self, payload: Any, gather: bool = False) -> int:
        """One ``send`` (``sendmsg`` of a list of buffers if ``gather``): bytes taken, 0 if the
        socket is full, or -1 after a socket error (kept in ``send_error``)."""
        try:
            sent: int = self.sock.sendmsg(payload) if gather else self.sock.send(payload)
        except _WOULD_BLOCK:
            return 0
        except OSError as exc:
            self.send_error = exc
            return -1
        if sent:
            self.last_send = time.monotonic()
        return sent

    def _enqueue(self, data: Any) -> None:
        """Queue ``data`` behind what is pending (small buffers coalesced)."""
        pending = self._pending
        self._pending_size += len(data)
        if len(data) >= _COALESCE_LIMIT:
            pending.append(data)
            return
        last = pending[-1] if pending else None
        if type(last) is bytearray and len(last) < _COALESCE_LIMIT and len(pending) > 1:
            last += data  # never the head: a TLS retry must see the same buffer
        else:
            pending.append(bytearray(data))

    def flush(self) -> bool:
        """Take the lock and send what is pending; return True when all of it went out."""
        with self.lock:
            return self.flush_locked()

    def send_heartbeat_if_idle(self, idle_for: float) -> None:
        """Heartbeat thread: send pending data, or a heartbeat frame after ``idle_for`` s of silence."""
        with self.lock:
            if self.closed or self.send_error is not None:
                return
            self.flush_locked()
            if self._pending or time.monotonic() - self.last_send < idle_for:
                return
            sent = self._send(HEARTBEAT_FRAME)
            if 0 < sent < len(HEARTBEAT_FRAME):
                self._enqueue(HEARTBEAT_FRAME[sent:])

    def out_size(self) -> int:
        """How many bytes are waiting for the socket to accept them."""
        return self._pending_size

    def has_pending(self) -> bool:
        """Whether anything waits to be sent (read without the lock: a hint, not a promise)."""
        return bool(self._pending) or self.protocol.outbound_size > 0

    # -- waiting and reading -------------------------------------------------------------------

    def wake(self) -> None:
        """Interrupt a ``turn`` blocked in select (thread-safe)."""
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def turn(self, timeout: float | None) -> list[Any]:
        """Flush, wait up to ``timeout`` s (None: no limit) for I/O, read and feed; return events."""
        protocol = self.protocol
        with self.lock:
            self.flush_locked()
            unsent = bool(self._pending)
        if self.send_error is not None:
            return self._lost(self.send_error)
        if unsent != self._want_write:
            self._want_write = unsent
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if unsent else 0)
            self._selector.modify(self.sock, mask, _SOCK)
        deadline = protocol.next_deadline()
        now = time.monotonic()
        if deadline is not None:
            until = deadline - now
            if until < 0:
                until = 0.0
            if timeout is None or until < timeout:
                timeout = until
        if timeout is not None and timeout < 0:
            timeout = 0.0
        if self._tls and self.sock.pending():  # type: ignore[attr-defined]
            timeout = 0.0
        events: list[Any] = []
        try:
            ready = self._selector.select(timeout)
        except InterruptedError:
            ready = []
        for key, mask in ready:
            if key.data == _SOCK:
                if mask & selectors.EVENT_READ:
                    events += self._read()
                if mask & selectors.EVENT_WRITE and not self.closed:
                    with self.lock:
                        self.flush_locked()
            else:
                self._drain_wake()
        if self._tls and not self.closed and self.sock.pending():  # type: ignore[attr-defined]
            events += self._read()
        if self.closed:
            return events
        deadline = protocol.next_deadline()
        if deadline is not None:
            now = time.monotonic()
            if now >= deadline:
                with self.lock:
                    events += protocol.tick(now)
        if self.send_error is not None and not self.closed:
            events += self._lost(self.send_error)
        return events

    def _read(self) -> list[Any]:
        """Read what the socket has and feed it, until it is drained or 256 KiB were read and
        something is complete (dispatched before more is read); return the protocol's events."""
        sock = self.sock
        rbuf = self._rbuf
        view = self._rview
        feed = self.protocol.feed
        events: list[Any] = []
        protocol = self.protocol
        received = 0
        while True:
            target = None
            try:
                if protocol.inbound_streaming:
                    # A large body frame: its payload goes straight into its message, and the
                    # room after it takes what follows it in the same read (the frame-end
                    # byte, the next frame header, the start of its payload).
                    with self.lock:
                        target = protocol.inbound_target(AFTER_STREAM_READ)
                    if target is not None:
                        limit = len(target)
                        size = sock.recv_into(target)
                    else:
                        limit = protocol.inbound_missing + 7
                        size = sock.recv_into(rbuf, limit)
                        data: Any = view[:size]
                    self._after_stream = True
                elif protocol.inbound_missing < LARGE_REST:
                    # Right after a large body, read little: the next message's first frames
                    # (and the start of its body, which then goes straight into place too)
                    # rather than most of its body through rbuf and a copy.
                    limit = AFTER_STREAM_READ if self._after_stream else RECV_SIZE
                    self._after_stream = False
                    size = sock.recv_into(rbuf, limit)
                    data = view[:size]  # copied by the reader
                else:
                    # The rest of another large frame: into a buffer of its own, which the
                    # reader keeps as it is (one copy less per byte than through rbuf).
                    limit = RECV_SIZE
                    data = sock.recv(RECV_SIZE)
                    size = len(data)
            except _WOULD_BLOCK:
                break
            except OSError as exc:
                return events + self._lost(exc)
            if not size:
                return events + self._lost(None)
            with self.lock:
                if target is not None:
                    events += protocol.inbound_written(size, time.monotonic())
                else:
                    events += feed(data, time.monotonic())
            if size < limit and not self._tls:
                break
            received += size
            if events and received >= RECV_SIZE:
                # Let what is complete be dispatched first: with large messages, one body
                # alive at a time instead of every body the socket holds.
                break
        return events

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _lost(self, exc: BaseException | None) -> list[Any]:
        """The stream failed: tell the protocol (once) and return its terminal events."""
        if self.closed:
            return []
        if exc is None:
            error: BaseException = exceptions.StreamLostError(
                "Transport indicated EOF: the broker or the network closed the connection"
            )
        elif isinstance(exc, exceptions.AMQPError):
            error = exc
        else:
            error = exceptions.StreamLostError(f"Stream connection lost: {exc!r}")
        with self.lock:
            events: list[Any] = self.protocol.connection_lost(error, time.monotonic())
        self.close_socket()
        return events

    def lose(self, error: BaseException) -> list[Any]:
        """End the connection from this side with ``error`` (blocked-connection timeout)."""
        return self._lost(error)

    def close_socket(self) -> None:
        """Flush a final close frame if possible and release the socket and the selector."""
        with self.lock:
            if self.closed:
                return
            if self.send_error is None:
                try:
                    self.flush_locked()
                except (OSError, ValueError) as exc:  # the socket is going away regardless
                    LOGGER.debug("final flush failed: %r", exc)
            self.closed = True
        try:
            self._selector.close()
        except (OSError, ValueError) as exc:
            LOGGER.debug("closing the selector failed: %r", exc)
        for sock in (self.sock, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass
