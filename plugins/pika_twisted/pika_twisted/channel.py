"""TwistedChannel: pika's channel API where every request returns a Deferred.

A thin facade over ``pika_core.channel.Channel``: the core keeps one RPC on the wire per
channel and tracks consumers; this module only turns completion callbacks into Deferreds,
deliveries into ``ClosableDeferredQueue`` items and, in confirm mode, each publish into a
Deferred settled by the broker's ack, nack or return (matched by the publish sequence number
the core reports, and a return by its exchange and routing key).
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Callable, NamedTuple

from twisted.internet import defer

from pika_core import exceptions, spec
from pika_core.channel import Channel
from pika_core.exchange_type import ExchangeType

__all__ = ["ClosableDeferredQueue", "ReceivedMessage", "TwistedChannel"]

LOGGER = logging.getLogger(__name__)

_ACK = spec.Basic.Ack.INDEX
_succeed = defer.succeed
_new_message = tuple.__new__  # ReceivedMessage(...) without the namedtuple's Python __new__
_Deferred = defer.Deferred


class ReceivedMessage(NamedTuple):
    """One delivered, fetched or returned message, as pika's twisted adapter gives it."""

    channel: Any
    method: Any
    properties: Any
    body: bytes


class ClosableDeferredQueue(defer.DeferredQueue[Any]):
    """A DeferredQueue that can be closed: then ``get()`` and ``put()`` fail with the reason.

    Messages already queued when it closes are still handed out by ``get()`` first, so that
    nothing received is lost to the application.

    Deliveries that arrive in one read while a ``get()`` waits are queued first and handed out
    once that read is dispatched (``_hold``/``_release``): the waiting consumer then takes the
    rest of the read from ``pending`` (already-fired Deferreds) instead of being resumed through
    a Deferred callback per message. Order within the queue is kept.
    """

    def __init__(self, size: int | None = None, backlog: int | None = None) -> None:
        super().__init__(size, backlog)
        self.closed: BaseException | None = None
        self._held = False

    def put(self, obj: Any) -> defer.Deferred[Any] | None:  # type: ignore[override]
        """Queue ``obj`` (or hand it to a waiting ``get()``); a failed Deferred once closed."""
        if self.closed is not None:
            LOGGER.error("Attempt to put on a closed queue; reason %r", self.closed)
            return defer.fail(self.closed)
        if self._held:
            self._release()
        super().put(obj)
        return None

    def get(self) -> defer.Deferred[Any]:
        """A Deferred of the next item; fails with the close reason once closed and empty."""
        pending = self.pending
        if pending and not self._held:
            d: defer.Deferred[Any] = _Deferred()
            d.called = True  # as defer.succeed() leaves it, without the empty callback run
            d.result = pending.pop(0)
            return d
        if self.closed is not None and not pending:
            return defer.fail(self.closed)
        if self._held:
            # Earlier get()s wait for the held items: queue behind them.
            if self.backlog is not None and len(self.waiting) >= self.backlog:
                raise defer.QueueUnderflow()
            waiter: defer.Deferred[Any] = defer.Deferred(canceller=self._cancelGet)
            self.waiting.append(waiter)
            return waiter
        return super().get()

    def close(self, reason: BaseException) -> None:
        """Fail every waiting ``get()`` with ``reason``, and every later one once empty."""
        if self.closed is not None:
            return
        if self._held:
            self._release()
        self.closed = reason
        waiting, self.waiting = self.waiting, []
        for d in waiting:
            d.errback(reason)

    def _hold(self, obj: Any, held: list[ClosableDeferredQueue]) -> None:
        """Queue ``obj`` without waking a waiting ``get()`` yet; ``held`` lists the queues to
        ``_release`` once the current read is dispatched."""
        self.pending.append(obj)
        if not self._held:
            self._held = True
            held.append(self)

    def _release(self) -> None:
        """Hand the held items to the waiting ``get()`` Deferreds, in order."""
        self._held = False
        pending = self.pending
        waiting = self.waiting
        while waiting and pending:
            waiting.pop(0).callback(pending.pop(0))


