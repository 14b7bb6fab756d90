"""Socket connect, TLS handshake and the streaming transport over readiness callbacks.

These run on any :class:`~.nbio_interface.AbstractFileDescriptorServices` that can also
``call_later`` (the select IOLoop through ``SelectorIOServicesAdapter``, tornado, gevent). The
transport is the per-message path of those adapters:

- reads: one ``recv_into`` a reusable 256 KiB ``bytearray`` per readiness event; the protocol
  gets a ``bytes`` copy of exactly what was read (it may keep it);
- writes: ``write()`` only appends; everything written during one loop turn is joined and goes
  out in one ``send`` from a ``call_later(0)`` flush. Only when the kernel buffer is full does
  the transport watch for writability.

All of it runs on the I/O loop's thread.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
from typing import Any, Callable, Union, cast

from pika_core.exceptions import StreamLostError

from .nbio_interface import (
    AbstractIOReference,
    AbstractStreamProtocol,
    AbstractStreamTransport,
    AbstractTimerReference,
    StreamResult,
)

__all__ = [
    "AFTER_STREAM_READ",
    "READ_BUFFER_SIZE",
    "READ_EVENT_BUDGET",
    "SocketConnectionMixin",
    "StreamTransport",
    "StreamingConnectionMixin",
    "check_callback_arg",
    "check_fd_arg",
]

LOGGER = logging.getLogger(__name__)

#: Bytes asked of each ``recv_into``; large enough for a full frame_max frame and then some.
READ_BUFFER_SIZE = 256 * 1024
#: When the protocol still needs this many bytes of a frame (``inbound_missing()``), the next
#: read gets a buffer of its own (recv) instead of the reused one plus a copy (recv_into).
LARGE_REST = 64 * 1024
#: At most this many buffers go to one sendmsg (well under every platform's IOV_MAX).
_IOV_MAX = 64
#: The size of the first read after a large body frame: the next message's first frames and
#: the start of its body (which then goes straight into place too), not most of its body
#: through the reused buffer and a copy.
AFTER_STREAM_READ = 4096
#: Bytes one readable event may take in reads that each got all they asked for.
READ_EVENT_BUDGET = 1024 * 1024
#: Default write-buffer limits: above HIGH the protocol's ``pause_writing()`` is called, and
#: ``resume_writing()`` once the buffer drains to LOW.
DEFAULT_HIGH_WATER = 4 * 1024 * 1024
DEFAULT_LOW_WATER = 1024 * 1024

_CONNECT_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY})
_WOULD_BLOCK = (BlockingIOError, InterruptedError)

BytesLike = Union[bytes, bytearray, memoryview]

# The loop services the helpers below need: readiness callbacks plus timers.
FDServices = Any


def check_callback_arg(callback: Any, name: str) -> None:
    """Raise TypeError unless ``callback`` is callable, naming the argument."""
    if not callable(callback):
        raise TypeError(f"{name} must be callable, got {callback!r}")


def check_fd_arg(fd: Any) -> None:
    """Raise TypeError unless ``fd`` is an int file descriptor (use ``sock.fileno()``)."""
    if not isinstance(fd, int):
        raise TypeError(f"fd must be an int file descriptor (use sock.fileno()), got {fd!r}")


class _OperationReference(AbstractIOReference):
    """The cancel handle of a connect or stream-setup operation."""

    __slots__ = ("_cancel",)

    def __init__(self, cancel: Callable[[], bool]) -> None:
        self._cancel = cancel

    def cancel(self) -> bool:
        return self._cancel()


class SocketConnectionMixin:
    """``connect_socket`` for services that implement set_writer/remove_writer and call_later."""

    def connect_socket(
        self,
        sock: socket.socket,
        resolved_addr: Any,
        on_done: Callable[[BaseException | None], Any],
    ) -> AbstractIOReference:
        """Implement :meth:`.AbstractIOServices.connect_socket` (loop thread only)."""
        return _SocketConnector(self, sock, resolved_addr, on_done).start()


class StreamingConnectionMixin:
    """``create_streaming_connection`` for services with readiness callbacks and call_later."""

    def create_streaming_connection(
        self,
        protocol_factory: Callable[[], AbstractStreamProtocol],
        sock: socket.socket,
        on_done: Callable[[StreamResult], Any],
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AbstractIOReference:
        """Implement :meth:`.AbstractIOServices.create_streaming_connection` (loop thread)."""
        check_callback_arg(protocol_factory, "protocol_factory")
        check_callback_arg(on_done, "on_done")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext or None, got {ssl_context!r}")
        return _StreamConnector(
            self, protocol_factory, sock, on_done, ssl_context, server_hostname
        ).start()


def _check_ip_address(sock: socket.socket, resolved_addr: Any) -> None:
    """Raise ValueError unless the address host is an IP address of the socket's family."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(sock.family, resolved_addr[0])
        except (OSError, TypeError, IndexError) as exc:
            raise ValueError(
                f"connect_socket needs a resolved IP address of the socket's family "
                f"({sock.family!r}); resolve {resolved_addr!r} with getaddrinfo first: {exc}"
            ) from exc


