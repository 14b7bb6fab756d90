"""RecoverySession: endpoint rotation, attempt counting, when to give up, and callbacks."""

from __future__ import annotations

import logging

import pytest

from pika_core import exceptions
from pika_core.recovery import RecoveryPolicy, RecoverySession


def test_each_attempt_tries_every_endpoint_starting_after_the_lost_one():
    endpoints = ["a", "b", "c"]
    session = RecoverySession(RecoveryPolicy(), endpoints)
    session.set_current("b")
    assert session.pass_order() == ["c", "a", "b"]
    session.set_current("new")  # parameters not in the list join it, first
    assert session.endpoints[0] == "new" and session.pass_order()[0] == "a"
    single = RecoverySession(RecoveryPolicy(), ["only"])
    assert single.pass_order() == ["only"]
    with pytest.raises(ValueError, match="at least one"):
        RecoverySession(RecoveryPolicy(), [])


def test_attempts_count_up_to_max_attempts_and_a_refusal_stops_at_once():
    session = RecoverySession(RecoveryPolicy(max_attempts=2, jitter=0), ["a"])
    session.begin(exceptions.StreamLostError("reset"))
    assert session.active and session.next_delay() == 0.5
    assert not session.endpoint_failed("a", exceptions.AMQPConnectionError("refused"))
    assert not session.attempt_failed()
    assert session.next_delay() == 1.0
    assert session.attempt_failed()
    refused = exceptions.ProbableAuthenticationError(
        "ConnectionClosedByBroker: (403) 'ACCESS_REFUSED'"
    )
    assert session.endpoint_failed("a", refused)
    assert session.gave_up() is refused and not session.active


def test_success_resets_nothing_but_counts_and_logs(caplog):
    session = RecoverySession(RecoveryPolicy(), ["a", "b"])
    with caplog.at_level(logging.INFO, logger="pika_core"):
        session.begin(exceptions.StreamLostError("reset"))
        duration = session.succeeded("b")
    assert duration >= 0 and session.recoveries == 1 and session.current == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("Connection lost") for m in messages)
    assert any(m.startswith("Connection recovered") for m in messages)


def test_a_failing_callback_is_logged_and_the_others_still_run(caplog):
    session = RecoverySession(RecoveryPolicy(), ["a"])
    calls: list[int] = []

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="pika_core"):
        session.run_callbacks([broken, lambda *a: calls.append(len(a))], 1, 2)
    assert calls == [2]
    assert any("raised" in record.getMessage() for record in caplog.records)
