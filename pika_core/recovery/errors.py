"""The exceptions recovery adds, each a subclass of what a pika application already catches."""

from __future__ import annotations

from typing import Any, Sequence

from pika_core import exceptions

__all__ = ["PublishFailedDuringRecovery", "RecoveryTimeoutError", "ReplayTimeoutError"]


class PublishFailedDuringRecovery(exceptions.NackError, exceptions.AMQPConnectionError):
    """A confirm-mode publish was outstanding when the connection was lost, or a publish was
    attempted while the connection was recovering: the broker may or may not have the message.

    It is a NackError (the broker did not confirm it: republish) and an AMQPConnectionError
    (what a pika program catches around a publish on a lost connection). ``messages`` lists
    what failed: PublishHandles in the blocking adapter, sequence numbers in the callback API.
    ``cause`` is the error that ended the connection.
    """

    def __init__(self, messages: Sequence[Any], cause: BaseException | None = None) -> None:
        super().__init__(messages)
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.messages, self.cause))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: {len(self.messages)} publish(es) failed because the "
            f"connection was lost ({self.cause!r}); republish them"
        )

    def __str__(self) -> str:
        return repr(self)


class RecoveryTimeoutError(exceptions.AMQPConnectionError):
    """A BlockingConnection call waited ``RecoveryPolicy.blocking_wait`` seconds for the
    connection to recover, in vain. The connection goes on recovering; retry the call later."""


class ReplayTimeoutError(exceptions.AMQPConnectionError):
    """A recovery attempt's endpoint accepted the connection but did not restore the channels,
    topology and consumers within ``RecoveryPolicy.replay_timeout`` seconds: that connection is
    dropped and the recovery goes on with the next endpoint (the error of that endpoint)."""
