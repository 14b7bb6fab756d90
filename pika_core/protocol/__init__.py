"""The sans-I/O AMQP 0-9-1 protocol core: bytes and timestamps in, events and bytes out.

Every adapter drives a ConnectionProtocol; see docs/architecture.md for the contract.
"""

from __future__ import annotations

from pika_core.protocol.confirms import ConfirmTracker
from pika_core.protocol.connection import (
    DEFAULT_MAX_INBOUND_MESSAGE_SIZE,
    PROTOCOL_HEADER,
    ConnectionProtocol,
)
from pika_core.protocol.events import (
    ChannelClosed,
    ChannelOpened,
    Confirmation,
    ConnectionBlocked,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionUnblocked,
    ConsumerCancelled,
    Delivery,
    Event,
    FlowChanged,
    Returned,
    RPCReply,
)

__all__ = [
    "DEFAULT_MAX_INBOUND_MESSAGE_SIZE",
    "PROTOCOL_HEADER",
    "ChannelClosed",
    "ChannelOpened",
    "ConfirmTracker",
    "Confirmation",
    "ConnectionBlocked",
    "ConnectionClosed",
    "ConnectionOpened",
    "ConnectionProtocol",
    "ConnectionUnblocked",
    "ConsumerCancelled",
    "Delivery",
    "Event",
    "FlowChanged",
    "RPCReply",
    "Returned",
]
