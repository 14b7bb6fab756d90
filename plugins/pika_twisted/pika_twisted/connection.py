"""TwistedProtocolConnection: pika's Deferred-based connection as a twisted Protocol.

Twisted makes the TCP (or TLS) connection, e.g. with ``ClientCreator`` or an endpoint, and
hands this protocol the transport; underneath, ``_TwistedConnection`` is pika-core's callback
API (``pika_core.connection.Connection``) with the reactor as its transport: reactor timers for
heartbeats and the per-turn flush, ``transport.write`` for output, and the protocol registered
as a streaming producer so that twisted's buffer limits reach the connection's back-pressure.
The host, port and TLS settings of the parameters are not used: twisted connects.

Output is handed to twisted while its buffer has room; once twisted pauses the producer, the
connection keeps what follows itself and writes it when twisted has drained (resumeProducing).
Twisted joins whatever is buffered behind a partly sent write into one new ``bytes``, so
writing a burst of large messages into a busy transport copies every byte once more; written
into a drained transport, a write is sent as it is. The connection's back-pressure
(``outbound_high_water_mark``, ``is_outbound_congested``, the drained callbacks) follows what
it holds, as the other adapters' follows their transport's buffer.
"""

from __future__ import annotations

import collections
import logging
import socket
from typing import Any, Callable

from twisted.internet import defer, error, protocol, tcp
from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from pika_core import exceptions
from pika_core.adapters.utils.io_services_utils import AFTER_STREAM_READ, READ_EVENT_BUDGET
from pika_core.channel import Channel
from pika_core.connection import DEFAULT_OUTBOUND_HIGH_WATER, Connection
from pika_core.parameters import Parameters
from pika_core.protocol import events as ev

from .channel import TwistedChannel

__all__ = ["TwistedProtocolConnection"]

LOGGER = logging.getLogger(__name__)

# What a large body's frames are joined into for twisted's transport.write (bytes only).
_PIECE = 256 * 1024


