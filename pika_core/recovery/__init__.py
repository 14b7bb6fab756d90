"""Automatic connection and topology recovery: the session layer below every adapter.

Turn it on per connection with ``ConnectionParameters(..., recovery=RecoveryPolicy())`` or
``URLParameters("amqp://...?recovery=on")``; docs/recovery.md states what it promises.
"""

from __future__ import annotations

from pika_core.recovery.errors import (
    PublishFailedDuringRecovery,
    RecoveryTimeoutError,
    ReplayTimeoutError,
)
from pika_core.recovery.policy import RecoveryPolicy, is_recoverable, is_refusal
from pika_core.recovery.replay import TopologyReplay
from pika_core.recovery.session import RecoveryCallbacks, RecoverySession
from pika_core.recovery.tags import STALE, DeliveryTags
from pika_core.recovery.topology import Topology

__all__ = [
    "STALE",
    "DeliveryTags",
    "PublishFailedDuringRecovery",
    "RecoveryCallbacks",
    "RecoveryPolicy",
    "RecoverySession",
    "RecoveryTimeoutError",
    "ReplayTimeoutError",
    "Topology",
    "TopologyReplay",
    "is_recoverable",
    "is_refusal",
]
