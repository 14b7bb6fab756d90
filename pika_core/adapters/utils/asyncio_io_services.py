"""``AbstractIOServices`` over any asyncio event loop, selector or proactor.

Connect uses ``loop.sock_connect`` and the stream uses ``loop.create_connection(sock=...)``
with asyncio's own transports (TLS included), never ``add_reader``: so the adapter runs on the
default loop of every platform, Windows' ProactorEventLoop included, and on uvloop. The
``AbstractFileDescriptorServices`` methods are offered too, but only selector loops have them.

Per-message path: a ``BufferedProtocol`` bridge lets asyncio ``recv_into`` a reusable 256 KiB
buffer; writes made during one loop turn are joined and handed to asyncio in one
``transport.write`` from a ``call_soon`` flush.

Every method belongs to the loop's thread except ``add_callback_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import warnings
from typing import Any, Callable

from pika_core.exceptions import StreamLostError

from .io_services_utils import (
    AFTER_STREAM_READ,
    READ_BUFFER_SIZE,
    WriteBufferLimits,
    check_callback_arg,
    check_fd_arg,
)
from .nbio_interface import (
    AbstractFileDescriptorServices,
    AbstractIOReference,
    AbstractIOServices,
    AbstractStreamProtocol,
    AbstractStreamTransport,
    AbstractTimerReference,
    GetaddrinfoResult,
    StreamResult,
)

__all__ = ["AsyncioIOServicesAdapter"]

LOGGER = logging.getLogger(__name__)

# Writes at least this big go to the asyncio transport on their own, not joined with others.
_WRITE_ALONE = 65536
# What the asyncio transport may hold unsent before more waits in _AsyncioStreamTransport.
_NATIVE_HIGH = 1024 * 1024
_NATIVE_LOW = 256 * 1024


def _default_loop() -> asyncio.AbstractEventLoop:
    """The running loop, else the thread's current loop, else a new one set as current."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            return loop


async def _fail(error: BaseException) -> None:
    raise error


