"""The heartbeat thread: keeps a connection alive while the caller's thread is busy elsewhere.

pika's BlockingConnection only sends heartbeats while the application is inside one of its
calls, so a consumer callback that runs longer than two heartbeat intervals loses the
connection. This small daemon thread writes a heartbeat frame whenever nothing was sent for
half the interval, all under the pump's lock. It never reads: the caller's thread still does
all the reading, dispatching and dead-peer detection. Turn it off with ``heartbeat_thread=False``.

It is also the safety net for bytes the caller's thread left buffered when it returned to the
application (the tail of a burst of publishes or acks): every wait of the caller's thread
flushes first, so this only matters when the application goes off to do something else. The
caller's thread calls ``notify()`` (two attribute accesses, no lock, no system call) whenever it
leaves bytes unsent; the thread then checks every ``linger`` seconds and sends what is still
waiting, and goes back to sleeping for the heartbeat period after one check that finds nothing
new left behind. A connection that is idle, or whose caller always waits or flushes itself,
costs no wake-ups beyond the heartbeat checks.
"""

from __future__ import annotations

import logging
import threading
import time

from pika_core.blocking.pump import SocketPump

__all__ = ["HeartbeatThread"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")


class HeartbeatThread(threading.Thread):
    """Writes heartbeats every ``interval / 2`` of silence and sends bytes left buffered."""

    def __init__(self, pump: SocketPump, interval: float, linger: float) -> None:
        super().__init__(name="pika-core-heartbeat", daemon=True)
        self._pump = pump
        # Send after half the negotiated interval of silence, check four times per interval.
        self._idle_for = interval / 2 if interval > 0 else 0.0
        self._period = interval / 4 if interval > 0 else None
        self._linger = linger
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        #: True while the thread sleeps for the heartbeat period (no linger checks running).
        self.idle = True
        #: Set by the caller's thread each time it leaves bytes unsent; cleared by a check.
        self.lingering = False

    def notify(self) -> None:
        """Caller's thread: bytes were left buffered; make sure they go out within ``linger``."""
        self.lingering = True
        if self.idle:
            self.idle = False
            self._wake.set()

    def stop(self) -> None:
        """Ask the thread to end (it exits within one period; never joins from a callback)."""
        self._stop_event.set()
        self._wake.set()

    def run(self) -> None:
        pump = self._pump
        stopping = self._stop_event
        wake = self._wake
        period = self._period
        idle_for = self._idle_for
        linger = self._linger
        next_beat = time.monotonic() + period if period is not None else None
        try:
            while not stopping.is_set():
                if self.idle:
                    timeout = None
                    if next_beat is not None:
                        timeout = max(0.0, next_beat - time.monotonic())
                    wake.wait(timeout)
                    wake.clear()
                else:
                    stopping.wait(linger)
                if stopping.is_set() or pump.closed:
                    return
                if not self.idle:
                    if self.lingering:
                        self.lingering = False
                        if pump.has_pending():
                            pump.flush()
                    else:
                        # A whole linger period with nothing left behind: sleep again. The
                        # second look closes the race with a notify() in between.
                        self.idle = True
                        if self.lingering:
                            self.idle = False
                if next_beat is not None and time.monotonic() >= next_beat:
                    assert period is not None
                    next_beat = time.monotonic() + period
                    pump.send_heartbeat_if_idle(idle_for)
                if pump.send_error is not None:
                    return
        except Exception:  # never let this thread die noisily; the caller's thread sees errors
            LOGGER.debug("heartbeat thread stopped by an error", exc_info=True)

    @property
    def period(self) -> float | None:
        """Seconds between heartbeat checks (None when heartbeats are off)."""
        return self._period
