"""ConnectionProtocol: the sans-I/O AMQP 0-9-1 client connection state machine.

It owns no socket, thread or clock. The caller:

1. calls ``connect()`` (queues the protocol header), then repeatedly
2. writes ``data_to_send()`` to the transport,
3. passes received bytes to ``feed(data, now)``, which returns a list of events,
4. calls ``tick(now)`` whenever ``now >= next_deadline()`` (heartbeats),
5. calls ``connection_lost(exc, now)`` when the transport fails.

Commands (``open_channel``, ``rpc``, ``publish``, ...) append frames to the outbound buffer and
raise ConnectionWrongStateError / ChannelWrongStateError when the state forbids them. Feeding
never raises: malformed input ends the connection with ``ConnectionClosed(FrameError(...))`` after
queueing a connection.close with the matching reply code.
"""

from __future__ import annotations

import logging
import struct
from typing import Any, Callable, Mapping, cast

from pika_core import frame, spec
from pika_core.exceptions import (
    AMQPConnectionError,
    AMQPHeartbeatTimeout,
    ChannelClosedByBroker,
    ChannelClosedByClient,
    ChannelWrongStateError,
    ConnectionClosedByBroker,
    ConnectionClosedByClient,
    ConnectionOpenAborted,
    ConnectionWrongStateError,
    FrameError,
    IncompatibleProtocolError,
    InvalidChannelNumber,
    NoFreeChannels,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
    StreamLostError,
)
from pika_core.frame import (
    HEARTBEAT_FRAME,
    FrameReader,
    encode_method,
    encode_publish,
    encode_publish_parts,
    join_small,
)
from pika_core.protocol import events as ev
from pika_core.protocol.channel import (
    CLOSING,
    CONTENT_DELIVER,
    CONTENT_GET,
    CONTENT_RETURN,
    OPEN,
    OPENING,
    ChannelState,
    expects_reply,
)
from pika_core.protocol.handshake import CHANNEL_MAX_LIMIT, ClientHandshake, HeartbeatSetting
from pika_core.protocol.heartbeat import DEAD, SEND, HeartbeatTimer

__all__ = [
    "DEFAULT_MAX_INBOUND_MESSAGE_SIZE",
    "PROTOCOL_HEADER",
    "STATE_AWAIT_OPEN_OK",
    "STATE_AWAIT_START",
    "STATE_AWAIT_TUNE",
    "STATE_CLOSED",
    "STATE_CLOSING",
    "STATE_INIT",
    "STATE_OPEN",
    "ConnectionProtocol",
]

LOGGER = logging.getLogger(__name__)
_DEBUG = logging.DEBUG

#: What the client writes first: "AMQP" 0 0 9 1.
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
#: Largest message body accepted by default; bigger ones end the connection (501).
DEFAULT_MAX_INBOUND_MESSAGE_SIZE = 128 * 1024 * 1024

#: connect() not called yet.
STATE_INIT = 0
#: Protocol header queued, waiting for connection.start.
STATE_AWAIT_START = 1
#: start-ok sent (login), waiting for connection.tune (or secure).
STATE_AWAIT_TUNE = 2
#: tune-ok and connection.open sent, waiting for open-ok (vhost access).
STATE_AWAIT_OPEN_OK = 3
#: Open: channels and traffic.
STATE_OPEN = 4
#: This client sent connection.close and waits for close-ok.
STATE_CLOSING = 5
#: Terminal: ConnectionClosed was emitted; everything fed is ignored.
STATE_CLOSED = 6

_Method = Any

# The decoders, typed loosely: the state machine reads method fields by name.
decode_method: Callable[[bytes], Any] = frame.decode_method
decode_header: Callable[[bytes], Any] = frame.decode_header

# Inbound method INDEXes the state machine reacts to.
_CONNECTION_START = spec.Connection.Start.INDEX
_CONNECTION_SECURE = spec.Connection.Secure.INDEX
_CONNECTION_TUNE = spec.Connection.Tune.INDEX
_CONNECTION_OPEN_OK = spec.Connection.OpenOk.INDEX
_CONNECTION_CLOSE = spec.Connection.Close.INDEX
_CONNECTION_CLOSE_OK = spec.Connection.CloseOk.INDEX
_CONNECTION_BLOCKED = spec.Connection.Blocked.INDEX
_CONNECTION_UNBLOCKED = spec.Connection.Unblocked.INDEX
_CHANNEL_OPEN = spec.Channel.Open.INDEX
_CHANNEL_OPEN_OK = spec.Channel.OpenOk.INDEX
_CHANNEL_CLOSE = spec.Channel.Close.INDEX
_CHANNEL_CLOSE_OK = spec.Channel.CloseOk.INDEX
_CHANNEL_FLOW = spec.Channel.Flow.INDEX
_BASIC_DELIVER = spec.Basic.Deliver.INDEX
_BASIC_RETURN = spec.Basic.Return.INDEX
_BASIC_GET_OK = spec.Basic.GetOk.INDEX
_BASIC_ACK = spec.Basic.Ack.INDEX
_BASIC_NACK = spec.Basic.Nack.INDEX
_BASIC_REJECT = spec.Basic.Reject.INDEX
_BASIC_CANCEL = spec.Basic.Cancel.INDEX
_CONNECTION_CLASS = spec.Connection.Start.INDEX >> 16

# Methods whose arguments carry a secret: logged by name only.
_SECRET_METHODS = frozenset(
    (
        spec.Connection.StartOk.INDEX,
        spec.Connection.SecureOk.INDEX,
        spec.Connection.UpdateSecret.INDEX,
    )
)