class _TimerReference(AbstractTimerReference):
    __slots__ = ("_handle",)

    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class _FutureReference(AbstractIOReference):
    """Runs a coroutine as a task; reports its outcome to ``on_done`` unless cancelled."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Any,
        on_done: Callable[[Any], Any],
        on_cancelled: Callable[[], Any] | None = None,
    ) -> None:
        self._on_done: Callable[[Any], Any] | None = on_done
        self._on_cancelled = on_cancelled
        self._future: asyncio.Future[Any] = asyncio.ensure_future(coro, loop=loop)
        self._future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is None:
            return
        if future.cancelled():
            if self._on_cancelled is not None:
                self._on_cancelled()
            return
        error = future.exception()
        on_done(error if error is not None else future.result())

    def cancel(self) -> bool:
        if self._on_done is None or self._future.done():
            return False
        self._on_done = None
        self._future.cancel()
        if self._on_cancelled is not None:
            self._on_cancelled()
        return True


class AsyncioIOServicesAdapter(AbstractIOServices, AbstractFileDescriptorServices):
    """:class:`.AbstractIOServices` over an asyncio loop (default: the current one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop if loop is not None else _default_loop()

    def get_native_ioloop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def close(self) -> None:
        self._loop.close()

    def run(self) -> None:
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.stop()

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        check_callback_arg(callback, "callback")
        self._loop.call_soon_threadsafe(callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> AbstractTimerReference:
        check_callback_arg(callback, "callback")
        return _TimerReference(self._loop.call_later(delay, callback))

    def getaddrinfo(
        self,
        host: str,
        port: int,
        on_done: Callable[[GetaddrinfoResult], Any],
        family: int = 0,
        socktype: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> AbstractIOReference:
        check_callback_arg(on_done, "on_done")
        coro = self._loop.getaddrinfo(
            host, port, family=family, type=socktype, proto=proto, flags=flags
        )
        return _FutureReference(self._loop, coro, on_done)

    def connect_socket(
        self,
        sock: socket.socket,
        resolved_addr: Any,
        on_done: Callable[[BaseException | None], Any],
    ) -> AbstractIOReference:
        check_callback_arg(on_done, "on_done")
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(sock.family, resolved_addr[0])
            except (OSError, TypeError, IndexError) as exc:
                raise ValueError(
                    f"connect_socket needs a resolved IP address of the socket's family; "
                    f"resolve {resolved_addr!r} with getaddrinfo first: {exc}"
                ) from exc
        coro = self._loop.sock_connect(sock, resolved_addr)
        return _FutureReference(self._loop, coro, on_done)

    def create_streaming_connection(
        self,
        protocol_factory: Callable[[], AbstractStreamProtocol],
        sock: socket.socket,
        on_done: Callable[[StreamResult], Any],
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AbstractIOReference:
        check_callback_arg(protocol_factory, "protocol_factory")
        check_callback_arg(on_done, "on_done")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext or None, got {ssl_context!r}")
        sock.setblocking(False)
        loop = self._loop
        bridge = _StreamBridge(loop, protocol_factory)
        coro: Any
        if ssl_context is not None and ssl_context.check_hostname and not server_hostname:
            # asyncio would take "" as "do not check the name": refuse instead, as ssl does.
            coro = _fail(ValueError("check_hostname requires server_hostname"))
        else:
            coro = loop.create_connection(
                lambda: bridge,
                sock=sock,
                ssl=ssl_context,
                # asyncio needs a name with a socket and TLS; "" sends no SNI (allowed only
                # when the context does not check host names, see above).
                server_hostname=(server_hostname or "") if ssl_context is not None else None,
            )

        def linked(result: Any) -> None:
            if isinstance(result, BaseException):
                sock.close()
                on_done(result)
            elif bridge.link_error is not None:
                sock.close()
                on_done(bridge.link_error)
            else:
                assert bridge.transport is not None and bridge.protocol is not None
                on_done((bridge.transport, bridge.protocol))
                bridge.release()

        return _FutureReference(loop, coro, linked, on_cancelled=sock.close)

    # --- AbstractFileDescriptorServices (selector loops only) -------------------------------

    def set_reader(self, fd: int, on_readable: Callable[[], Any]) -> None:
        check_fd_arg(fd)
        check_callback_arg(on_readable, "on_readable")
        self._loop.add_reader(fd, on_readable)

    def remove_reader(self, fd: int) -> bool:
        check_fd_arg(fd)
        return self._loop.remove_reader(fd)

    def set_writer(self, fd: int, on_writable: Callable[[], Any]) -> None:
        check_fd_arg(fd)
        check_callback_arg(on_writable, "on_writable")
        self._loop.add_writer(fd, on_writable)

    def remove_writer(self, fd: int) -> bool:
        check_fd_arg(fd)
        return self._loop.remove_writer(fd)


class _StreamBridge(asyncio.BufferedProtocol):
    """asyncio protocol that feeds a pika-style protocol from a reusable read buffer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], AbstractStreamProtocol],
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self.protocol: AbstractStreamProtocol | None = None
        self.transport: _AsyncioStreamTransport | None = None
        self.link_error: BaseException | None = None
        self._view = memoryview(bytearray(READ_BUFFER_SIZE))
        self._target: memoryview | None = None  # the last get_buffer() was inbound_target()
        self._after_stream = False  # the last read was part of a large body frame
        self._eof_error: BaseException | None = None
        # Until on_done((transport, protocol)) has run, stream events are held back here, so
        # the caller can wire the protocol up before it sees any data (pika's order).
        self._held: list[Callable[[], Any]] | None = []
        self._native: asyncio.BaseTransport | None = None
        self._lost_error: BaseException | None = None

    def release(self) -> None:
        """Deliver the events held back while the link-up was being reported."""
        held, self._held = self._held, None
        for event in held or ():
            event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        native = self._native = transport  # an asyncio.Transport for a stream connection
        try:
            self.protocol = self._factory()
            self.transport = _AsyncioStreamTransport(self._loop, native, self.protocol)  # type: ignore[arg-type]
            self.protocol.connection_made(self.transport)
        except Exception as exc:
            LOGGER.exception("Linking the stream transport and protocol failed")
            self.link_error = exc
            self.protocol = None
            native.abort()  # type: ignore[attr-defined]

    def get_buffer(self, sizehint: int) -> memoryview:
        # While a large body frame arrives, its payload goes straight into its message, and
        # the same read takes what follows it (the frame-end byte, the next frame header and
        # a little more) into the room after it.
        self._target = None
        protocol = self.protocol
        if self._held is None and protocol is not None and protocol.inbound_streaming():
            self._after_stream = True
            self._target = protocol.inbound_target(AFTER_STREAM_READ)
            if self._target is not None:
                return self._target
            return self._view[: protocol.inbound_missing() + 7]
        if self._after_stream:
            # The next message's first frames and the start of its body, not most of it.
            self._after_stream = False
            return self._view[:AFTER_STREAM_READ]
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        if self._target is not None:
            self._target = None
            self.protocol.inbound_written(nbytes)  # type: ignore[union-attr]
            return
        data = self._view[:nbytes].tobytes()
        if self._held is not None:
            self._held.append(lambda: self._deliver(data))
            return
        # An exception here makes asyncio abort the stream with it (-> connection_lost(exc)).
        self.protocol.data_received(data)  # type: ignore[union-attr]

    def _deliver(self, data: bytes) -> None:
        if self.protocol is None:
            return
        try:
            self.protocol.data_received(data)
        except Exception as exc:
            LOGGER.exception("protocol.data_received() failed; aborting the stream")
            self._lost_error = exc
            if self._native is not None:
                self._native.abort()  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        if self.protocol is None:
            return None
        if self._held is not None:
            self._held.append(self._late_eof)
            return True  # keep the transport until the held EOF is delivered
        keep_open = self.protocol.eof_received()
        if not keep_open:
            self._eof_error = StreamLostError("Transport indicated EOF")
        return keep_open

    def _late_eof(self) -> None:
        if self.protocol is not None and not self.eof_received() and self._native is not None:
            self._native.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held is not None:
            self._held.append(lambda: self.connection_lost(exc))
            return
        if exc is None and self._lost_error is not None:
            exc = self._lost_error  # type: ignore[assignment]
        protocol, self.protocol = self.protocol, None
        transport = self.transport
        if transport is not None:
            transport._on_lost()
        if protocol is None:
            return
        if exc is None and (transport is None or not transport.closed_locally):
            exc = self._eof_error  # type: ignore[assignment]
        protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport._on_native_paused()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport._on_native_resumed()


class _AsyncioStreamTransport(WriteBufferLimits, AbstractStreamTransport):
    """Coalescing write side over an asyncio transport (loop thread only).

    The asyncio transport is given at most about _NATIVE_HIGH bytes at a time: it copies
    what it cannot send at once into a buffer of its own, which for a burst of large messages
    would grow to the whole burst. The rest waits here (large bodies as views of themselves)
    and goes on when the asyncio transport has drained; the protocol's pause_writing and
    resume_writing follow this transport's own limits over both.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        protocol: AbstractStreamProtocol,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush_handle: asyncio.Handle | None = None
        self._open = True
        self.closed_locally = False
        self._init_write_limits(protocol)
        self._native_full = False  # the asyncio transport said pause_writing()
        transport.set_write_buffer_limits(high=_NATIVE_HIGH, low=_NATIVE_LOW)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} over {self._transport!r}>"

    def get_protocol(self) -> AbstractStreamProtocol:
        return self._protocol

    def get_write_buffer_size(self) -> int:
        if not self._open:
            return 0
        return self._pending_size + self._transport.get_write_buffer_size()

    def write(self, data: bytes) -> None:
        if not self._open:
            return
        if not data:
            raise ValueError("write() needs non-empty data")
        self._pending.append(data)
        self._pending_size += len(data)
        if self._flush_handle is None and not self._native_full:
            self._flush_handle = self._loop.call_soon(self._flush)
        if not self._paused and self.get_write_buffer_size() > self._high:
            self._set_paused(True)

    def _flush(self) -> None:
        self._flush_handle = None
        pending = self._pending
        if not pending or not self._open:
            return
        write = self._transport.write
        taken = 0
        size = 0
        small: list[bytes] = []
        # Small writes go out joined; a large body's frames on their own (no joined copy).
        for data in pending:
            if self._native_full:
                break  # a write reported pause_writing(): the rest waits for resume_writing()
            taken += 1
            size += len(data)
            if len(data) < _WRITE_ALONE:
                small.append(data)
                continue
            if small:
                write(small[0] if len(small) == 1 else b"".join(small))
                small = []
            write(data)
        if small:
            write(small[0] if len(small) == 1 else b"".join(small))
        del pending[:taken]
        self._pending_size -= size
        if self._paused and self.get_write_buffer_size() <= self._low:
            self._set_paused(False)

    def _on_native_paused(self) -> None:
        self._native_full = True

    def _on_native_resumed(self) -> None:
        self._native_full = False
        if self._open:
            self._flush()

    def abort(self) -> None:
        if not self._open:
            return
        self._stop(flush=False)
        self._transport.abort()

    def close(self) -> None:
        if not self._open:
            return
        self._stop(flush=True)
        self._transport.close()

    def _stop(self, flush: bool) -> None:
        if flush:
            # Closing: everything goes to the asyncio transport, which sends it before closing.
            self._native_full = False
            for data in self._pending:
                self._transport.write(data)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending.clear()
        self._pending_size = 0
        self._open = False
        self.closed_locally = True

    def _on_lost(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending.clear()
        self._pending_size = 0
        self._open = False
