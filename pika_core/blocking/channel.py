"""BlockingChannel: pika's blocking channel API; each call waits in the caller's thread.

Deliveries, returns and broker cancels that arrive during any call are queued on the channel
and handed to user callbacks only from ``process_data_events``, ``start_consuming``,
``consume`` and ``sleep``. A channel the broker closes raises ChannelClosedByBroker from the
blocking call in progress (or the next one).
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generator,
    Tuple,
)

from pika_core import exceptions, frame, hooks, spec
from pika_core.blocking.confirms import ConfirmState, PublishHandle, ReturnedMessage
from pika_core.blocking.consumers import (
    CANCELLED,
    CANCELLED_BY_BROKER,
    TEARING_DOWN,
    Consumer,
    GeneratorState,
)
from pika_core.blocking.topology import TopologyMethods
from pika_core.recovery.errors import PublishFailedDuringRecovery, RecoveryTimeoutError
from pika_core.recovery.tags import STALE, DeliveryTags

if TYPE_CHECKING:
    from pika_core.blocking.connection import BlockingConnection

__all__ = ["BlockingChannel"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")
_monotonic = time.monotonic

# Kinds of queued channel events.
_DELIVER = 0
_CANCEL = 1
_RETURN = 2

Message = Tuple[Any, Any, Any]
OptionalMessage = Tuple[Any, Any, Any]


def _require_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r}")


class BlockingChannel(TopologyMethods):
    """A channel of a BlockingConnection (pika's ``BlockingChannel``); create it with
    ``connection.channel()``."""

    def __init__(self, connection: BlockingConnection, channel_number: int) -> None:
        self._connection = connection
        self._number = channel_number
        self._lock = connection._pump_lock()
        self._protocol = connection._protocol
        self._opened = False
        self._closing = False
        self._close_reason: BaseException | None = None
        self._reply: Any = None
        self._consumers: dict[str, Consumer] = {}
        self._generator: GeneratorState | None = None
        self._pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self._confirm: ConfirmState | None = None
        self._cancel_callbacks: list[Callable[..., Any]] = []
        self._return_callbacks: list[Callable[..., Any]] = []
        # Message hooks resolved when the channel opens (pika_core.hooks); None: no plugin.
        self._hooks: Any = None
        # Recovery: the connection was lost and this channel waits to be re-opened.
        self._recovering = False
        # The synchronous request waiting for its reply (sent again after a recovery).
        self._inflight: Any = None
        # Delivery-tag translation across recoveries (None: recovery is off).
        self._tags: DeliveryTags | None = (
            DeliveryTags() if connection._recovery is not None else None
        )

    def __int__(self) -> int:
        return self._number

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<BlockingChannel number={self._number} {state} conn={self._connection!r}>"

    def __enter__(self) -> BlockingChannel:  # noqa: PYI034 - Self needs typing_extensions on 3.8
        return self

    def __exit__(self, exc_type: object, value: object, traceback: object) -> None:
        if self.is_open:
            self.close()

    # -- properties ----------------------------------------------------------------------------

    @property
    def channel_number(self) -> int:
        """The channel's number on its connection."""
        return self._number

    @property
    def connection(self) -> BlockingConnection:
        """The BlockingConnection this channel belongs to."""
        return self._connection

    @property
    def is_closed(self) -> bool:
        """Whether the channel is closed (by either side or with its connection)."""
        return self._close_reason is not None

    @property
    def is_open(self) -> bool:
        """Whether the channel is open."""
        return (
            self._opened
            and self._close_reason is None
            and not self._closing
            and not self._recovering
        )

    @property
    def consumer_tags(self) -> list[str]:
        """The tags of the channel's active consumers."""
        return list(self._consumers)

    # -- events from the connection (no user code runs here) -----------------------------------

    def _on_opened(self) -> None:
        self._opened = True
        hooks.channel_opened(self)
        self._hooks = hooks.MessageHooks.for_channel(self)

    def _on_closed(self, reason: BaseException) -> None:
        if self._close_reason is not None:
            return
        self._close_reason = reason
        LOGGER.debug("channel %s closed: %r", self._number, reason)
        if self._confirm is not None:
            failed = self._confirm.fail_all(reason)
            message_hooks = self._hooks
            if message_hooks is not None:
                for handle in failed:
                    message_hooks.on_confirm(handle.sequence_number, "failed", reason)
        if self._opened:
            hooks.channel_closed(self, reason)
        self._consumers.clear()
        self._pending.clear()
        if self._generator is not None and not isinstance(reason, exceptions.ChannelClosedByBroker):
            self._generator = None

    def _on_delivery(self, method: Any, properties: Any, body: bytes) -> None:
        consumer = self._consumers.get(method.consumer_tag)
        if consumer is None:
            LOGGER.warning("delivery for unknown consumer %r: rejected", method.consumer_tag)
            with self._lock:
                self._protocol.basic_reject(self._number, method.delivery_tag, True)
            return
        message_hooks = self._hooks
        if message_hooks is not None:
            context = message_hooks.on_delivery(
                method, properties, body, consumer.queue, consumer.api, consumer.options
            )
            if context.dropped:
                if not consumer.auto_ack:
                    self._settle_dropped(context, method.delivery_tag)
                return
            properties, body = context.properties, context.body
        tags = self._tags
        if tags is not None:
            method.delivery_tag = tags.inbound(method.delivery_tag)
        sink = consumer.sink
        if sink is not None:
            sink.append((method, properties, body))
            self._connection._wakeup = True
            return
        pending = self._pending
        if not pending:
            self._connection._pending_channels[self._number] = self
        pending.append((_DELIVER, consumer, method, properties, body))

    def _settle_dropped(self, context: hooks.DeliveryContext, broker_tag: int) -> None:
        """Settle a delivery a plugin dropped, as it asked (``DeliveryContext.settle``)."""
        settle = context.settle
        if settle == "none":
            return
        with self._lock:
            if settle == "ack":
                self._protocol.basic_ack(self._number, broker_tag, False)
            else:
                self._protocol.basic_reject(self._number, broker_tag, context.requeue)

    # -- recovery (called by the connection; no user code runs here) ----------------------------

    def _on_connection_lost(self, cause: BaseException) -> bool:
        """The connection is lost and recovers: False if this channel ends instead (closing)."""
        if self._closing or self._close_reason is not None:
            if self._close_reason is None:
                self._on_closed(exceptions.ChannelClosedByClient(0, "Normal shutdown"))
            return False
        self._recovering = True
        if self._confirm is not None:
            failed = self._confirm.fail_for_recovery(cause)
            message_hooks = self._hooks
            if message_hooks is not None:
                for handle in failed:
                    message_hooks.on_confirm(handle.sequence_number, "failed", cause)
        # Deliveries not yet handed to the application come back from the broker
        # (requeued, redelivered=True); an auto-ack consumer's are kept (already settled).
        kept: collections.deque[tuple[Any, ...]] = collections.deque()
        for event in self._pending:
            if event[0] != _DELIVER or event[1].auto_ack:
                kept.append(event)
        self._pending = kept
        if not kept:
            self._connection._pending_channels.pop(self._number, None)
        state = self._generator
        if state is not None and not state.params[1]:
            cancelled = bool(state.pending) and state.pending[-1] is CANCELLED
            state.pending.clear()
            if cancelled:
                state.pending.append(CANCELLED)
        return True

    def _attach(self, protocol: Any) -> None:
        """A recovery attempt opened a new protocol connection: use it from now on."""
        self._protocol = protocol
        self._lock = self._connection._pump_lock()

    def _on_recovered(self) -> None:
        """The channel is open again with its settings, topology and consumers restored."""
        self._recovering = False
        if self._tags is not None:
            self._tags.new_connection()
        if not self._opened:
            self._on_opened()
        if self._inflight is not None:
            self._protocol.rpc(self._number, self._inflight)

    def _on_queue_renamed(self, old: str, new: str) -> None:
        state = self._generator
        if state is not None and state.params[0] == old:
            state.params = (new, state.params[1], state.params[2])

    def _wait_recovered(self) -> None:
        """Wait (up to the policy's blocking_wait) for the recovery to re-open this channel."""
        self._connection._await_recovery(-1.0)

    def _broker_tag(self, tag: int, multiple: bool = False) -> int:
        """The broker's tag for an application tag (STALE: from a lost connection)."""
        tags = self._tags
        return tag if tags is None else tags.outbound(tag, multiple)

    def _reject_held(self, method: Any) -> None:
        """Requeue a delivery the channel held back (its tag is the application's)."""
        tag = self._broker_tag(method.delivery_tag)
        if tag != STALE:
            with self._lock:
                self._protocol.basic_reject(self._number, tag, True)

    def _queue_event(self, event: tuple[Any, ...]) -> None:
        if not self._pending:
            self._connection._pending_channels[self._number] = self
        self._pending.append(event)

    def _on_returned(self, method: Any, properties: Any, body: bytes) -> None:
        LOGGER.warning(
            "Published message was returned: channel=%s reply=%s %s exchange=%r routing_key=%r",
            self._number,
            method.reply_code,
            method.reply_text,
            method.exchange,
            method.routing_key,
        )
        if self._confirm is not None:
            handle = self._confirm.on_return(method, properties, body)
            if handle is not None:
                handle.properties = properties
        message_hooks = self._hooks
        if message_hooks is not None:
            context = message_hooks.on_return(method, properties, body)
            if context.dropped:
                return
            properties, body = context.properties, context.body
        if self._return_callbacks:
            self._queue_event((_RETURN, method, properties, body))

    def _on_confirmation(self, method: Any) -> None:
        if self._confirm is not None:
            settled = self._confirm.on_confirm(method)
            message_hooks = self._hooks
            if message_hooks is not None:
                for handle in settled:
                    message_hooks.on_confirm(handle.sequence_number, handle.outcome)

    def _on_consumer_cancelled(self, consumer_tag: str) -> None:
        consumer = self._consumers.get(consumer_tag)
        if consumer is None:
            return
        if consumer.state != TEARING_DOWN:
            consumer.state = CANCELLED_BY_BROKER
        if consumer.sink is not None:
            consumer.sink.append(CANCELLED)
            self._connection._wakeup = True
        else:
            self._queue_event((_CANCEL, consumer_tag))

    def _dispatch_events(self) -> None:
        """Run the queued consumer, return and cancel callbacks (from the dispatch loop)."""
        connection = self._connection
        try:
            while self._pending:
                # A callback may replace self._pending (basic_cancel takes its messages out).
                event = self._pending.popleft()
                kind = event[0]
                if kind == _DELIVER:
                    _, consumer, method, properties, body = event
                    message_hooks = self._hooks
                    if message_hooks is None or not message_hooks.wants_after_delivery:
                        consumer.callback(self, method, properties, body)
                    else:
                        try:
                            consumer.callback(self, method, properties, body)
                        except BaseException as exc:
                            message_hooks.after_message(
                                method, properties, body, consumer.queue, consumer.api,
                                consumer.options, exc,
                            )  # fmt: skip
                            raise
                        message_hooks.after_message(
                            method, properties, body, consumer.queue, consumer.api,
                            consumer.options, None,
                        )  # fmt: skip
                    # Inside a dispatch turn acks wait for its end, unless the oldest is due.
                    if connection._ack_dirty and _monotonic() >= connection._ack_due:
                        connection._send_acks()
                elif kind == _CANCEL:
                    tag = event[1]
                    self._consumers.pop(tag, None)
                    method_frame = frame.Method(self._number, spec.Basic.Cancel(consumer_tag=tag))
                    for callback in list(self._cancel_callbacks):
                        callback(method_frame)
                else:
                    for callback in list(self._return_callbacks):
                        callback(self, event[1], event[2], event[3])
        finally:
            if self._pending:
                connection._pending_channels[self._number] = self

    # -- waiting -------------------------------------------------------------------------------

    def _raise_if_not_open(self) -> None:
        if self._recovering and self._close_reason is None:
            self._wait_recovered()
        if not self.is_open:
            reason = self._close_reason
            unreported = self._connection._unreported.pop(self._number, None)
            if isinstance(reason, exceptions.ChannelClosedByBroker) and unreported is not None:
                raise reason
            raise exceptions.ChannelWrongStateError("Channel is closed.")

    def _wait(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Pump until ``done()``; raise if this channel or the connection closes meanwhile."""
        result = self._connection._wait(lambda: done() or self._close_reason is not None, timeout)
        if self._close_reason is not None and not done():
            self._raise_closed()
        return result

    def _raise_closed(self) -> None:
        reason = self._close_reason
        if isinstance(reason, exceptions.ChannelClosedByBroker):
            self._connection._unreported.pop(self._number, None)
            raise reason
        if isinstance(reason, exceptions.ChannelClosedByClient):
            raise exceptions.ChannelWrongStateError("Channel is closed.")
        assert reason is not None
        raise reason

    def _rpc(self, method: Any) -> Any:
        """Send a synchronous method and wait for its reply; return the reply method."""
        self._raise_if_not_open()
        self._reply = None
        self._inflight = method
        try:
            with self._lock:
                self._protocol.rpc(self._number, method)
            self._wait(lambda: self._reply is not None and self._reply.request is method)
        finally:
            self._inflight = None
        return self._reply

    def _rpc_frame(self, method: Any) -> Any:
        """An RPC whose reply pika returns as a frame.Method."""
        return frame.Method(self._number, self._rpc(method).method)

    def _process_data_events(self, time_limit: float | None) -> None:
        """process_data_events that raises ChannelClosedByBroker for this channel first."""
        try:
            self._connection._process_data_events(time_limit)
        finally:
            reason = self._close_reason
            if (
                isinstance(reason, exceptions.ChannelClosedByBroker)
                and self._connection._unreported.pop(self._number, None) is not None
            ):
                raise reason
        self._connection._raise_unreported()

    # -- channel -------------------------------------------------------------------------------

    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None:
        """Cancel the consumers, then close the channel."""
        LOGGER.debug("Channel.close(%s, %s)", reply_code, reply_text)
        if self._recovering and self._close_reason is None:
            # Nothing to tell a broker that already forgot the channel.
            self._on_closed(exceptions.ChannelClosedByClient(reply_code, reply_text))
            self._connection._channels.pop(self._number, None)
            recovery = self._connection._recovery
            if recovery is not None:
                recovery.topology.channel_closed(self._number)
            return
        self._raise_if_not_open()
        try:
            self._cancel_all_consumers()
            with self._lock:
                self._protocol.close_channel(self._number, reply_code, reply_text)
            self._closing = True
            self._connection._wait(lambda: self._close_reason is not None)
            if isinstance(self._close_reason, exceptions.ChannelClosedByBroker):
                self._raise_closed()
        finally:
            self._closing = False
            if self._close_reason is None:
                self._on_closed(exceptions.ChannelClosedByClient(reply_code, reply_text))

    def flow(self, active: bool) -> bool:
        """Channel.Flow (RabbitMQ refuses active=False); return the broker's ``active``."""
        return bool(self._rpc(spec.Channel.Flow(active=active)).method.active)

    def add_on_cancel_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(method_frame)`` when the broker cancels a consumer (Basic.Cancel)."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._cancel_callbacks.append(callback)

    def add_on_return_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(channel, method, properties, body)`` for each Basic.Return."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._return_callbacks.append(callback)

    # -- consumers -----------------------------------------------------------------------------

    def _new_consumer_tag(self) -> str:
        return f"ctag{self._number}.{uuid.uuid4().hex}"

    def basic_consume(
        self,
        queue: str,
        on_message_callback: Callable[..., Any],
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: str | None = None,
        arguments: dict[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Start a consumer; ``on_message_callback(channel, method, properties, body)`` runs
        from start_consuming/process_data_events. Return the consumer tag.

        ``options``: keyword options registered by plugins (pika_core.hooks.register_call_option),
        given to the message hooks with each of this consumer's deliveries.
        """
        _require_str(queue, "queue")
        if not callable(on_message_callback):
            raise TypeError("on_message_callback must be callable")
        if options:
            hooks.check_call_options("basic_consume", options)
        return self._basic_consume(
            queue,
            auto_ack,
            exclusive,
            consumer_tag,
            arguments,
            on_message_callback,
            None,
            "basic_consume",
            options or hooks.NO_OPTIONS,
        )

    def _basic_consume(
        self,
        queue: str,
        auto_ack: bool,
        exclusive: bool,
        consumer_tag: str | None,
        arguments: dict[str, Any] | None,
        callback: Callable[..., Any] | None,
        sink: collections.deque[Message] | None,
        api: str = "basic_consume",
        options: Any = hooks.NO_OPTIONS,
    ) -> str:
        self._raise_if_not_open()
        if not consumer_tag:
            consumer_tag = self._new_consumer_tag()
        if consumer_tag in self._consumers:
            raise exceptions.DuplicateConsumerTag(consumer_tag)
        self._consumers[consumer_tag] = Consumer(
            consumer_tag, callback, auto_ack, sink, queue, api, options
        )
        method = spec.Basic.Consume(
            queue=queue,
            consumer_tag=consumer_tag,
            no_ack=auto_ack,
            exclusive=exclusive,
            arguments=arguments,
        )
        try:
            self._rpc(method)
        except BaseException:
            self._consumers.pop(consumer_tag, None)
            raise
        return consumer_tag

    def _take_pending(self, consumer_tag: str) -> list[Message]:
        """Remove the queued deliveries (and a queued cancel) of one consumer; return them."""
        kept: collections.deque[tuple[Any, ...]] = collections.deque()
        taken: list[Message] = []
        for event in self._pending:
            if event[0] == _DELIVER and event[1].consumer_tag == consumer_tag:
                taken.append((event[2], event[3], event[4]))
            elif not (event[0] == _CANCEL and event[1] == consumer_tag):
                kept.append(event)
        self._pending = kept
        if not kept:
            self._connection._pending_channels.pop(self._number, None)
        return taken

    def basic_cancel(self, consumer_tag: str) -> list[Message]:
        """Cancel a consumer. Undelivered messages are rejected (requeued), or returned as a list
        of (method, properties, body) for an auto_ack consumer."""
        consumer = self._consumers.get(consumer_tag)
        if consumer is None:
            LOGGER.warning(
                "User is attempting to cancel an unknown consumer=%s; already cancelled by "
                "user or broker?",
                consumer_tag,
            )
            return []
        try:
            auto_ack = consumer.auto_ack
            broker_cancelled = consumer.state == CANCELLED_BY_BROKER
            consumer.state = TEARING_DOWN
            if not auto_ack:
                for method, _props, _body in self._take_pending(consumer_tag):
                    self._reject_held(method)
            if self._recovering and self._close_reason is None:
                self._wait_recovered()
            if self.is_open and not broker_cancelled:
                self._rpc(spec.Basic.Cancel(consumer_tag=consumer_tag))
            if auto_ack:
                return self._take_pending(consumer_tag)
            for method, _props, _body in self._take_pending(consumer_tag):
                self._reject_held(method)
            return []
        finally:
            self._consumers.pop(consumer_tag, None)

    def _cancel_all_consumers(self) -> None:
        if self._consumers:
            if self._generator is not None:
                self.cancel()
            for tag in list(self._consumers):
                self.basic_cancel(tag)

    def start_consuming(self) -> None:
        """Process I/O and dispatch consumer callbacks until every consumer is cancelled."""
        if self._connection._dispatch_depth:
            raise exceptions.ReentrancyError(
                "start_consuming may not be called from the scope of another "
                "BlockingConnection or BlockingChannel callback"
            )
        self._raise_if_not_open()
        while self._consumers:
            self._process_data_events(None)

    def stop_consuming(self, consumer_tag: str | None = None) -> None:
        """Cancel one consumer (or all), which ends start_consuming."""
        if consumer_tag:
            self.basic_cancel(consumer_tag)
        else:
            self._cancel_all_consumers()

    def consume(
        self,
        queue: str,
        auto_ack: bool = False,
        exclusive: bool = False,
        arguments: dict[str, Any] | None = None,
        inactivity_timeout: float | None = None,
        consumer_tag: str | None = None,
        **options: Any,
    ) -> Generator[OptionalMessage, None, None]:
        """Yield (method, properties, body) per message; (None, None, None) after
        ``inactivity_timeout`` s without one. Ends when the consumer is cancelled (by
        ``cancel()`` or the broker). Calling it again with the same queue, auto_ack and
        exclusive resumes the same consumer; different values raise ValueError.
        ``options``: plugins' keyword options, given to the hooks with each delivery."""
        if options:
            hooks.check_call_options("consume", options)
        return self._consume(
            queue,
            auto_ack,
            exclusive,
            arguments,
            inactivity_timeout,
            consumer_tag,
            options or hooks.NO_OPTIONS,
        )

    def _consume(
        self,
        queue: str,
        auto_ack: bool,
        exclusive: bool,
        arguments: dict[str, Any] | None,
        inactivity_timeout: float | None,
        consumer_tag: str | None,
        options: Any,
    ) -> Generator[OptionalMessage, None, None]:
        self._raise_if_not_open()
        params = (queue, auto_ack, exclusive)
        state = self._generator
        if state is not None:
            if params != state.params:
                raise ValueError(
                    f"Consume with different params not allowed on existing queue consumer "
                    f"generator; previous params: {state.params!r}; new params: {params!r}"
                )
        else:
            state = GeneratorState(params, consumer_tag or self._new_consumer_tag())
            self._generator = state
            try:
                self._basic_consume(
                    queue,
                    auto_ack,
                    exclusive,
                    state.consumer_tag,
                    arguments,
                    None,
                    state.pending,
                    "consume",
                    options,
                )
            except BaseException:
                self._generator = None
                raise
        connection = self._connection
        pending = state.pending
        while self._generator is state:
            if pending:
                message = pending.popleft()
                if message is CANCELLED:
                    self._generator = None
                    self._consumers.pop(state.consumer_tag, None)
                    break
                message_hooks = self._hooks
                if message_hooks is None or not message_hooks.wants_after_delivery:
                    yield message
                else:
                    yield from self._yield_observed(message_hooks, message, queue, options)
                if connection._ack_dirty:
                    connection._flush_acks()
                continue
            if inactivity_timeout is None:
                self._process_data_events(None)
                continue
            deadline = time.monotonic() + inactivity_timeout
            delta = inactivity_timeout
            while self._generator is state and not pending:
                self._process_data_events(delta)
                if self._generator is not state or pending:
                    break
                delta = deadline - time.monotonic()
                if delta <= 0.0:
                    yield (None, None, None)
                    break

    @staticmethod
    def _yield_observed(
        message_hooks: Any, message: Any, queue: str, options: Any
    ) -> Generator[OptionalMessage, None, None]:
        """Yield one message; tell pika_after_delivery when the application comes back."""
        method, properties, body = message
        try:
            yield message
        except GeneratorExit:
            message_hooks.after_message(method, properties, body, queue, "consume", options, None)
            raise
        except BaseException as exc:
            message_hooks.after_message(method, properties, body, queue, "consume", options, exc)
            raise
        message_hooks.after_message(method, properties, body, queue, "consume", options, None)

    def get_waiting_message_count(self) -> int:
        """How many messages consume() can yield without blocking."""
        return self._generator.waiting() if self._generator is not None else 0

    def cancel(self) -> int:
        """Cancel the consume() generator's consumer, rejecting its waiting messages; return 0."""
        state = self._generator
        if state is None:
            LOGGER.warning(
                "cancel: queue consumer generator is inactive (already cancelled by client or "
                "broker?)"
            )
            return 0
        try:
            _queue, auto_ack, _exclusive = state.params
            self._reject_waiting(state, auto_ack)
            self.basic_cancel(state.consumer_tag)
            # Deliveries that crossed the basic.cancel on the wire are waiting too.
            self._reject_waiting(state, auto_ack)
        finally:
            self._generator = None
        return 0

    def _reject_waiting(self, state: Any, auto_ack: bool) -> None:
        """Requeue what the consume() generator holds (auto_ack messages are already settled)."""
        if auto_ack or not self.is_open:
            state.pending.clear()
            return
        while state.pending:
            method = state.pending.popleft()[0]
            if method is not None:
                self._reject_held(method)

    # -- acknowledgements ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._close_reason is not None or not self._opened:
            self._raise_if_not_open()

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge one delivery (or all up to ``delivery_tag`` with multiple=True)."""
        tag = self._settle_tag(delivery_tag, multiple, "ack", False)
        if tag is not None:
            with self._lock:
                self._protocol.basic_ack(self._number, tag, multiple)
            self._connection._after_ack()

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Reject one or more deliveries (RabbitMQ extension), requeueing them by default."""
        tag = self._settle_tag(delivery_tag, multiple, "nack", requeue)
        if tag is not None:
            with self._lock:
                self._protocol.basic_nack(self._number, tag, multiple, requeue)
            self._connection._after_ack()

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery, requeueing it by default."""
        tag = self._settle_tag(delivery_tag, False, "reject", requeue)
        if tag is not None:
            with self._lock:
                self._protocol.basic_reject(self._number, tag, requeue)
            self._connection._after_ack()

    def _settle_tag(
        self, delivery_tag: int, multiple: bool, kind: str, requeue: bool
    ) -> int | None:
        """What ack, nack and reject share: tell the plugins, translate the tag the application
        saw into the broker's (None: a delivery from before a recovery, dropped), check the
        channel is open."""
        message_hooks = self._hooks
        if message_hooks is not None:
            message_hooks.on_settle(delivery_tag, multiple, kind, requeue)
        tags = self._tags
        if tags is not None:
            if self._recovering:
                tags.stale_during_outage(delivery_tag)
                return None
            delivery_tag = tags.outbound(delivery_tag, multiple)
            if delivery_tag == STALE:
                return None
        self._check_open()
        return delivery_tag

    def basic_get(self, queue: str, auto_ack: bool = False, **options: Any) -> OptionalMessage:
        """Fetch one message: (Basic.GetOk, properties, body), or (None, None, None) if empty.

        ``options``: keyword options registered by plugins, given to the message hooks.
        """
        _require_str(queue, "queue")
        if options:
            hooks.check_call_options("basic_get", options)
        reply = self._rpc(spec.Basic.Get(queue=queue, no_ack=auto_ack))
        method = reply.method
        if method.NAME == "Basic.GetEmpty":
            return None, None, None
        properties, body = reply.properties, reply.body
        broker_tag = method.delivery_tag
        if self._tags is not None:
            method.delivery_tag = self._tags.inbound(broker_tag)
        message_hooks = self._hooks
        if message_hooks is not None:
            context = message_hooks.on_delivery(
                method, properties, body, queue, "basic_get", options or hooks.NO_OPTIONS
            )
            if context.dropped:
                if not auto_ack and context.settle != "none":
                    self._settle_dropped(context, broker_tag)
                    self._connection._after_ack()  # sent like any ack made outside a callback
                return None, None, None
            properties, body = context.properties, context.body
        return method, properties, body

    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False
    ) -> None:
        """Limit unacknowledged deliveries (by count and/or size) per consumer or channel."""
        self._rpc(
            spec.Basic.Qos(
                prefetch_size=prefetch_size, prefetch_count=prefetch_count, global_qos=global_qos
            )
        )

    def basic_recover(self, requeue: bool = False) -> None:
        """Ask the broker to redeliver every unacknowledged message of this channel."""
        self._rpc(spec.Basic.Recover(requeue=requeue))

    # -- publishing ----------------------------------------------------------------------------

    def confirm_delivery(self, pipelined: bool = False, max_outstanding: int | None = None) -> None:
        """Turn on publisher confirms.

        By default (as in pika) each basic_publish then waits for its ack and raises
        NackError or UnroutableError. With ``pipelined=True`` basic_publish returns a
        PublishHandle at once and ``wait_for_confirms()`` waits for all of them; at most
        ``max_outstanding`` publishes (None: no limit) are unconfirmed before a publish waits.
        """
        if max_outstanding is not None and max_outstanding < 1:
            raise ValueError(f"max_outstanding must be None or at least 1, got {max_outstanding}")
        if self._confirm is not None:
            if (
                pipelined == self._confirm.pipelined
                and max_outstanding == self._confirm.max_outstanding
            ):
                LOGGER.error(
                    "confirm_delivery: confirmation was already enabled on channel=%s",
                    self._number,
                )
            self._confirm.pipelined = pipelined
            self._confirm.max_outstanding = max_outstanding
            return
        self._rpc(spec.Confirm.Select())
        self._confirm = ConfirmState(pipelined, max_outstanding)

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes | str,
        properties: spec.BasicProperties | None = None,
        mandatory: bool = False,
        **options: Any,
    ) -> PublishHandle | None:
        """Publish a message (a str body is sent UTF-8 encoded).

        Without confirms it returns None at once. In pika's confirm mode it waits for the
        broker and raises UnroutableError (returned with mandatory=True) or NackError. In
        pipelined confirm mode it returns a PublishHandle at once. ``options``: keyword options
        registered by plugins (pika_core.hooks.register_call_option), given to the hooks.
        """
        if options:
            hooks.check_call_options("basic_publish", options)
        if type(body) is bytes:
            data: bytes = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview)):
            data = bytes(body)
        else:
            raise TypeError(f"body must be bytes or str, got {type(body).__name__}")
        if self._close_reason is not None or not self._opened or self._recovering:
            self._publish_wait_recovered(properties, data)
        message_hooks = self._hooks
        if message_hooks is not None:
            context = message_hooks.before_publish(
                exchange, routing_key, data, properties, mandatory, options or hooks.NO_OPTIONS
            )
            if context.dropped:
                return None
            exchange, routing_key, data = context.exchange, context.routing_key, context.body
            properties, mandatory = context.properties, context.mandatory
        confirm = self._confirm
        if confirm is None:
            with self._lock:
                self._protocol.publish(
                    self._number, exchange, routing_key, data, properties, mandatory
                )
            self._connection._after_publish(len(data))
            return None
        limit = confirm.max_outstanding
        if limit is not None and confirm.tracker.pending >= limit:
            self._connection._flush_publishes()
            self._wait(lambda: len(confirm) < limit)
            if self._recovering:  # lost while waiting: publish on the recovered connection
                self._publish_wait_recovered(properties, data)
        with self._lock:
            seq = self._protocol.publish(
                self._number, exchange, routing_key, data, properties, mandatory
            )
        handle = PublishHandle(
            self, seq + confirm.seq_offset, exchange, routing_key, data, properties, mandatory
        )
        confirm.track(handle)
        if confirm.pipelined:
            self._connection._after_publish(len(data))
            return handle
        self.wait_for_handle(handle, None)
        error = handle.exception()
        if error is None:
            return None
        if isinstance(error, PublishFailedDuringRecovery):
            raise PublishFailedDuringRecovery([handle], error.cause)
        if isinstance(error, exceptions.NackError):
            LOGGER.warning(
                "Message was Nack'ed by broker: channel=%s exchange=%s routing_key=%s",
                self._number,
                exchange,
                routing_key,
            )
            returned = [ReturnedMessage(handle.method, handle.properties, handle.body)]
            raise exceptions.NackError(returned if handle.method is not None else [])
        if isinstance(error, exceptions.UnroutableError):
            raise exceptions.UnroutableError(
                [ReturnedMessage(handle.method, handle.properties, handle.body)]
            )
        raise error

    def _publish_wait_recovered(self, properties: Any, data: bytes) -> None:
        """A publish while the connection recovers waits for it (blocking_wait), then fails."""
        if self._recovering and self._close_reason is None:
            try:
                self._wait_recovered()
            except RecoveryTimeoutError as exc:
                raise PublishFailedDuringRecovery(
                    [ReturnedMessage(None, properties, data)], exc
                ) from exc
        self._raise_if_not_open()

    def wait_for_handle(self, handle: PublishHandle, timeout: float | None) -> None:
        """Pump I/O until ``handle`` is settled or ``timeout`` s passed (PublishHandle.result)."""
        if handle.done():
            return
        self._connection._flush_publishes()
        self._wait(handle.done, timeout)

    def wait_for_confirms(self, timeout: float | None = None) -> bool:
        """Wait until every pipelined publish is settled; True when none is left outstanding.

        Raises NackError when any publish since the last call was nacked (``messages`` lists
        every failed PublishHandle, returned ones included), UnroutableError when some were only
        returned, or the error that closed the channel or connection. Returns False if
        ``timeout`` s passed with publishes still outstanding (failures known so far are raised
        first).
        """
        confirm = self._confirm
        if confirm is None:
            raise exceptions.ChannelWrongStateError(
                "wait_for_confirms() needs confirm mode: call confirm_delivery(pipelined=True) first"
            )
        if self._close_reason is not None:
            error = confirm.take_failures()
            if error is not None:
                raise error
            self._raise_closed()
        if len(confirm):
            self._connection._flush_publishes()
            self._wait(lambda: not len(confirm), timeout)
        error = confirm.take_failures()
        if error is not None:
            raise error
        if self._close_reason is not None:
            self._raise_closed()
        return not len(confirm)

    @property
    def outstanding_confirms(self) -> int:
        """How many publishes wait for the broker's ack or nack."""
        return len(self._confirm) if self._confirm is not None else 0
