"""The events ConnectionProtocol returns: plain immutable tuples a facade dispatches on by type.

``feed``, ``tick`` and ``connection_lost`` return lists of these. ``ConnectionClosed`` is
terminal: it is always the last event, and every channel that was open gets a
``ChannelClosed`` carrying the same exception just before it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

__all__ = [
    "ChannelClosed",
    "ChannelOpened",
    "Confirmation",
    "ConnectionBlocked",
    "ConnectionClosed",
    "ConnectionOpened",
    "ConnectionUnblocked",
    "ConsumerCancelled",
    "Delivery",
    "Event",
    "FlowChanged",
    "RPCReply",
    "Returned",
]


class ConnectionOpened(NamedTuple):
    """connection.open-ok arrived: the connection is usable (tuning is on the protocol object)."""

    server_properties: dict[str, Any] | None = None
    known_hosts: str = ""


class ConnectionClosed(NamedTuple):
    """Terminal: flush data_to_send(), close the transport; ``exception`` says why it ended."""

    exception: BaseException


class ConnectionBlocked(NamedTuple):
    """connection.blocked: the broker stopped reading from publishers (resource alarm)."""

    reason: str


class ConnectionUnblocked(NamedTuple):
    """connection.unblocked: the broker reads from publishers again."""


class ChannelOpened(NamedTuple):
    """channel.open-ok arrived for ``channel``."""

    channel: int


class ChannelClosed(NamedTuple):
    """``channel`` is closed and its number free again; ``pending`` lists requests never answered.

    ``exception`` is ChannelClosedByBroker, ChannelClosedByClient or, when the whole connection
    ended, the connection's terminal exception. ``pending`` holds the in-flight synchronous
    request (if any) followed by the queued ones not yet written, in order, so that a facade can
    fail their waiters.
    """

    channel: int
    exception: BaseException
    pending: tuple[Any, ...] = ()


class RPCReply(NamedTuple):
    """The reply to the synchronous request ``request`` on ``channel`` (channel 0: update-secret).

    ``properties`` and ``body`` are set only for Basic.GetOk.
    """

    channel: int
    method: Any
    properties: Any = None
    body: bytes | None = None
    request: Any = None


class Delivery(NamedTuple):
    """A complete Basic.Deliver message for a consumer on ``channel``."""

    channel: int
    method: Any
    properties: Any
    body: bytes


class Returned(NamedTuple):
    """A complete Basic.Return: a mandatory publish the broker could not route."""

    channel: int
    method: Any
    properties: Any
    body: bytes


class Confirmation(NamedTuple):
    """Basic.Ack or Basic.Nack from the broker for publishes on ``channel`` (confirm mode)."""

    channel: int
    method: Any


class ConsumerCancelled(NamedTuple):
    """The broker sent Basic.Cancel for ``consumer_tag`` (queue deleted, node down, ...)."""

    channel: int
    consumer_tag: str


class FlowChanged(NamedTuple):
    """The broker sent Channel.Flow: publishing on ``channel`` is paused (False) or resumed."""

    channel: int
    active: bool


#: Any protocol event.
Event = Union[
    ConnectionOpened,
    ConnectionClosed,
    ConnectionBlocked,
    ConnectionUnblocked,
    ChannelOpened,
    ChannelClosed,
    RPCReply,
    Delivery,
    Returned,
    Confirmation,
    ConsumerCancelled,
    FlowChanged,
]
