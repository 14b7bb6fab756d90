"""Connection: pika's callback-API connection over the sans-I/O protocol and a pluggable transport.

A subclass supplies the transport by implementing the ``_adapter_*`` methods (timers, a
thread-safe callback, connecting, writing and disconnecting the byte stream) and by calling
``_on_stream_connected()``, ``_on_data_available(data)`` and ``_on_stream_terminated(error)``
as the stream comes up, delivers bytes and goes away. BaseConnection does that over any
AbstractIOServices; docs/custom-adapters.md shows both ways.

Output is coalesced: commands append frames to the protocol's buffer and one flush per loop
turn hands everything to the transport in one write. All methods belong to the I/O loop's
thread.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from pika_core import exceptions, frame, spec, validators
from pika_core import hooks as _hooks
from pika_core.callback import CallbackManager
from pika_core.capabilities import ServerCapabilities
from pika_core.parameters import ConnectionParameters, Parameters, SSLOptions, URLParameters
from pika_core.protocol import ConnectionProtocol
from pika_core.protocol import connection as _pstate
from pika_core.protocol import events as ev
from pika_core.recovery import RecoverySession, TopologyReplay, is_recoverable

if TYPE_CHECKING:
    from pika_core.channel import Channel

__all__ = [
    "Connection",
    "ConnectionParameters",
    "Parameters",
    "SSLOptions",
    "URLParameters",
]

LOGGER = logging.getLogger(__name__)

_monotonic = time.monotonic

#: Default outbound high-water mark (bytes): above it a publisher should wait for the drain.
DEFAULT_OUTBOUND_HIGH_WATER = 4 * 1024 * 1024

_OnOpen = Callable[["Connection"], Any]
_OnError = Callable[["Connection", BaseException], Any]
_OnBlocked = Callable[["Connection", Any], Any]

# Protocol state -> pika's connection_state number.
_STATE_MAP = {
    _pstate.STATE_INIT: 1,
    _pstate.STATE_AWAIT_START: 2,
    _pstate.STATE_AWAIT_TUNE: 3,
    _pstate.STATE_AWAIT_OPEN_OK: 4,
    _pstate.STATE_OPEN: 5,
    _pstate.STATE_CLOSING: 6,
    _pstate.STATE_CLOSED: 6,  # ConnectionClosed seen, stream not yet torn down
}

# Errors after which the peer is not expected to read what is still queued.
_ABORT_ERRORS = (
    exceptions.AMQPHeartbeatTimeout,
    exceptions.StreamLostError,
    exceptions.ConnectionBlockedTimeout,
)


def _new_protocol(params: Parameters, connection: Connection) -> ConnectionProtocol:
    """Build the sans-I/O protocol for one stream from the connection parameters."""
    heartbeat: Any = params.heartbeat
    if callable(heartbeat):
        wanted = heartbeat

        def heartbeat(server_value: int) -> Any:
            # pika's callable receives (connection, broker's value).
            return wanted(connection, server_value)

    return ConnectionProtocol(
        credentials=params.credentials,
        virtual_host=params.virtual_host,
        channel_max=params.channel_max,
        frame_max=params.frame_max,
        heartbeat=heartbeat,
        locale=params.locale,
        client_properties=params.client_properties,
    )


class Connection(ServerCapabilities):
    """The asynchronous (callback) connection API of pika; subclass it for a transport."""

    ON_CONNECTION_CLOSED = "_on_connection_closed"
    ON_CONNECTION_ERROR = "_on_connection_error"
    ON_CONNECTION_OPEN_OK = "_on_connection_open_ok"

    CONNECTION_CLOSED = 0
    CONNECTION_INIT = 1
    CONNECTION_PROTOCOL = 2
    CONNECTION_START = 3
    CONNECTION_TUNE = 4
    CONNECTION_OPEN = 5
    CONNECTION_CLOSING = 6

    def __init__(
        self,
        parameters: Parameters | None = None,
        on_open_callback: _OnOpen | None = None,
        on_open_error_callback: _OnError | None = None,
        on_close_callback: _OnError | None = None,
        internal_connection_workflow: bool = True,
    ) -> None:
        if parameters is None:
            parameters = ConnectionParameters()
        elif not isinstance(parameters, Parameters):
            raise TypeError(
                f"parameters must be a ConnectionParameters or URLParameters, got {parameters!r}"
            )
        for name, cb in (
            ("on_open_callback", on_open_callback),
            ("on_open_error_callback", on_open_error_callback),
            ("on_close_callback", on_close_callback),
        ):
            if cb is not None:
                validators.require_callback(cb, name)
        self.params: Parameters = parameters
        self.callbacks = CallbackManager()
        self.server_properties: dict[str, Any] = {}
        self.known_hosts: str | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        self.frames_sent = 0
        self.frames_received = 0
        self._high_water = DEFAULT_OUTBOUND_HIGH_WATER
        self._drain_timer: Any = None

        self._protocol: Any = None
        self._channels: dict[int, Channel] = {}
        self._internal_connection_workflow = internal_connection_workflow
        self._opened = False
        self._finished = False
        self._stream_up = False
        self._error: BaseException | None = None
        self._close_code: tuple[int, str] | None = None
        self._flush_pending = False
        self._writing_paused = False
        self._hb_timer: Any = None
        self._blocked_timer: Any = None
        self._secret_waiters: collections.deque[Callable[[Any], Any] | None] = collections.deque()
        self._drained_callbacks: list[Callable[[Connection], Any]] = []
        self._open_callbacks: list[_OnOpen] = []
        self._open_error_callbacks: list[_OnError] = [self._default_on_connection_error]
        self._close_callbacks: list[_OnError] = []
        self._blocked_callbacks: list[_OnBlocked] = []
        self._unblocked_callbacks: list[_OnBlocked] = []
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.ChannelOpened: self._on_channel_opened_event,
            ev.ChannelClosed: self._on_channel_closed_event,
            ev.RPCReply: self._on_rpc_reply_event,
            ev.Returned: self._on_returned_event,
            ev.Confirmation: self._on_confirmation_event,
            ev.ConsumerCancelled: self._on_consumer_cancelled_event,
            ev.FlowChanged: self._on_flow_event,
            ev.ConnectionOpened: self._on_connection_opened_event,
            ev.ConnectionClosed: self._on_connection_closed_event,
            ev.ConnectionBlocked: self._on_blocked_event,
            ev.ConnectionUnblocked: self._on_unblocked_event,
        }
        policy = getattr(parameters, "recovery", None)
        #: Automatic recovery (None unless the parameters carry a RecoveryPolicy).
        self._recovery: RecoverySession | None = (
            RecoverySession(policy, [parameters]) if policy is not None else None
        )
        self._recovering = False
        #: Where the recovery is: "lost" (stream going down), "waiting", "connecting".
        self._recovery_phase = ""
        self._recovery_pass: list[Parameters] = []
        self._recovery_timer: Any = None
        self._attempt_params: Parameters | None = None
        self._attempt_error: BaseException | None = None
        self._attempt_marks = (0, 0)
        self._replay: TopologyReplay | None = None
        self._replay_timer: Any = None
        self._replay_timer_at = 0.0
        if on_open_callback is not None:
            self.add_on_open_callback(on_open_callback)
        if on_open_error_callback is not None:
            self.add_on_open_error_callback(on_open_error_callback)
        if on_close_callback is not None:
            self.add_on_close_callback(on_close_callback)
        _hooks.connection_created(self)
        if internal_connection_workflow:
            self._adapter_connect_stream()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._state_name()} params={self.params!r}>"

    def _state_name(self) -> str:
        names = ("CLOSED", "INIT", "PROTOCOL", "START", "TUNE", "OPEN", "CLOSING")
        return names[self.connection_state]

    # ------------------------------------------------------------------------------------
    # Transport interface: a subclass implements these ...

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Call ``callback()`` on the loop after ``delay`` seconds; return a handle."""
        raise NotImplementedError

    def _adapter_remove_timeout(self, timeout_id: Any) -> None:
        """Cancel a handle from ``_adapter_call_later``."""
        raise NotImplementedError

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` on the loop soon; the only method other threads may call."""
        raise NotImplementedError

    def _set_recovery_endpoints(self, configs: Any) -> None:
        """All the parameters a recovery may try (create_connection passes its list)."""
        if self._recovery is not None and configs:
            self._recovery.endpoints = list(configs)
            self._recovery.set_current(self.params)

    def _adapter_connect_stream(self) -> None:
        """Start connecting the stream; then call ``_on_stream_connected()`` or
        ``_on_stream_terminated(error)``."""
        raise NotImplementedError

    def _adapter_disconnect_stream(self) -> None:
        """Close the stream (sending what was emitted) and then call
        ``_on_stream_terminated(None)`` from the loop."""
        raise NotImplementedError

    def _adapter_emit_data(self, data: bytes) -> None:
        """Queue ``data`` on the stream; keep the order of calls."""
        raise NotImplementedError

    #: Whether ``_adapter_emit_data`` takes any bytes-like buffer (a memoryview of a large
    #: body's frame, kept as it is until sent) and not only ``bytes``: then a large body goes
    #: to the stream without being copied into one joined write.
    _adapter_takes_views = False

    def _adapter_emit_buffers(self, buffers: list[Any]) -> None:
        """Queue one flush's buffers (``bytes`` and, where ``_adapter_takes_views``, views of
        large bodies) in order; by default one ``_adapter_emit_data`` call each."""
        for buffer in buffers:
            self._adapter_emit_data(buffer)

    def _adapter_get_write_buffer_size(self) -> int:
        """Bytes the stream has queued but not yet sent (0 if unknown)."""
        return 0

    def _adapter_set_write_buffer_limits(self, high: int, low: int) -> None:
        """Tell the stream when to call ``_on_writing_paused``/``_on_writing_resumed``."""

    def _adapter_abort_stream(self) -> None:
        """Drop the stream without flushing; defaults to ``_adapter_disconnect_stream``."""
        self._adapter_disconnect_stream()

    # ... and calls these.

    def _on_stream_connected(self) -> None:
        """The byte stream is up: start the AMQP handshake."""
        self._stream_up = True
        self._error = None
        protocol = _new_protocol(self.params, self)
        self._protocol = protocol
        protocol.connect()
        self._flush()

    def inbound_missing(self) -> int:
        """Bytes the frame being received still needs (a read-size hint for transports)."""
        protocol = self._protocol
        return 0 if protocol is None else protocol.inbound_missing

    def inbound_streaming(self) -> bool:
        """Whether a large body frame is arriving piece by piece (see ``inbound_target``)."""
        protocol = self._protocol
        return protocol is not None and protocol.inbound_streaming

    def inbound_target(self, spill: int = 0) -> memoryview | None:
        """Where the transport may receive the rest of a large body frame's payload straight
        into its message (then ``inbound_written``), or None; with ``spill``, up to that many
        bytes more (see ``ConnectionProtocol.inbound_target``)."""
        protocol = self._protocol
        return None if protocol is None else protocol.inbound_target(spill)

    def inbound_written(self, nbytes: int) -> None:
        """``nbytes`` were received into the last ``inbound_target()`` (those past the
        payload, with ``spill``, go on as received data)."""
        protocol = self._protocol
        if protocol is None:
            raise RuntimeError("inbound_written() without a protocol to have given a target")
        self.bytes_received += nbytes
        before = protocol.frames_received
        self._received(protocol, protocol.inbound_written(nbytes, _monotonic()), before)

    def _on_data_available(self, data: bytes) -> None:
        """Bytes arrived from the stream: feed the protocol and dispatch what it completed."""
        protocol = self._protocol
        if protocol is None:
            return
        self.bytes_received += len(data)
        before = protocol.frames_received
        self._received(protocol, protocol.feed(data, _monotonic()), before)

    def _received(self, protocol: ConnectionProtocol, events: list[Any], before: int) -> None:
        """Dispatch what received bytes completed (the protocol counted ``before`` frames
        until then), then flush what the callbacks queued."""
        self.frames_received += protocol.frames_received - before
        if events:
            self._flush_pending = True
            try:
                self._dispatch(events)
            finally:
                self._flush_pending = False
                self._flush()
        else:
            self._flush()
        if self._hb_timer is None and protocol.heartbeat:
            self._schedule_heartbeat()

    def _on_stream_terminated(self, error: BaseException | None) -> None:
        """The stream is gone (``error`` None after our own disconnect); finish the close."""
        self._stream_up = False
        protocol = self._protocol
        if protocol is not None and not protocol.is_closed:
            self._dispatch(protocol.connection_lost(error, _monotonic()))
        elif error is not None and self._error is None and not self._recovering:
            self._error = error
        if self._recovering:
            self._on_recovery_stream_down(error)
            return
        if self._error is None:
            self._error = exceptions.StreamLostError("Stream connection lost")
        self._finish()

    # ------------------------------------------------------------------------------------
    # Public API

    @property
    def connection_state(self) -> int:
        """pika's CONNECTION_* state number (INIT while recovering between attempts)."""
        if self._finished:
            return self.CONNECTION_CLOSED
        if self._recovering and (self._recovery_phase != "connecting" or not self._stream_up):
            return self.CONNECTION_INIT
        protocol = self._protocol
        if protocol is None:
            return self.CONNECTION_INIT
        return _STATE_MAP[protocol.state]

    @property
    def is_open(self) -> bool:
        """The handshake completed and no close has started (False while recovering)."""
        protocol = self._protocol
        return (
            protocol is not None
            and protocol.is_open
            and not self._finished
            and not self._recovering
        )

    @property
    def is_recovering(self) -> bool:
        """Whether the connection was lost and is being recovered (pika-core only)."""
        return self._recovering

    @property
    def is_closing(self) -> bool:
        """A close is in progress (sent or the stream is being torn down)."""
        return self.connection_state == self.CONNECTION_CLOSING

    @property
    def is_closed(self) -> bool:
        """Closed for good (the stream is gone and the callbacks ran)."""
        return self._finished

    @property
    def server_capabilities(self) -> dict[str, Any]:
        """The broker's capabilities table."""
        caps = self.server_properties.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    @property
    def outbound_buffer_size(self) -> int:
        """Bytes queued for the broker and not yet handed to the kernel."""
        protocol = self._protocol
        pending = protocol.outbound_size if protocol is not None else 0
        return pending + self._adapter_get_write_buffer_size()

    @property
    def outbound_high_water_mark(self) -> int:
        """Outbound bytes above which ``is_outbound_congested`` is True (default 4 MiB).

        The transport pauses at this mark and reports the drain at a quarter of it.
        """
        return self._high_water

    @outbound_high_water_mark.setter
    def outbound_high_water_mark(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"outbound_high_water_mark must be a positive int, got {value!r}")
        self._high_water = value
        self._adapter_set_write_buffer_limits(value, value // 4)

    @property
    def is_outbound_congested(self) -> bool:
        """True while ``outbound_buffer_size`` exceeds ``outbound_high_water_mark``."""
        return self._writing_paused or self.outbound_buffer_size > self._high_water

    def add_on_outbound_drained_callback(self, callback: Callable[[Connection], Any]) -> None:
        """Call ``callback(connection)`` once when the outbound buffer has room again.

        That is after the transport drained to its low-water mark if it had paused writing,
        else at the next flush. A fast publisher publishes while ``is_outbound_congested`` is
        False and then registers this callback to continue.
        """
        validators.require_callback(callback)
        self._drained_callbacks.append(callback)
        self._kick()

    def add_on_open_callback(self, callback: _OnOpen) -> None:
        """Call ``callback(connection)`` when the connection opens."""
        validators.require_callback(callback)
        self._open_callbacks.append(callback)

    def add_on_open_error_callback(self, callback: _OnError, remove_default: bool = True) -> None:
        """Call ``callback(connection, exception)`` when opening fails."""
        validators.require_callback(callback)
        if remove_default:
            try:
                self._open_error_callbacks.remove(self._default_on_connection_error)
            except ValueError:
                pass
        self._open_error_callbacks.append(callback)

    def add_on_close_callback(self, callback: _OnError) -> None:
        """Call ``callback(connection, exception)`` when an open connection closes."""
        validators.require_callback(callback)
        self._close_callbacks.append(callback)

    def add_on_connection_blocked_callback(self, callback: _OnBlocked) -> None:
        """Call ``callback(connection, frame.Method(Connection.Blocked))`` on a resource alarm."""
        validators.require_callback(callback)
        self._blocked_callbacks.append(callback)

    def add_on_connection_unblocked_callback(self, callback: _OnBlocked) -> None:
        """Call ``callback(connection, frame.Method(Connection.Unblocked))`` when it clears."""
        validators.require_callback(callback)
        self._unblocked_callbacks.append(callback)

    def channel(
        self,
        channel_number: int | None = None,
        on_open_callback: Callable[[Channel], Any] | None = None,
    ) -> Channel:
        """Create and open a channel; ``on_open_callback(channel)`` runs on channel.open-ok."""
        from pika_core.channel import Channel

        if not self.is_open:
            raise exceptions.ConnectionWrongStateError(
                f"Channel allocation requires an open connection: {self!r}"
            )
        validators.rpc_completion_callback(on_open_callback)
        if not channel_number:
            channel_number = self._protocol.next_free_channel()
        elif channel_number in self._channels:
            raise exceptions.InvalidChannelNumber(
                f"channel {channel_number} is already in use; pass channel_number=None"
            )
        channel = Channel(self, channel_number, on_open_callback)
        self._channels[channel_number] = channel
        try:
            channel.open()
        except BaseException:
            del self._channels[channel_number]
            raise
        return channel

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close the connection; its channels close first (ChannelClosedByClient)."""
        if self._recovering and not self._finished:
            self._close_during_recovery(reply_code, reply_text)
            return
        if self.is_closing or self.is_closed:
            raise exceptions.ConnectionWrongStateError(
                f"Illegal close({reply_code}, {reply_text!r}) request on {self!r} because it "
                "was called while connection state is closing or closed"
            )
        self._close_code = (reply_code, reply_text)
        protocol = self._protocol
        if protocol is None or not self._stream_up:
            # Still connecting the stream: abort the bring-up.
            self._error = exceptions.ConnectionOpenAborted(
                f"Connection.close() called before connection finished opening: "
                f"prev_state={self._state_name()} ({reply_code}): {reply_text!r}"
            )
            self._adapter_disconnect_stream()
            return
        events = protocol.close(reply_code, reply_text)
        if events:
            self._dispatch(events)
        self._kick()

    def update_secret(
        self, new_secret: str, reason: str, callback: Callable[[Any], Any] | None = None
    ) -> None:
        """Send connection.update-secret; ``callback(frame)`` runs on update-secret-ok."""
        if not isinstance(new_secret, str):
            raise ValueError("new_secret must be a str")  # noqa: TRY004 - pika's type
        if not isinstance(reason, str):
            raise ValueError("reason must be a str")  # noqa: TRY004 - pika's type
        if callback is not None:
            validators.require_callback(callback)
        if not self.is_open:
            raise exceptions.ConnectionWrongStateError("Connection is not open")
        self._protocol.update_secret(new_secret, reason)
        self._secret_waiters.append(callback)
        self.frames_sent += 1
        self._kick()

    @property
    def ioloop(self) -> Any:
        """The native I/O loop of the adapter."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------
    # Output

    def _kick(self) -> None:
        """Make sure what commands queued goes out at the end of this loop turn."""
        if not self._flush_pending and self._stream_up:
            self._flush_pending = True
            self._adapter_call_later(0, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_pending = False
        self._flush()

    def _flush(self) -> None:
        """Hand everything the protocol queued to the stream in one write."""
        protocol = self._protocol
        if protocol is not None and self._stream_up:
            if self._adapter_takes_views:
                buffers = protocol.buffers_to_send(_monotonic())
                if buffers:
                    for buffer in buffers:
                        self.bytes_sent += len(buffer)
                    self._adapter_emit_buffers(buffers)
            else:
                data = protocol.data_to_send(_monotonic())
                if data:
                    self.bytes_sent += len(data)
                    self._adapter_emit_data(data)
        if self._drained_callbacks and not self._writing_paused:
            self._check_drained()

    def _check_drained(self) -> None:
        """Run the drained callbacks if there is room; else look again shortly."""
        self._drain_timer = None
        if not self._drained_callbacks or self._writing_paused or not self._stream_up:
            return
        if self.outbound_buffer_size <= self._high_water:
            self._run_drained_callbacks()
        else:
            # A transport without pause_writing support: poll until it drained.
            self._drain_timer = self._adapter_call_later(0.01, self._check_drained)

    def _run_drained_callbacks(self) -> None:
        callbacks, self._drained_callbacks = self._drained_callbacks, []
        for callback in callbacks:
            callback(self)

    def _on_writing_paused(self) -> None:
        """The transport's buffer crossed its high-water mark."""
        self._writing_paused = True

    def _on_writing_resumed(self) -> None:
        """The transport's buffer drained to its low-water mark."""
        self._writing_paused = False
        if self._drained_callbacks:
            self._run_drained_callbacks()

    # ------------------------------------------------------------------------------------
    # Timers

    def _schedule_heartbeat(self) -> None:
        protocol = self._protocol
        deadline = protocol.next_deadline() if protocol is not None else None
        if deadline is None or not self._stream_up:
            return
        delay = max(0.0, deadline - _monotonic())
        self._hb_timer = self._adapter_call_later(delay, self._on_heartbeat_timer)

    def _on_heartbeat_timer(self) -> None:
        self._hb_timer = None
        protocol = self._protocol
        if protocol is None or not self._stream_up:
            return
        events = protocol.tick(_monotonic())
        if events:
            self._dispatch(events)
        self._flush()
        self._schedule_heartbeat()

    def _cancel_timers(self) -> None:
        for name in ("_hb_timer", "_blocked_timer", "_drain_timer"):
            timer = getattr(self, name)
            if timer is not None:
                setattr(self, name, None)
                self._adapter_remove_timeout(timer)

    def _on_blocked_connection_timeout(self) -> None:
        """The broker kept the connection blocked longer than blocked_connection_timeout."""
        self._blocked_timer = None
        protocol = self._protocol
        if protocol is None or protocol.is_closed:
            return
        LOGGER.error("Blocked connection timeout expired; closing %r", self)
        error = exceptions.ConnectionBlockedTimeout("Blocked connection timeout expired.")
        self._dispatch(protocol.connection_lost(error, _monotonic()))

    # ------------------------------------------------------------------------------------
    # Events

    def _dispatch(self, events: list[Any]) -> None:
        """Route protocol events; deliveries go straight to their channel."""
        channels = self._channels
        handlers = self._handlers
        delivery = ev.Delivery
        replay = self._replay
        if replay is not None:
            now = _monotonic()
            events = [event for event in events if not replay.on_event(event, now)]
        for event in events:
            if type(event) is delivery:
                number, method, properties, body = event
                channel = channels.get(number)
                if channel is not None:
                    channel._on_delivery(method, properties, body)
            else:
                handlers[type(event)](event)
        if replay is not None and replay is self._replay:
            self._check_replay()

    def _on_connection_opened_event(self, event: ev.ConnectionOpened) -> None:
        self.server_properties = dict(event.server_properties or {})
        self.known_hosts = event.known_hosts
        if self._recovering:
            self._on_attempt_opened()
            return
        self._opened = True
        if self._recovery is not None:
            self._recovery.set_current(self.params)
        LOGGER.info("AMQP connection opened: %r", self)
        if self._hb_timer is None:
            self._schedule_heartbeat()
        _hooks.connection_opened(self)
        self.frames_sent += 3  # start-ok, tune-ok, open (the protocol header is no frame)
        for callback in list(self._open_callbacks):
            callback(self)

    def _on_connection_closed_event(self, event: ev.ConnectionClosed) -> None:
        error = event.exception
        if self._recovering:
            self._attempt_error = error
            self._stop_replay()
            # Channels already handed back by the lost attempt wait again.
            for number, channel in list(self._channels.items()):
                if channel._state != channel.RECOVERING and not channel._on_connection_lost(error):
                    del self._channels[number]
            self._cancel_timers()
            if self._stream_up:
                self._adapter_abort_stream()
            return
        if self._will_recover(error):
            self._begin_recovery(error)
            return
        if isinstance(error, exceptions.ConnectionClosedByClient) and self._close_code:
            error = exceptions.ConnectionClosedByClient(*self._close_code)
        self._error = error
        self._cancel_timers()
        if self._stream_up:
            self._flush()
            if isinstance(error, _ABORT_ERRORS):
                self._adapter_abort_stream()
            else:
                self._adapter_disconnect_stream()

    def _finish(self) -> None:
        """Run the close or open-error callbacks once the stream is gone."""
        if self._finished:
            return
        self._finished = True
        self._cancel_timers()
        error = self._error
        assert error is not None
        for channel in list(self._channels.values()):
            channel._on_close_meta(self._channel_close_reason(error))
        self._channels.clear()
        self._drained_callbacks = []
        _hooks.connection_closed(self, error)
        if not self._opened:
            LOGGER.info("Connection setup terminated due to %r", error)
            for callback in list(self._open_error_callbacks):
                callback(self, error)
        else:
            LOGGER.info("Connection closed: %r", error)
            for callback in list(self._close_callbacks):
                callback(self, error)

    def _channel_close_reason(self, error: BaseException) -> BaseException:
        """What a channel's close callback gets when the whole connection ends."""
        if isinstance(error, exceptions.ConnectionClosedByClient) and self._close_code:
            return exceptions.ChannelClosedByClient(*self._close_code)
        return error

    def _default_on_connection_error(self, _connection: Connection, error: BaseException) -> None:
        """Without an on_open_error_callback a failed open raises, as pika does."""
        raise exceptions.AMQPConnectionError(error)

    def _on_channel_opened_event(self, event: ev.ChannelOpened) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            self.frames_sent += 1
            channel._on_open_ok()

    def _on_channel_closed_event(self, event: ev.ChannelClosed) -> None:
        exc = event.exception
        if self._will_recover(exc) or (
            self._recovering and not isinstance(exc, exceptions.AMQPChannelError)
        ):
            return  # the connection is lost: the channel waits for the recovery
        channel = self._channels.pop(event.channel, None)
        if channel is not None:
            if self._recovery is not None:
                self._recovery.topology.channel_closed(event.channel)
            channel._on_close_meta(self._channel_close_reason(exc))

    def _on_rpc_reply_event(self, event: ev.RPCReply) -> None:
        if event.channel == 0:
            callback = self._secret_waiters.popleft() if self._secret_waiters else None
            method_frame = frame.Method(0, event.method)
            if callback is not None:
                callback(method_frame)
            self.callbacks.process(0, event.method, self, method_frame)
            return
        channel = self._channels.get(event.channel)
        if channel is not None:
            if self._recovery is not None:
                self._recovery.topology.record_reply(event.channel, event.request, event.method)
            channel._on_rpc_reply(event)

    def _on_returned_event(self, event: ev.Returned) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_return(event)

    def _on_confirmation_event(self, event: ev.Confirmation) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_confirmation(event.method)

    def _on_consumer_cancelled_event(self, event: ev.ConsumerCancelled) -> None:
        if self._recovery is not None:
            self._recovery.topology.consumer_cancelled(event.channel, event.consumer_tag)
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_broker_cancel(event.consumer_tag)

    def _on_flow_event(self, event: ev.FlowChanged) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_flow(event.active)

    def _on_blocked_event(self, event: ev.ConnectionBlocked) -> None:
        LOGGER.warning("Connection blocked by the broker: %s", event.reason)
        timeout = self.params.blocked_connection_timeout
        if timeout is not None and self._blocked_timer is None:
            self._blocked_timer = self._adapter_call_later(
                timeout, self._on_blocked_connection_timeout
            )
        method_frame = frame.Method(0, spec.Connection.Blocked(reason=event.reason))
        for callback in list(self._blocked_callbacks):
            callback(self, method_frame)

    def _on_unblocked_event(self, event: ev.ConnectionUnblocked) -> None:
        LOGGER.info("Connection unblocked by the broker")
        timer, self._blocked_timer = self._blocked_timer, None
        if timer is not None:
            self._adapter_remove_timeout(timer)
        method_frame = frame.Method(0, spec.Connection.Unblocked())
        for callback in list(self._unblocked_callbacks):
            callback(self, method_frame)

    # ------------------------------------------------------------------------------------
    # Recovery (pika_core.recovery does the bookkeeping; this drives it on the loop)

    def add_on_recovery_started_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, cause)`` when a lost connection starts recovering."""
        self._recovery_callbacks(callback).started.append(callback)

    def add_on_recovered_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, attempts, duration)`` once the connection recovered."""
        self._recovery_callbacks(callback).recovered.append(callback)

    def add_on_recovery_failed_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, error)`` when the recovery gives up (the close
        callbacks follow)."""
        self._recovery_callbacks(callback).failed.append(callback)

    def add_on_queue_renamed_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, old_name, new_name)`` when a server-named queue is
        re-declared under a new name."""
        self._recovery_callbacks(callback).renamed.append(callback)

    def _recovery_callbacks(self, callback: Callable[..., Any]) -> Any:
        validators.require_callback(callback)
        if self._recovery is None:
            raise exceptions.ConnectionWrongStateError(
                "recovery callbacks need recovery turned on: ConnectionParameters(..., "
                "recovery=pika_core.RecoveryPolicy()) or ?recovery=on in the URL"
            )
        return self._recovery.callbacks

    def _will_recover(self, error: BaseException) -> bool:
        """Whether losing the open connection with ``error`` starts a recovery."""
        return (
            self._recovery is not None
            and not self._recovering
            and self._opened
            and self._close_code is None
            and not self._finished
            and isinstance(error, exceptions.AMQPConnectionError)
            and is_recoverable(error)
        )

    def _begin_recovery(self, cause: BaseException) -> None:
        session = self._recovery
        assert session is not None
        session.begin(cause)
        self._recovering = True
        self._recovery_phase = "lost"
        self._cancel_timers()
        for number, channel in list(self._channels.items()):
            if not channel._on_connection_lost(cause):
                del self._channels[number]
                session.topology.channel_closed(number)
        self._drained_callbacks = []
        session.run_callbacks(session.callbacks.started, self, cause)
        if self._stream_up:
            self._flush()
            self._adapter_abort_stream()

    def _on_recovery_stream_down(self, error: BaseException | None) -> None:
        """The stream of the lost connection or of a failed attempt is gone."""
        session = self._recovery
        assert session is not None
        phase = self._recovery_phase
        if phase == "lost":
            self._recovery_phase = "waiting"
            self._schedule_pass()
        elif phase == "connecting":
            params = self._attempt_params
            failure = self._attempt_error or error
            if failure is None:
                failure = exceptions.StreamLostError("Stream connection lost")
            self._attempt_error = None
            self._attempt_params = None
            self._recovery_phase = "waiting"
            self._stop_replay()
            self._run_attempt_callbacks(failure)
            if session.endpoint_failed(params, failure):
                self._recovery_gave_up()
                return
            self._recovery_timer = self._adapter_call_later(0, self._next_endpoint)

    def _schedule_pass(self) -> None:
        session = self._recovery
        assert session is not None
        delay = session.next_delay()
        self._recovery_pass = session.pass_order()
        self._recovery_timer = self._adapter_call_later(delay, self._next_endpoint)

    def _next_endpoint(self) -> None:
        """Try the next endpoint of this attempt, or wait for the next attempt."""
        self._recovery_timer = None
        if not self._recovering or self._recovery_phase != "waiting":
            return
        session = self._recovery
        assert session is not None
        if not self._recovery_pass:
            if session.attempt_failed():
                self._recovery_gave_up()
                return
            self._schedule_pass()
            return
        params = self._recovery_pass.pop(0)
        self._attempt_params = params
        self._attempt_error = None
        self._recovery_phase = "connecting"
        self._attempt_marks = (len(self._open_callbacks), len(self._open_error_callbacks))
        self.params = params
        self._protocol = None
        self._adapter_connect_stream()

    def _take_attempt_callbacks(self) -> tuple[list[Any], list[Any]]:
        """The open/open-error callbacks the transport's connector added for this attempt."""
        opened, failed = self._attempt_marks
        extra_open = self._open_callbacks[opened:]
        extra_error = self._open_error_callbacks[failed:]
        del self._open_callbacks[opened:]
        del self._open_error_callbacks[failed:]
        return extra_open, extra_error

    def _run_attempt_callbacks(self, failure: BaseException | None) -> None:
        extra_open, extra_error = self._take_attempt_callbacks()
        if failure is None:
            for callback in extra_open:
                callback(self)
        else:
            for callback in extra_error:
                if callback != self._default_on_connection_error:
                    callback(self, failure)

    def _on_attempt_opened(self) -> None:
        """The attempt's AMQP handshake completed: re-open channels and replay the topology."""
        session = self._recovery
        assert session is not None
        if self._hb_timer is None:
            self._schedule_heartbeat()
        self._run_attempt_callbacks(None)
        protocol = self._protocol
        replay = TopologyReplay(
            protocol,
            session.topology,
            list(self._channels),
            self._on_channel_recovered,
            self._on_queue_renamed,
            session.policy.locked_queue_timeout,
            session.policy.replay_timeout,
        )
        self._replay = replay
        replay.start(_monotonic())
        self._kick()
        self._check_replay()

    def _check_replay(self) -> None:
        replay = self._replay
        if replay is None:
            return
        if replay.done:
            self._stop_replay()  # and its timer
            self._recovery_complete()
            return
        deadline = replay.next_deadline()
        if deadline is None:
            return
        timer = self._replay_timer
        if timer is not None:
            if self._replay_timer_at <= deadline:
                return
            # A locked-queue retry due before the time limit's timer: arm the earlier one.
            self._adapter_remove_timeout(timer)
        self._replay_timer_at = deadline
        delay = max(0.0, deadline - _monotonic())
        self._replay_timer = self._adapter_call_later(delay, self._on_replay_timer)

    def _on_replay_timer(self) -> None:
        self._replay_timer = None
        replay = self._replay
        if replay is not None:
            replay.tick(_monotonic())
            error = replay.timed_out
            if error is not None and self._protocol is not None:
                # The endpoint took the connection but does not restore it: drop it; the
                # recovery goes on with the next endpoint.
                LOGGER.warning("Recovery attempt abandoned: %s", error)
                self._dispatch(self._protocol.connection_lost(error, _monotonic()))
                return
            self._kick()
            self._check_replay()

    def _stop_replay(self) -> None:
        self._replay = None
        timer, self._replay_timer = self._replay_timer, None
        if timer is not None:
            self._adapter_remove_timeout(timer)

    def _on_channel_recovered(self, number: int) -> None:
        channel = self._channels.get(number)
        if channel is not None:
            channel._on_resumed(self._protocol)

    def _on_queue_renamed(self, old: str, new: str) -> None:
        session = self._recovery
        assert session is not None
        session.run_callbacks(session.callbacks.renamed, self, old, new)

    def _recovery_complete(self) -> None:
        session = self._recovery
        assert session is not None
        params = self._attempt_params or self.params
        self._attempt_params = None
        self._recovering = False
        self._recovery_phase = ""
        duration = session.succeeded(params)
        # Every consumer is back: now the channels take the application's publishes again.
        for channel in list(self._channels.values()):
            channel._on_recovered()
        self._kick()
        # Plugins hear of the new protocol connection once it is usable again (hookspecs).
        _hooks.connection_opened(self)
        session.run_callbacks(session.callbacks.recovered, self, session.attempts + 1, duration)

    def _recovery_gave_up(self) -> None:
        """Recovery stops for good: the connection ends with the last error."""
        session = self._recovery
        assert session is not None
        error = session.gave_up()
        self._recovering = False
        self._recovery_phase = ""
        self._error = error
        session.run_callbacks(session.callbacks.failed, self, error)
        self._finish()

    def _close_during_recovery(self, reply_code: int, reply_text: str) -> None:
        """close() while recovering: stop trying and end as closed by this client."""
        LOGGER.info("Closing connection (%s) during recovery: %s", reply_code, reply_text)
        self._close_code = (reply_code, reply_text)
        self._recovering = False
        self._recovery_phase = ""
        self._stop_replay()
        timer, self._recovery_timer = self._recovery_timer, None
        if timer is not None:
            self._adapter_remove_timeout(timer)
        if self._recovery is not None:
            self._recovery.active = False
        self._error = exceptions.ConnectionClosedByClient(reply_code, reply_text)
        if self._stream_up:
            self._adapter_abort_stream()
        else:
            self._finish()