def _default_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class _TwistedConnection(Connection):
    """pika-core's callback-API connection over a twisted transport and reactor."""

    def __init__(
        self,
        parameters: Parameters | None,
        on_open_callback: Callable[[Any], Any],
        on_open_error_callback: Callable[[Any, BaseException], Any],
        on_close_callback: Callable[[Any, BaseException], Any],
        reactor: Any,
    ) -> None:
        self._reactor = reactor
        self._transport: Any = None
        self._closing_stream = False
        #: While a batch of deliveries is dispatched: the consumer queues whose waiting get()
        #: is woken once the batch is done (ClosableDeferredQueue._hold); None otherwise.
        self._held_queues: list[Any] | None = None
        # Output held back while twisted's buffer is full (the producer is paused).
        self._held_out: collections.deque[Any] = collections.deque()
        self._held_size = 0
        self._twisted_paused = False
        self._held_high = DEFAULT_OUTBOUND_HIGH_WATER
        self._held_low = DEFAULT_OUTBOUND_HIGH_WATER // 4
        super().__init__(
            parameters=parameters,
            on_open_callback=on_open_callback,
            on_open_error_callback=on_open_error_callback,
            on_close_callback=on_close_callback,
            internal_connection_workflow=False,
        )

    @property
    def ioloop(self) -> Any:
        """The twisted reactor."""
        return self._reactor

    # --- Connection's transport interface ----------------------------------------------------

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self._reactor.callLater(delay, callback)

    def _adapter_remove_timeout(self, timeout_id: Any) -> None:
        if timeout_id.active():
            timeout_id.cancel()

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self._reactor.callFromThread(callback)

    def _adapter_connect_stream(self) -> None:
        raise NotImplementedError("twisted connects the stream: use ClientCreator or an endpoint")

    def _adapter_disconnect_stream(self) -> None:
        transport = self._transport
        if transport is None or self._closing_stream:
            return
        self._closing_stream = True
        # Everything emitted goes out before the close: hand twisted what was held back.
        held = self._held_out
        if held:
            transport.write(b"".join(held))
            held.clear()
            self._held_size = 0
        # A registered producer would keep loseConnection() waiting: unregister first.
        transport.unregisterProducer()
        transport.loseConnection()

    def _adapter_abort_stream(self) -> None:
        transport = self._transport
        if transport is None:
            return
        self._closing_stream = True
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            transport.loseConnection()

    # A large body's frames come as views of it; twisted takes bytes only, so they are held as
    # views and joined into a piece of about _PIECE bytes (one copy) only when twisted's buffer
    # has drained, which then sends that piece as it is.
    _adapter_takes_views = True

    def _adapter_emit_data(self, data: bytes) -> None:
        self._adapter_emit_buffers([data])

    def _adapter_emit_buffers(self, buffers: list[Any]) -> None:
        transport = self._transport
        if transport is None:
            return
        held = self._held_out
        if not held and not self._twisted_paused and len(buffers) == 1:
            data = buffers[0]
            if type(data) is bytes:  # the common case: one joined write into a free buffer
                transport.write(data)  # may pause the producer at once (twisted_paused)
                return
        for buffer in buffers:
            held.append(buffer)
            self._held_size += len(buffer)
        if not self._twisted_paused:
            self._write_held(transport)
        if self._held_size > self._held_high and not self._writing_paused:
            self._on_writing_paused()

    def _write_held(self, transport: Any) -> None:
        """Write held buffers, a piece of at least ``_PIECE`` bytes (or all) at a time, until
        twisted pauses the producer or nothing is held."""
        held = self._held_out
        while held and not self._twisted_paused:
            first = held.popleft()
            size = len(first)
            if type(first) is bytes and (size >= _PIECE or not held):
                piece = first
            else:
                parts = [first]
                while held and size < _PIECE:
                    buffer = held.popleft()
                    parts.append(buffer)
                    size += len(buffer)
                piece = b"".join(parts)
            self._held_size -= size
            transport.write(piece)

    def _adapter_get_write_buffer_size(self) -> int:
        return self._held_size

    def _adapter_set_write_buffer_limits(self, high: int, low: int) -> None:
        self._held_high = high
        self._held_low = low

    def twisted_paused(self) -> None:
        """Twisted's write buffer is full: hold further output."""
        self._twisted_paused = True

    def twisted_resumed(self) -> None:
        """Twisted's write buffer has drained: write what was held, until it is full again."""
        self._twisted_paused = False
        transport = self._transport
        if transport is not None:
            self._write_held(transport)
        if self._writing_paused and self._held_size <= self._held_low:
            self._on_writing_resumed()

    def _dispatch(self, events: list[Any]) -> None:
        """Dispatch as the core does, waking consumers once per run of deliveries.

        A consumer waiting in ``get()`` is resumed after the run that fed its queue, so that it
        takes the rest of the run from the queue without a Deferred callback per message. Any
        other event first releases the deliveries before it: its callbacks see the same order
        as without batching.
        """
        if self._held_queues is not None:  # re-entered from a callback: the outer call releases
            super()._dispatch(events)
            return
        delivery = ev.Delivery
        start = 0
        end = len(events)
        while start < end:
            stop = start
            while stop < end and type(events[stop]) is delivery:
                stop += 1
            if stop > start:
                held: list[Any] = []
                self._held_queues = held
                try:
                    super()._dispatch(events if stop - start == end else events[start:stop])
                finally:
                    self._held_queues = None
                    for queue in held:
                        queue._release()
                start = stop
            while stop < end and type(events[stop]) is not delivery:
                stop += 1
            if stop > start:
                super()._dispatch(events if stop - start == end else events[start:stop])
                start = stop

    # --- the stream, from the protocol -------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            try:
                set_no_delay(True)
            except OSError:  # pragma: no cover - not a TCP socket underneath
                pass
        self._on_stream_connected()

    def connection_lost(self, reason: Failure) -> None:
        self._transport = None
        self._held_out.clear()
        self._held_size = 0
        self._twisted_paused = False
        error_value: BaseException | None = None
        if not self._closing_stream:
            if isinstance(reason.value, error.ConnectionDone):
                error_value = exceptions.StreamLostError("Transport indicated EOF")
            else:
                error_value = exceptions.StreamLostError(
                    f"Stream connection lost: {reason.value!r}"
                )
            LOGGER.error("connection_lost: %r", error_value)
        self._on_stream_terminated(error_value)


