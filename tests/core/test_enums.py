"""ExchangeType and DeliveryMode, as pika 1.x exposes them."""

from __future__ import annotations

from pika_core.delivery_mode import DeliveryMode
from pika_core.exchange_type import ExchangeType


def test_exchange_type_members_and_values() -> None:
    assert [(member.name, member.value) for member in ExchangeType] == [
        ("direct", "direct"),
        ("fanout", "fanout"),
        ("headers", "headers"),
        ("topic", "topic"),
    ]


def test_exchange_type_is_a_str() -> None:
    assert isinstance(ExchangeType.topic, str)
    assert ExchangeType.topic == "topic"
    assert ExchangeType("fanout") is ExchangeType.fanout
    assert ExchangeType.direct.value.encode() == b"direct"


def test_delivery_mode_members_and_values() -> None:
    assert [(member.name, member.value) for member in DeliveryMode] == [
        ("Transient", 1),
        ("Persistent", 2),
    ]


def test_delivery_mode_is_an_int() -> None:
    persistent: int = DeliveryMode.Persistent
    assert persistent == 2
    assert DeliveryMode(1) is DeliveryMode.Transient
    assert int(DeliveryMode.Persistent) + 0 == 2
