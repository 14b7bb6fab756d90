"""TopologyReplay: re-open the channels and redo the recorded topology on a new connection.

Sans-I/O like the protocol: it issues commands to a freshly opened ``ConnectionProtocol``,
claims the events that answer them (``on_event`` returns True), and asks for a timer through
``next_deadline()``/``tick(now)`` while it waits to retry a queue still locked by the dead
connection and for its time limit (``replay_timeout``: past it ``timed_out`` holds a
ReplayTimeoutError and the facade drops the connection). Both adapter families drive it the
same way.

Order: every channel is opened with its settings (qos, confirm mode, tx, flow) right away;
on a channel of its own the replay declares exchanges, then queues (server-named ones get
new names, and bindings and consumers follow them), then bindings; it then closes that
channel. A channel is handed back (``on_channel_ready``) once its settings are confirmed and
the topology is done, right after its consumers were queued: its deliveries may flow from
then on. The replay is ``done`` when every consumer is confirmed; the facades give the
channels back to the application's publishes and requests only then, so that nothing the
application sends overtakes a consumer's re-registration (a quorum queue without a leader
yet holds its consume-ok back).
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Callable, Iterable

from pika_core import exceptions
from pika_core.protocol import events as ev
from pika_core.recovery.errors import ReplayTimeoutError
from pika_core.recovery.topology import QueueRecord, Topology

__all__ = ["LOCKED_RETRY_INTERVAL", "TopologyReplay"]

LOGGER = logging.getLogger("pika_core")

#: Seconds between attempts to re-declare an exclusive queue the old connection still holds.
LOCKED_RETRY_INTERVAL = 0.25
#: channel.close reply code for an exclusive queue owned by another (the dying) connection.
RESOURCE_LOCKED = 405

_SETTING = 1
_CONSUME = 2
_STEP = 3

# Phases of the topology work on the replay's own channel.
_EXCHANGES = 0
_QUEUES = 1
_BINDINGS = 2
_FINISHED = 3

# The replay channel's states.
_NONE = 0
_OPENING = 1
_OPEN = 2
_CLOSING = 3


class TopologyReplay:
    """One recovery's replay over one new protocol connection."""

    def __init__(
        self,
        protocol: Any,
        topology: Topology,
        channels: Iterable[int],
        on_channel_ready: Callable[[int], Any],
        on_queue_renamed: Callable[[str, str], Any],
        locked_queue_timeout: float = 10.0,
        replay_timeout: float | None = None,
    ) -> None:
        self._protocol = protocol
        self._topology = topology
        self._channels = sorted(set(channels))
        self._on_channel_ready = on_channel_ready
        self._on_queue_renamed = on_queue_renamed
        self._locked_timeout = locked_queue_timeout
        self._replay_timeout = replay_timeout
        self._expires_at: float | None = None
        #: id(request) -> (channel, kind, request) for every request the replay sent.
        self._mine: dict[int, tuple[int, int, Any]] = {}
        self._opening: set[int] = set()
        self._settings: dict[int, int] = {}
        self._consumes: dict[int, int] = {}
        self._ready: set[int] = set()
        self._gone: set[int] = set()
        self._phase = _EXCHANGES
        self._steps: collections.deque[Any] = collections.deque()
        self._current: Any = None
        self._temp = 0
        self._temp_state = _NONE
        self._retry_at: float | None = None
        self._locked_deadline: float | None = None
        self._now = 0.0
        self.done = False
        #: Set by ``tick`` once ``replay_timeout`` passed before the replay was done.
        self.timed_out: ReplayTimeoutError | None = None
        #: (record, exception) for every declaration that could not be redone.
        self.failures: list[tuple[Any, BaseException]] = []

    def __repr__(self) -> str:
        return (
            f"<TopologyReplay channels={self._channels} ready={sorted(self._ready)} "
            f"phase={self._phase} done={self.done}>"
        )

    # -- driving -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Queue channel.open and the settings of every channel, and start the topology."""
        self._now = now
        if self._replay_timeout is not None:
            self._expires_at = now + self._replay_timeout
        protocol = self._protocol
        for number in self._channels:
            protocol.open_channel(number)
            self._opening.add(number)
            record = self._topology.channels.get(number)
            methods = record.methods() if record is not None else []
            self._settings[number] = len(methods)
            for method in methods:
                self._send(number, _SETTING, method)
        self._load_phase()
        if self._phase != _FINISHED:
            self._temp = protocol.next_free_channel()
            self._open_temp()
        self._check()

    def next_deadline(self) -> float | None:
        """When ``tick`` must run next (a locked-queue retry, the time limit), or None."""
        if self.done or self.timed_out is not None:
            return None
        retry, expires = self._retry_at, self._expires_at
        if retry is None or (expires is not None and expires < retry):
            return expires
        return retry

    def tick(self, now: float) -> None:
        """Retry the locked queue once its pause is over; time out past ``replay_timeout``."""
        self._now = now
        if self.done or self.timed_out is not None:
            return
        if self._expires_at is not None and now >= self._expires_at:
            self._retry_at = None
            self.timed_out = ReplayTimeoutError(
                f"the endpoint did not restore the connection's channels, topology and "
                f"consumers within {self._replay_timeout} s (RecoveryPolicy replay_timeout); "
                f"still waiting for {self._outstanding()}"
            )
            return
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._open_temp()

    def on_event(self, event: Any, now: float) -> bool:
        """Take the events that answer the replay's own requests; True when taken."""
        self._now = now
        kind = type(event)
        if kind is ev.RPCReply:
            entry = self._mine.get(id(event.request))
            if entry is None or entry[2] is not event.request:
                return False
            del self._mine[id(event.request)]
            self._on_reply(entry[0], entry[1], event.method)
            return True
        if kind is ev.ChannelOpened:
            number = event.channel
            if number == self._temp and self._temp_state == _OPENING:
                self._temp_state = _OPEN
                self._send_step()
                return True
            if number in self._opening:
                self._opening.discard(number)
                self._check()
                return True
            return False
        if kind is ev.ChannelClosed:
            number = event.channel
            if number == self._temp and self._temp_state != _NONE:
                self._on_temp_closed(event.exception)
                return True
            if (
                number in self._settings
                and number not in self._gone
                and isinstance(event.exception, exceptions.AMQPChannelError)
            ):
                # The application's channel failed while being restored: the facade
                # reports the close; the replay stops waiting for it.
                self._gone.add(number)
                self._forget_channel(number)
                self._check()
            return False
        return False

    # -- internals -----------------------------------------------------------------------------

    def _outstanding(self) -> str:
        """What the replay still waits for, in words (for the time-out's message)."""
        parts = []
        opening = len(self._opening)
        if opening:
            parts.append(f"{opening} channel(s) to open")
        settings = sum(1 for count in self._settings.values() if count > 0)
        if settings:
            parts.append(f"the settings of {settings} channel(s)")
        if self._phase != _FINISHED or self._temp_state != _NONE:
            parts.append(f"the topology ({self._current!r})" if self._current else "the topology")
        consumers = sum(count for n, count in self._consumes.items() if n not in self._gone)
        if consumers:
            parts.append(f"{consumers} consumer(s) to be confirmed")
        return ", ".join(parts) or "nothing"

    def _send(self, number: int, kind: int, method: Any) -> None:
        self._mine[id(method)] = (number, kind, method)
        self._protocol.rpc(number, method)

    def _forget_channel(self, number: int) -> None:
        for key in [key for key, entry in self._mine.items() if entry[0] == number]:
            del self._mine[key]
        self._opening.discard(number)

    def _on_reply(self, number: int, kind: int, reply: Any) -> None:
        if kind == _SETTING:
            self._settings[number] -= 1
        elif kind == _CONSUME:
            self._consumes[number] -= 1
        else:
            self._on_step_done(reply)
            return
        self._check()

    def _load_phase(self) -> None:
        """Fill the step queue from the topology for the current phase (skipping empty ones)."""
        topology = self._topology
        while self._phase != _FINISHED and not self._steps:
            if self._phase == _EXCHANGES:
                self._steps.extend(topology.exchanges.values())
            elif self._phase == _QUEUES:
                self._steps.extend(topology.queues.values())
            else:
                # Taken after the queues, so that renamed queues are bound by their new name.
                self._steps.extend(topology.bindings.values())
            if not self._steps:
                self._phase += 1

    def _open_temp(self) -> None:
        self._temp_state = _OPENING
        self._protocol.open_channel(self._temp)

    def _send_step(self) -> None:
        """Send the current step again (after a retry) or the next one."""
        if self._current is None:
            if not self._steps:
                self._phase += 1
                self._load_phase()
            if self._phase == _FINISHED:
                self._temp_state = _CLOSING
                self._protocol.close_channel(self._temp)
                self._check()
                return
            self._current = self._steps.popleft()
        self._send(self._temp, _STEP, self._current.method())

    def _on_step_done(self, reply: Any) -> None:
        record = self._current
        self._current = None
        self._locked_deadline = None
        if isinstance(record, QueueRecord) and record.server_named:
            new_name = reply.queue
            if new_name != record.name:
                self._topology.rename_queue(record.name, new_name)
                LOGGER.info("Server-named queue %r is now %r", record.name, new_name)
                self._on_queue_renamed(record.name, new_name)
        self._send_step()

    def _on_temp_closed(self, error: BaseException) -> None:
        state = self._temp_state
        self._temp_state = _NONE
        for key in [key for key, entry in self._mine.items() if entry[0] == self._temp]:
            del self._mine[key]
        if state == _CLOSING:
            self._check()
            return
        if not isinstance(error, exceptions.AMQPChannelError):
            return  # the connection itself ended; the facade starts over
        record = self._current
        code = getattr(error, "reply_code", 0)
        if code == RESOURCE_LOCKED and isinstance(record, QueueRecord):
            if self._locked_deadline is None:
                self._locked_deadline = self._now + self._locked_timeout
            if self._now < self._locked_deadline:
                LOGGER.info(
                    "Exclusive queue %r is still locked by the lost connection; retrying",
                    record.name,
                )
                self._retry_at = self._now + LOCKED_RETRY_INTERVAL
                return
        LOGGER.warning("Recovery could not redo %r: %r; skipped", record, error)
        if record is not None:
            self.failures.append((record, error))
        self._current = None
        self._locked_deadline = None
        self._open_temp()

    def _check(self) -> None:
        """Hand back every channel that is ready; finish when nothing is outstanding."""
        topology_done = self._phase == _FINISHED
        if topology_done:
            for number in self._channels:
                if (
                    number in self._ready
                    or number in self._gone
                    or number in self._opening
                    or self._settings[number] > 0
                ):
                    continue
                self._ready.add(number)
                consumers = self._topology.consumers_of(number)
                self._consumes[number] = len(consumers)
                for consumer in consumers:
                    self._send(number, _CONSUME, consumer.method())
                self._on_channel_ready(number)
        if (
            topology_done
            and self._temp_state == _NONE
            and all(n in self._ready or n in self._gone for n in self._channels)
            and not any(count > 0 for n, count in self._consumes.items() if n not in self._gone)
        ):
            self.done = True
