"""ConfirmTracker: which publishes of a confirm-mode channel the broker has not settled yet.

The broker numbers publishes from 1 per channel and settles each exactly once, singly or with
``multiple=True`` (every tag up to and including the given one). The tracker maps those
sequence numbers to whatever the caller wants back (a future, a message copy for
republishing) and hands the items back as they settle, or all at once when the channel dies.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["ConfirmTracker"]

_T = TypeVar("_T")


class ConfirmTracker(Generic[_T]):
    """Outstanding publishes of one channel, oldest first, settled by the broker's ack/nack."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        # Ordered oldest first: a multiple settle pops from the front in O(1) per item.
        self._pending: OrderedDict[int, _T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, seq: object) -> bool:
        return seq in self._pending

    def add(self, seq: int, item: _T) -> None:
        """Track publish ``seq`` (as returned by ConnectionProtocol.publish) with ``item``."""
        if seq <= 0:
            raise ValueError(
                f"publish sequence number {seq} is not positive: publish in confirm mode "
                "(after Confirm.Select) to get one"
            )
        pending = self._pending
        if seq in pending:
            raise ValueError(f"publish sequence number {seq} is already tracked")
        if pending and seq < next(reversed(pending)):
            raise ValueError(
                f"publish sequence number {seq} is lower than the newest tracked one; "
                "add publishes in the order they were sent"
            )
        pending[seq] = item

    def add_next(self, seq: int, item: _T) -> None:
        """``add`` for a sequence number straight from ConnectionProtocol.publish, which is
        always the next one (so none of add's checks can fail): the per-publish path."""
        self._pending[seq] = item

    @property
    def pending(self) -> int:
        """How many publishes are outstanding (``len()`` without a call through __len__)."""
        return len(self._pending)

    def settle(self, delivery_tag: int, multiple: bool, ack: bool) -> list[tuple[int, _T, bool]]:
        """Settle one tag (or every tag up to it when ``multiple``): [(seq, item, ack), ...].

        Tags already settled or never tracked are ignored, so a repeated settle is harmless.
        """
        pending = self._pending
        if not multiple:
            try:
                item = pending.pop(delivery_tag)
            except KeyError:
                return []
            return [(delivery_tag, item, ack)]
        settled: list[tuple[int, _T, bool]] = []
        popitem = pending.popitem
        while pending:
            seq = next(iter(pending))
            if seq > delivery_tag:
                break
            settled.append((seq, popitem(last=False)[1], ack))
        return settled

    def fail_all(self) -> list[tuple[int, _T]]:
        """Forget every outstanding publish and return them, oldest first (the channel died)."""
        items = list(self._pending.items())
        self._pending.clear()
        return items

    def oldest(self) -> int:
        """The lowest unsettled sequence number, or 0 when nothing is outstanding."""
        return next(iter(self._pending), 0)
