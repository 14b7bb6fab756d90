"""BlockingConnection against the real broker: opening, closing, timers, threads, capabilities."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pika_core import exceptions
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.credentials import PlainCredentials
from pika_core.parameters import ConnectionParameters, URLParameters

pytestmark = pytest.mark.broker


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_open_close_and_state(params: URLParameters) -> None:
    conn = BlockingConnection(params)
    assert conn.is_open and not conn.is_closed
    assert conn.server_properties["product"] == "RabbitMQ"
    channel = conn.channel()
    conn.close()
    assert conn.is_closed and not conn.is_open
    assert channel.is_closed
    with pytest.raises(exceptions.ConnectionWrongStateError):
        conn.close()


def test_context_manager_closes(params: URLParameters) -> None:
    with BlockingConnection(params) as conn:
        assert conn.is_open
    assert conn.is_closed


def test_capabilities_and_legacy_aliases(connection: BlockingConnection) -> None:
    assert connection.basic_nack_supported is True
    assert connection.consumer_cancel_notify_supported is True
    assert connection.exchange_exchange_bindings_supported is True
    assert connection.publisher_confirms_supported is True
    assert connection.basic_nack is True
    assert connection.consumer_cancel_notify is True
    assert connection.exchange_exchange_bindings is True
    assert connection.publisher_confirms is True


def test_first_host_refuses_second_is_used(params: URLParameters) -> None:
    refused = ConnectionParameters(
        host="127.0.0.1", port=_closed_port(), credentials=params.credentials
    )
    with BlockingConnection([refused, params]) as conn:
        assert conn.is_open


def test_all_hosts_refuse_raises_after_every_attempt() -> None:
    port = _closed_port()
    params = ConnectionParameters(
        host="127.0.0.1", port=port, connection_attempts=2, retry_delay=0.2
    )
    started = time.monotonic()
    with pytest.raises(exceptions.AMQPConnectionError):
        BlockingConnection(params)
    assert time.monotonic() - started >= 0.2


def test_empty_parameter_sequence_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        BlockingConnection([])


def test_authentication_failure(params: URLParameters) -> None:
    bad = ConnectionParameters(
        host=params.host, port=params.port, credentials=PlainCredentials("guest", "wrong-password")
    )
    with pytest.raises(exceptions.ProbableAuthenticationError):
        BlockingConnection(bad)


def test_unknown_vhost_is_access_denied(params: URLParameters) -> None:
    bad = ConnectionParameters(host=params.host, port=params.port, virtual_host="no-such-vhost-xyz")
    with pytest.raises((exceptions.ProbableAccessDeniedError, exceptions.ConnectionClosedByBroker)):
        BlockingConnection(bad)


def test_call_later_runs_in_process_data_events(connection: BlockingConnection) -> None:
    fired: list[str] = []
    connection.call_later(0.05, lambda: fired.append("a"))
    removed = connection.call_later(0.05, lambda: fired.append("removed"))
    connection.remove_timeout(removed)
    assert fired == []
    connection.process_data_events(time_limit=0.5)
    assert fired == ["a"]


def test_remove_timeout_of_a_due_timer(connection: BlockingConnection) -> None:
    fired: list[int] = []
    timer = connection.call_later(0, lambda: fired.append(1))
    # Let it become due without dispatching it: an RPC waits without running callbacks.
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    connection.remove_timeout(timer)
    connection.process_data_events(0.05)
    assert fired == []


def test_sleep_dispatches_timers(connection: BlockingConnection) -> None:
    fired: list[float] = []
    started = time.monotonic()
    connection.call_later(0.1, lambda: fired.append(time.monotonic() - started))
    connection.sleep(0.3)
    assert len(fired) == 1 and 0.09 <= fired[0] < 0.3
    assert time.monotonic() - started >= 0.3


def test_process_data_events_none_blocks_until_an_event(connection: BlockingConnection) -> None:
    connection.call_later(0.2, lambda: None)
    started = time.monotonic()
    connection.process_data_events(time_limit=None)
    assert 0.15 <= time.monotonic() - started < 5


def test_add_callback_threadsafe_wakes_the_loop(connection: BlockingConnection) -> None:
    called = threading.Event()

    def other_thread() -> None:
        time.sleep(0.2)
        connection.add_callback_threadsafe(called.set)

    threading.Thread(target=other_thread).start()
    started = time.monotonic()
    while not called.is_set() and time.monotonic() - started < 5:
        connection.process_data_events(time_limit=10)
    assert called.is_set()
    assert time.monotonic() - started < 2


def test_add_callback_threadsafe_on_closed_connection(params: URLParameters) -> None:
    conn = BlockingConnection(params)
    conn.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        conn.add_callback_threadsafe(lambda: None)


def test_callbacks_never_run_inside_other_blocking_calls(
    connection: BlockingConnection, name: str
) -> None:
    ran_during_rpc: list[bool] = []
    in_rpc = [False]
    connection.call_later(0, lambda: ran_during_rpc.append(in_rpc[0]))
    channel = connection.channel()
    in_rpc[0] = True
    channel.queue_declare(name, auto_delete=True)
    channel.queue_delete(name)
    in_rpc[0] = False
    assert ran_during_rpc == []
    connection.process_data_events()
    assert ran_during_rpc == [False]


def test_close_closes_channels_first(connection: BlockingConnection) -> None:
    channels = [connection.channel() for _ in range(3)]
    assert [ch.channel_number for ch in channels] == [1, 2, 3]
    connection.close()
    assert all(ch.is_closed for ch in channels)


def test_channel_numbers(connection: BlockingConnection) -> None:
    channel = connection.channel(7)
    assert channel.channel_number == 7 and int(channel) == 7
    with pytest.raises(exceptions.InvalidChannelNumber):
        connection.channel(7)
    first = connection.channel()
    assert first.channel_number == 1


def test_update_secret(connection: BlockingConnection) -> None:
    # RabbitMQ's internal backend answers update-secret for PLAIN logins (3.8+).
    try:
        connection.update_secret("guest", "test")
    except exceptions.ConnectionClosedByBroker as exc:
        # Brokers whose backend cannot refresh secrets close the connection with a reason.
        assert exc.reply_code in (530, 540)
    else:
        assert connection.is_open


def test_heartbeat_thread_can_be_turned_off(params: URLParameters) -> None:
    # Threads of earlier tests' connections may still be winding down: compare identities.
    before = {t for t in threading.enumerate() if t.name == "pika-core-heartbeat"}
    with BlockingConnection(params, heartbeat_thread=False) as conn:
        during = {t for t in threading.enumerate() if t.name == "pika-core-heartbeat"}
        assert during <= before, "a heartbeat thread was started although turned off"
        assert conn._thread is None
    with BlockingConnection(params) as conn:
        assert conn._thread is not None and conn._thread.is_alive()


def test_buffered_publish_is_sent_while_the_caller_sleeps(params: URLParameters, name: str) -> None:
    with BlockingConnection(params) as publisher, BlockingConnection(params) as reader:
        channel = reader.channel()
        channel.queue_declare(name, auto_delete=True)
        publisher.channel().basic_publish("", name, b"lonely")
        time.sleep(0.5)  # not a pika-core call: only the heartbeat thread can send it
        method, _props, body = channel.basic_get(name, auto_ack=True)
        assert body == b"lonely" and method is not None
        channel.queue_delete(name)


def test_without_the_thread_each_publish_is_written_at_once(
    params: URLParameters, name: str
) -> None:
    publisher_conn = BlockingConnection(params, heartbeat_thread=False)
    with publisher_conn as publisher, BlockingConnection(params) as reader:
        channel = reader.channel()
        channel.queue_declare(name, auto_delete=True)
        publisher.channel().basic_publish("", name, b"direct")
        time.sleep(0.3)
        assert channel.basic_get(name, auto_ack=True)[2] == b"direct"
        channel.queue_delete(name)


def test_heartbeat_callable_gets_connection_and_broker_value(params: URLParameters) -> None:
    seen: list[tuple[object, int]] = []

    def choose(conn: object, broker_value: int) -> int:
        seen.append((conn, broker_value))
        return 7

    tuned = ConnectionParameters(
        host=params.host, port=params.port, credentials=params.credentials, heartbeat=choose
    )
    with BlockingConnection(tuned) as conn:
        assert conn._protocol.heartbeat == 7
        assert len(seen) == 1 and seen[0][0] is conn and seen[0][1] >= 0


def test_forgotten_connection_is_released(params: URLParameters) -> None:
    import gc

    conn = BlockingConnection(params)
    thread = conn._thread
    pump = conn._pump
    assert thread is not None and pump is not None
    del conn
    gc.collect()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert pump.closed
