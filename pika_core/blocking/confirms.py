"""Publisher confirms for BlockingChannel: the outcome of every publish, by sequence number.

In confirm mode each publish gets a ``PublishHandle``. The broker settles it with basic.ack or
basic.nack (``multiple`` covering every older tag); a mandatory publish it cannot route comes
back as basic.return just before its ack. A return carries no sequence number, so it is matched
to the oldest unsettled mandatory publish with the same exchange, routing key and body: the
broker returns a channel's messages in publish order, and identical messages cannot be told
apart anyway. When the channel or connection dies, every unsettled handle fails at once.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pika_core import exceptions
from pika_core.protocol.confirms import ConfirmTracker
from pika_core.recovery.errors import PublishFailedDuringRecovery

__all__ = ["ConfirmState", "PublishHandle", "ReturnedMessage"]

#: PublishHandle states.
PENDING = 0
ACKED = 1
NACKED = 2
RETURNED = 3
FAILED = 4
_STATE_NAMES = ("pending", "acked", "nacked", "returned", "failed")


class ReturnedMessage:
    """A message the broker returned (basic.return), as pika's ``ReturnedMessage``."""

    __slots__ = ("body", "method", "properties")

    def __init__(self, method: Any, properties: Any, body: bytes) -> None:
        self.method = method
        self.properties = properties
        self.body = body

    def __repr__(self) -> str:
        return f"<ReturnedMessage method={self.method!r} body_size={len(self.body or b'')}>"


class PublishHandle:
    """The outcome of one publish in pipelined confirm mode.

    ``done()`` says whether the broker has settled it; ``result()`` waits for that and raises
    NackError, UnroutableError or the error that ended the channel or connection;
    ``exception()`` waits and returns that error instead (None once acked). The message itself
    stays available as ``exchange``, ``routing_key``, ``properties`` and ``body`` so that a
    failed publish can be sent again; ``method`` is the Basic.Return of a returned message
    (None otherwise), which makes a handle usable wherever pika's ReturnedMessage is.
    """

    __slots__ = (
        "_error",
        "_state",
        "_waiter",
        "body",
        "exchange",
        "mandatory",
        "method",
        "properties",
        "routing_key",
        "sequence_number",
    )

    def __init__(
        self,
        waiter: Any,
        sequence_number: int,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any,
        mandatory: bool,
    ) -> None:
        self._waiter = waiter
        self.sequence_number = sequence_number
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
        self.method: Any = None
        self._state = PENDING
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return (
            f"<PublishHandle seq={self.sequence_number} {self.outcome} "
            f"exchange={self.exchange!r} routing_key={self.routing_key!r}>"
        )

    @property
    def outcome(self) -> str:
        """ "pending", "acked", "nacked", "returned" or "failed"."""
        return _STATE_NAMES[self._state]

    def done(self) -> bool:
        """Whether the broker has settled this publish (or it failed)."""
        return self._state != PENDING

    @property
    def acked(self) -> bool:
        """True once the broker took responsibility for the message (and did not return it)."""
        return self._state == ACKED

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait up to ``timeout`` seconds (None: no limit) and return the failure, or None.

        Raises TimeoutError when the broker has not settled it in time.
        """
        if self._state == PENDING:
            self._waiter.wait_for_handle(self, timeout)
            if self._state == PENDING:
                raise TimeoutError(
                    f"publish {self.sequence_number} not confirmed within {timeout} s"
                )
        state = self._state
        if state == ACKED:
            return None
        if state == NACKED:
            return exceptions.NackError([self])
        if state == RETURNED:
            return exceptions.UnroutableError([self])
        return self._error

    def result(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds; return None if acked, else raise the failure."""
        error = self.exception(timeout)
        if error is not None:
            raise error

    def _fail(self, error: BaseException) -> None:
        self._state = FAILED
        self._error = error


