"""pika's ``pika.adapters.blocking_connection`` module path: BlockingConnection and its channel.

The implementation lives in :mod:`pika_core.blocking`, one module per concept.
"""

from __future__ import annotations

from pika_core.blocking.channel import BlockingChannel
from pika_core.blocking.confirms import PublishHandle, ReturnedMessage
from pika_core.blocking.connection import BlockingConnection

__all__ = ["BlockingChannel", "BlockingConnection", "PublishHandle", "ReturnedMessage"]
