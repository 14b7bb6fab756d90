"""Consumer records of a BlockingChannel and the state of its ``consume()`` generator."""

from __future__ import annotations

import collections
from typing import Any, Callable, Mapping, Tuple

from pika_core.hooks import NO_OPTIONS

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CANCELLED_BY_BROKER",
    "TEARING_DOWN",
    "Consumer",
    "GeneratorState",
]

#: Consumer states.
ACTIVE = 1
TEARING_DOWN = 2
CANCELLED_BY_BROKER = 3

#: Put in a generator's queue when the broker cancelled its consumer: the generator ends there.
CANCELLED: tuple[None, None, None] = (None, None, None)

Message = Tuple[Any, Any, Any]


class Consumer:
    """One basic_consume: its callback (or the generator's queue) and acknowledgement mode."""

    __slots__ = ("api", "auto_ack", "callback", "consumer_tag", "options", "queue", "sink", "state")

    def __init__(
        self,
        consumer_tag: str,
        callback: Callable[..., Any] | None,
        auto_ack: bool,
        sink: collections.deque[Message] | None,
        queue: str | None = None,
        api: str = "basic_consume",
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> None:
        self.consumer_tag = consumer_tag
        self.callback = callback
        self.auto_ack = auto_ack
        #: The consume() generator's queue; deliveries go there instead of to ``callback``.
        self.sink = sink
        self.state = ACTIVE
        #: What the message hooks are told with each delivery (queue, "basic_consume"/"consume",
        #: the call's registered keyword options).
        self.queue = queue
        self.api = api
        self.options = options

    def __repr__(self) -> str:
        return f"<Consumer {self.consumer_tag!r} auto_ack={self.auto_ack} state={self.state}>"


class GeneratorState:
    """The one ``consume()`` generator a channel may have: its parameters and waiting messages."""

    __slots__ = ("consumer_tag", "params", "pending")

    def __init__(self, params: tuple[str, bool, bool], consumer_tag: str) -> None:
        self.params = params
        self.consumer_tag = consumer_tag
        #: Messages (method, properties, body) not yet yielded; CANCELLED ends the generator.
        self.pending: collections.deque[Message] = collections.deque()

    def waiting(self) -> int:
        """Messages that can be yielded without blocking."""
        count = len(self.pending)
        if count and self.pending[-1] is CANCELLED:
            count -= 1
        return count

    def __repr__(self) -> str:
        return f"<GeneratorState params={self.params!r} consumer_tag={self.consumer_tag!r}>"