# The hot events are built without NamedTuple.__new__'s Python frame (same tuples).
_new_event = tuple.__new__
# Bodies at least this big (and bytes, so immutable) are queued as views of their frames.
_PARTS_MIN = 65536
# A large body's buffer (inbound_target) up to this size is kept for the next large message.
_SPARE_BUFFER_MAX = 16 * 1024 * 1024
# Room a new body buffer has past the body, for inbound_target(spill) at the last body frame.
_BODY_SPILL_ROOM = 8192
_Delivery = ev.Delivery
_Confirmation = ev.Confirmation

# basic.ack / nack / reject frame: type, channel, size (13), index, delivery tag, bits, frame-end.
_ACK_FRAME = struct.Struct(">BHIIQBB")


def _describe(method: _Method) -> str:
    """A method for the debug log, with secret-bearing arguments masked."""
    if method.INDEX in _SECRET_METHODS:
        return f"{method.NAME}(<masked>)"
    return repr(method)


def _content_expected(method: _Method, number: int) -> FrameError:
    """A content method arrived while the previous message's content was still expected."""
    return FrameError(
        505, f"{method.NAME} on channel {number} while a message's content was still expected"
    )


def _too_large(size: int, number: int, limit: int) -> FrameError:
    """A message body over max_inbound_message_size."""
    return FrameError(
        501,
        f"message body of {size} bytes on channel {number} exceeds max_inbound_message_size "
        f"({limit}); raise the limit to accept it",
    )


