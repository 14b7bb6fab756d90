"""Channel: pika's asynchronous channel API over the sans-I/O protocol's channel state.

The protocol keeps one synchronous request on the wire per channel and queues the rest in
order; this facade only remembers which callback answers which request, routes deliveries to
consumers and runs the message hooks. Everything here runs on the I/O loop's thread.

Beyond pika: ``last_publish_sequence_number`` is the broker's sequence number of the last
``basic_publish`` in confirm mode, so that acks and nacks can be matched to messages.
"""

from __future__ import annotations

import collections
import logging
import uuid
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping

from pika_core import exceptions, frame, spec, validators
from pika_core import hooks as _hooks
from pika_core.exchange_type import ExchangeType
from pika_core.protocol.channel import expects_reply
from pika_core.protocol.confirms import ConfirmTracker
from pika_core.recovery.errors import PublishFailedDuringRecovery
from pika_core.recovery.tags import STALE, DeliveryTags

if TYPE_CHECKING:
    from pika_core.connection import Connection

__all__ = ["MAX_CHANNELS", "Channel"]

LOGGER = logging.getLogger(__name__)

#: The highest channel number AMQP 0-9-1 allows.
MAX_CHANNELS = 65535

_OPEN = 2
_RECOVERING = 4
# Re-opened on the new connection with its consumers re-registered, while the rest of the
# connection's recovery finishes: deliveries flow and can be settled, but publishes and
# requests wait, as they do in _RECOVERING, until the whole connection is back.
_RESUMING = 5
_GET_OK = spec.Basic.GetOk.INDEX
_GET_EMPTY = spec.Basic.GetEmpty.INDEX

_Callback = Callable[..., Any]
_OnMessage = Callable[["Channel", Any, Any, bytes], Any]


class RecoveryNack(spec.Basic.Nack):
    """The Basic.Nack an ack_nack_callback gets for the publishes outstanding when the
    connection was lost (multiple=True up to ``delivery_tag``); ``exception`` says why."""

    __slots__ = ("exception",)

    def __init__(self, delivery_tag: int, exception: PublishFailedDuringRecovery) -> None:
        super().__init__(delivery_tag=delivery_tag, multiple=True, requeue=False)
        self.exception = exception


