"""RecoverySession: the attempts of one connection's recoveries, its callbacks and its log lines.

A facade owns one session when its parameters carry a RecoveryPolicy. The session knows the
endpoints, counts attempts, computes the backoff, records the topology and tells the
application what happens (callbacks and the ``pika_core`` logger); the facade does the I/O.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

from pika_core.recovery.policy import RecoveryPolicy, is_refusal
from pika_core.recovery.topology import Topology

__all__ = ["RecoveryCallbacks", "RecoverySession"]

LOGGER = logging.getLogger("pika_core")


class RecoveryCallbacks:
    """The application's recovery callbacks; the facades expose pika-style ``add_on_*``."""

    __slots__ = ("failed", "recovered", "renamed", "started")

    def __init__(self) -> None:
        #: callback(connection, cause)
        self.started: list[Callable[..., Any]] = []
        #: callback(connection, attempts, duration_seconds)
        self.recovered: list[Callable[..., Any]] = []
        #: callback(connection, error)
        self.failed: list[Callable[..., Any]] = []
        #: callback(connection, old_name, new_name)
        self.renamed: list[Callable[..., Any]] = []


class RecoverySession:
    """Attempt bookkeeping for one connection: which endpoint next, how long to wait, when to stop."""

    def __init__(self, policy: RecoveryPolicy, endpoints: Sequence[Any]) -> None:
        if not endpoints:
            raise ValueError("a recovering connection needs at least one set of parameters")
        self.policy = policy
        self.endpoints: list[Any] = list(endpoints)
        self.topology = Topology()
        self.callbacks = RecoveryCallbacks()
        #: Index in ``endpoints`` of the one in use (or last tried).
        self.current = 0
        #: Failed attempts of the recovery in progress (each tries every endpoint once).
        self.attempts = 0
        self.cause: BaseException | None = None
        self.last_error: BaseException | None = None
        self.started_at = 0.0
        self.active = False
        #: Completed recoveries of this connection.
        self.recoveries = 0

    def __repr__(self) -> str:
        return (
            f"<RecoverySession active={self.active} attempts={self.attempts} "
            f"recoveries={self.recoveries} {self.topology!r}>"
        )

    def set_current(self, params: Any) -> None:
        """The connection opened through ``params`` (one of the endpoints, or a new one)."""
        for index, endpoint in enumerate(self.endpoints):
            if endpoint is params:
                self.current = index
                return
        self.endpoints.insert(0, params)
        self.current = 0

    def begin(self, cause: BaseException) -> None:
        """The connection was lost with ``cause``: a recovery starts."""
        self.active = True
        self.cause = cause
        self.last_error = cause
        self.attempts = 0
        self.started_at = time.monotonic()
        LOGGER.warning("Connection lost (%r); recovering", cause)

    def pass_order(self) -> list[Any]:
        """The endpoints one attempt tries, starting after the one that was lost."""
        count = len(self.endpoints)
        start = (self.current + 1) % count if count > 1 else 0
        return [self.endpoints[(start + i) % count] for i in range(count)]

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        return self.policy.delay(self.attempts + 1)

    def endpoint_failed(self, params: Any, error: BaseException) -> bool:
        """One endpoint of an attempt failed; True when recovery must stop (a refusal)."""
        self.last_error = error
        LOGGER.info(
            "Recovery attempt %d: %s:%s failed: %r",
            self.attempts + 1,
            getattr(params, "host", "?"),
            getattr(params, "port", "?"),
            error,
        )
        return is_refusal(error)

    def attempt_failed(self) -> bool:
        """Every endpoint of an attempt failed; True when the policy says give up."""
        self.attempts += 1
        return self.policy.gives_up_after(self.attempts)

    def succeeded(self, params: Any) -> float:
        """The connection is back and restored; return how long the recovery took."""
        self.set_current(params)
        self.active = False
        self.recoveries += 1
        duration = time.monotonic() - self.started_at
        LOGGER.info(
            "Connection recovered to %s:%s after %d failed attempt(s) in %.3f s",
            getattr(params, "host", "?"),
            getattr(params, "port", "?"),
            self.attempts,
            duration,
        )
        return duration

    def gave_up(self) -> BaseException:
        """Recovery stops for good; return the error the connection ends with."""
        self.active = False
        error = self.last_error or self.cause
        assert error is not None
        LOGGER.warning("Connection recovery gave up after %d attempt(s): %r", self.attempts, error)
        return error

    def run_callbacks(self, callbacks: Sequence[Callable[..., Any]], *args: Any) -> None:
        """Call each callback; an exception in one is logged and does not stop the others."""
        for callback in list(callbacks):
            try:
                callback(*args)
            except Exception:
                LOGGER.exception("recovery callback %r raised", callback)