class ConnectionProtocol:
    """The client side of one AMQP 0-9-1 connection, driven by bytes and timestamps.

    Keyword arguments (an adapter builds them from its ConnectionParameters): ``credentials``,
    ``virtual_host``, ``channel_max``, ``frame_max``, ``heartbeat``, ``locale`` and
    ``client_properties`` are described on ClientHandshake; ``max_inbound_message_size`` caps
    a message body: a content header announcing more ends the connection with FrameError(501)
    before any of it is buffered.
    """

    def __init__(
        self,
        *,
        credentials: Any,
        virtual_host: str = "/",
        channel_max: int = CHANNEL_MAX_LIMIT,
        frame_max: int = spec.FRAME_MAX_SIZE,
        heartbeat: HeartbeatSetting = None,
        locale: str = "en_US",
        client_properties: Mapping[str, Any] | None = None,
        max_inbound_message_size: int = DEFAULT_MAX_INBOUND_MESSAGE_SIZE,
    ) -> None:
        if max_inbound_message_size < 0:
            raise ValueError("max_inbound_message_size must not be negative")
        self._handshake = ClientHandshake(
            credentials, virtual_host, channel_max, frame_max, heartbeat, locale, client_properties
        )
        self._max_inbound = max_inbound_message_size

        self._state = STATE_INIT
        self._reader = FrameReader()
        self._out: list[bytes] = []
        self._out_size = 0
        #: Whether _out holds views of a large body (see buffers_to_send).
        self._out_parts = False
        self._events: list[ev.Event] = []
        self._now = 0.0
        self._heartbeat = HeartbeatTimer()
        self._channels: dict[int, ChannelState] = {}
        self._channel0 = ChannelState(0)
        self._channel0.state = OPEN
        self._close_reason: ConnectionClosedByClient | None = None
        self._blocked = False

        self.channel_max = 0
        """The negotiated highest channel number (0 before connection.tune)."""
        self.frame_max = 0
        """The negotiated largest frame in bytes (0 before connection.tune)."""
        self.heartbeat = 0
        """The negotiated heartbeat interval in seconds (0: disabled or not yet tuned)."""
        self.server_properties: dict[str, Any] = {}
        """The server properties from connection.start."""
        self.known_hosts = ""
        """known_hosts from connection.open-ok."""
        self.bytes_received = 0
        """Bytes passed to feed()."""
        self.bytes_sent = 0
        """Bytes handed out by data_to_send()."""
        self.frames_received = 0
        """Complete frames parsed from the input."""
        # The body buffer of the last large message written in place, kept for the next one.
        self._spare_buffer: bytearray | None = None

        self._channel_handlers: dict[int, Callable[[ChannelState, _Method], None]] = {
            _CHANNEL_OPEN_OK: self._on_channel_open_ok,
            _CHANNEL_CLOSE: self._on_channel_close,
            _CHANNEL_FLOW: self._on_channel_flow,
            _BASIC_RETURN: self._on_basic_return,
            _BASIC_GET_OK: self._on_basic_get_ok,
            _BASIC_ACK: self._on_confirmation,
            _BASIC_NACK: self._on_confirmation,
            _BASIC_CANCEL: self._on_basic_cancel,
        }

    # ------------------------------------------------------------------------------------
    # State

    @property
    def state(self) -> int:
        """One of the STATE_* constants of this module."""
        return self._state

    @property
    def is_open(self) -> bool:
        """connection.open-ok arrived and no close has started."""
        return self._state == STATE_OPEN

    @property
    def is_closing(self) -> bool:
        """This client sent connection.close and waits for close-ok."""
        return self._state == STATE_CLOSING

    @property
    def is_closed(self) -> bool:
        """The terminal ConnectionClosed event was emitted."""
        return self._state == STATE_CLOSED

    @property
    def blocked(self) -> bool:
        """The broker sent connection.blocked and not yet connection.unblocked."""
        return self._blocked

    @property
    def server_capabilities(self) -> dict[str, Any]:
        """The ``capabilities`` table of the server properties."""
        capabilities = self.server_properties.get("capabilities")
        return capabilities if isinstance(capabilities, dict) else {}

    @property
    def outbound_size(self) -> int:
        """Bytes queued for data_to_send(): compare with a high-water mark for back-pressure."""
        return self._out_size

    @property
    def inbound_streaming(self) -> bool:
        """Whether a large body frame is arriving piece by piece: its payload may go straight
        into place (``inbound_target``); read only ``inbound_missing`` bytes (its frame-end
        byte) plus a frame header once it is all there, so that the next body frame's payload
        does too."""
        return self._reader.streaming

    @property
    def inbound_missing(self) -> int:
        """Bytes the frame being received still needs (0 between frames): a transport may
        read a large rest into a fresh buffer instead of copying it out of a reused one."""
        return self._reader.missing

    def inbound_target(self, spill: int = 0) -> memoryview | None:
        """Where the next bytes received may go straight, or None: while a large body frame
        is arriving, the place in its message's body where the rest of its payload belongs.
        A transport reads into it (``recv_into``) and reports with ``inbound_written``; the
        frame-end byte and everything after it still go through ``feed``. One copy less per
        byte than feeding, and a body buffer reused from one large message to the next.

        With ``spill``, the view goes on for up to that many bytes past the payload's end
        (where the body buffer has room: the next body frame's place, or spare room after
        the body), so that one read can take the rest of the payload and what follows it;
        ``inbound_written`` takes the bytes past the payload as received data."""
        reader = self._reader
        room = reader.stream_room
        if not room or self._state >= STATE_CLOSED:
            return None
        channel = self._channels.get(reader.stream_channel)
        if (
            channel is None
            or channel.state != OPEN
            or not channel.content_kind
            or channel.content_size < 0
        ):
            return None
        received = channel.content_received
        size = channel.content_size
        if received + room > size:
            return None  # more than announced: feed() ends the connection
        buffer = channel.content_buffer
        if buffer is None:
            buffer = self._spare_buffer
            if buffer is not None and len(buffer) >= size:
                self._spare_buffer = None
            else:
                buffer = bytearray(size + _BODY_SPILL_ROOM)
            position = 0
            for part in channel.content_parts:
                buffer[position : position + len(part)] = part
                position += len(part)
            channel.content_parts = []
            channel.content_buffer = buffer
        end = received + room
        if spill:
            end = min(end + spill, len(buffer))
        return memoryview(buffer)[received:end]

    def inbound_written(self, count: int, now: float) -> list[ev.Event]:
        """``count`` bytes were received into the last ``inbound_target()``, at time ``now``;
        return the events they complete. Bytes past the payload (a target asked for with
        ``spill``) are copied out of the body buffer and fed like any received bytes."""
        reader = self._reader
        room = reader.stream_room
        channel = self._channels[reader.stream_channel]
        received = channel.content_received
        payload = min(count, room)
        reader.streamed(payload)
        channel.content_received = received + payload
        self.bytes_received += payload
        self._heartbeat.last_read = now
        if payload == count:
            return []
        buffer = cast(bytearray, channel.content_buffer)
        return self.feed(bytes(memoryview(buffer)[received + room : received + count]), now)

    @property
    def inbound_buffered(self) -> int:
        """Bytes held for unfinished frames and partly assembled messages (memory bound checks)."""
        total = self._reader.buffered
        for channel in self._channels.values():
            if channel.content_kind:
                total += channel.content_received
        return total

    def channel_state(self, channel: int) -> int | None:
        """OPENING, OPEN or CLOSING (from pika_core.protocol.channel), or None if not in use."""
        state = self._channels.get(channel)
        return None if state is None else state.state

    def confirm_mode(self, channel: int) -> bool:
        """Whether Confirm.Select was written on ``channel`` (publish() returns numbers)."""
        state = self._channels.get(channel)
        return state is not None and state.confirming

    def next_deadline(self) -> float | None:
        """When tick() must next be called, or None when no heartbeat timing runs."""
        if self._state >= STATE_CLOSED:
            return None
        return self._heartbeat.deadline()

    # ------------------------------------------------------------------------------------
    # Output

    def connect(self) -> None:
        """Queue the protocol header that starts the handshake."""
        if self._state != STATE_INIT:
            raise ConnectionWrongStateError("connect() was already called on this protocol")
        self._state = STATE_AWAIT_START
        self._write(PROTOCOL_HEADER)

    def data_to_send(self, now: float | None = None) -> bytes:
        """Return and clear everything queued for the peer (b"" when nothing is pending).

        Pass ``now`` to stamp the write time for heartbeats; without it the write is stamped
        at the next tick(), which may delay the next heartbeat by up to half an interval.
        """
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        self._drained(now)
        return data

    def buffers_to_send(self, now: float | None = None) -> list[Any]:
        """``data_to_send`` as a list of buffers, for writers that send several at once
        (``socket.sendmsg``): the frames of a large body come as memoryviews of it, small
        pieces between them joined; without a large body, one ``bytes`` (or nothing)."""
        if not self._out_parts:
            data = self.data_to_send(now)
            return [data] if data else []
        buffers = join_small(self._out, _PARTS_MIN)
        self._drained(now)
        return buffers

    def _drained(self, now: float | None) -> None:
        """Everything queued was handed out: count it, empty the queue, stamp the write."""
        self.bytes_sent += self._out_size
        self._out = []
        self._out_size = 0
        self._out_parts = False
        if now is None:
            self._heartbeat.write_pending = True
        else:
            self._heartbeat.last_write = now

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def _send(self, channel: int, method: _Method) -> None:
        """Encode and queue one method frame."""
        if LOGGER.isEnabledFor(_DEBUG):
            LOGGER.debug("send ch=%d %s", channel, _describe(method))
        data = encode_method(channel, method)
        self._out.append(data)
        self._out_size += len(data)

    # ------------------------------------------------------------------------------------
    # Input

    def feed(self, data: bytes, now: float) -> list[ev.Event]:
        """Process bytes received at time ``now``; return the events they complete.

        Never raises for bad input: malformed frames end the connection with a terminal
        ConnectionClosed event. Input after the terminal event is ignored.
        """
        if self._state >= STATE_CLOSED or not data:
            return []
        self._heartbeat.last_read = now
        self._now = now
        self.bytes_received += len(data)
        events: list[ev.Event] = []
        self._events = events
        try:
            reader = self._reader
            # Whole deliveries come decoded from the reader only while the connection is open.
            reader.fuse = _Delivery if self._state == STATE_OPEN else None
            frames = reader.feed(data)
            self.frames_received += len(frames) - reader.pieces + 2 * reader.fused
            self._process(frames)
            if reader.pending_error is not None and self._state < STATE_CLOSED:
                raise reader.pending_error
        except FrameError as exc:
            self._fail(exc)
        except IncompatibleProtocolError as exc:
            self._terminate(exc)
        except Exception as exc:  # a decoder bug must not escape the I/O loop
            LOGGER.exception("Unexpected error while decoding input")
            self._fail(FrameError(502, f"internal error while decoding a frame: {exc!r}"))
        return events

    def _process(self, frames: list[Any]) -> None:
        """Dispatch parsed frames; the delivery path (method, header, body) is inlined."""
        channels = self._channels
        handlers = self._channel_handlers
        emit = self._events.append
        max_inbound = self._max_inbound
        # Only the handshake and channel-0 methods change the connection state.
        is_open = self._state == STATE_OPEN
        count = len(frames)
        position = 0
        while position < count:
            entry = frames[position]
            position += 1
            if type(entry) is _Delivery:
                # A whole delivery the reader decoded in one step (only while open).
                channel = channels.get(entry[0])
                if (
                    channel is not None
                    and channel.state == OPEN
                    and not channel.content_kind
                    and len(entry[3]) <= max_inbound
                ):
                    emit(entry)
                else:
                    self._unusual_delivery(channel, entry)
                continue
            frame_type, number, payload = entry
            if not is_open:
                self._process_not_open(frame_type, number, payload)
                if self._state == STATE_CLOSED:
                    return
                is_open = self._state == STATE_OPEN
                continue
            if not number:
                if frame_type == 1:
                    self._on_connection_method(decode_method(payload))
                    if self._state == STATE_CLOSED:
                        return
                elif frame_type != 8:
                    raise FrameError(
                        505, f"content frame (type {frame_type}) on channel 0, which has no content"
                    )
                continue
            channel = channels.get(number)
            if channel is None:
                raise self._unknown_channel(number)
            if channel.state == CLOSING:
                if frame_type == 1:
                    self._on_closing_channel_method(channel, decode_method(payload))
                continue

            if frame_type == 1:
                method = decode_method(payload)
                if channel.content_kind:
                    raise _content_expected(method, number)
                index = method.INDEX
                if index == _BASIC_DELIVER and channel.state == OPEN:
                    # (A whole delivery in one read came fused from the reader; this is the
                    # frame-by-frame path: its header and body frames follow.)
                    channel.content_kind = CONTENT_DELIVER
                    channel.content_method = method
                    channel.content_size = -1
                    continue
                handler = handlers.get(index)
                if handler is not None:
                    handler(channel, method)
                elif index in channel.expect:
                    self._on_rpc_reply(channel, method)
                else:
                    raise self._unexpected_method(channel, method)

            elif frame_type == 3:
                if not channel.content_kind or channel.content_size < 0:
                    raise FrameError(
                        505, f"body frame on channel {number} without a method and content header"
                    )
                received = channel.content_received + len(payload)
                size = channel.content_size
                if received > size:
                    raise FrameError(
                        505,
                        f"body frames on channel {number} carry {received} bytes but the content "
                        f"header announced {size}",
                    )
                buffer = channel.content_buffer
                if buffer is not None:
                    buffer[channel.content_received : received] = payload
                    channel.content_received = received
                    if received < size:
                        continue
                    payload = bytes(memoryview(buffer)[:size])
                    channel.content_buffer = None
                    channel.content_received = 0
                    if len(buffer) <= _SPARE_BUFFER_MAX:
                        self._spare_buffer = buffer
                elif received < size:
                    channel.content_parts.append(payload)
                    channel.content_received = received
                    continue
                parts = channel.content_parts
                if parts:
                    parts.append(payload)
                    payload = b"".join(parts)
                    channel.content_parts = []
                    channel.content_received = 0
                elif type(payload) is not bytes:
                    payload = bytes(payload)  # a large body frame comes as a memoryview
                if channel.content_kind == CONTENT_DELIVER:
                    channel.content_kind = 0
                    emit(
                        _new_event(
                            _Delivery,
                            (number, channel.content_method, channel.content_props, payload),
                        )
                    )
                else:
                    self._content_complete(channel, payload)

            elif frame_type == 2:
                if not channel.content_kind or channel.content_size >= 0:
                    raise FrameError(
                        505, f"content header on channel {number} without a content method"
                    )
                class_id, body_size, properties = decode_header(payload)
                if class_id != channel.content_method.INDEX >> 16:
                    raise FrameError(
                        505,
                        f"content header of class {class_id} on channel {number} after "
                        f"{channel.content_method.NAME}",
                    )
                if body_size > max_inbound:
                    raise _too_large(body_size, number, max_inbound)
                channel.content_props = properties
                if body_size:
                    channel.content_size = body_size
                    channel.content_received = 0
                else:
                    self._content_complete(channel, b"")
            else:
                raise FrameError(501, f"heartbeat frame on channel {number}")

    def _unusual_delivery(self, channel: ChannelState | None, delivery: Any) -> None:
        """A fused delivery the fast path cannot take: what its three frames would have done."""
        if channel is None:
            raise self._unknown_channel(delivery[0])
        method = delivery[1]
        if channel.state == CLOSING:
            self._on_closing_channel_method(channel, method)
            return
        if channel.content_kind:
            raise _content_expected(method, channel.number)
        size = len(delivery[3])
        if size > self._max_inbound:
            raise _too_large(size, channel.number, self._max_inbound)
        self._events.append(delivery)

    def _content_complete(self, channel: ChannelState, body: bytes) -> None:
        """A message is complete: emit it and reset the channel's content state."""
        kind = channel.content_kind
        method = channel.content_method
        properties = channel.content_props
        channel.content_kind = 0
        if kind == CONTENT_DELIVER:
            self._events.append(_new_event(_Delivery, (channel.number, method, properties, body)))
        elif kind == CONTENT_RETURN:
            self._events.append(ev.Returned(channel.number, method, properties, body))
        else:
            request, ready = channel.reply_received()
            self._events.append(ev.RPCReply(channel.number, method, properties, body, request))
            for queued in ready:
                self._send(channel.number, queued)

    def _process_not_open(self, frame_type: int, number: int, payload: bytes) -> None:
        """Frames during the handshake or after this client sent connection.close."""
        if self._state == STATE_CLOSING:
            # Only connection.close and close-ok matter now; everything else is dropped.
            if number == 0 and frame_type == 1:
                method = decode_method(payload)
                index = method.INDEX
                if index == _CONNECTION_CLOSE_OK:
                    assert self._close_reason is not None
                    self._terminate(self._close_reason)
                elif index == _CONNECTION_CLOSE:
                    self._send(0, spec.Connection.CloseOk())
                    self._terminate(ConnectionClosedByBroker(method.reply_code, method.reply_text))
            return
        if number:
            raise FrameError(
                504, f"frame (type {frame_type}) on channel {number} before the connection opened"
            )
        if frame_type == 8:
            return
        if frame_type != 1:
            raise FrameError(505, f"content frame (type {frame_type}) during the handshake")
        method = decode_method(payload)
        if LOGGER.isEnabledFor(_DEBUG):
            LOGGER.debug("recv ch=0 %s", _describe(method))
        index = method.INDEX
        state = self._state
        if index == _CONNECTION_CLOSE:
            self._send(0, spec.Connection.CloseOk())
            closed = ConnectionClosedByBroker(method.reply_code, method.reply_text)
            self._terminate(self._handshake_error(closed))
        elif index == _CONNECTION_START and state == STATE_AWAIT_START:
            self._on_start(method)
        elif index == _CONNECTION_SECURE and state == STATE_AWAIT_TUNE:
            self._send(0, self._handshake.secure_ok())
        elif index == _CONNECTION_TUNE and state == STATE_AWAIT_TUNE:
            self._on_tune(method)
        elif index == _CONNECTION_OPEN_OK and state == STATE_AWAIT_OPEN_OK:
            self._on_open_ok(method)
        else:
            raise FrameError(503, f"{method.NAME} is not valid during the connection handshake")

    # ------------------------------------------------------------------------------------
    # Handshake

    def _on_start(self, method: _Method) -> None:
        properties = method.server_properties
        self.server_properties = properties if isinstance(properties, dict) else {}
        try:
            start_ok = self._handshake.start_ok(method)
        except Exception as exc:  # noqa: BLE001 - wrong version, no mechanism, bad credentials
            self._terminate(exc)
            return
        self._send(0, start_ok)
        self._state = STATE_AWAIT_TUNE

    def _on_tune(self, method: _Method) -> None:
        try:
            tune_ok = self._handshake.tune_ok(method)
        except FrameError:
            raise
        except Exception as exc:  # noqa: BLE001 - the caller's heartbeat callable failed
            self._terminate(exc)
            return
        self.channel_max = tune_ok.channel_max
        self.frame_max = frame_max = tune_ok.frame_max
        self.heartbeat = tune_ok.heartbeat
        self._reader.frame_max = frame_max
        self._send(0, tune_ok)
        self._send(0, self._handshake.open())
        self._heartbeat.start(tune_ok.heartbeat, self._now)
        self._state = STATE_AWAIT_OPEN_OK

    def _on_open_ok(self, method: _Method) -> None:
        self._state = STATE_OPEN
        self.known_hosts = method.known_hosts or ""
        self._handshake.opened()
        self._events.append(ev.ConnectionOpened(self.server_properties, self.known_hosts))

    def _handshake_error(self, exc: BaseException) -> BaseException:
        """Name a failure during the handshake the way pika does, by how far it got."""
        state = self._state
        if state == STATE_AWAIT_START:
            return IncompatibleProtocolError(repr(exc))
        if state == STATE_AWAIT_TUNE:
            return ProbableAuthenticationError(repr(exc))
        if state == STATE_AWAIT_OPEN_OK:
            return ProbableAccessDeniedError(repr(exc))
        return exc

    # ------------------------------------------------------------------------------------
    # Inbound methods

    def _on_connection_method(self, method: _Method) -> None:
        """A method on channel 0 while the connection is open."""
        index = method.INDEX
        if LOGGER.isEnabledFor(_DEBUG):
            LOGGER.debug("recv ch=0 %s", _describe(method))
        if index == _CONNECTION_CLOSE:
            self._send(0, spec.Connection.CloseOk())
            self._terminate(ConnectionClosedByBroker(method.reply_code, method.reply_text))
        elif index == _CONNECTION_BLOCKED:
            self._blocked = True
            self._events.append(ev.ConnectionBlocked(method.reason))
        elif index == _CONNECTION_UNBLOCKED:
            self._blocked = False
            self._events.append(ev.ConnectionUnblocked())
        elif index in self._channel0.expect:
            self._on_rpc_reply(self._channel0, method)
        else:
            raise FrameError(
                503, f"{method.NAME} from the server is not valid on an open connection"
            )

    def _on_rpc_reply(self, channel: ChannelState, method: _Method) -> None:
        if LOGGER.isEnabledFor(_DEBUG):
            LOGGER.debug("recv ch=%d %s", channel.number, _describe(method))
        request, ready = channel.reply_received()
        self._events.append(ev.RPCReply(channel.number, method, None, None, request))
        for queued in ready:
            self._send(channel.number, queued)

    def _on_channel_open_ok(self, channel: ChannelState, method: _Method) -> None:
        if channel.state != OPENING or _CHANNEL_OPEN_OK not in channel.expect:
            raise self._unexpected_method(channel, method)
        channel.state = OPEN
        _, ready = channel.reply_received()
        self._events.append(ev.ChannelOpened(channel.number))
        for queued in ready:
            self._send(channel.number, queued)

    def _on_channel_close(self, channel: ChannelState, method: _Method) -> None:
        number = channel.number
        if LOGGER.isEnabledFor(_DEBUG):
            LOGGER.debug("recv ch=%d %s", number, _describe(method))
        self._send(number, spec.Channel.CloseOk())
        del self._channels[number]
        pending = channel.drop_pending()
        exc = ChannelClosedByBroker(method.reply_code, method.reply_text)
        self._events.append(ev.ChannelClosed(number, exc, pending))

    def _on_closing_channel_method(self, channel: ChannelState, method: _Method) -> None:
        """After this client sent channel.close: answer a crossing close, finish on close-ok."""
        index = method.INDEX
        if index == _CHANNEL_CLOSE_OK:
            number = channel.number
            del self._channels[number]
            exc = channel.close_exception
            assert exc is not None
            pending = tuple(channel.queue)
            channel.queue.clear()
            self._events.append(ev.ChannelClosed(number, exc, pending))
        elif index == _CHANNEL_CLOSE:
            # Both sides closed at once: answer, keep waiting for our close-ok, report theirs.
            self._send(channel.number, spec.Channel.CloseOk())
            channel.close_exception = ChannelClosedByBroker(method.reply_code, method.reply_text)

    def _on_channel_flow(self, channel: ChannelState, method: _Method) -> None:
        active = bool(method.active)
        self._send(channel.number, spec.Channel.FlowOk(active=active))
        channel.flow_active = active
        self._events.append(ev.FlowChanged(channel.number, active))

    def _on_basic_return(self, channel: ChannelState, method: _Method) -> None:
        if channel.state != OPEN:
            raise self._unexpected_method(channel, method)
        channel.content_kind = CONTENT_RETURN
        channel.content_method = method
        channel.content_size = -1

    def _on_basic_get_ok(self, channel: ChannelState, method: _Method) -> None:
        if _BASIC_GET_OK not in channel.expect:
            raise self._unexpected_method(channel, method)
        channel.content_kind = CONTENT_GET
        channel.content_method = method
        channel.content_size = -1

    def _on_confirmation(self, channel: ChannelState, method: _Method) -> None:
        if not channel.confirming:
            raise FrameError(
                503,
                f"{method.NAME} from the server on channel {channel.number}, which is not in "
                "confirm mode",
            )
        if method.delivery_tag > channel.publish_seq:
            raise FrameError(
                503,
                f"{method.NAME} for delivery tag {method.delivery_tag} on channel "
                f"{channel.number}, but only {channel.publish_seq} messages were published",
            )
        self._events.append(_new_event(_Confirmation, (channel.number, method)))

    def _on_basic_cancel(self, channel: ChannelState, method: _Method) -> None:
        if channel.state != OPEN:
            raise self._unexpected_method(channel, method)
        if not method.nowait:
            self._send(channel.number, spec.Basic.CancelOk(consumer_tag=method.consumer_tag))
        self._events.append(ev.ConsumerCancelled(channel.number, method.consumer_tag))

    def _unknown_channel(self, number: int) -> FrameError:
        if number > self.channel_max:
            return FrameError(
                504,
                f"frame on channel {number}, above the negotiated channel_max {self.channel_max}",
            )
        return FrameError(504, f"frame on channel {number}, which is not open")

    def _unexpected_method(self, channel: ChannelState, method: _Method) -> FrameError:
        if method.INDEX >> 16 == _CONNECTION_CLASS:
            where = "only valid on channel 0"
        elif channel.awaiting is not None:
            where = f"not a reply to the pending {channel.awaiting.NAME}"
        else:
            where = "not valid from the server in this channel state"
        return FrameError(503, f"{method.NAME} on channel {channel.number}: {where}")

    # ------------------------------------------------------------------------------------
    # Termination

    def _fail(self, exc: FrameError) -> None:
        """Malformed input: tell the peer why (connection.close) and end the connection."""
        if self._state >= STATE_CLOSED:
            return
        LOGGER.warning("Closing the connection on a protocol error: %r", exc)
        if STATE_AWAIT_START <= self._state < STATE_CLOSING:
            text = exc.reply_text.encode("utf-8")[:255].decode("utf-8", "ignore")
            self._send(0, spec.Connection.Close(exc.reply_code, text, 0, 0))
        self._terminate(exc)

    def _terminate(self, exc: BaseException) -> None:
        """Emit ChannelClosed for every channel, then the terminal ConnectionClosed."""
        self._state = STATE_CLOSED
        self._heartbeat.stop()
        events = self._events
        channels = self._channels
        for number in sorted(channels):
            channel = channels[number]
            pending = channel.drop_pending()
            events.append(ev.ChannelClosed(number, exc, pending))
        channels.clear()
        self._channel0.drop_pending()
        events.append(ev.ConnectionClosed(exc))

    def connection_lost(self, exc: BaseException | None, now: float) -> list[ev.Event]:
        """The transport failed or reached EOF (``exc`` None); return the terminal events.

        During the handshake the error is named as pika does: IncompatibleProtocolError before
        connection.start, ProbableAuthenticationError during login, ProbableAccessDeniedError
        after connection.open. After this client sent connection.close, the close counts as
        done (ConnectionClosedByClient).
        """
        if self._state >= STATE_CLOSED:
            return []
        self._now = now
        events: list[ev.Event] = []
        self._events = events
        if exc is None:
            lost: BaseException = StreamLostError("Stream connection lost: EOF")
        elif isinstance(exc, AMQPConnectionError):
            lost = exc
        else:
            lost = StreamLostError(f"Stream connection lost: {exc!r}")
        if self._state == STATE_CLOSING:
            assert self._close_reason is not None
            lost = self._close_reason
        elif self._state != STATE_INIT:
            lost = self._handshake_error(lost)
        self._terminate(lost)
        return events

    def tick(self, now: float) -> list[ev.Event]:
        """Send a heartbeat or detect a dead peer; call it when ``now >= next_deadline()``."""
        if self._state >= STATE_CLOSED:
            return []
        action = self._heartbeat.check(now)
        if action == SEND:
            self._write(HEARTBEAT_FRAME)
        elif action == DEAD:
            interval = self._heartbeat.interval
            events: list[ev.Event] = []
            self._events = events
            self._now = now
            self._terminate(
                AMQPHeartbeatTimeout(
                    f"No activity or too many missed heartbeats in the last {2 * interval} "
                    f"seconds (negotiated heartbeat {interval} s)"
                )
            )
            return events
        return []

    # ------------------------------------------------------------------------------------
    # Commands

    def _require_open(self) -> None:
        if self._state != STATE_OPEN:
            raise self._unusable(0)

    def _unusable(self, number: int) -> Exception:
        """Why channel ``number`` cannot carry a command now."""
        if self._state != STATE_OPEN:
            return ConnectionWrongStateError(
                f"the connection is not open (state {self._state}); wait for ConnectionOpened "
                "and do not use it after close()"
            )
        channel = self._channels.get(number)
        if channel is None:
            return ChannelWrongStateError(
                f"channel {number} is not open; open it with open_channel() first"
            )
        if channel.state == CLOSING:
            return ChannelWrongStateError(f"channel {number} is closing; open a new channel")
        return ChannelWrongStateError(f"channel {number} is still opening; wait for ChannelOpened")

    def _open_channel_state(self, number: int) -> ChannelState:
        """The channel's state if it can queue requests (open or opening), else raise."""
        channel = self._channels.get(number)
        if channel is None or channel.state == CLOSING or self._state != STATE_OPEN:
            raise self._unusable(number)
        return channel

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> list[ev.Event]:
        """Start closing the connection; returns terminal events only when it ends at once.

        When open, connection.close is queued and the terminal ConnectionClosed
        (ConnectionClosedByClient) arrives from feed() with close-ok. Before the connection is
        open there is nothing to close politely: it ends at once with ConnectionOpenAborted.
        """
        state = self._state
        if state >= STATE_CLOSING:
            raise ConnectionWrongStateError("the connection is already closing or closed")
        if state != STATE_OPEN:
            events: list[ev.Event] = []
            self._events = events
            self._terminate(
                ConnectionOpenAborted(
                    f"close() called before the connection was open ({reply_code} {reply_text})"
                )
            )
            return events
        self._close_reason = ConnectionClosedByClient(reply_code, reply_text)
        self._send(0, spec.Connection.Close(reply_code, reply_text, 0, 0))
        self._state = STATE_CLOSING
        return []

    def update_secret(self, new_secret: Any, reason: str) -> None:
        """Queue connection.update-secret (e.g. a refreshed OAuth token); reply is RPCReply(0)."""
        self._require_open()
        for method in self._channel0.request(
            spec.Connection.UpdateSecret(new_secret=new_secret, reason=reason)
        ):
            self._send(0, method)

    def next_free_channel(self) -> int:
        """The lowest channel number not in use; raises NoFreeChannels when all are taken."""
        channels = self._channels
        limit = self.channel_max or CHANNEL_MAX_LIMIT
        if len(channels) < limit:
            for number in range(1, limit + 1):
                if number not in channels:
                    return number
        raise NoFreeChannels()

    def open_channel(self, number: int) -> None:
        """Queue channel.open for ``number``; ChannelOpened follows with open-ok."""
        self._require_open()
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidChannelNumber(f"channel number must be an int, got {number!r}")
        if not 1 <= number <= self.channel_max:
            raise InvalidChannelNumber(
                f"channel {number} is out of range; use 1..{self.channel_max} (channel_max)"
            )
        if number in self._channels:
            raise InvalidChannelNumber(
                f"channel {number} is already in use; pick another with next_free_channel()"
            )
        channel = ChannelState(number)
        self._channels[number] = channel
        for method in channel.request(spec.Channel.Open()):
            self._send(number, method)

    def close_channel(
        self, number: int, reply_code: int = 0, reply_text: str = "Normal shutdown"
    ) -> None:
        """Queue channel.close now; ChannelClosed(ChannelClosedByClient) follows with close-ok.

        Requests still queued or in flight on the channel are dropped and listed in that
        ChannelClosed's ``pending``; replies arriving before close-ok are discarded.
        """
        channel = self._open_channel_state(number)
        channel.queue.extend(channel.drop_pending())
        channel.reset_content()
        channel.state = CLOSING
        channel.close_exception = ChannelClosedByClient(reply_code, reply_text)
        self._send(number, spec.Channel.Close(reply_code, reply_text, 0, 0))

    def rpc(self, channel: int, method: _Method) -> None:
        """Queue a synchronous method; at most one per channel is on the wire at a time.

        The reply arrives as RPCReply(channel, reply, ..., request=method). A method sent with
        ``nowait=True`` keeps its place in the queue and completes when written (no reply).
        """
        index = method.INDEX
        if index not in _RPC_METHODS:
            raise ValueError(
                f"{method.NAME} is not a synchronous channel method: use send_method() for "
                "asynchronous methods, publish() for content, open_channel()/close_channel()/"
                "update_secret()/close() for those"
            )
        state = self._open_channel_state(channel)
        for queued in state.request(method):
            self._send(channel, queued)

    def send_method(self, channel: int, method: _Method) -> None:
        """Write an asynchronous method now (e.g. Basic.RecoverAsync, Basic.Ack, nowait ones)."""
        if expects_reply(method) or spec.has_content(method.INDEX) or not channel:
            raise ValueError(
                f"{method.NAME} on channel {channel} cannot go through send_method(): use rpc() "
                "for methods with a reply, publish() for content, channels 1 and up"
            )
        self._open_channel_state(channel)
        self._send(channel, method)

    def publish(
        self,
        channel: int,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any = None,
        mandatory: bool = False,
    ) -> int:
        """Queue basic.publish with its content; return the confirm sequence number (or 0).

        Publishes are not held behind queued RPCs: they go out in call order with other
        asynchronous methods.
        """
        state = self._channels.get(channel)
        if state is None or state.state != OPEN or self._state != STATE_OPEN:
            raise self._unusable(channel)
        size = len(body)
        if size < _PARTS_MIN or type(body) is not bytes:
            data = encode_publish(
                channel, exchange, routing_key, body, properties, mandatory, self.frame_max
            )
            self._out.append(data)
            self._out_size += len(data)
        else:
            # A large immutable body: its frames stay views of it until they are sent
            # (joined by data_to_send, or sent as they are through buffers_to_send).
            parts = encode_publish_parts(
                channel, exchange, routing_key, body, properties, mandatory, self.frame_max
            )
            self._out.extend(parts)
            self._out_size += sum(len(part) for part in parts)
            self._out_parts = True
        if state.confirming:
            state.publish_seq += 1
            return state.publish_seq
        return 0

    def _ack_frame(self, channel: int, index: int, delivery_tag: int, bits: int) -> None:
        state = self._channels.get(channel)
        if state is None or state.state != OPEN or self._state != STATE_OPEN:
            raise self._unusable(channel)
        try:
            data = _ACK_FRAME.pack(1, channel, 13, index, delivery_tag, bits, 0xCE)
        except struct.error:
            raise ValueError(
                f"delivery_tag={delivery_tag!r} must be an int in 0..2**64-1"
            ) from None
        self._out.append(data)
        self._out_size += 21

    def basic_ack(self, channel: int, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Queue basic.ack (the per-message path: _ack_frame inlined)."""
        state = self._channels.get(channel)
        if state is None or state.state != OPEN or self._state != STATE_OPEN:
            raise self._unusable(channel)
        try:
            data = _ACK_FRAME.pack(
                1, channel, 13, _BASIC_ACK, delivery_tag, 1 if multiple else 0, 0xCE
            )
        except struct.error:
            raise ValueError(
                f"delivery_tag={delivery_tag!r} must be an int in 0..2**64-1"
            ) from None
        self._out.append(data)
        self._out_size += 21

    def basic_nack(
        self, channel: int, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Queue basic.nack (fast path)."""
        bits = (1 if multiple else 0) | (2 if requeue else 0)
        self._ack_frame(channel, _BASIC_NACK, delivery_tag, bits)

    def basic_reject(self, channel: int, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Queue basic.reject (fast path)."""
        self._ack_frame(channel, _BASIC_REJECT, delivery_tag, 1 if requeue else 0)


# Synchronous methods rpc() accepts: not the connection class, not channel.open/close
# (those have their own commands).
_RPC_METHODS = frozenset(
    index
    for index, cls in spec.methods.items()
    if cls.synchronous
    and index >> 16 != _CONNECTION_CLASS
    and index not in (_CHANNEL_OPEN, _CHANNEL_CLOSE)
)
