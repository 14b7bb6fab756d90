"""Message delivery modes, as pika's ``pika.delivery_mode.DeliveryMode``."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["DeliveryMode"]


class DeliveryMode(IntEnum):
    """BasicProperties.delivery_mode; an ``int`` subclass, so it encodes as its value."""

    #: Kept in memory only; lost if the broker restarts.
    Transient = 1
    #: Written to disk by durable queues; survives a broker restart.
    Persistent = 2
