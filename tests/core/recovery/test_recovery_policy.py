"""RecoveryPolicy validation and backoff, the recoverable-failure decision, and the parameters."""

from __future__ import annotations

import copy

import pytest

from pika_core import exceptions
from pika_core.parameters import ConnectionParameters, URLParameters
from pika_core.recovery import RecoveryPolicy, is_recoverable, is_refusal


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"initial_delay": -1}, ValueError, "initial_delay must be >= 0"),
        ({"initial_delay": "1"}, TypeError, "initial_delay must be a number"),
        ({"multiplier": 0.5}, ValueError, "multiplier must be >= 1"),
        ({"initial_delay": 5, "max_delay": 1}, ValueError, "max_delay"),
        ({"jitter": 1.5}, ValueError, "jitter must be between 0 and 1"),
        ({"max_attempts": 0}, ValueError, "max_attempts must be >= 1"),
        ({"max_attempts": 2.5}, TypeError, "max_attempts must be an int"),
        ({"max_attempts": True}, TypeError, "max_attempts must be an int"),
        ({"blocking_wait": -2}, ValueError, "blocking_wait must be >= 0"),
        ({"locked_queue_timeout": float("nan")}, ValueError, "finite"),
        ({"replay_timeout": 0}, ValueError, "replay_timeout must be > 0 or None"),
        ({"replay_timeout": "60"}, TypeError, "replay_timeout must be a number"),
    ],
)
def test_invalid_policies_are_refused_with_the_setting_named(kwargs, error, text):
    with pytest.raises(error, match=text):
        RecoveryPolicy(**kwargs)


def test_backoff_grows_by_the_multiplier_up_to_the_cap():
    policy = RecoveryPolicy(initial_delay=0.5, multiplier=2, max_delay=3, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.base_delay(10**6) == 3.0  # no overflow for huge attempt numbers
    with pytest.raises(ValueError, match="start at 1"):
        policy.delay(0)


def test_jitter_only_takes_off_up_to_its_fraction():
    policy = RecoveryPolicy(initial_delay=2, multiplier=1, max_delay=2, jitter=0.25)
    assert policy.delay(1, rand=lambda: 0.0) == 2.0
    assert policy.delay(1, rand=lambda: 1.0) == 1.5
    assert all(1.5 <= policy.delay(3) <= 2.0 for _ in range(200))


def test_max_attempts_decides_when_to_give_up():
    assert not RecoveryPolicy().gives_up_after(10**9)
    limited = RecoveryPolicy(max_attempts=3)
    assert not limited.gives_up_after(2)
    assert limited.gives_up_after(3)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (exceptions.StreamLostError("reset"), True),
        (ConnectionResetError(104, "reset"), True),
        (exceptions.AMQPHeartbeatTimeout("missed"), True),
        (exceptions.ConnectionClosedByBroker(320, "CONNECTION_FORCED"), True),
        (exceptions.ConnectionClosedByBroker(541, "INTERNAL_ERROR"), True),
        (exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED"), False),
        (exceptions.ConnectionClosedByBroker(530, "NOT_ALLOWED"), False),
        (exceptions.ConnectionClosedByClient(200, "Normal shutdown"), False),
        (exceptions.FrameError(501, "bad frame end"), False),
        (exceptions.ConnectionBlockedTimeout("blocked"), False),
        (exceptions.ChannelClosedByBroker(406, "PRECONDITION_FAILED"), False),
        (
            exceptions.ProbableAuthenticationError(
                "ConnectionClosedByBroker: (403) 'ACCESS_REFUSED - Login was refused'"
            ),
            False,
        ),
        (exceptions.ProbableAuthenticationError("StreamLostError: EOF"), True),
        (exceptions.AuthenticationError("PLAIN"), False),
    ],
)
def test_which_failures_are_recovered(error, expected):
    assert is_recoverable(error) is expected


def test_a_login_refused_by_the_broker_is_a_refusal_but_a_broken_stream_is_not():
    assert is_refusal(
        exceptions.ProbableAccessDeniedError("ConnectionClosedByBroker: (530) no vhost")
    )
    assert not is_refusal(exceptions.ProbableAccessDeniedError("StreamLostError: reset"))
    assert not is_refusal(exceptions.StreamLostError("x"))


def test_recovery_is_off_by_default_and_set_by_keyword():
    assert ConnectionParameters().recovery is None
    policy = RecoveryPolicy(max_attempts=2)
    params = ConnectionParameters(recovery=policy)
    assert params.recovery is policy
    assert ConnectionParameters(recovery=True).recovery == RecoveryPolicy()
    assert copy.deepcopy(params).recovery == policy
    with pytest.raises(TypeError, match="recovery must be"):
        ConnectionParameters(recovery="yes")


def test_url_turns_recovery_on_with_settings_in_any_order():
    params = URLParameters(
        "amqp://u:p@h/%2F?recovery_max_delay=120&recovery_initial_delay=60"
        "&recovery_max_attempts=4&recovery_jitter=0&recovery_blocking_wait=none"
        "&recovery_replay_timeout=none"
    )
    assert params.recovery == RecoveryPolicy(
        initial_delay=60,
        max_delay=120,
        max_attempts=4,
        jitter=0,
        blocking_wait=None,
        replay_timeout=None,
    )
    assert URLParameters("amqp://h/?recovery_replay_timeout=2.5").recovery == RecoveryPolicy(
        replay_timeout=2.5
    )
    assert RecoveryPolicy().replay_timeout == 60.0
    assert URLParameters("amqp://h/?recovery=on").recovery == RecoveryPolicy()
    assert URLParameters("amqp://h/?recovery=off").recovery is None
    assert URLParameters("amqp://h/").recovery is None


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("recovery=maybe", "must be on or off"),
        ("recovery_jitter=2", "jitter must be between 0 and 1"),
        ("recovery_max_attempts=x", "whole number"),
        ("recovery_initial_delay=9&recovery_max_delay=1", "max_delay"),
        ("recovery_replay_timeout=-1", "replay_timeout must be > 0"),
    ],
)
def test_url_recovery_errors_name_the_option(query, text):
    with pytest.raises(ValueError, match=text):
        URLParameters(f"amqp://h/?{query}")