class Channel:
    """One AMQP channel of a callback-API connection (pika's ``pika.channel.Channel``)."""

    CLOSED = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3
    #: pika-core: the connection was lost and the channel waits to be re-opened.
    RECOVERING = 4

    _STATE_NAMES: ClassVar[dict[int, str]] = {
        CLOSED: "CLOSED",
        OPENING: "OPENING",
        OPEN: "OPEN",
        CLOSING: "CLOSING",
        RECOVERING: "RECOVERING",
        _RESUMING: "RECOVERING",
    }

    def __init__(
        self,
        connection: Connection,
        channel_number: int,
        on_open_callback: Callable[[Channel], Any] | None = None,
    ) -> None:
        if isinstance(channel_number, bool) or not isinstance(channel_number, int):
            raise exceptions.InvalidChannelNumber(channel_number)
        validators.rpc_completion_callback(on_open_callback)
        self.channel_number = channel_number
        self.callbacks = connection.callbacks
        self.connection = connection
        self.flow_active = True
        self._proto: Any = None
        self._state = self.CLOSED
        self._on_open_callback = on_open_callback
        self._consumers: dict[str, _OnMessage] = {}
        self._consumers_with_noack: set[str] = set()
        # What the message hooks are told with a consumer's deliveries: tag -> (queue, options).
        self._consumer_info: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._get_info: tuple[str, Mapping[str, Any]] = ("", _hooks.NO_OPTIONS)
        self._cancelled: set[str] = set()
        self._waiters: collections.deque[tuple[Any, _Callback | None]] = collections.deque()
        self._on_getok_callback: _Callback | None = None
        self._get_auto_ack = False
        self._on_flowok_callback: _Callback | None = None
        self._close_callbacks: list[_Callback] = []
        self._return_callbacks: list[_Callback] = []
        self._cancel_callbacks: list[_Callback] = []
        self._flow_callbacks: list[_Callback] = []
        self._ack_nack_callbacks: list[_Callback] = []
        self._closing_reason: BaseException | None = None
        self._hooks: _hooks.MessageHooks | None = None
        # Confirm tracking for the message hooks only: seq -> [returned, exchange, routing_key, settled].
        self._confirms: ConfirmTracker[list[Any]] | None = None
        self._unreturned: collections.deque[list[Any]] | None = None
        self._last_seq = 0
        self._body_max = 131072 - 8
        self._was_opened = False
        # Recovery: tag translation (None when recovery is off), the confirm sequence offset,
        # outstanding confirm numbers, and requests held while the connection is down.
        recovering = getattr(connection, "_recovery", None) is not None
        self._tags: DeliveryTags | None = DeliveryTags() if recovering else None
        self._seq_offset = 0
        self._outstanding: ConfirmTracker[None] | None = None
        self._confirm_mode = False
        self._held: collections.deque[tuple[Any, _Callback | None]] = collections.deque()

    def __int__(self) -> int:
        return self.channel_number

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} number={self.channel_number} "
            f"{self._STATE_NAMES[self._state]} conn={self.connection!r}>"
        )

    # ------------------------------------------------------------------------------------
    # State

    @property
    def is_closed(self) -> bool:
        """Closed (never opened, closed by either side, or its connection ended)."""
        return self._state == self.CLOSED

    @property
    def is_closing(self) -> bool:
        """channel.close was sent and close-ok has not arrived yet."""
        return self._state == self.CLOSING

    @property
    def is_open(self) -> bool:
        """channel.open-ok arrived and no close started."""
        return self._state == self.OPEN

    @property
    def is_opening(self) -> bool:
        """channel.open was sent and open-ok has not arrived yet."""
        return self._state == self.OPENING

    @property
    def consumer_tags(self) -> list[str]:
        """The tags of the consumers active on this channel."""
        return list(self._consumers)

    @property
    def last_publish_sequence_number(self) -> int:
        """The broker's sequence number of the last basic_publish in confirm mode (else 0).

        The broker numbers publishes from 1 once Confirm.Select is sent; a Basic.Ack or
        Basic.Nack with ``delivery_tag`` N (``multiple``: every number up to N) settles them.
        Read it right after ``basic_publish`` to remember which message got which number.
        """
        return self._last_seq

    def open(self) -> None:
        """Send channel.open (Connection.channel() calls this)."""
        conn = self.connection
        self._proto = conn._protocol
        self._body_max = max(1, (self._proto.frame_max or 131072) - 8)
        self._state = self.OPENING
        self._proto.open_channel(self.channel_number)
        conn.frames_sent += 1
        conn._kick()

    # ------------------------------------------------------------------------------------
    # Callback registration

    def add_callback(self, callback: _Callback, replies: Any, one_shot: bool = True) -> None:
        """Call ``callback(frame)`` when one of the ``replies`` methods arrives on this channel."""
        validators.require_callback(callback)
        for reply in replies:
            self.callbacks.add(self.channel_number, reply, callback, one_shot)

    def add_on_cancel_callback(self, callback: _Callback) -> None:
        """Call ``callback(frame.Method(Basic.Cancel))`` when the broker cancels a consumer."""
        validators.require_callback(callback)
        self._cancel_callbacks.append(callback)

    def add_on_close_callback(self, callback: Callable[[Channel, BaseException], Any]) -> None:
        """Call ``callback(channel, exception)`` when the channel closes, for any reason."""
        validators.require_callback(callback)
        self._close_callbacks.append(callback)

    def add_on_flow_callback(self, callback: Callable[[bool], Any]) -> None:
        """Call ``callback(active)`` when the broker sends Channel.Flow."""
        validators.require_callback(callback)
        self._flow_callbacks.append(callback)

    def add_on_return_callback(self, callback: _Callback) -> None:
        """Call ``callback(channel, method, properties, body)`` for each Basic.Return."""
        validators.require_callback(callback)
        self._return_callbacks.append(callback)

    # ------------------------------------------------------------------------------------
    # Basic

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge one delivery (or every one up to it with ``multiple``)."""
        self._settle("ack", delivery_tag, multiple, False)

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Reject one delivery (or every one up to it with ``multiple``)."""
        self._settle("nack", delivery_tag, multiple, requeue)

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery."""
        self._settle("reject", delivery_tag, False, requeue)

    def _settle(
        self,
        action: Literal["ack", "nack", "reject"],
        delivery_tag: int,
        multiple: bool,
        requeue: bool,
    ) -> None:
        """Ack, nack or reject: hooks, recovery's tag translation, then the frame."""
        if not isinstance(delivery_tag, int):
            raise TypeError("delivery_tag must be an integer")
        hooks = self._hooks
        if hooks is not None:
            hooks.on_settle(delivery_tag, multiple, action, requeue)
        tags = self._tags
        if tags is not None:
            if self._state == _RECOVERING:
                tags.stale_during_outage(delivery_tag)
                return
            delivery_tag = tags.outbound(delivery_tag, multiple)
            if delivery_tag == STALE:
                return
        if self._state != _OPEN:
            self._raise_if_not_open()
        proto = self._proto
        try:
            if action == "ack":
                proto.basic_ack(self.channel_number, delivery_tag, multiple)
            elif action == "nack":
                proto.basic_nack(self.channel_number, delivery_tag, multiple, requeue)
            else:
                proto.basic_reject(self.channel_number, delivery_tag, requeue)
        except exceptions.ConnectionWrongStateError:
            if tags is None:
                raise
            # Lost in the same read as this delivery: the recovery is about to start.
            tags.stale_during_outage(delivery_tag)
            return
        conn = self.connection
        conn.frames_sent += 1
        if not conn._flush_pending:
            conn._kick()

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Any,
        properties: Any = None,
        mandatory: bool = False,
        **options: Any,
    ) -> None:
        """Publish a message; in confirm mode see ``last_publish_sequence_number``.

        ``options``: keyword options registered by plugins (hooks.register_call_option).
        """
        if options:
            _hooks.check_call_options("basic_publish", options)
        if self._state != _OPEN:
            if self._state == _RECOVERING or self._state == _RESUMING:
                raise PublishFailedDuringRecovery(
                    [], exceptions.ConnectionWrongStateError("the connection is recovering")
                )
            self._raise_if_not_open()
        if type(body) is not bytes and isinstance(body, str):
            body = body.encode("utf-8")
        hooks = self._hooks
        if hooks is not None:
            context = hooks.before_publish(
                exchange, routing_key, body, properties, mandatory, options or _hooks.NO_OPTIONS
            )
            if context.dropped:
                return
            exchange, routing_key, body = context.exchange, context.routing_key, context.body
            properties, mandatory = context.properties, context.mandatory
        try:
            seq = self._proto.publish(
                self.channel_number, exchange, routing_key, body, properties, mandatory
            )
        except exceptions.ConnectionWrongStateError as exc:
            if self._tags is None:
                raise
            # Lost in the same read that ran this callback: the recovery is about to start.
            raise PublishFailedDuringRecovery([], exc) from exc
        conn = self.connection
        size = len(body)
        body_max = self._body_max
        conn.frames_sent += 3 if 0 < size <= body_max else 2 + -(-size // body_max)
        if seq:
            seq += self._seq_offset
            self._last_seq = seq
            if self._outstanding is not None:
                self._outstanding.add(seq, None)
            confirms = self._confirms
            if confirms is not None:
                item = [False, exchange, routing_key, False]
                confirms.add(seq, item)
                if mandatory:
                    self._unreturned.append(item)  # type: ignore[union-attr]
        if not conn._flush_pending:
            conn._kick()

    def basic_consume(
        self,
        queue: str,
        on_message_callback: _OnMessage,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: str | None = None,
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
        **options: Any,
    ) -> str:
        """Start a consumer; return its tag. ``callback(frame)`` runs on Basic.ConsumeOk.

        ``options``: plugins' keyword options, given to the hooks with each delivery.
        """
        if options:
            _hooks.check_call_options("basic_consume", options)
        validators.require_string(queue, "queue")
        validators.require_callback(on_message_callback)
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        if not consumer_tag:
            consumer_tag = f"ctag{self.channel_number}.{uuid.uuid4().hex}"
        if consumer_tag in self._consumers or consumer_tag in self._cancelled:
            raise exceptions.DuplicateConsumerTag(consumer_tag)
        if auto_ack:
            self._consumers_with_noack.add(consumer_tag)
        self._consumers[consumer_tag] = on_message_callback
        self._consumer_info[consumer_tag] = (queue, options or _hooks.NO_OPTIONS)
        self._rpc(
            spec.Basic.Consume(
                queue=queue,
                consumer_tag=consumer_tag,
                no_ack=auto_ack,
                exclusive=exclusive,
                arguments=arguments or {},
            ),
            callback,
        )
        return consumer_tag

    def basic_cancel(self, consumer_tag: str = "", callback: _Callback | None = None) -> None:
        """Cancel a consumer; ``callback(frame)`` on Basic.CancelOk, None means nowait."""
        validators.require_string(consumer_tag, "consumer_tag")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        if consumer_tag in self._cancelled:
            LOGGER.warning("basic_cancel - consumer is already cancelling: %s", consumer_tag)
            return
        if consumer_tag not in self._consumers:
            LOGGER.warning("basic_cancel - consumer not found: %s", consumer_tag)
            return
        if nowait:
            del self._consumers[consumer_tag]
        self._cancelled.add(consumer_tag)

        def on_cancel_ok(method_frame: Any) -> None:
            self._forget_consumer(consumer_tag)
            if callback is not None:
                callback(method_frame)

        self._rpc(
            spec.Basic.Cancel(consumer_tag=consumer_tag, nowait=nowait),
            None if nowait else on_cancel_ok,
        )

    def basic_get(
        self, queue: str, callback: _Callback, auto_ack: bool = False, **options: Any
    ) -> None:
        """Fetch one message: ``callback(channel, method, properties, body)`` on Basic.GetOk.

        On Basic.GetEmpty nothing is called unless registered with
        ``add_callback(cb, [spec.Basic.GetEmpty])``. ``options``: plugins' keyword options.
        """
        if options:
            _hooks.check_call_options("basic_get", options)
        validators.require_string(queue, "queue")
        validators.require_callback(callback)
        if self._on_getok_callback is not None:
            raise exceptions.DuplicateGetOkCallback()
        self._raise_if_not_open()
        self._on_getok_callback = callback
        self._get_auto_ack = auto_ack
        self._get_info = (queue, options or _hooks.NO_OPTIONS)
        self._rpc(spec.Basic.Get(queue=queue, no_ack=auto_ack), None)

    def basic_qos(
        self,
        prefetch_size: int = 0,
        prefetch_count: int = 0,
        global_qos: bool = False,
        callback: _Callback | None = None,
    ) -> None:
        """Set the prefetch window; ``callback(frame)`` on Basic.QosOk."""
        validators.zero_or_greater("prefetch_size", prefetch_size)
        validators.zero_or_greater("prefetch_count", prefetch_count)
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._rpc(spec.Basic.Qos(prefetch_size, prefetch_count, global_qos), callback)

    def basic_recover(self, requeue: bool = False, callback: _Callback | None = None) -> None:
        """Redeliver unacknowledged messages; ``callback(frame)`` on Basic.RecoverOk."""
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._rpc(spec.Basic.Recover(requeue), callback)

    # ------------------------------------------------------------------------------------
    # Channel

    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None:
        """Close the channel; close callbacks get ChannelClosedByClient(reply_code, reply_text)."""
        if self.is_closing or self.is_closed:
            raise exceptions.ChannelWrongStateError(
                f"Channel.close({reply_code}, {reply_text!r}) called on {self!r}, which is "
                "already closing or closed"
            )
        if self._state == _RECOVERING:
            # The broker already forgot the channel: close it here only.
            conn = self.connection
            conn._channels.pop(self.channel_number, None)
            recovery = getattr(conn, "_recovery", None)
            if recovery is not None:
                recovery.topology.channel_closed(self.channel_number)
            self._on_close_meta(exceptions.ChannelClosedByClient(reply_code, reply_text))
            return
        LOGGER.info("Closing channel (%s): %r on %r", reply_code, reply_text, self)
        self._closing_reason = exceptions.ChannelClosedByClient(reply_code, reply_text)
        self._state = self.CLOSING
        self._proto.close_channel(self.channel_number, reply_code, reply_text)
        self._waiters.clear()
        self.connection.frames_sent += 1
        self.connection._kick()

    def flow(self, active: bool, callback: Callable[[bool], Any] | None = None) -> None:
        """Ask the broker to pause/resume deliveries; ``callback(active)`` on Channel.FlowOk."""
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._on_flowok_callback = callback
        self._rpc(spec.Channel.Flow(active), self._on_flow_ok)

    def confirm_delivery(
        self, ack_nack_callback: _Callback, callback: _Callback | None = None
    ) -> None:
        """Turn on publisher confirms: ``ack_nack_callback(frame)`` per Basic.Ack/Basic.Nack.

        ``callback(frame)`` runs on Confirm.SelectOk; None sends it nowait.
        """
        if not callable(ack_nack_callback):
            raise ValueError(  # noqa: TRY004 - pika raises ValueError here
                "confirm_delivery requires a callable ack_nack_callback(frame) to receive the "
                "Basic.Ack/Basic.Nack notifications"
            )
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        conn = self.connection
        if not (conn.publisher_confirms and conn.basic_nack):
            raise exceptions.MethodNotImplemented("Confirm.Select not Supported by Server")
        self._ack_nack_callbacks.append(ack_nack_callback)
        if self._tags is not None and self._outstanding is None:
            self._outstanding = ConfirmTracker()
        if self._hooks is not None and self._confirms is None:
            self._confirms = ConfirmTracker()
            self._unreturned = collections.deque()
        self._rpc(spec.Confirm.Select(nowait), callback)

    # ------------------------------------------------------------------------------------
    # Exchange

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: Any = ExchangeType.direct,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Declare an exchange; ``callback(frame)`` on Exchange.DeclareOk, None means nowait."""
        validators.require_string(exchange, "exchange")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        if isinstance(exchange_type, ExchangeType):
            exchange_type = exchange_type.value
        method = spec.Exchange.Declare(
            0, exchange, exchange_type, passive, durable, auto_delete, internal, nowait,
            arguments or {},
        )  # fmt: skip
        self._rpc(method, callback)

    def exchange_delete(
        self,
        exchange: str | None = None,
        if_unused: bool = False,
        callback: _Callback | None = None,
    ) -> None:
        """Delete an exchange; ``callback(frame)`` on Exchange.DeleteOk, None means nowait."""
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        self._rpc(spec.Exchange.Delete(0, exchange or "", if_unused, nowait), callback)

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Bind exchange ``destination`` to ``source``; None callback means nowait."""
        validators.require_string(destination, "destination")
        validators.require_string(source, "source")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        method = spec.Exchange.Bind(0, destination, source, routing_key, nowait, arguments or {})
        self._rpc(method, callback)

    def exchange_unbind(
        self,
        destination: str | None = None,
        source: str | None = None,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Remove an exchange-to-exchange binding; None callback means nowait."""
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        method = spec.Exchange.Unbind(
            0, destination or "", source or "", routing_key, nowait, arguments or {}
        )
        self._rpc(method, callback)

    # ------------------------------------------------------------------------------------
    # Queue

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Declare a queue (``''``: server-named, in ``frame.method.queue``); None = nowait."""
        validators.require_string(queue, "queue")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        method = spec.Queue.Declare(
            0, queue, passive, durable, exclusive, auto_delete, nowait, arguments or {}
        )
        self._rpc(method, callback)

    def queue_delete(
        self,
        queue: str,
        if_unused: bool = False,
        if_empty: bool = False,
        callback: _Callback | None = None,
    ) -> None:
        """Delete a queue; ``callback(frame)`` on Queue.DeleteOk, None means nowait."""
        validators.require_string(queue, "queue")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        self._rpc(spec.Queue.Delete(0, queue, if_unused, if_empty, nowait), callback)

    def queue_purge(self, queue: str, callback: _Callback | None = None) -> None:
        """Remove every ready message of a queue; None callback means nowait."""
        validators.require_string(queue, "queue")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        self._rpc(spec.Queue.Purge(0, queue, nowait), callback)

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Bind a queue to an exchange (routing key defaults to the queue name)."""
        validators.require_string(queue, "queue")
        validators.require_string(exchange, "exchange")
        self._raise_if_not_open()
        nowait = validators.rpc_completion_callback(callback)
        if routing_key is None:
            routing_key = queue
        method = spec.Queue.Bind(0, queue, exchange, routing_key, nowait, arguments or {})
        self._rpc(method, callback)

    def queue_unbind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
        callback: _Callback | None = None,
    ) -> None:
        """Remove a queue binding; ``callback(frame)`` on Queue.UnbindOk (always awaited)."""
        validators.require_string(queue, "queue")
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        if routing_key is None:
            routing_key = queue
        method = spec.Queue.Unbind(0, queue, exchange or "", routing_key, arguments or {})
        self._rpc(method, callback)

    # ------------------------------------------------------------------------------------
    # Tx

    def tx_select(self, callback: _Callback | None = None) -> None:
        """Start using transactions; ``callback(frame)`` on Tx.SelectOk."""
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._rpc(spec.Tx.Select(), callback)

    def tx_commit(self, callback: _Callback | None = None) -> None:
        """Commit the current transaction; ``callback(frame)`` on Tx.CommitOk."""
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._rpc(spec.Tx.Commit(), callback)

    def tx_rollback(self, callback: _Callback | None = None) -> None:
        """Abandon the current transaction; ``callback(frame)`` on Tx.RollbackOk."""
        self._raise_if_not_open()
        validators.rpc_completion_callback(callback)
        self._rpc(spec.Tx.Rollback(), callback)

    # ------------------------------------------------------------------------------------
    # Internals: requests

    def _raise_if_not_open(self) -> None:
        state = self._state
        if state != self.OPEN and state != _RECOVERING and state != _RESUMING:
            raise exceptions.ChannelWrongStateError(
                f"Channel is {self._STATE_NAMES[state]}, not OPEN: {self!r}; wait for "
                "the on_open_callback and do not use the channel after it closed"
            )

    def _rpc(self, method: Any, callback: _Callback | None) -> None:
        """Queue a synchronous method; remember who waits for the reply."""
        if self._state == _RECOVERING or self._state == _RESUMING:
            # Sent once the connection is back (after every consumer is restored).
            self._held.append((method, callback))
            return
        self._proto.rpc(self.channel_number, method)
        recovery = getattr(self.connection, "_recovery", None)
        if recovery is not None and getattr(method, "nowait", False):
            recovery.topology.record_sent(self.channel_number, method)
        if expects_reply(method):
            self._waiters.append((method, callback))
        conn = self.connection
        conn.frames_sent += 1
        conn._kick()

    def _forget_consumer(self, consumer_tag: str) -> None:
        self._consumers.pop(consumer_tag, None)
        self._consumer_info.pop(consumer_tag, None)
        self._consumers_with_noack.discard(consumer_tag)
        self._cancelled.discard(consumer_tag)

    # ------------------------------------------------------------------------------------
    # Internals: events from the connection

    def _on_open_ok(self) -> None:
        if self._state != self.OPENING:
            LOGGER.debug("Suppressing channel.open-ok on %r", self)
            return
        self._state = self.OPEN
        self._was_opened = True
        _hooks.channel_opened(self)
        self._hooks = _hooks.MessageHooks.for_channel(self)
        callback = self._on_open_callback
        if callback is not None:
            callback(self)

    def _on_close_meta(self, reason: BaseException) -> None:
        """The channel is closed (by us, the broker, or its connection ending)."""
        if self._state == self.CLOSED:
            return
        self._state = self.CLOSED
        self._closing_reason = reason
        self._waiters.clear()
        self._on_getok_callback = None
        confirms, hooks = self._confirms, self._hooks
        if confirms is not None and hooks is not None:
            for seq, _item in confirms.fail_all():
                hooks.on_confirm(seq, "failed", reason)
        if self._was_opened:
            _hooks.channel_closed(self, reason)
        if isinstance(reason, exceptions.ChannelClosedByBroker):
            LOGGER.warning("Channel %d closed by the broker: %r", self.channel_number, reason)
        try:
            for callback in list(self._close_callbacks):
                callback(self, reason)
        finally:
            self._consumers = {}
            self._consumers_with_noack = set()
            self._consumer_info = {}
            self._cancelled = set()
            self.callbacks.cleanup(self.channel_number)

    def _on_delivery(self, method: Any, properties: Any, body: bytes) -> None:
        tag = method.consumer_tag
        if self._cancelled and tag in self._cancelled:
            if (
                self._state == _OPEN or self._state == _RESUMING
            ) and tag not in self._consumers_with_noack:
                self.basic_reject(method.delivery_tag)
            return
        callback = self._consumers.get(tag)
        if callback is None:
            LOGGER.error("Unexpected delivery for consumer %r on %r", tag, self)
            return
        tags = self._tags
        if tags is not None:
            method.delivery_tag = tags.inbound(method.delivery_tag)
        hooks = self._hooks
        if hooks is None:
            callback(self, method, properties, body)
            return
        queue, options = self._consumer_info.get(tag) or (None, _hooks.NO_OPTIONS)
        context = hooks.on_delivery(method, properties, body, queue, "basic_consume", options)
        if context.dropped:
            if tag not in self._consumers_with_noack:
                self._settle_dropped(context, method.delivery_tag)
            return
        if not hooks.wants_after_delivery:
            callback(self, method, context.properties, context.body)
            return
        try:
            callback(self, method, context.properties, context.body)
        except BaseException as exc:
            hooks.after_delivery(context, exc)
            raise
        hooks.after_delivery(context, None)

    def _settle_dropped(self, context: _hooks.DeliveryContext, delivery_tag: int) -> None:
        """Settle a manual-ack delivery a plugin dropped, as it asked (``context.settle``)."""
        settle = context.settle
        if settle == "none" or (self._state != _OPEN and self._state != _RESUMING):
            return
        if settle == "ack":
            self.basic_ack(delivery_tag)
        else:
            self.basic_reject(delivery_tag, context.requeue)

    def _on_rpc_reply(self, event: Any) -> None:
        waiters = self._waiters
        waiter_callback = None
        if waiters:
            request, waiter_callback = waiters.popleft()
            if request is not event.request:
                LOGGER.error("Reply %s does not answer %s on %r", event.method, request, self)
        method = event.method
        index = method.INDEX
        if index == _GET_OK:
            self._on_get_ok(method, event.properties, event.body)
        elif index == _GET_EMPTY:
            self._on_getok_callback = None
        method_frame = frame.Method(self.channel_number, method)
        if waiter_callback is not None:
            waiter_callback(method_frame)
        self.callbacks.process(self.channel_number, method, self, method_frame)

    def _on_get_ok(self, method: Any, properties: Any, body: bytes) -> None:
        callback, self._on_getok_callback = self._on_getok_callback, None
        if self._tags is not None:
            method.delivery_tag = self._tags.inbound(method.delivery_tag)
        if callback is None:
            LOGGER.error("Basic.GetOk received with no active callback")
            return
        hooks = self._hooks
        if hooks is not None:
            queue, options = self._get_info
            context = hooks.on_delivery(method, properties, body, queue, "basic_get", options)
            if context.dropped:
                if not self._get_auto_ack:
                    self._settle_dropped(context, method.delivery_tag)
                return
            properties, body = context.properties, context.body
        callback(self, method, properties, body)

    def _on_return(self, event: Any) -> None:
        method, properties, body = event.method, event.properties, event.body
        hooks = self._hooks
        if hooks is not None:
            returns = self._unreturned
            if returns is not None:
                # The return names the exchange and routing key: mark the oldest unsettled
                # mandatory publish that matches, so its ack settles as "returned".
                for item in returns:
                    if (
                        not item[0]
                        and not item[3]
                        and item[1] == method.exchange
                        and item[2] == method.routing_key
                    ):
                        item[0] = True
                        break
            context = hooks.on_return(method, properties, body)
            if context.dropped:
                return
            properties, body = context.properties, context.body
        if not self._return_callbacks:
            LOGGER.debug("Basic.Return received from server (%r, %r)", method, properties)
        for callback in list(self._return_callbacks):
            callback(self, method, properties, body)

    def _on_confirmation(self, method: Any) -> None:
        if self._seq_offset:
            method.delivery_tag += self._seq_offset
        outstanding = self._outstanding
        if outstanding is not None:
            outstanding.settle(method.delivery_tag, method.multiple, True)
        confirms = self._confirms
        if confirms is not None and self._hooks is not None:
            ack = method.INDEX == spec.Basic.Ack.INDEX
            settled = confirms.settle(method.delivery_tag, method.multiple, ack)
            for seq, item, acked in settled:
                item[3] = True
                outcome: _hooks.ConfirmOutcome = "nacked"
                if acked:
                    outcome = "returned" if item[0] else "acked"
                self._hooks.on_confirm(seq, outcome)
            unreturned = self._unreturned
            while unreturned and unreturned[0][3]:
                unreturned.popleft()
        method_frame = frame.Method(self.channel_number, method)
        for callback in self._ack_nack_callbacks:
            callback(method_frame)

    def _on_broker_cancel(self, consumer_tag: str) -> None:
        method_frame = frame.Method(
            self.channel_number, spec.Basic.Cancel(consumer_tag=consumer_tag)
        )
        if consumer_tag not in self._cancelled:
            self._forget_consumer(consumer_tag)
        for callback in list(self._cancel_callbacks):
            callback(method_frame)
        self.callbacks.process(self.channel_number, spec.Basic.Cancel, self, method_frame)

    def _on_flow(self, active: bool) -> None:
        self.flow_active = active
        if not self._flow_callbacks:
            LOGGER.warning("Channel.Flow received from server")
        for callback in list(self._flow_callbacks):
            callback(active)

    def _on_flow_ok(self, method_frame: Any) -> None:
        self.flow_active = method_frame.method.active
        callback, self._on_flowok_callback = self._on_flowok_callback, None
        if callback is not None:
            callback(method_frame.method.active)

    # ------------------------------------------------------------------------------------
    # Recovery (called by the connection)

    def _on_connection_lost(self, cause: BaseException) -> bool:
        """The connection is lost and recovers: False if this channel ends instead (closing)."""
        if self._state == self.CLOSING or self._state == self.CLOSED:
            reason = self._closing_reason or exceptions.ChannelClosedByClient(0, "Normal shutdown")
            self._on_close_meta(reason)
            return False
        self._state = _RECOVERING
        outstanding = self._outstanding
        if outstanding is not None and len(outstanding):
            numbers = [seq for seq, _item in outstanding.fail_all()]
            error = PublishFailedDuringRecovery(numbers, cause)
            confirms, hooks = self._confirms, self._hooks
            if confirms is not None and hooks is not None:
                for seq, _item in confirms.fail_all():
                    hooks.on_confirm(seq, "failed", error)
                if self._unreturned is not None:
                    self._unreturned.clear()
            method_frame = frame.Method(self.channel_number, RecoveryNack(numbers[-1], error))
            for callback in list(self._ack_nack_callbacks):
                callback(method_frame)
        self._seq_offset = self._last_seq
        return True

    def _on_resumed(self, protocol: Any) -> None:
        """Re-opened on the new connection with its settings, its consumers being restored:
        deliveries flow and can be settled; the rest waits for ``_on_recovered``."""
        self._proto = protocol
        self._body_max = max(1, (protocol.frame_max or 131072) - 8)
        if self._tags is not None:
            self._tags.new_connection()
        self._state = _RESUMING

    def _on_recovered(self) -> None:
        """The whole connection is recovered: open for the application again, and send what
        waited, in order.

        Not earlier: a publish must not overtake the re-registration of a consumer on another
        channel. A quorum queue answers that basic.consume only once it has a leader again;
        a channel that publishes to it before (RabbitMQ 3.10) may get every publish nacked
        for as long as it lives.
        """
        if self._state != _RESUMING:
            return  # closed by the application meanwhile
        never_opened = not self._was_opened
        self._state = self.OPENING if never_opened else self.OPEN
        number = self.channel_number
        protocol = self._proto
        for method, _callback in self._waiters:
            protocol.rpc(number, method)
        held, self._held = self._held, collections.deque()
        for method, callback in held:
            self._rpc(method, callback)
        if never_opened:
            self._on_open_ok()
        else:
            self.connection._kick()