class ConfirmState:
    """Per-channel confirm bookkeeping: unsettled handles, returns and failures not yet raised."""

    __slots__ = (
        "_by_route",
        "failed",
        "last_seq",
        "max_outstanding",
        "pipelined",
        "returns",
        "seq_offset",
        "tracker",
    )

    def __init__(self, pipelined: bool, max_outstanding: int | None) -> None:
        self.tracker: ConfirmTracker[PublishHandle] = ConfirmTracker()
        self.pipelined = pipelined
        self.max_outstanding = max_outstanding
        # Settled handles that failed and were not yet reported by wait_for_confirms.
        self.failed: list[PublishHandle] = []
        # Unsettled mandatory handles by (exchange, routing_key), oldest first.
        self._by_route: dict[tuple[str, str], deque[PublishHandle]] = {}
        # Returns that matched no handle (kept so that stop-and-wait can still report them).
        self.returns: list[ReturnedMessage] = []
        # Sequence numbers the application sees never go backwards across recoveries: the
        # broker's number plus the last number handed out before the loss.
        self.seq_offset = 0
        self.last_seq = 0

    def __len__(self) -> int:
        return self.tracker.pending

    def track(self, handle: PublishHandle) -> None:
        """Remember an unsettled publish, just published (its sequence number already includes
        seq_offset; the protocol's number, without it, is always the next one)."""
        self.last_seq = handle.sequence_number
        self.tracker.add_next(handle.sequence_number - self.seq_offset, handle)
        if handle.mandatory:
            key = (handle.exchange, handle.routing_key)
            queue = self._by_route.get(key)
            if queue is None:
                queue = self._by_route[key] = deque()
            queue.append(handle)

    def on_return(self, method: Any, properties: Any, body: bytes) -> PublishHandle | None:
        """Attach a basic.return to its publish; return that handle (None if none matched)."""
        key = (method.exchange, method.routing_key)
        queue = self._by_route.get(key)
        if queue:
            while queue and queue[0]._state != PENDING:
                queue.popleft()
            for handle in queue:
                if handle.method is None and handle.body == body:
                    handle.method = method
                    return handle
        self.returns.append(ReturnedMessage(method, properties, body))
        return None

    def on_confirm(self, method: Any) -> list[PublishHandle]:
        """Settle the handles a basic.ack / basic.nack covers; return them."""
        ack = method.NAME == "Basic.Ack"
        settled = self.tracker.settle(method.delivery_tag, method.multiple, ack)
        handles: list[PublishHandle] = []
        failed = self.failed
        for _seq, handle, is_ack in settled:
            if not is_ack:
                handle._state = NACKED
                failed.append(handle)
            elif handle.method is not None:
                handle._state = RETURNED
                failed.append(handle)
            else:
                handle._state = ACKED
            handles.append(handle)
        if self._by_route and settled:
            for key in [k for k, q in self._by_route.items() if all(h.done() for h in q)]:
                del self._by_route[key]
        return handles

    def fail_all(self, error: BaseException) -> list[PublishHandle]:
        """The channel or connection died: every unsettled handle fails with ``error``."""
        handles = [handle for _seq, handle in self.tracker.fail_all()]
        for handle in handles:
            handle._fail(error)
        self._by_route.clear()
        return handles

    def fail_for_recovery(self, cause: BaseException) -> list[PublishHandle]:
        """The connection was lost and recovers: every unsettled handle fails at once with
        PublishFailedDuringRecovery (pipelined handles are reported by wait_for_confirms)."""
        handles = [handle for _seq, handle in self.tracker.fail_all()]
        if handles:
            error = PublishFailedDuringRecovery(handles, cause)
            for handle in handles:
                handle._fail(error)
            if self.pipelined:
                self.failed.extend(handles)
        self._by_route.clear()
        self.tracker = ConfirmTracker()
        self.seq_offset = self.last_seq
        return handles

    def take_failures(self) -> BaseException | None:
        """The error wait_for_confirms raises for failures not yet reported, or None.

        NackError when any publish was nacked (its ``messages`` lists every failed handle,
        returned ones included, oldest first), else UnroutableError.
        """
        failed = self.failed
        if not failed:
            return None
        self.failed = []
        failed.sort(key=lambda handle: handle.sequence_number)
        lost = [handle._error for handle in failed if handle._state == FAILED]
        if lost:
            cause = getattr(lost[0], "cause", None)
            return PublishFailedDuringRecovery(failed, cause)
        if any(handle._state == NACKED for handle in failed):
            return exceptions.NackError(failed)
        return exceptions.UnroutableError(failed)
