"""The non-blocking I/O services a pika connection adapter runs on.

A new I/O loop is supported by implementing :class:`AbstractIOServices` (timers, a thread-safe
callback, ``getaddrinfo``, socket connect and a streaming TCP/TLS transport) and handing it to
``pika_core.adapters.base_connection.BaseConnection``. Names and signatures are pika 1.x's, so an
adapter written for pika works here unchanged.

Threads: every method here must be called from the thread that runs the I/O loop, except
:meth:`AbstractIOServices.add_callback_threadsafe`, which any thread may call. Every callback
these services invoke runs on the I/O loop's thread.
"""

from __future__ import annotations

import abc
import socket
import ssl
from typing import Any, Callable, List, Tuple, Union

__all__ = [
    "AbstractFileDescriptorServices",
    "AbstractIOReference",
    "AbstractIOServices",
    "AbstractStreamProtocol",
    "AbstractStreamTransport",
    "AbstractTimerReference",
    "AddressRecord",
]

#: One record of ``socket.getaddrinfo()``: (family, type, proto, canonname, sockaddr).
AddressRecord = Tuple[int, int, int, str, Any]

GetaddrinfoResult = Union[List[AddressRecord], BaseException]
StreamResult = Union[Tuple["AbstractStreamTransport", "AbstractStreamProtocol"], BaseException]


