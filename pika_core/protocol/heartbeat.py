"""Heartbeat bookkeeping: when to send one and when the peer counts as dead.

The caller supplies every timestamp (the protocol never reads a clock). With a negotiated
interval ``t``: a heartbeat frame goes out once nothing was written for ``t / 2``, and the peer
is dead once nothing was read for ``2 * t``, RabbitMQ's own rule. Any traffic counts.
"""

from __future__ import annotations

__all__ = ["DEAD", "SEND", "HeartbeatTimer"]

#: ``HeartbeatTimer.check`` result: queue a heartbeat frame now.
SEND = 1
#: ``HeartbeatTimer.check`` result: nothing was read for two intervals.
DEAD = 2


class HeartbeatTimer:
    """Last read and write times against a negotiated interval (0 = heartbeats disabled)."""

    __slots__ = ("interval", "last_read", "last_write", "write_pending")

    def __init__(self) -> None:
        self.interval = 0
        self.last_read = 0.0
        self.last_write = 0.0
        # Data was drained by data_to_send() without a time: stamp it at the next check.
        self.write_pending = False

    def start(self, interval: int, now: float) -> None:
        """Begin timing ``interval`` seconds (0 leaves heartbeats off) from ``now``."""
        self.interval = interval
        self.last_read = now
        self.last_write = now
        self.write_pending = False

    def stop(self) -> None:
        """Stop timing: no deadline any more."""
        self.interval = 0

    def deadline(self) -> float | None:
        """When ``check`` next has something to do, or None when heartbeats are off."""
        interval = self.interval
        if not interval:
            return None
        send_at = self.last_write + interval / 2
        dead_at = self.last_read + 2 * interval
        return min(dead_at, send_at)

    def check(self, now: float) -> int:
        """Return DEAD, SEND (and count the heartbeat as written) or 0 at time ``now``."""
        interval = self.interval
        if not interval:
            return 0
        if self.write_pending:
            self.write_pending = False
            self.last_write = now
        if now >= self.last_read + 2 * interval:
            return DEAD
        if now >= self.last_write + interval / 2:
            self.last_write = now
            return SEND
        return 0