@implementer(IPushProducer)
class TwistedProtocolConnection(protocol.Protocol):
    """pika's TwistedProtocolConnection: wait for ``ready``, then ask for channels.

    ``ready`` fires with this object once the AMQP handshake is done (or fails with the
    reason); ``closed`` fires with the closing exception (ConnectionClosedByClient after
    ``close()``, ConnectionClosedByBroker, StreamLostError, ...) once the connection is gone.
    """

    def __init__(self, parameters: Parameters | None = None, custom_reactor: Any = None) -> None:
        self.ready: defer.Deferred[Any] | None = defer.Deferred()
        self.ready.addCallback(lambda _: self.connectionReady())
        self.closed: defer.Deferred[Any] | None = defer.Deferred()
        self._calls: set[defer.Deferred[Any]] = set()
        self._impl = _TwistedConnection(
            parameters,
            self._on_connection_ready,
            self._on_connection_failed,
            self._on_connection_closed,
            custom_reactor if custom_reactor is not None else _default_reactor(),
        )

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._impl!r}>"

    # --- the application's API ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """The handshake completed and no close has started."""
        return self._impl.is_open

    @property
    def is_closed(self) -> bool:
        """Closed for good."""
        return self._impl.is_closed

    @property
    def connection(self) -> Connection:
        """The callback-API connection underneath (params, server_properties, counters)."""
        return self._impl

    @property
    def params(self) -> Parameters:
        """The connection parameters."""
        return self._impl.params

    def channel(self, channel_number: int | None = None) -> defer.Deferred[Any]:
        """Open a channel: a Deferred of a TwistedChannel, fired on channel.open-ok."""
        d: defer.Deferred[Any] = defer.Deferred()
        calls = self._calls

        def on_open(channel: Channel) -> None:
            if d in calls:
                calls.discard(d)
                d.callback(TwistedChannel(channel))

        def on_close(_channel: Channel, reason: BaseException) -> None:
            if d in calls:
                calls.discard(d)
                d.errback(reason)

        try:
            channel = self._impl.channel(channel_number, on_open)
        except Exception:  # noqa: BLE001 - any failure becomes the failed Deferred
            return defer.fail()
        calls.add(d)
        channel.add_on_close_callback(on_close)
        return d

    def close(
        self, reply_code: int = 200, reply_text: str = "Normal shutdown"
    ) -> defer.Deferred[Any] | None:
        """Close the connection; returns ``closed`` (fired already if it was closed)."""
        if not self._impl.is_closed and not self._impl.is_closing:
            self._impl.close(reply_code, reply_text)
        return self.closed

    def connectionReady(self) -> Any:
        """What ``ready`` fires with: this object (override to run something first)."""
        return self

    # --- IProtocol ---------------------------------------------------------------------------

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        transport.registerProducer(self, True)
        self._impl.connection_made(transport)

    def dataReceived(self, data: bytes) -> None:
        impl = self._impl
        impl._on_data_available(data)
        if impl.inbound_streaming():
            self._read_payload(impl)

    def _read_payload(self, impl: _TwistedConnection) -> None:
        """Read the rest of a large body frame straight into its message.

        Twisted reads at most 64 KiB per readable event into a new bytes, which the protocol
        then copies into the message: a 1 MiB body took 16 trips through the reactor and a
        copy. On a plain TCP transport of a posix reactor the payload's rest is read here from
        the socket into its place (with what follows it in the same read, as the other
        transports do), while reads come back full. Not on TLS (the socket carries records) or
        any other transport; an error or EOF is left for twisted's next read to report.
        """
        transport: Any = self.transport  # a tcp.Connection when sock is not None
        sock = _plain_socket(transport)
        if sock is None:
            return
        total = 0
        while total < READ_EVENT_BUDGET:
            if transport.disconnecting or not transport.connected:
                return  # a callback of the last read closed the connection
            target = impl.inbound_target(AFTER_STREAM_READ)
            if target is None:
                return
            try:
                nbytes = sock.recv_into(target)
            except OSError:  # nothing more now, or a failure twisted's own read will meet
                return
            if not nbytes:
                return  # EOF: twisted's next read reports it
            impl.inbound_written(nbytes)
            total += nbytes
            if nbytes < len(target) or not impl.inbound_streaming():
                return

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._impl.connection_lost(reason)
        d, self.ready = self.ready, None
        if d is not None:
            d.errback(reason)

    # --- IPushProducer: twisted's write buffer limits ----------------------------------------

    def pauseProducing(self) -> None:
        self._impl.twisted_paused()

    def resumeProducing(self) -> None:
        self._impl.twisted_resumed()

    def stopProducing(self) -> None:
        """The transport is going away; connectionLost follows."""

    # --- from the callback-API connection ----------------------------------------------------

    def _on_connection_ready(self, _connection: Connection) -> None:
        d, self.ready = self.ready, None
        if d is not None:
            d.callback(None)

    def _on_connection_failed(self, _connection: Connection, exc: BaseException) -> None:
        d, self.ready = self.ready, None
        if d is not None:
            if not isinstance(exc, exceptions.AMQPConnectionError):
                exc = exceptions.AMQPConnectionError(exc)
            d.errback(exc)
        self._fire_closed(exc)

    def _on_connection_closed(self, _connection: Connection, exc: BaseException) -> None:
        calls, self._calls = self._calls, set()
        for d in calls:
            d.errback(exc)
        self._fire_closed(exc)

    def _fire_closed(self, exc: BaseException) -> None:
        d = self.closed
        if d is not None and not d.called:
            d.callback(exc)


def _plain_socket(transport: Any) -> socket.socket | None:
    """The socket under ``transport`` when bytes may be read from it directly: a TCP
    connection of a posix reactor, without TLS, still connected; None otherwise."""
    if (
        isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and not ISSLTransport.providedBy(transport)
        and transport.connected
        and not transport.disconnecting
    ):
        handle = transport.getHandle()
        if isinstance(handle, socket.socket):
            return handle
    return None
