"""Topology: what the application declared on a connection, kept so that recovery can redo it.

Entities are recorded when the broker confirmed them (the reply to the request), or when the
request was sent for ``nowait`` methods; deletes, unbinds and cancels remove them. What is
recorded: exchanges, queues (server-named ones marked so), queue and exchange-to-exchange
bindings, consumers (channel, tag, queue, options) and per-channel settings (qos, confirm
mode, transactions, flow). The replay order is exchanges, queues, bindings, then consumers,
so that everything a step names exists when it runs.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, NamedTuple

from pika_core import spec

__all__ = [
    "BindingRecord",
    "ChannelRecord",
    "ConsumerRecord",
    "ExchangeRecord",
    "QueueRecord",
    "Topology",
]

LOGGER = logging.getLogger("pika_core")


class ExchangeRecord(NamedTuple):
    """An exchange.declare to redo."""

    name: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: dict[str, Any] | None

    def method(self) -> Any:
        """The Exchange.Declare that re-creates it."""
        return spec.Exchange.Declare(
            exchange=self.name,
            type=self.type,
            durable=self.durable,
            auto_delete=self.auto_delete,
            internal=self.internal,
            arguments=self.arguments or {},
        )


class QueueRecord(NamedTuple):
    """A queue.declare to redo; ``server_named`` queues are declared with '' and renamed."""

    name: str
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: dict[str, Any] | None
    server_named: bool

    def method(self) -> Any:
        """The Queue.Declare that re-creates it."""
        return spec.Queue.Declare(
            queue="" if self.server_named else self.name,
            durable=self.durable,
            exclusive=self.exclusive,
            auto_delete=self.auto_delete,
            arguments=self.arguments or {},
        )


class BindingRecord(NamedTuple):
    """A queue.bind (``exchange_to_exchange`` False) or exchange.bind to redo."""

    exchange_to_exchange: bool
    destination: str
    source: str
    routing_key: str
    arguments: dict[str, Any] | None

    def method(self) -> Any:
        """The Queue.Bind or Exchange.Bind that re-creates it."""
        if self.exchange_to_exchange:
            return spec.Exchange.Bind(
                destination=self.destination,
                source=self.source,
                routing_key=self.routing_key,
                arguments=self.arguments or {},
            )
        return spec.Queue.Bind(
            queue=self.destination,
            exchange=self.source,
            routing_key=self.routing_key,
            arguments=self.arguments or {},
        )

    def key(self) -> tuple[bool, str, str, str, str]:
        """Identity of the binding (arguments compared by their sorted repr)."""
        return (
            self.exchange_to_exchange,
            self.destination,
            self.source,
            self.routing_key,
            _args_key(self.arguments),
        )


class ConsumerRecord(NamedTuple):
    """A basic.consume to redo on channel ``channel`` with the same tag."""

    channel: int
    tag: str
    queue: str
    no_ack: bool
    exclusive: bool
    arguments: dict[str, Any] | None

    def method(self) -> Any:
        """The Basic.Consume that re-registers it."""
        return spec.Basic.Consume(
            queue=self.queue,
            consumer_tag=self.tag,
            no_ack=self.no_ack,
            exclusive=self.exclusive,
            arguments=self.arguments or {},
        )


class ChannelRecord:
    """Per-channel settings to restore when the channel is re-opened."""

    __slots__ = ("confirm", "flow_active", "number", "qos", "tx")

    def __init__(self, number: int) -> None:
        self.number = number
        #: global_qos flag -> (prefetch_size, prefetch_count): per-consumer and per-channel.
        self.qos: dict[bool, tuple[int, int]] = {}
        self.confirm = False
        self.tx = False
        self.flow_active = True

    def methods(self) -> list[Any]:
        """The requests that restore the settings, in a safe order."""
        methods: list[Any] = []
        for global_qos, (size, count) in self.qos.items():
            methods.append(
                spec.Basic.Qos(prefetch_size=size, prefetch_count=count, global_qos=global_qos)
            )
        if self.confirm:
            methods.append(spec.Confirm.Select())
        if self.tx:
            methods.append(spec.Tx.Select())
        if not self.flow_active:
            methods.append(spec.Channel.Flow(active=False))
        return methods

    def __repr__(self) -> str:
        return (
            f"<ChannelRecord {self.number} qos={self.qos} confirm={self.confirm} tx={self.tx} "
            f"flow_active={self.flow_active}>"
        )


def _args_key(arguments: dict[str, Any] | None) -> str:
    if not arguments:
        return ""
    return repr(sorted(arguments.items(), key=lambda item: item[0]))


def _copy_args(arguments: Any) -> dict[str, Any] | None:
    return dict(arguments) if arguments else None


_Handler = Callable[["Topology", int, Any, Any], None]


class Topology:
    """The recorded topology of one connection (the session layer; no I/O)."""

    def __init__(self) -> None:
        self.exchanges: dict[str, ExchangeRecord] = {}
        self.queues: dict[str, QueueRecord] = {}
        self.bindings: dict[tuple[bool, str, str, str, str], BindingRecord] = {}
        #: (channel, tag) -> consumer, in registration order.
        self.consumers: dict[tuple[int, str], ConsumerRecord] = {}
        self.channels: dict[int, ChannelRecord] = {}

    def __repr__(self) -> str:
        return (
            f"<Topology exchanges={len(self.exchanges)} queues={len(self.queues)} "
            f"bindings={len(self.bindings)} consumers={len(self.consumers)} "
            f"channels={len(self.channels)}>"
        )

    # -- recording -----------------------------------------------------------------------------

    def record_reply(self, channel: int, request: Any, reply: Any) -> None:
        """The broker answered ``request`` on ``channel`` with ``reply``: record its effect."""
        if request is None:
            return
        handler = _HANDLERS.get(request.INDEX)
        if handler is not None:
            handler(self, channel, request, reply)

    def record_sent(self, channel: int, request: Any) -> None:
        """A ``nowait`` request was sent: no reply will come, so record it now."""
        if getattr(request, "nowait", False):
            self.record_reply(channel, request, None)

    def _channel(self, number: int) -> ChannelRecord:
        record = self.channels.get(number)
        if record is None:
            record = self.channels[number] = ChannelRecord(number)
        return record

    def _exchange_declared(self, channel: int, request: Any, reply: Any) -> None:
        if request.passive or not request.exchange:
            return
        self.exchanges[request.exchange] = ExchangeRecord(
            request.exchange,
            request.type,
            bool(request.durable),
            bool(request.auto_delete),
            bool(request.internal),
            _copy_args(request.arguments),
        )

    def _exchange_deleted(self, channel: int, request: Any, reply: Any) -> None:
        self.delete_exchange(request.exchange)

    def delete_exchange(self, name: str) -> None:
        """Forget an exchange and every binding that names it."""
        self.exchanges.pop(name, None)
        for key, binding in list(self.bindings.items()):
            if binding.source == name or (
                binding.exchange_to_exchange and binding.destination == name
            ):
                del self.bindings[key]
                self._maybe_auto_delete_exchange(binding.source)

    def _queue_declared(self, channel: int, request: Any, reply: Any) -> None:
        if request.passive:
            return
        name = request.queue
        server_named = not name
        if server_named:
            if reply is None:
                return  # a nowait server-named queue: its name is unknown
            name = reply.queue
        self.queues[name] = QueueRecord(
            name,
            bool(request.durable),
            bool(request.exclusive),
            bool(request.auto_delete),
            _copy_args(request.arguments),
            server_named,
        )

    def _queue_deleted(self, channel: int, request: Any, reply: Any) -> None:
        self.delete_queue(request.queue)

    def delete_queue(self, name: str) -> None:
        """Forget a queue, its bindings and the consumers on it."""
        self.queues.pop(name, None)
        for key, binding in list(self.bindings.items()):
            if not binding.exchange_to_exchange and binding.destination == name:
                del self.bindings[key]
                self._maybe_auto_delete_exchange(binding.source)
        for ckey, consumer in list(self.consumers.items()):
            if consumer.queue == name:
                del self.consumers[ckey]

    def _bound(self, channel: int, request: Any, reply: Any) -> None:
        if request.INDEX == spec.Queue.Bind.INDEX:
            binding = BindingRecord(
                False,
                request.queue,
                request.exchange,
                request.routing_key,
                _copy_args(request.arguments),
            )
        else:
            binding = BindingRecord(
                True,
                request.destination,
                request.source,
                request.routing_key,
                _copy_args(request.arguments),
            )
        self.bindings[binding.key()] = binding

    def _unbound(self, channel: int, request: Any, reply: Any) -> None:
        if request.INDEX == spec.Queue.Unbind.INDEX:
            binding = BindingRecord(
                False,
                request.queue,
                request.exchange,
                request.routing_key,
                _copy_args(request.arguments),
            )
        else:
            binding = BindingRecord(
                True,
                request.destination,
                request.source,
                request.routing_key,
                _copy_args(request.arguments),
            )
        if self.bindings.pop(binding.key(), None) is not None:
            self._maybe_auto_delete_exchange(binding.source)

    def _maybe_auto_delete_exchange(self, name: str) -> None:
        """An auto-delete exchange goes away with its last binding as a source."""
        record = self.exchanges.get(name)
        if record is None or not record.auto_delete:
            return
        if not any(binding.source == name for binding in self.bindings.values()):
            self.delete_exchange(name)

    def _consumed(self, channel: int, request: Any, reply: Any) -> None:
        tag = reply.consumer_tag if reply is not None else request.consumer_tag
        if not tag:
            return
        self.consumers[(channel, tag)] = ConsumerRecord(
            channel,
            tag,
            request.queue,
            bool(request.no_ack),
            bool(request.exclusive),
            _copy_args(request.arguments),
        )

    def _cancelled(self, channel: int, request: Any, reply: Any) -> None:
        self.consumer_cancelled(channel, request.consumer_tag)

    def consumer_cancelled(self, channel: int, tag: str) -> None:
        """A consumer ended (basic.cancel-ok, or the broker cancelled it)."""
        consumer = self.consumers.pop((channel, tag), None)
        if consumer is not None:
            self._maybe_auto_delete_queue(consumer.queue)

    def _maybe_auto_delete_queue(self, name: str) -> None:
        """An auto-delete queue goes away with its last consumer."""
        record = self.queues.get(name)
        if record is None or not record.auto_delete:
            return
        if not any(consumer.queue == name for consumer in self.consumers.values()):
            self.delete_queue(name)

    def _qos(self, channel: int, request: Any, reply: Any) -> None:
        record = self._channel(channel)
        record.qos[bool(request.global_qos)] = (request.prefetch_size, request.prefetch_count)

    def _confirm(self, channel: int, request: Any, reply: Any) -> None:
        self._channel(channel).confirm = True

    def _tx(self, channel: int, request: Any, reply: Any) -> None:
        self._channel(channel).tx = True

    def _flow(self, channel: int, request: Any, reply: Any) -> None:
        active = reply.active if reply is not None else request.active
        self._channel(channel).flow_active = bool(active)

    def channel_closed(self, channel: int) -> None:
        """The application's channel closed for good: forget its settings and consumers."""
        self.channels.pop(channel, None)
        for key in [key for key in self.consumers if key[0] == channel]:
            self.consumer_cancelled(*key)

    # -- recovery ------------------------------------------------------------------------------

    def declarations(self) -> list[Any]:
        """The records to replay on a fresh connection, in dependency order."""
        ordered: list[Any] = list(self.exchanges.values())
        ordered.extend(self.queues.values())
        ordered.extend(self.bindings.values())
        return ordered

    def consumers_of(self, channel: int) -> list[ConsumerRecord]:
        """The consumers to re-register on ``channel``, in registration order."""
        return [consumer for key, consumer in self.consumers.items() if key[0] == channel]

    def rename_queue(self, old: str, new: str) -> None:
        """A server-named queue came back as ``new``: rename it, its bindings and consumers."""
        record = self.queues.pop(old, None)
        if record is not None:
            self.queues[new] = record._replace(name=new)
        for key, binding in list(self.bindings.items()):
            if not binding.exchange_to_exchange and binding.destination == old:
                del self.bindings[key]
                renamed = binding._replace(destination=new)
                self.bindings[renamed.key()] = renamed
        for ckey, consumer in list(self.consumers.items()):
            if consumer.queue == old:
                self.consumers[ckey] = consumer._replace(queue=new)


_HANDLERS: dict[int, _Handler] = {
    spec.Exchange.Declare.INDEX: Topology._exchange_declared,
    spec.Exchange.Delete.INDEX: Topology._exchange_deleted,
    spec.Exchange.Bind.INDEX: Topology._bound,
    spec.Exchange.Unbind.INDEX: Topology._unbound,
    spec.Queue.Declare.INDEX: Topology._queue_declared,
    spec.Queue.Delete.INDEX: Topology._queue_deleted,
    spec.Queue.Bind.INDEX: Topology._bound,
    spec.Queue.Unbind.INDEX: Topology._unbound,
    spec.Basic.Consume.INDEX: Topology._consumed,
    spec.Basic.Cancel.INDEX: Topology._cancelled,
    spec.Basic.Qos.INDEX: Topology._qos,
    spec.Confirm.Select.INDEX: Topology._confirm,
    spec.Tx.Select.INDEX: Topology._tx,
    spec.Channel.Flow.INDEX: Topology._flow,
}