class _SocketConnector:
    """One non-blocking ``connect``: reports through ``on_done(None | exc)``."""

    def __init__(
        self,
        services: Any,
        sock: socket.socket,
        addr: Any,
        on_done: Callable[[BaseException | None], Any],
    ) -> None:
        check_callback_arg(on_done, "on_done")
        _check_ip_address(sock, addr)
        self._services = services
        self._sock = sock
        self._addr = addr
        self._on_done: Callable[[BaseException | None], Any] | None = on_done
        self._watching = False
        self._timer: AbstractTimerReference | None = None

    def start(self) -> AbstractIOReference:
        try:
            code = self._sock.connect_ex(self._addr)
        except OSError as exc:
            self._report_soon(exc)
        else:
            if code == 0:
                self._report_soon(None)
            elif code in _CONNECT_IN_PROGRESS:
                self._services.set_writer(self._sock.fileno(), self._on_writable)
                self._watching = True
            else:
                self._report_soon(OSError(code, os.strerror(code)))
        return _OperationReference(self._cancel)

    def _report_soon(self, error: BaseException | None) -> None:
        # Never call back from inside the caller's connect_socket() call.
        self._timer = self._services.call_later(0, lambda: self._report(error))

    def _on_writable(self) -> None:
        try:
            code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            self._report(exc)
            return
        self._report(None if code == 0 else OSError(code, os.strerror(code)))

    def _stop_watching(self) -> None:
        if self._watching:
            self._watching = False
            self._services.remove_writer(self._sock.fileno())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self, error: BaseException | None) -> None:
        on_done = self._on_done
        if on_done is None:
            return
        self._on_done = None
        self._stop_watching()
        on_done(error)

    def _cancel(self) -> bool:
        if self._on_done is None:
            return False
        self._on_done = None
        self._stop_watching()
        return True