class AbstractIOServices(abc.ABC):
    """The I/O services ``BaseConnection`` and the connection workflow need from an I/O loop.

    Not a user API: applications use their loop's native API (``connection.ioloop``).
    All methods are called from the I/O loop's thread, except ``add_callback_threadsafe``.
    """

    @abc.abstractmethod
    def get_native_ioloop(self) -> Any:
        """Return the loop object this wraps (select IOLoop, asyncio loop, tornado IOLoop, ...).

        Thread: the I/O loop's thread (or before the loop runs).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the loop's resources; call only after ``run()`` returned, and nothing after.

        Thread: the thread that ran the loop, after it stopped. Used by test suites that run
        several adapters generically; applications close their native loop directly.
        """

    @abc.abstractmethod
    def run(self) -> None:
        """Run the I/O loop until ``stop()`` is requested.

        Thread: becomes the I/O loop's thread. Restarting a stopped loop is adapter-defined.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask the running loop to return from ``run()``; it may return after this call does.

        Thread: the I/O loop's thread; from another thread use
        ``add_callback_threadsafe(services.stop)``.
        """

    @abc.abstractmethod
    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` on the I/O loop's thread as soon as possible.

        Thread: ANY thread. This is the only thread-safe method of the I/O services; everything
        else, and every object governed by the loop, belongs to the loop's thread. On the loop's
        own thread, ``call_later(0, callback)`` is cheaper.

        :raises TypeError: if ``callback`` is not callable.
        """

    @abc.abstractmethod
    def call_later(self, delay: float, callback: Callable[[], Any]) -> AbstractTimerReference:
        """Call ``callback()`` once, ``delay`` seconds from now, on a best-effort basis.

        Callbacks due at the same time run in the order they were scheduled where the loop
        allows it (the select IOLoop and asyncio do). Thread: the I/O loop's thread.

        :returns: a reference whose ``cancel()`` stops the call.
        """

    @abc.abstractmethod
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
        """Run ``socket.getaddrinfo()`` without blocking the loop.

        ``on_done`` receives the list of address records, or the exception on failure
        (test with ``isinstance(result, BaseException)``); it is not called once the returned
        reference is cancelled. Thread: the I/O loop's thread; ``on_done`` runs there too.
        """

    @abc.abstractmethod
    def connect_socket(
        self,
        sock: socket.socket,
        resolved_addr: Any,
        on_done: Callable[[BaseException | None], Any],
    ) -> AbstractIOReference:
        """Connect a non-blocking socket to an already resolved address.

        ``resolved_addr`` is the ``sockaddr`` of a ``getaddrinfo`` record: its host must be an
        IP address of the socket's family. ``on_done(None)`` on success, ``on_done(exc)`` on
        failure; never called after the reference is cancelled. Thread: the I/O loop's thread.

        :raises ValueError: if the host is not an IP address of the socket's family.
        """

    @abc.abstractmethod
    def create_streaming_connection(
        self,
        protocol_factory: Callable[[], AbstractStreamProtocol],
        sock: socket.socket,
        on_done: Callable[[StreamResult], Any],
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AbstractIOReference:
        """Run the TLS handshake (if ``ssl_context``) on a connected socket, then link a
        transport with the protocol from ``protocol_factory()``.

        Takes ownership of ``sock`` (it is closed on failure or cancel). Once linked, the
        protocol's ``connection_made(transport)`` is called, then ``on_done((transport,
        protocol))``; on failure ``on_done(exc)``. ``server_hostname`` is sent as SNI and, when
        the context has ``check_hostname`` set, matched against the certificate; ``None``
        disables both. Thread: the I/O loop's thread.
        """


class AbstractFileDescriptorServices(abc.ABC):
    """Readiness callbacks on file descriptors, the base of the selector-style transports.

    Every method is called from the I/O loop's thread, and the callbacks run there.
    """

    @abc.abstractmethod
    def set_reader(self, fd: int, on_readable: Callable[[], Any]) -> None:
        """Call ``on_readable()`` whenever ``fd`` is readable; replaces a previous reader.

        Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def remove_reader(self, fd: int) -> bool:
        """Stop watching ``fd`` for readability; return False if no reader was set.

        Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def set_writer(self, fd: int, on_writable: Callable[[], Any]) -> None:
        """Call ``on_writable()`` whenever ``fd`` is writable; replaces a previous writer.

        Implementations also call it when the descriptor reports an error, because Windows
        signals a failed connect only that way. Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def remove_writer(self, fd: int) -> bool:
        """Stop watching ``fd`` for writability; return False if no writer was set.

        Thread: the I/O loop's thread.
        """


class AbstractTimerReference(abc.ABC):
    """A scheduled ``call_later`` callback."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Cancel the call; cancelling twice, or after it ran, does nothing.

        Thread: the I/O loop's thread.
        """


class AbstractIOReference(abc.ABC):
    """An asynchronous I/O operation in progress (resolve, connect, stream setup)."""

    @abc.abstractmethod
    def cancel(self) -> bool:
        """Cancel the operation; return False if it had already completed or been cancelled.

        After a successful cancel its completion callback is never called.
        Thread: the I/O loop's thread.
        """


class AbstractStreamProtocol(abc.ABC):
    """The receiving side of a stream: a subset of ``asyncio.Protocol``.

    Every method is called by the transport on the I/O loop's thread. ``connection_made`` and
    ``connection_lost`` are each called once, in that order; all others between them.
    A protocol may also define ``pause_writing()`` and ``resume_writing()`` (asyncio's names);
    the transports of this package call them when their write buffer crosses its limits.
    """

    @abc.abstractmethod
    def connection_made(self, transport: AbstractStreamTransport) -> None:
        """The transport is connected (and the TLS handshake done); keep it to write.

        Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def connection_lost(self, error: BaseException | None) -> None:
        """The stream is gone: ``None`` after a local ``abort()``/``close()``, otherwise the
        exception (the transports of this package report a peer's EOF as
        ``pika_core.exceptions.StreamLostError``).

        Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def eof_received(self) -> bool | None:
        """The peer shut its sending side. Return a falsy value to let the transport close
        (then ``connection_lost`` follows); truthy to keep it open and close it yourself.

        Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def data_received(self, data: bytes) -> None:
        """Bytes arrived (never empty). The object is the caller's to keep.

        An exception raised here aborts the transport and reaches ``connection_lost``.
        Thread: the I/O loop's thread.
        """

    def inbound_missing(self) -> int:
        """How many more bytes the protocol needs to finish what it is receiving (0 by
        default): a hint that lets a transport read a large rest into a buffer of its own
        instead of copying it out of a reused one. Thread: the I/O loop's thread.
        """
        return 0

    def inbound_streaming(self) -> bool:
        """Whether a large body frame is arriving piece by piece (False by default). While it
        is, a transport reads into ``inbound_target()`` when that gives a buffer, and
        otherwise only ``inbound_missing() + 7`` bytes (the frame's end and the next frame's
        header), so that the next body frame's payload can go straight into place too.
        Thread: the I/O loop's thread.
        """
        return False

    def inbound_target(self, spill: int = 0) -> memoryview | None:
        """A buffer the next bytes received may be written into directly (``recv_into``),
        or None (the default): then read as usual and call ``data_received``. After reading
        into it, report the count with ``inbound_written``. With ``spill``, the buffer may be
        up to that many bytes longer than the payload still missing, so that one read takes
        the payload's rest, the frame-end, the next frame header and more; report the whole
        count all the same. Thread: the I/O loop's thread.
        """
        return None

    def inbound_written(self, nbytes: int) -> None:
        """``nbytes`` (more than 0) were received into the last ``inbound_target()``; only
        called after a target was given. Bytes past the payload (``spill``) count as received
        data. Thread: the I/O loop's thread.
        """
        raise NotImplementedError(f"{type(self).__name__} gave no inbound_target()")


class AbstractStreamTransport(abc.ABC):
    """The sending side of a stream: a subset of ``asyncio.Transport``.

    Every method is called from the I/O loop's thread.
    """

    @abc.abstractmethod
    def abort(self) -> None:
        """Close now, dropping unsent data; ``connection_lost(None)`` follows from the loop
        (never from inside this call). Thread: the I/O loop's thread.
        """

    @abc.abstractmethod
    def get_protocol(self) -> AbstractStreamProtocol:
        """Return the protocol linked to this transport. Thread: the I/O loop's thread."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Queue ``data`` to be sent; writes made in one loop turn go out together.

        ``data`` is bytes or, for the frames of a large message body, a memoryview of the
        (immutable) body: keep it as it is until sent, or copy it. Do not mutate ``data`` after
        the call. Writes after the transport closed are ignored. Thread: the I/O loop's thread.

        :raises ValueError: if ``data`` is empty.
        """

    @abc.abstractmethod
    def get_write_buffer_size(self) -> int:
        """Return how many bytes are queued and not yet sent. Thread: the I/O loop's thread."""

    def close(self) -> None:
        """Send what is queued, then close; ``connection_lost(None)`` follows.

        An extension over pika's interface: the default aborts (drops queued data); the
        transports of this package flush first. Thread: the I/O loop's thread.
        """
        self.abort()
