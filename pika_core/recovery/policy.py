"""RecoveryPolicy: when and how often a lost connection is opened again, and which losses count.

The policy is plain data with validation; the facades ask it for the delay before each attempt
(``delay(attempt)``) and ``is_recoverable(error)`` decides whether a loss starts a recovery.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from pika_core import exceptions

__all__ = ["RECOVERABLE_BROKER_CODES", "RecoveryPolicy", "is_recoverable", "is_refusal"]

#: connection.close reply codes from the broker that a reconnect can fix:
#: 320 CONNECTION_FORCED (an operator's close_connection, a node shutting down) and
#: 541 INTERNAL_ERROR.
RECOVERABLE_BROKER_CODES = frozenset((320, 541))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RecoveryPolicy {name} must be a number of seconds, got {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"RecoveryPolicy {name} must be a finite number, got {value!r}")
    return number


class RecoveryPolicy:
    """How a connection recovers: backoff between attempts, a limit, and blocking waits.

    - ``initial_delay``: seconds before the first attempt after a loss (>= 0).
    - ``multiplier``: each further attempt waits this much longer (>= 1).
    - ``max_delay``: the delay never grows beyond this (>= initial_delay).
    - ``jitter``: a random fraction (0..1) of each delay is taken off, so that many clients
      do not reconnect in lockstep; the delay of attempt n lies in [d * (1 - jitter), d].
    - ``max_attempts``: give up after this many attempts (each tries every endpoint once);
      None: never give up.
    - ``blocking_wait``: how long a BlockingConnection call (publish, declare, ...) waits for
      the recovery to finish before it fails; None: as long as the recovery runs.
    - ``locked_queue_timeout``: how long re-declaring an exclusive queue that the dead
      connection still holds (405 RESOURCE_LOCKED) is retried.
    - ``replay_timeout``: how long one endpoint may take to restore the channels, topology and
      consumers once connected (a broker that accepts the connection but does not answer, a
      quorum queue that gets no leader); past it that endpoint has failed: its connection is
      dropped and the next endpoint is tried. None: no limit.
    """

    __slots__ = (
        "blocking_wait",
        "initial_delay",
        "jitter",
        "locked_queue_timeout",
        "max_attempts",
        "max_delay",
        "multiplier",
        "replay_timeout",
    )

    def __init__(
        self,
        initial_delay: float = 0.5,
        multiplier: float = 2.0,
        max_delay: float = 30.0,
        jitter: float = 0.1,
        max_attempts: int | None = None,
        blocking_wait: float | None = 30.0,
        locked_queue_timeout: float = 10.0,
        replay_timeout: float | None = 60.0,
    ) -> None:
        self.initial_delay = _number(initial_delay, "initial_delay")
        if self.initial_delay < 0:
            raise ValueError(f"RecoveryPolicy initial_delay must be >= 0, got {initial_delay!r}")
        self.multiplier = _number(multiplier, "multiplier")
        if self.multiplier < 1:
            raise ValueError(
                f"RecoveryPolicy multiplier must be >= 1 (1: a constant delay), got {multiplier!r}"
            )
        self.max_delay = _number(max_delay, "max_delay")
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"RecoveryPolicy max_delay ({max_delay!r}) must be >= initial_delay "
                f"({initial_delay!r})"
            )
        self.jitter = _number(jitter, "jitter")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"RecoveryPolicy jitter must be between 0 and 1, got {jitter!r}")
        if max_attempts is not None:
            if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
                raise TypeError(
                    f"RecoveryPolicy max_attempts must be an int or None, got {max_attempts!r}"
                )
            if max_attempts < 1:
                raise ValueError(
                    f"RecoveryPolicy max_attempts must be >= 1 or None (no limit), "
                    f"got {max_attempts!r}"
                )
        self.max_attempts = max_attempts
        if blocking_wait is not None:
            blocking_wait = _number(blocking_wait, "blocking_wait")
            if blocking_wait < 0:
                raise ValueError(
                    f"RecoveryPolicy blocking_wait must be >= 0 or None, got {blocking_wait!r}"
                )
        self.blocking_wait = blocking_wait
        self.locked_queue_timeout = _number(locked_queue_timeout, "locked_queue_timeout")
        if self.locked_queue_timeout < 0:
            raise ValueError(
                f"RecoveryPolicy locked_queue_timeout must be >= 0, got {locked_queue_timeout!r}"
            )
        if replay_timeout is not None:
            replay_timeout = _number(replay_timeout, "replay_timeout")
            if replay_timeout <= 0:
                raise ValueError(
                    f"RecoveryPolicy replay_timeout must be > 0 or None, got {replay_timeout!r}"
                )
        self.replay_timeout = replay_timeout

    def base_delay(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (1, 2, ...) without jitter."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        if self.initial_delay == 0:
            return 0.0
        if self.multiplier == 1:
            return self.initial_delay
        # Beyond this many steps the delay is capped; checking first avoids huge powers.
        steps = math.log(self.max_delay / self.initial_delay) / math.log(self.multiplier)
        if attempt - 1 >= steps:
            return self.max_delay
        return min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered delay before attempt ``attempt``: in [d * (1 - jitter), d]."""
        base = self.base_delay(attempt)
        return base * (1.0 - self.jitter * rand())

    def gives_up_after(self, attempts: int) -> bool:
        """Whether no attempt follows ``attempts`` failed ones."""
        return self.max_attempts is not None and attempts >= self.max_attempts

    def __repr__(self) -> str:
        return (
            f"RecoveryPolicy(initial_delay={self.initial_delay}, multiplier={self.multiplier}, "
            f"max_delay={self.max_delay}, jitter={self.jitter}, "
            f"max_attempts={self.max_attempts}, blocking_wait={self.blocking_wait}, "
            f"locked_queue_timeout={self.locked_queue_timeout}, "
            f"replay_timeout={self.replay_timeout})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecoveryPolicy):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def is_refusal(error: BaseException) -> bool:
    """Whether the broker refused the login or the vhost (retrying cannot help).

    The protocol reports a close during the handshake as ProbableAuthenticationError or
    ProbableAccessDeniedError whether the broker sent connection.close (a refusal) or the
    stream just broke (a fault); only the first is a refusal.
    """
    if isinstance(error, exceptions.AuthenticationError):
        return True
    if isinstance(
        error, (exceptions.ProbableAuthenticationError, exceptions.ProbableAccessDeniedError)
    ):
        detail = str(error.args[0]) if error.args else ""
        return "ConnectionClosedByBroker" in detail
    return False


def is_recoverable(error: BaseException | None) -> bool:
    """Whether losing an open connection with ``error`` starts a recovery.

    Yes: socket errors and EOF (StreamLostError, OSError), a missed heartbeat, and a broker
    close with 320 CONNECTION_FORCED or 541 INTERNAL_ERROR. No: a close this client asked
    for, a refused login, any other broker close code, a malformed frame, the
    blocked-connection timeout, and channel-level errors (they never end the connection).
    """
    if error is None:
        return True
    if isinstance(error, exceptions.ConnectionClosedByClient):
        return False
    if isinstance(error, exceptions.ConnectionClosedByBroker):
        return error.reply_code in RECOVERABLE_BROKER_CODES
    if isinstance(error, (exceptions.FrameError, exceptions.ConnectionBlockedTimeout)):
        return False
    if isinstance(error, exceptions.AMQPChannelError):
        return False
    if is_refusal(error):
        return False
    if isinstance(
        error, (exceptions.ProbableAuthenticationError, exceptions.ProbableAccessDeniedError)
    ):
        return True
    return isinstance(error, (exceptions.AMQPConnectionError, OSError))
