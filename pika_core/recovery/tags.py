"""DeliveryTags: the delivery tags an application sees never go backwards across recoveries.

The broker numbers deliveries from 1 on every new channel, so after a recovery its tags
restart. The application sees ``broker tag + offset``, where the offset is the highest tag it
saw before the loss; an ack for a tag at or below the offset names a delivery of a connection
that no longer exists: it is dropped with a warning (the broker requeued that message and
will deliver it again with redelivered=True), because sending it would close the channel with
406 PRECONDITION_FAILED "unknown delivery tag".
"""

from __future__ import annotations

import logging

__all__ = ["STALE", "DeliveryTags"]

LOGGER = logging.getLogger("pika_core")

#: What ``outbound`` returns for an ack that must not be sent.
STALE = -1


class DeliveryTags:
    """The tag translation of one channel (only channels of recovering connections have one)."""

    __slots__ = ("last", "offset")

    def __init__(self) -> None:
        #: Added to every broker tag of the current connection.
        self.offset = 0
        #: The highest tag handed to the application so far.
        self.last = 0

    def inbound(self, broker_tag: int) -> int:
        """The tag the application sees for a delivery (Basic.Deliver, Basic.GetOk)."""
        tag = broker_tag + self.offset
        self.last = max(self.last, tag)
        return tag

    def outbound(self, tag: int, multiple: bool = False) -> int:
        """The broker tag for an ack/nack/reject of ``tag``, or STALE when it must be dropped.

        ``tag`` 0 with ``multiple`` (everything outstanding) stays 0.
        """
        offset = self.offset
        if tag > offset:
            return tag - offset
        if tag == 0 and multiple:
            return 0
        LOGGER.warning(
            "Dropped an acknowledgement for delivery tag %d: it belongs to a connection that "
            "was lost and recovered; the broker requeued that message and redelivers it",
            tag,
        )
        return STALE

    def stale_during_outage(self, tag: int) -> None:
        """An ack while the connection is down: nothing can be sent; say so."""
        LOGGER.warning(
            "Dropped an acknowledgement for delivery tag %d sent while the connection was "
            "recovering; the broker requeued that message and redelivers it",
            tag,
        )

    def new_connection(self) -> None:
        """The channel was re-opened on a new connection: later broker tags start over at 1."""
        self.offset = self.last
