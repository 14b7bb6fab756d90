"""The heartbeat thread: keeps a connection alive while the caller's thread is busy elsewhere.

pika's BlockingConnection only sends heartbeats while the application is inside one of its
calls, so a consumer callback that runs longer than two heartbeat intervals loses the
connection. This small daemon thread writes a heartbeat frame whenever nothing was sent for
half the interval, and sends publishes the caller's thread left buffered (after ``linger``
seconds), all under the pump's lock. It never reads: the caller's thread still does all the
reading, dispatching and dead-peer detection. Turn it off with ``heartbeat_thread=False``.
"""

from __future__ import annotations

import logging
import threading

from pika_core.blocking.pump import SocketPump

__all__ = ["HeartbeatThread"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")


class HeartbeatThread(threading.Thread):
    """Writes heartbeats every ``interval / 2`` of silence and flushes buffered publishes."""

    def __init__(self, pump: SocketPump, interval: float, linger: float) -> None:
        super().__init__(name="pika-core-heartbeat", daemon=True)
        self._pump = pump
        # Send after half the negotiated interval of silence, check four times per interval.
        self._idle_for = interval / 2 if interval > 0 else 0.0
        self._period = interval / 4 if interval > 0 else None
        self._linger = linger
        self._stop_event = threading.Event()
        #: Set by the caller's thread when it leaves bytes unsent: flushed after ``linger``.
        self.dirty = threading.Event()

    def stop(self) -> None:
        """Ask the thread to end (it exits within one period; never joins from a callback)."""
        self._stop_event.set()
        self.dirty.set()

    def run(self) -> None:
        pump = self._pump
        dirty = self.dirty
        stopping = self._stop_event
        try:
            while not stopping.is_set():
                woke = dirty.wait(self._period)
                if stopping.is_set() or pump.closed:
                    return
                if woke:
                    stopping.wait(self._linger)
                    dirty.clear()
                    if stopping.is_set():
                        return
                    pump.flush()
                if self._idle_for:
                    pump.send_heartbeat_if_idle(self._idle_for)
                if pump.send_error is not None:
                    return
        except Exception:  # never let this thread die noisily; the caller's thread sees errors
            LOGGER.debug("heartbeat thread stopped by an error", exc_info=True)

    @property
    def period(self) -> float | None:
        """Seconds between heartbeat checks (None when heartbeats are off)."""
        return self._period
