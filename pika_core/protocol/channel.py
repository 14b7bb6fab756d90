"""Per-channel protocol state: the RPC queue, content assembly and confirm numbering.

A channel has at most one synchronous request on the wire; later ones wait in a FIFO and are
written when the reply to the previous one arrives. A method is synchronous when its spec class
says so and it was not sent with ``nowait=True``; nowait methods keep their place in the FIFO
and complete as soon as they are written.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pika_core import spec

__all__ = ["CLOSING", "OPEN", "OPENING", "REPLIES", "ChannelState", "expects_reply"]

#: channel.open sent, open-ok not yet received.
OPENING = 1
#: open-ok received: the channel carries traffic.
OPEN = 2
#: channel.close sent by this client: everything but close and close-ok is dropped.
CLOSING = 3

#: Content kinds being assembled.
CONTENT_DELIVER = 1
CONTENT_RETURN = 2
CONTENT_GET = 3


def _build_replies() -> dict[int, frozenset[int]]:
    """Map each synchronous request's INDEX to the INDEXes of the methods that answer it.

    The answer to ``X.Name`` is ``X.NameOk`` (e.g. Exchange.Unbind is 40 but its UnbindOk is
    51, so ids are not simply +1); Basic.Get is answered by GetOk or GetEmpty.
    """
    by_name = {cls.NAME: index for index, cls in spec.methods.items()}
    replies: dict[int, frozenset[int]] = {}
    for index, cls in spec.methods.items():
        if not cls.synchronous:
            continue
        name = cls.NAME
        if name == "Basic.Get":
            replies[index] = frozenset((by_name["Basic.GetOk"], by_name["Basic.GetEmpty"]))
        elif name + "Ok" in by_name:
            replies[index] = frozenset((by_name[name + "Ok"],))
    return replies


#: Synchronous request INDEX -> the INDEXes of its possible replies.
REPLIES: dict[int, frozenset[int]] = _build_replies()

_CONFIRM_SELECT = spec.Confirm.Select.INDEX
_NO_REPLY: frozenset[int] = frozenset()


def expects_reply(method: Any) -> bool:
    """Whether ``method`` is a synchronous request that the broker answers (no nowait=True)."""
    return method.INDEX in REPLIES and not getattr(method, "nowait", False)


class ChannelState:
    """The protocol-level state of one channel number."""

    __slots__ = (
        "awaiting",
        "close_exception",
        "confirming",
        "content_buffer",
        "content_kind",
        "content_method",
        "content_parts",
        "content_props",
        "content_received",
        "content_size",
        "expect",
        "flow_active",
        "number",
        "publish_seq",
        "queue",
        "state",
    )

    def __init__(self, number: int) -> None:
        self.number = number
        self.state = OPENING
        # Requests not yet written, oldest first.
        self.queue: deque[Any] = deque()
        # The synchronous request on the wire and the INDEXes that answer it.
        self.awaiting: Any = None
        self.expect: frozenset[int] = _NO_REPLY
        self.confirming = False
        self.publish_seq = 0
        self.flow_active = True
        # Content assembly: 0 when no content is expected, else CONTENT_* until complete.
        self.content_kind = 0
        self.content_method: Any = None
        self.content_props: Any = None
        self.content_size = 0
        self.content_received = 0
        self.content_parts: list[bytes] = []
        # A large body being written straight into place (ConnectionProtocol.inbound_target).
        self.content_buffer: bytearray | None = None
        # Why the channel closed, once known (the broker's close wins over ours).
        self.close_exception: BaseException | None = None

    def request(self, method: Any) -> list[Any]:
        """Queue ``method``; return the methods that may be written now, in order."""
        self.queue.append(method)
        if self.awaiting is not None:
            return []
        return self._drain()

    def reply_received(self) -> tuple[Any, list[Any]]:
        """The awaited reply arrived: return (the request, the methods to write next)."""
        request = self.awaiting
        self.awaiting = None
        self.expect = _NO_REPLY
        if not self.queue:
            return request, []
        return request, self._drain()

    def _drain(self) -> list[Any]:
        """Pop queued methods up to and including the next one that awaits a reply."""
        queue = self.queue
        ready: list[Any] = []
        while queue:
            method = queue.popleft()
            ready.append(method)
            index = method.INDEX
            if index == _CONFIRM_SELECT and not self.confirming:
                # The broker numbers publishes from the moment it sees confirm.select.
                self.confirming = True
                self.publish_seq = 0
            if index in REPLIES and not getattr(method, "nowait", False):
                self.awaiting = method
                self.expect = REPLIES[index]
                break
        return ready

    def drop_pending(self) -> tuple[Any, ...]:
        """Forget the in-flight and queued requests; return them, oldest first."""
        pending: list[Any] = []
        if self.awaiting is not None:
            pending.append(self.awaiting)
            self.awaiting = None
        self.expect = _NO_REPLY
        pending.extend(self.queue)
        self.queue.clear()
        return tuple(pending)

    def reset_content(self) -> None:
        """Forget a partly assembled message."""
        self.content_kind = 0
        self.content_method = None
        self.content_props = None
        self.content_parts = []
        self.content_received = 0
        self.content_buffer = None