class TwistedChannel:
    """A channel whose methods return Deferreds (pika's ``TwistedChannel``).

    Pending Deferreds fail with the close reason (ChannelClosedByBroker, ChannelClosedByClient
    or the connection's error) when the channel closes; ``on_closed`` fires with that reason.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._publish = channel.basic_publish
        self._closed: BaseException | None = None
        self._calls: set[defer.Deferred[Any]] = set()
        self._consumers: dict[str, ClosableDeferredQueue] = {}
        self._queue_consumers: dict[str, set[str]] = {}
        self._get_deferred: defer.Deferred[Any] | None = None
        self._confirming = False
        self._last_seq = 0
        self._deliveries: collections.OrderedDict[int, defer.Deferred[Any]] = (
            collections.OrderedDict()
        )
        # Mandatory publishes awaiting their confirm: [seq, exchange, routing_key, returned].
        self._mandatory: collections.deque[list[Any]] = collections.deque()
        self.on_closed: defer.Deferred[Any] = defer.Deferred()
        # After GetOk too: a GetOk whose message a plugin's hook dropped never reaches basic_get's
        # callback, and its Deferred fires with None, as for an empty queue.
        channel.add_callback(
            self._on_get_reply, [spec.Basic.GetEmpty, spec.Basic.GetOk], one_shot=False
        )
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_cancel_callback(self._on_consumer_cancelled)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} channel={self._channel!r}>"

    # --- state -------------------------------------------------------------------------------

    @property
    def channel_number(self) -> int:
        """The AMQP channel number."""
        return self._channel.channel_number

    @property
    def connection(self) -> Any:
        """The callback-API connection underneath (not the TwistedProtocolConnection)."""
        return self._channel.connection

    @property
    def is_closed(self) -> bool:
        """Closed by either side, or its connection ended."""
        return self._channel.is_closed

    @property
    def is_closing(self) -> bool:
        """channel.close was sent and close-ok has not arrived yet."""
        return self._channel.is_closing

    @property
    def is_open(self) -> bool:
        """Open and usable."""
        return self._channel.is_open

    @property
    def flow_active(self) -> bool:
        """False while the broker asked the channel to stop sending."""
        return self._channel.flow_active

    @property
    def consumer_tags(self) -> list[str]:
        """The tags of this channel's consumers."""
        return self._channel.consumer_tags

    # --- plumbing ----------------------------------------------------------------------------

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> defer.Deferred[Any]:
        """Call a core channel method with a callback that fires the returned Deferred."""
        if self._closed is not None:
            return defer.fail(self._closed)
        d: defer.Deferred[Any] = defer.Deferred()
        calls = self._calls

        def done(result: Any) -> None:
            if d in calls:
                calls.discard(d)
                d.callback(result)

        calls.add(d)
        try:
            method(callback=done, **kwargs)
        except Exception:  # noqa: BLE001 - any failure becomes the failed Deferred
            calls.discard(d)
            return defer.fail()
        return d

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        self._closed = reason
        calls, self._calls = self._calls, set()
        deliveries, self._deliveries = self._deliveries, collections.OrderedDict()
        consumers, self._consumers = self._consumers, {}
        self._mandatory.clear()
        self._queue_consumers.clear()
        for d in calls:
            d.errback(reason)
        for d in deliveries.values():
            d.errback(reason)
        for queue in consumers.values():
            queue.close(reason)
        self.on_closed.callback(reason)

    def _on_consumer_cancelled(self, method_frame: Any) -> None:
        """The broker cancelled a consumer (queue deleted, node down): close its queue."""
        self._drop_consumer(method_frame.method.consumer_tag)

    def _drop_consumer(self, consumer_tag: str) -> None:
        queue = self._consumers.pop(consumer_tag, None)
        if queue is None:
            return
        for tags in self._queue_consumers.values():
            tags.discard(consumer_tag)
        queue.close(exceptions.ConsumerCancelled(consumer_tag))

    def _on_get_reply(self, _method_frame: Any) -> None:
        """Fire a basic_get still pending after its reply (GetEmpty, or a dropped GetOk)."""
        d, self._get_deferred = self._get_deferred, None
        if d is not None and d in self._calls:
            self._calls.discard(d)
            d.callback(None)

    def callback_deferred(self, deferred: defer.Deferred[Any], replies: Any) -> None:
        """Fire ``deferred`` with the frame of the first of ``replies`` to arrive."""
        self._channel.add_callback(deferred.callback, replies)

    def add_on_return_callback(self, callback: Callable[[ReceivedMessage], Any]) -> None:
        """Call ``callback(ReceivedMessage)`` for every Basic.Return."""
        self._channel.add_on_return_callback(
            lambda _ch, method, properties, body: callback(
                ReceivedMessage(self, method, properties, body)
            )
        )

    # --- basic -------------------------------------------------------------------------------

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge one delivery (or all up to ``delivery_tag`` with ``multiple``)."""
        self._channel.basic_ack(delivery_tag, multiple)

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Reject one or more deliveries, requeueing them by default."""
        self._channel.basic_nack(delivery_tag, multiple, requeue)

    def basic_reject(self, delivery_tag: int, requeue: bool = True) -> None:
        """Reject one delivery, requeueing it by default."""
        self._channel.basic_reject(delivery_tag, requeue)

    def basic_cancel(self, consumer_tag: str = "") -> defer.Deferred[Any]:
        """Cancel a consumer; its queue closes with ConsumerCancelled. Fires with CancelOk."""
        d = self._call(self._channel.basic_cancel, consumer_tag=consumer_tag)

        def close_queue(result: Any) -> Any:
            self._drop_consumer(consumer_tag)
            return result

        return d.addCallback(close_queue)

    def basic_consume(
        self,
        queue: str,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: str | None = None,
        arguments: dict[str, Any] | None = None,
        **options: Any,
    ) -> defer.Deferred[Any]:
        """Start a consumer: a Deferred of ``(ClosableDeferredQueue, consumer_tag)``.

        Each delivery is put on the queue as a ``ReceivedMessage(channel, method, properties,
        body)``; the queue closes with ConsumerCancelled when the consumer is cancelled.
        ``options`` (keyword options registered by pika-core plugins) go to the Channel.
        """
        if self._closed is not None:
            return defer.fail(self._closed)
        queue_obj = ClosableDeferredQueue()
        put = queue_obj.put
        hold = queue_obj._hold
        pending_append = queue_obj.pending.append
        # A twisted connection batches consumer wake-ups per read (_TwistedConnection._dispatch);
        # a TwistedChannel over another connection puts each message at once.
        connection: Any = self._channel.connection
        batching = hasattr(connection, "_held_queues")

        def on_message(_channel: Channel, method: Any, properties: Any, body: bytes) -> None:
            message = _new_message(ReceivedMessage, (self, method, properties, body))
            held = connection._held_queues if batching else None
            if held is not None and queue_obj.closed is None:
                if queue_obj._held:
                    pending_append(message)  # the rest of a read whose wake-up is held
                    return
                if queue_obj.waiting:
                    hold(message, held)  # the first: holds the wake-up until the read is done
                    return
            put(message)

        d: defer.Deferred[Any] = defer.Deferred()
        calls = self._calls
        tag_holder: list[str] = []

        def on_consume_ok(method_frame: Any) -> None:
            if d not in calls:
                return
            calls.discard(d)
            tag = method_frame.method.consumer_tag or tag_holder[0]
            self._consumers[tag] = queue_obj
            self._queue_consumers.setdefault(queue, set()).add(tag)
            d.callback((queue_obj, tag))

        calls.add(d)
        try:
            tag_holder.append(
                self._channel.basic_consume(
                    queue,
                    on_message,
                    auto_ack=auto_ack,
                    exclusive=exclusive,
                    consumer_tag=consumer_tag,
                    arguments=arguments,
                    callback=on_consume_ok,
                    **options,
                )
            )
        except Exception:  # noqa: BLE001 - any failure becomes the failed Deferred
            calls.discard(d)
            return defer.fail()
        return d

    def basic_get(self, queue: str, auto_ack: bool = False, **options: Any) -> defer.Deferred[Any]:
        """Fetch one message: a Deferred of a ReceivedMessage, or of None if the queue is empty
        (or a plugin's message hook dropped it).

        ``options`` (keyword options registered by pika-core plugins) go to the Channel.

        :raises DuplicateGetOkCallback: if a basic_get on this channel has not completed yet.
        """
        if self._get_deferred is not None:
            raise exceptions.DuplicateGetOkCallback()
        if self._closed is not None:
            return defer.fail(self._closed)
        d: defer.Deferred[Any] = defer.Deferred()
        calls = self._calls

        def on_get_ok(_channel: Channel, method: Any, properties: Any, body: bytes) -> None:
            self._get_deferred = None
            if d in calls:
                calls.discard(d)
                d.callback(ReceivedMessage(self, method, properties, body))

        calls.add(d)
        self._get_deferred = d
        try:
            self._channel.basic_get(queue, on_get_ok, auto_ack=auto_ack, **options)
        except Exception:  # noqa: BLE001 - any failure becomes the failed Deferred
            calls.discard(d)
            self._get_deferred = None
            return defer.fail()
        return d

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any = None,
        mandatory: bool = False,
        **options: Any,
    ) -> defer.Deferred[Any]:
        """Publish a message.

        Without confirms the Deferred has already fired (with None). In confirm mode it fires
        with the Basic.Ack, or fails with UnroutableError (a mandatory message returned) or
        NackError; the error's ``messages`` hold the returned ReceivedMessage, if any.
        ``options`` (keyword options registered by pika-core plugins) go to the Channel.
        """
        if self._closed is not None:
            return defer.fail(self._closed)
        try:
            if options:
                self._publish(exchange, routing_key, body, properties, mandatory, **options)
            else:  # a call without ** unpacking: the per-message path
                self._publish(exchange, routing_key, body, properties, mandatory)
        except Exception:  # noqa: BLE001 - any failure becomes the failed Deferred
            return defer.fail()
        if not self._confirming:
            return _succeed(None)
        seq = self._channel.last_publish_sequence_number
        if seq == self._last_seq:  # a message hook dropped it: nothing for the broker to confirm
            return defer.succeed(None)
        self._last_seq = seq
        d: defer.Deferred[Any] = defer.Deferred()
        self._deliveries[seq] = d
        if mandatory:
            self._mandatory.append([seq, exchange, routing_key, None])
        return d

    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False
    ) -> defer.Deferred[Any]:
        """Set the prefetch window; fires with the Basic.QosOk frame."""
        return self._call(
            self._channel.basic_qos,
            prefetch_size=prefetch_size,
            prefetch_count=prefetch_count,
            global_qos=global_qos,
        )

    def basic_recover(self, requeue: bool = False) -> defer.Deferred[Any]:
        """Ask for unacknowledged messages again; fires with the Basic.RecoverOk frame."""
        return self._call(self._channel.basic_recover, requeue=requeue)

    # --- channel -----------------------------------------------------------------------------

    def close(
        self, reply_code: int = 0, reply_text: str = "Normal shutdown"
    ) -> defer.Deferred[Any]:
        """Close the channel; returns ``on_closed``, which fires once close-ok arrives."""
        self._channel.close(reply_code, reply_text)
        return self.on_closed

    def open(self) -> None:
        """Send channel.open again (the connection's ``channel()`` already did)."""
        self._channel.open()

    def flow(self, active: bool = True) -> defer.Deferred[Any]:
        """Ask the broker to pause or resume deliveries; fires with the new state (a bool)."""
        return self._call(self._channel.flow, active=active)

    def confirm_delivery(self) -> defer.Deferred[Any]:
        """Turn on publisher confirms; from now on basic_publish Deferreds follow the broker."""
        if self._confirming:
            LOGGER.error("confirm_delivery: confirmation was already enabled on %r", self)
            return defer.succeed(None)
        d = self._call(self._channel.confirm_delivery, ack_nack_callback=self._on_confirmation)
        if self._closed is None and not d.called:
            self._confirming = True
            self._last_seq = self._channel.last_publish_sequence_number
            self._channel.add_on_return_callback(self._on_returned)
        return d

    def _on_returned(self, _channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        """Attach a Basic.Return to the oldest matching mandatory publish awaiting its ack."""
        exchange, routing_key = method.exchange, method.routing_key
        for item in self._mandatory:
            if item[3] is None and item[1] == exchange and item[2] == routing_key:
                item[3] = ReceivedMessage(self, method, properties, body)
                return
        LOGGER.warning("Basic.Return with no matching mandatory publish: %r", method)

    def _on_confirmation(self, method_frame: Any) -> None:
        method = method_frame.method
        tag = method.delivery_tag
        deliveries = self._deliveries
        if method.multiple:
            settled = []
            while deliveries:
                seq = next(iter(deliveries))
                if seq > tag:
                    break
                settled.append((seq, deliveries.popitem(last=False)[1]))
        else:
            d = deliveries.pop(tag, None)
            if d is None:
                LOGGER.error("Confirm for unknown publish %d on %r", tag, self)
                return
            settled = [(tag, d)]
        returned = self._take_returned(settled) if self._mandatory else None
        acked = method.INDEX == _ACK
        for seq, d in settled:
            message = returned.get(seq) if returned else None
            if acked:
                if message is None:
                    d.callback(method)
                else:
                    d.errback(exceptions.UnroutableError([message]))
            else:
                d.errback(exceptions.NackError([message] if message is not None else []))

    def _take_returned(self, settled: list[Any]) -> dict[int, ReceivedMessage]:
        """The returned messages among the settled publishes; forget settled entries."""
        seqs = {seq for seq, _d in settled}
        returned: dict[int, ReceivedMessage] = {}
        kept: collections.deque[list[Any]] = collections.deque()
        for item in self._mandatory:
            if item[0] in seqs:
                if item[3] is not None:
                    returned[item[0]] = item[3]
            else:
                kept.append(item)
        self._mandatory = kept
        return returned

    # --- exchanges ---------------------------------------------------------------------------

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Bind an exchange to an exchange; fires with the Exchange.BindOk frame."""
        return self._call(
            self._channel.exchange_bind,
            destination=destination,
            source=source,
            routing_key=routing_key,
            arguments=arguments,
        )

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: Any = ExchangeType.direct,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Declare an exchange; fires with the Exchange.DeclareOk frame."""
        return self._call(
            self._channel.exchange_declare,
            exchange=exchange,
            exchange_type=exchange_type,
            passive=passive,
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=arguments,
        )

    def exchange_delete(
        self, exchange: str | None = None, if_unused: bool = False
    ) -> defer.Deferred[Any]:
        """Delete an exchange; fires with the Exchange.DeleteOk frame."""
        return self._call(self._channel.exchange_delete, exchange=exchange, if_unused=if_unused)

    def exchange_unbind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Unbind an exchange from an exchange; fires with the Exchange.UnbindOk frame."""
        return self._call(
            self._channel.exchange_unbind,
            destination=destination,
            source=source,
            routing_key=routing_key,
            arguments=arguments,
        )

    # --- queues ------------------------------------------------------------------------------

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Bind a queue to an exchange; fires with the Queue.BindOk frame."""
        return self._call(
            self._channel.queue_bind,
            queue=queue,
            exchange=exchange,
            routing_key=routing_key,
            arguments=arguments,
        )

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Declare a queue (``""`` for a server-named one); fires with the DeclareOk frame."""
        return self._call(
            self._channel.queue_declare,
            queue=queue,
            passive=passive,
            durable=durable,
            exclusive=exclusive,
            auto_delete=auto_delete,
            arguments=arguments,
        )

    def queue_delete(
        self, queue: str, if_unused: bool = False, if_empty: bool = False
    ) -> defer.Deferred[Any]:
        """Delete a queue; its consumers' queues close. Fires with the Queue.DeleteOk frame."""
        d = self._call(
            self._channel.queue_delete, queue=queue, if_unused=if_unused, if_empty=if_empty
        )

        def close_consumers(result: Any) -> Any:
            for tag in list(self._queue_consumers.pop(queue, ())):
                self._drop_consumer(tag)
            return result

        return d.addCallback(close_consumers)

    def queue_purge(self, queue: str) -> defer.Deferred[Any]:
        """Drop a queue's ready messages; fires with the Queue.PurgeOk frame."""
        return self._call(self._channel.queue_purge, queue=queue)

    def queue_unbind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Unbind a queue from an exchange; fires with the Queue.UnbindOk frame."""
        return self._call(
            self._channel.queue_unbind,
            queue=queue,
            exchange=exchange,
            routing_key=routing_key,
            arguments=arguments,
        )

    # --- transactions ------------------------------------------------------------------------

    def tx_commit(self) -> defer.Deferred[Any]:
        """Commit the transaction; fires with the Tx.CommitOk frame."""
        return self._call(self._channel.tx_commit)

    def tx_rollback(self) -> defer.Deferred[Any]:
        """Roll the transaction back; fires with the Tx.RollbackOk frame."""
        return self._call(self._channel.tx_rollback)

    def tx_select(self) -> defer.Deferred[Any]:
        """Make the channel transactional; fires with the Tx.SelectOk frame."""
        return self._call(self._channel.tx_select)