class _StreamConnector:
    """TLS handshake (optional) on a connected socket, then the transport/protocol link-up."""

    def __init__(
        self,
        services: Any,
        protocol_factory: Callable[[], AbstractStreamProtocol],
        sock: socket.socket,
        on_done: Callable[[StreamResult], Any],
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
    ) -> None:
        self._services = services
        self._factory = protocol_factory
        self._sock: socket.socket | None = sock
        self._on_done: Callable[[StreamResult], Any] | None = on_done
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname
        self._fd = sock.fileno()
        self._reading = False
        self._writing = False
        self._timer: AbstractTimerReference | None = None

    def start(self) -> AbstractIOReference:
        assert self._sock is not None
        self._sock.setblocking(False)
        # Begin from the loop, never re-entrantly from the caller's call.
        self._timer = self._services.call_later(0, self._begin)
        return _OperationReference(self._cancel)

    def _begin(self) -> None:
        self._timer = None
        if self._ssl_context is None:
            self._link()
            return
        assert self._sock is not None
        try:
            self._sock = self._ssl_context.wrap_socket(
                self._sock,
                server_side=False,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=False,
                server_hostname=self._server_hostname or None,
            )
        except Exception as exc:  # noqa: BLE001 - any failure is the outcome to report
            self._fail(exc)
            return
        self._handshake_step()

    def _handshake_step(self) -> None:
        sock = cast(ssl.SSLSocket, self._sock)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(read=True)
        except ssl.SSLWantWriteError:
            self._watch(read=False)
        except Exception as exc:  # noqa: BLE001 - certificate, protocol and socket errors
            self._fail(exc)
        else:
            self._unwatch()
            self._link()

    def _watch(self, read: bool) -> None:
        if read and not self._reading:
            self._services.set_reader(self._fd, self._handshake_step)
            self._reading = True
        if not read and self._reading:
            self._services.remove_reader(self._fd)
            self._reading = False
        if not read and not self._writing:
            self._services.set_writer(self._fd, self._handshake_step)
            self._writing = True
        if read and self._writing:
            self._services.remove_writer(self._fd)
            self._writing = False

    def _unwatch(self) -> None:
        if self._reading:
            self._services.remove_reader(self._fd)
            self._reading = False
        if self._writing:
            self._services.remove_writer(self._fd)
            self._writing = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _link(self) -> None:
        on_done = self._on_done
        sock = self._sock
        assert on_done is not None and sock is not None
        self._on_done = None
        self._sock = None
        transport: StreamTransport | None = None
        try:
            protocol = self._factory()
            transport = StreamTransport(sock, protocol, self._services)
            protocol.connection_made(transport)
        except Exception as exc:
            LOGGER.exception("Linking the stream transport and protocol failed")
            if transport is not None:
                transport._discard()
            else:
                sock.close()
            on_done(exc)
            return
        on_done((transport, protocol))

    def _fail(self, error: BaseException) -> None:
        on_done = self._on_done
        if on_done is None:
            return
        self._on_done = None
        self._release()
        on_done(error)

    def _release(self) -> None:
        self._unwatch()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _cancel(self) -> bool:
        if self._on_done is None:
            return False
        self._on_done = None
        self._release()
        return True


_ACTIVE = 0  # reading and writing
_CLOSING = 1  # close() called: flushing, then closing
_LOST = 2  # socket closed, connection_lost() scheduled
_DONE = 3  # connection_lost() delivered


