"""BlockingConnection.add_callback_threadsafe during an outage: the callback runs promptly.

The recovery waits between attempts (the policy's backoff); a callback another thread adds in
that wait must run at once, from the call the application is in, and the recovery must go on.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

import pika_core as pika

from .recovery_helpers import with_query
from .support import BrokerNode, FaultProxy

#: The first attempt comes at once and fails (the proxy refuses); the next one 6 s later.
BACKOFF = 6.0
SLOW_BACKOFF_QUERY = (
    f"recovery=on&recovery_initial_delay=0.05&recovery_multiplier=1000"
    f"&recovery_max_delay={BACKOFF}&recovery_jitter=0&recovery_blocking_wait=120"
)
#: Generous, and still far below the backoff the callback would otherwise wait out.
PROMPT = 1.5


def keep_processing(connection: pika.BlockingConnection, until: Callable[[], bool]) -> None:
    """The application's loop: process_data_events(None) until ``until()`` (60 s guard)."""
    deadline = time.monotonic() + 60
    while not until():
        assert time.monotonic() < deadline, "timed out"
        connection.process_data_events(time_limit=None)


def keep_sleeping(connection: pika.BlockingConnection, until: Callable[[], bool]) -> None:
    """The application's loop: connection.sleep(0.5 s) until ``until()`` (60 s guard)."""
    deadline = time.monotonic() + 60
    while not until():
        assert time.monotonic() < deadline, "timed out"
        connection.sleep(0.5)


LOOPS = {"process_data_events": keep_processing, "sleep": keep_sleeping}


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_threadsafe_callbacks_run_promptly_during_the_recovery_backoff(
    loop: str, own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), SLOW_BACKOFF_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    recovered = threading.Event()
    connection.add_on_recovered_callback(lambda *_: recovered.set())
    channel = connection.channel()
    channel.queue_declare("threadsafe-outage")
    # (added, ran, recovering when it ran) per callback
    runs: list[tuple[float, float, bool]] = []
    errors: list[BaseException] = []

    def add_later(delay: float) -> None:
        time.sleep(delay)
        added = time.monotonic()

        def callback() -> None:
            runs.append((added, time.monotonic(), connection.is_recovering))

        try:
            connection.add_callback_threadsafe(callback)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    # Should the callbacks not run, a blocked process_data_events(None) only returns once the
    # connection recovers: let the broker through after 20 s at the latest.
    watchdog = threading.Timer(20.0, fault_proxy.accept)
    watchdog.start()
    fault_proxy.refuse()
    fault_proxy.reset_all()
    # Two callbacks, after the first failed attempt and inside the 6 s wait that follows it.
    adders = [threading.Thread(target=add_later, args=(delay,)) for delay in (1.0, 2.5)]
    for adder in adders:
        adder.start()
    LOOPS[loop](connection, lambda: len(runs) + len(errors) >= 2)
    watchdog.cancel()
    for adder in adders:
        adder.join()
    assert errors == []
    assert len(runs) == 2
    for added, ran, recovering in runs:
        assert recovering, "the callback ran only after the recovery"
        assert ran - added < PROMPT, f"a threadsafe callback waited {ran - added:.1f} s"

    # The recovery went on meanwhile: let the broker through and it completes.
    fault_proxy.accept()
    LOOPS[loop](connection, recovered.is_set)
    channel.basic_publish("", "threadsafe-outage", b"after the outage")
    assert channel.basic_get("threadsafe-outage", auto_ack=True)[2] == b"after the outage"
    connection.close()


def test_threadsafe_callback_waits_for_a_blocking_call_in_recovery(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    # A blocking call (queue_declare) waiting for the recovery dispatches nothing: the callback
    # is queued and runs at the next process_data_events, after the call returned.
    url = with_query(fault_proxy.url(own_node.url()), SLOW_BACKOFF_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    ran: list[Any] = []
    fault_proxy.refuse()
    fault_proxy.reset_all()
    threading.Timer(1.0, connection.add_callback_threadsafe, [lambda: ran.append(1)]).start()
    threading.Timer(2.0, fault_proxy.accept).start()
    started = time.monotonic()
    channel.queue_declare("threadsafe-blocking-call")
    assert time.monotonic() - started >= BACKOFF - 1.0  # it waited for the next attempt
    assert ran == []
    connection.process_data_events(0)
    assert ran == [1]
    connection.close()
