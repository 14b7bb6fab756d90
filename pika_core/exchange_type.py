"""The exchange types RabbitMQ ships with, as pika's ``pika.exchange_type.ExchangeType``."""

from __future__ import annotations

from enum import Enum

__all__ = ["ExchangeType"]


class ExchangeType(str, Enum):
    """An exchange type; a ``str`` subclass, so it goes on the wire as its value."""

    direct = "direct"
    fanout = "fanout"
    headers = "headers"
    topic = "topic"