class WriteBufferLimits:
    """The write-buffer limits of a stream transport and the protocol's optional
    ``pause_writing()``/``resume_writing()`` calls around them (shared by StreamTransport and
    the asyncio adapter's transport)."""

    def _init_write_limits(self, protocol: AbstractStreamProtocol) -> None:
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_LOW_WATER
        self._paused = False  # the protocol was told pause_writing()
        self._pause_cb: Callable[[], Any] | None = getattr(protocol, "pause_writing", None)
        self._resume_cb: Callable[[], Any] | None = getattr(protocol, "resume_writing", None)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the buffer sizes at which ``pause_writing``/``resume_writing`` are called."""
        high = DEFAULT_HIGH_WATER if high is None else high
        low = high // 4 if low is None else low
        if not 0 <= low <= high:
            raise ValueError(f"need 0 <= low <= high, got high={high} low={low}")
        self._high, self._low = high, low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """Return ``(low, high)`` as asyncio does."""
        return self._low, self._high

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        callback = self._pause_cb if paused else self._resume_cb
        if callback is not None:
            try:
                callback()
            except Exception:
                LOGGER.exception("protocol %s_writing() failed", "pause" if paused else "resume")


class StreamTransport(WriteBufferLimits, AbstractStreamTransport):
    """A plain TCP or TLS stream over readiness callbacks (loop thread only).

    Extensions over pika's interface: ``close()`` (flush, then close),
    ``set_write_buffer_limits(high, low)`` with the protocol's optional
    ``pause_writing()``/``resume_writing()``, and ``bytes_sent``/``bytes_received`` counters.
    """

    def __init__(
        self, sock: socket.socket, protocol: AbstractStreamProtocol, services: FDServices
    ) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._services = services
        self._is_tls = isinstance(sock, ssl.SSLSocket)
        self._rbuf = bytearray(READ_BUFFER_SIZE)
        self._after_stream = False  # the last read was part of a large body frame
        self._rview = memoryview(self._rbuf)
        self._head: BytesLike | None = None  # data a previous send left (retried as is)
        self._tail: list[BytesLike] = []  # data written since
        self._size = 0
        self._flush_timer: AbstractTimerReference | None = None
        self._writer_set = False
        self._write_wants_read = False
        self._read_wants_write = False
        self._state = _ACTIVE
        self._init_write_limits(protocol)
        self.bytes_sent = 0
        self.bytes_received = 0
        services.set_reader(self._fd, self._on_readable)
        if self._is_tls and cast(ssl.SSLSocket, sock).pending():
            # The handshake read ahead application data: deliver it without waiting for
            # the socket to become readable again.
            services.call_later(0, self._on_readable)

    def __repr__(self) -> str:
        kind = "TLS" if self._is_tls else "TCP"
        return f"<{self.__class__.__name__} {kind} fd={self._fd} state={self._state}>"

    # --- AbstractStreamTransport ----------------------------------------------------------

    def get_protocol(self) -> AbstractStreamProtocol:
        return self._protocol

    def get_write_buffer_size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        if self._state != _ACTIVE:
            return
        if not data:
            raise ValueError("write() needs non-empty data")
        self._tail.append(data)
        self._size += len(data)
        if self._flush_timer is None and not self._writer_set and not self._write_wants_read:
            self._flush_timer = self._services.call_later(0, self._flush)
        if self._size > self._high and not self._paused:
            self._set_paused(True)

    def abort(self) -> None:
        self._terminate(None)

    def close(self) -> None:
        if self._state != _ACTIVE:
            return
        if self._size == 0:
            self._terminate(None)
            return
        self._state = _CLOSING
        self._services.remove_reader(self._fd)

    # --- writing ---------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_timer = None
        self._send_pending()

    def _on_writable(self) -> None:
        if self._read_wants_write:
            self._read_wants_write = False
            self._on_readable()
        if self._state <= _CLOSING:
            self._send_pending()

    def _send_pending(self) -> None:
        """Send everything queued in as few ``send`` calls as the kernel allows."""
        sock = self._sock
        while True:
            head = self._head
            if head is None:
                tail = self._tail
                if not tail:
                    break
                if len(tail) > 1 and not self._is_tls and hasattr(sock, "sendmsg"):
                    # Several buffers (the frames of a large body among them): one gathering
                    # sendmsg, no joined copy.
                    if not self._send_gathered(sock, tail):
                        return
                    continue
                head = tail[0] if len(tail) == 1 else b"".join(tail)
                tail.clear()
            try:
                sent = sock.send(head)
            except _WOULD_BLOCK:
                sent = 0
            except ssl.SSLWantWriteError:
                sent = 0
            except ssl.SSLWantReadError:
                self._head = head
                self._write_wants_read = True
                self._watch_writable(False)
                return
            except OSError as exc:
                self._terminate(exc)
                return
            self._size -= sent
            self.bytes_sent += sent
            if sent < len(head):
                # A TLS socket must retry exactly the same buffer; plain TCP takes the rest.
                self._head = head if sent == 0 else memoryview(head)[sent:]
                self._watch_writable(True)
                return
            self._head = None
        self._watch_writable(False)
        if self._paused and self._size <= self._low:
            self._set_paused(False)
        if self._state == _CLOSING:
            self._terminate(None)

    def _send_gathered(self, sock: socket.socket, tail: list[BytesLike]) -> bool:
        """Send the first buffers of ``tail`` with one sendmsg and drop what went out;
        return False when the socket took less (then wait until it is writable) or failed."""
        batch = tail[:_IOV_MAX]
        try:
            sent = sock.sendmsg(batch)
        except _WOULD_BLOCK:
            sent = 0
        except OSError as exc:
            self._terminate(exc)
            return False
        self._size -= sent
        self.bytes_sent += sent
        done = 0
        while done < len(batch) and sent >= len(batch[done]):
            sent -= len(batch[done])
            done += 1
        del tail[:done]
        if done < len(batch):
            if sent:
                tail[0] = memoryview(tail[0])[sent:]
            self._watch_writable(True)
            return False
        return True

    def _watch_writable(self, on: bool) -> None:
        if on != self._writer_set:
            self._writer_set = on
            if on:
                self._services.set_writer(self._fd, self._on_writable)
            else:
                self._services.remove_writer(self._fd)

    # --- reading ---------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._state != _ACTIVE:
            return
        sock = self._sock
        rbuf = self._rbuf
        protocol = self._protocol
        total = 0
        while True:
            target = None
            data = None
            try:
                if protocol.inbound_streaming():
                    # A large body frame: its payload straight into its message, and the room
                    # after it takes what follows it in the same read.
                    target = protocol.inbound_target(AFTER_STREAM_READ)
                    if target is not None:
                        asked = len(target)
                        nbytes = sock.recv_into(target)
                    else:
                        asked = protocol.inbound_missing() + 7
                        nbytes = sock.recv_into(rbuf, asked)
                    self._after_stream = True
                elif protocol.inbound_missing() < LARGE_REST:
                    asked = AFTER_STREAM_READ if self._after_stream else READ_BUFFER_SIZE
                    self._after_stream = False
                    nbytes = sock.recv_into(rbuf, asked)
                else:
                    # The rest of another large frame: a buffer of its own, handed over uncopied.
                    asked = READ_BUFFER_SIZE
                    data = sock.recv(asked)
                    nbytes = len(data)
            except _WOULD_BLOCK:
                break
            except ssl.SSLWantReadError:
                break
            except ssl.SSLWantWriteError:
                self._read_wants_write = True
                self._watch_writable(True)
                return
            except OSError as exc:
                self._terminate(exc)
                return
            if nbytes == 0:
                self._on_eof()
                return
            self.bytes_received += nbytes
            try:
                if target is not None:
                    protocol.inbound_written(nbytes)
                else:
                    protocol.data_received(self._rview[:nbytes].tobytes() if data is None else data)
            except Exception as exc:
                LOGGER.exception("protocol.data_received() failed; aborting the stream")
                self._terminate(exc)
                return
            if self._state != _ACTIVE:
                break
            total += nbytes
            # A read that got all it asked for may have left more in the socket: go on (up
            # to READ_EVENT_BUDGET per event) instead of waiting for the next poll. A TLS
            # record may hold more decrypted bytes than one read took; the socket will not
            # signal them, so drain them now.
            if nbytes == asked and total < READ_EVENT_BUDGET:
                continue
            if not self._is_tls or not cast(ssl.SSLSocket, sock).pending():
                break
        if self._write_wants_read:
            self._write_wants_read = False
            self._send_pending()

    def _on_eof(self) -> None:
        try:
            keep_open = self._protocol.eof_received()
        except Exception as exc:
            LOGGER.exception("protocol.eof_received() failed")
            self._terminate(exc)
            return
        if keep_open:
            self._services.remove_reader(self._fd)
        else:
            self._terminate(StreamLostError("Transport indicated EOF"))

    # --- teardown --------------------------------------------------------------------------

    def _terminate(self, error: BaseException | None) -> None:
        """Close the socket now and tell the protocol from the loop, never re-entrantly."""
        if self._state > _CLOSING:
            return
        if error is not None and LOGGER.isEnabledFor(logging.INFO):
            LOGGER.info("Stream %r lost: %r", self, error)
        self._state = _LOST
        self._discard()
        self._services.call_later(0, lambda: self._notify_lost(error))

    def _discard(self) -> None:
        """Stop watching the socket, drop buffered data and close the socket."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        services = self._services
        services.remove_reader(self._fd)
        if self._writer_set:
            self._writer_set = False
            services.remove_writer(self._fd)
        self._head = None
        self._tail.clear()
        self._size = 0
        try:
            self._sock.close()
        except OSError:
            pass

    def _notify_lost(self, error: BaseException | None) -> None:
        if self._state != _LOST:
            return
        self._state = _DONE
        self._protocol.connection_lost(error)
