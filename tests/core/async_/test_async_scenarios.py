"""The integration scenario suite of the asynchronous adapters, against the real broker.

Every scenario runs on every driver of ``drivers.available_drivers()`` (SelectConnection with
each poller, AsyncioConnection; plugins add theirs), so that all adapters are held to the same
behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import subprocess
import threading
import time
import uuid
from typing import Any, Iterator

import pytest
from conftest import Harness, broker_host_port
from support.fake_server import SilentPeerServer

from pika_core import exceptions, spec
from pika_core.adapters.asyncio_connection import AsyncioConnection
from pika_core.adapters.utils import connection_workflow
from pika_core.channel import Channel
from pika_core.connection import ConnectionParameters, URLParameters

pytestmark = pytest.mark.broker

WATERMARK_LOCK = "/tmp/pika-core-watermark.lock"


def _name(prefix: str) -> str:
    return f"pika-core-test-{prefix}-{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def with_channel(h: Harness, body: Any, **overrides: Any) -> None:
    """Connect, open a channel, call ``body(channel)`` (wrapped), and run the scenario."""

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=h.cb(body))

    h.connect(on_open, **overrides)
    h.run()


# ---------------------------------------------------------------------------------------------
# Connecting


def test_create_connection_skips_a_refusing_endpoint(harness: Harness) -> None:
    h = harness
    _host, port = broker_host_port(h.url)
    refused = ConnectionParameters(host="127.0.0.1", port=_free_port(), connection_attempts=1)
    good = h.params()
    outcome: dict[str, Any] = {}

    def on_done(result: Any) -> None:
        outcome["result"] = result
        if isinstance(result, BaseException):
            h.stop()
            return
        h.connections.append(result)
        result.add_on_close_callback(lambda _c, _e: h.stop())
        assert result.is_open
        result.close()

    workflow = h.driver.create_connection(h.loop, [refused, good], h.cb(on_done))
    assert isinstance(workflow, connection_workflow.AbstractAMQPConnectionWorkflow)
    h.run()
    result = outcome["result"]
    assert isinstance(result, h.driver.connection_class), result
    assert result.is_closed
    assert result.params.port == port


def test_create_connection_reports_when_every_endpoint_fails(harness: Harness) -> None:
    h = harness
    configs = [ConnectionParameters(host="127.0.0.1", port=_free_port()) for _ in range(2)]
    outcome: list[Any] = []

    def on_done(result: Any) -> None:
        outcome.append(result)
        h.stop()

    h.driver.create_connection(h.loop, configs, h.cb(on_done))
    h.run()
    assert isinstance(outcome[0], connection_workflow.AMQPConnectionWorkflowFailed)
    assert len(outcome[0].exceptions) == 2


def test_refused_connection_reaches_on_open_error_callback(harness: Harness) -> None:
    h = harness
    errors: list[BaseException] = []

    def on_error(_conn: Any, exc: BaseException) -> None:
        errors.append(exc)
        h.stop()

    conn = h.driver.connect(
        h.loop,
        ConnectionParameters(host="127.0.0.1", port=_free_port()),
        on_open_callback=h.cb(lambda _c: pytest.fail("opened a refused connection")),
        on_open_error_callback=on_error,
    )
    h.run()
    assert isinstance(errors[0], exceptions.AMQPConnectionError)
    assert conn.is_closed and not conn.is_open


def test_close_before_open_aborts_with_connection_open_aborted(harness: Harness) -> None:
    h = harness
    errors: list[BaseException] = []

    def on_error(_conn: Any, exc: BaseException) -> None:
        errors.append(exc)
        h.stop()

    conn = h.driver.connect(h.loop, h.params(), on_open_error_callback=on_error)
    conn.close()
    h.run()
    assert isinstance(errors[0], exceptions.ConnectionOpenAborted)


def test_connection_properties_and_double_close(harness: Harness) -> None:
    h = harness

    def on_open(conn: Any) -> None:
        assert conn.is_open and not conn.is_closing and not conn.is_closed
        assert conn.publisher_confirms and conn.basic_nack
        assert conn.consumer_cancel_notify and conn.exchange_exchange_bindings
        assert conn.server_properties["product"] == b"RabbitMQ" or conn.server_properties[
            "product"
        ] in ("RabbitMQ",)
        assert conn.server_capabilities["publisher_confirms"] is True
        assert conn.bytes_sent > 0 and conn.bytes_received > 0
        assert conn.frames_received >= 3
        assert conn.ioloop is h.loop
        conn.close()
        assert conn.is_closing
        with pytest.raises(exceptions.ConnectionWrongStateError):
            conn.close()
        with pytest.raises(exceptions.ConnectionWrongStateError):
            conn.channel()
        h.finish()

    h.connect(on_open)
    h.run()
    assert isinstance(h.close_reasons[0], exceptions.ConnectionClosedByClient)
    assert h.close_reasons[0].reply_code == 200


# ---------------------------------------------------------------------------------------------
# Channels and topology


def test_open_and_close_channels(harness: Harness) -> None:
    h = harness
    seen: dict[str, Any] = {}

    def on_open(conn: Any) -> None:
        first = conn.channel(on_open_callback=h.cb(on_first))
        assert first.is_opening
        with pytest.raises(exceptions.ChannelWrongStateError):
            first.basic_publish("", "x", b"too early")

    def on_first(ch: Channel) -> None:
        assert ch.is_open and ch.channel_number == 1 and int(ch) == 1
        ch.connection.channel(on_open_callback=h.cb(lambda second: on_second(ch, second)))

    def on_second(first: Channel, second: Channel) -> None:
        assert second.channel_number == 2
        first.add_on_close_callback(h.cb(lambda c, exc: on_closed(c, exc, second)))
        first.close(reply_code=0, reply_text="bye")
        assert first.is_closing
        with pytest.raises(exceptions.ChannelWrongStateError):
            first.close()

    def on_closed(ch: Channel, exc: BaseException, second: Channel) -> None:
        seen["exc"] = exc
        assert ch.is_closed and second.is_open
        h.finish()

    h.connect(on_open)
    h.run()
    assert isinstance(seen["exc"], exceptions.ChannelClosedByClient)
    assert (seen["exc"].reply_code, seen["exc"].reply_text) == (0, "bye")


def test_declare_bind_unbind_delete(harness: Harness) -> None:
    h = harness
    exchange, exchange2, queue = _name("ex"), _name("ex2"), _name("q")
    steps: list[str] = []

    def body(ch: Channel) -> None:
        with pytest.raises(TypeError):
            ch.queue_declare(123)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ch.exchange_declare(None)  # type: ignore[arg-type]

        def step(name: str) -> Any:
            return h.cb(lambda frame: steps.append(f"{name}:{frame.method.NAME}"))

        ch.exchange_declare(exchange, "topic", auto_delete=False, callback=step("x1"))
        ch.exchange_declare(exchange2, "fanout", callback=step("x2"))
        ch.queue_declare(queue, auto_delete=True, callback=step("q"))
        ch.queue_bind(queue, exchange, "a.*", callback=step("qb"))
        ch.exchange_bind(exchange2, exchange, "#", callback=step("xb"))
        ch.exchange_unbind(exchange2, exchange, "#", callback=step("xu"))
        ch.queue_unbind(queue, exchange, "a.*", callback=step("qu"))
        ch.queue_purge(queue, callback=step("qp"))
        ch.queue_delete(queue, callback=step("qd"))
        ch.exchange_delete(exchange2, callback=step("xd2"))

        def last(frame: Any) -> None:
            step("xd")(frame)
            h.finish()

        ch.exchange_delete(exchange, callback=h.cb(last))

    with_channel(h, body)
    assert steps == [
        "x1:Exchange.DeclareOk",
        "x2:Exchange.DeclareOk",
        "q:Queue.DeclareOk",
        "qb:Queue.BindOk",
        "xb:Exchange.BindOk",
        "xu:Exchange.UnbindOk",
        "qu:Queue.UnbindOk",
        "qp:Queue.PurgeOk",
        "qd:Queue.DeleteOk",
        "xd2:Exchange.DeleteOk",
        "xd:Exchange.DeleteOk",
    ]


def test_nowait_declares_and_server_named_queue(harness: Harness) -> None:
    h = harness
    exchange = _name("nowait")
    names: list[str] = []

    def body(ch: Channel) -> None:
        def declared(frame: Any) -> None:
            names.append(frame.method.queue)
            # The passive declare only succeeds if the nowait declare happened first.
            ch.exchange_declare(exchange, passive=True, callback=h.cb(lambda _f: delete()))

        def delete() -> None:
            ch.exchange_delete(exchange)
            ch.basic_qos(prefetch_count=1, callback=h.cb(lambda _f: h.finish()))

        ch.exchange_declare(exchange, "direct")  # callback None: nowait
        ch.queue_declare("", exclusive=True, callback=h.cb(declared))

    with_channel(h, body)
    assert names[0].startswith("amq.gen-")


def test_channel_closed_by_broker(harness: Harness) -> None:
    h = harness
    seen: dict[str, Any] = {}

    def body(ch: Channel) -> None:
        def on_close(channel: Channel, exc: BaseException) -> None:
            seen["exc"] = exc
            assert channel.is_closed
            with pytest.raises(exceptions.ChannelWrongStateError):
                channel.basic_publish("", "x", b"after close")
            assert channel.connection.is_open
            h.finish()

        ch.add_on_close_callback(h.cb(on_close))
        ch.queue_declare(_name("missing"), passive=True, callback=h.cb(lambda _f: None))

    with_channel(h, body)
    assert isinstance(seen["exc"], exceptions.ChannelClosedByBroker)
    assert seen["exc"].reply_code == 404
    assert "NOT_FOUND" in seen["exc"].reply_text


# ---------------------------------------------------------------------------------------------
# Publishing and consuming


def _queue_then(h: Harness, ch: Channel, then: Any, **arguments: Any) -> None:
    ch.queue_declare(
        "",
        exclusive=True,
        arguments=arguments or None,
        callback=h.cb(lambda f: then(f.method.queue)),
    )


def test_publish_consume_ack_nack_reject(harness: Harness) -> None:
    h = harness
    log: list[Any] = []

    def body(ch: Channel) -> None:
        def ready(queue: str) -> None:
            for text in (b"ack-me", b"nack-me", b"reject-me"):
                ch.basic_publish("", queue, text)

            def on_message(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
                log.append((body_, method.redelivered))
                if body_ == b"ack-me":
                    channel.basic_ack(method.delivery_tag)
                elif body_ == b"nack-me":
                    channel.basic_nack(method.delivery_tag, requeue=False)
                elif not method.redelivered:
                    channel.basic_reject(method.delivery_tag, requeue=True)
                else:
                    channel.basic_ack(method.delivery_tag)
                    with pytest.raises(TypeError):
                        channel.basic_ack("1")  # type: ignore[arg-type]
                    ch.queue_declare(queue, passive=True, callback=h.cb(check_empty))

            def check_empty(frame: Any) -> None:
                log.append(("count", frame.method.message_count))
                h.finish()

            tag = ch.basic_consume(queue, on_message)
            assert tag.startswith(f"ctag{ch.channel_number}.") and len(tag.split(".")[1]) == 32
            assert ch.consumer_tags == [tag]
            with pytest.raises(exceptions.DuplicateConsumerTag):
                ch.basic_consume(queue, on_message, consumer_tag=tag)

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert log == [
        (b"ack-me", False),
        (b"nack-me", False),
        (b"reject-me", False),
        (b"reject-me", True),
        ("count", 0),
    ]


def test_prefetch_limits_unacked_deliveries(harness: Harness) -> None:
    h = harness
    received: list[int] = []

    def body(ch: Channel) -> None:
        def ready(queue: str) -> None:
            for i in range(5):
                ch.basic_publish("", queue, str(i))
            ch.basic_qos(prefetch_count=2, callback=h.cb(lambda _f: consume(queue)))

        def consume(queue: str) -> None:
            def on_message(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
                received.append(method.delivery_tag)
                if len(received) > 2:
                    channel.basic_ack(method.delivery_tag)
                if len(received) == 5:
                    h.finish()

            ch.basic_consume(queue, on_message)
            h.later(0.5, check_window)

        def check_window() -> None:
            assert received == [1, 2], received  # the window is full without acks
            ch.basic_ack(2, multiple=True)

        with pytest.raises(ValueError):
            ch.basic_qos(prefetch_count=-1)
        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert received == [1, 2, 3, 4, 5]


def test_basic_get_and_get_empty(harness: Harness) -> None:
    h = harness
    log: list[Any] = []

    def body(ch: Channel) -> None:
        def ready(queue: str) -> None:
            ch.add_callback(h.cb(lambda f: on_empty(queue, f)), [spec.Basic.GetEmpty])
            ch.basic_get(queue, h.cb(lambda *a: pytest.fail("no message expected")))

        def on_empty(queue: str, frame: Any) -> None:
            log.append(frame.method.NAME)
            props = spec.BasicProperties(content_type="text/plain", headers={"k": 1})
            ch.basic_publish("", queue, b"got", props)
            ch.basic_get(queue, h.cb(on_get), auto_ack=True)
            with pytest.raises(exceptions.DuplicateGetOkCallback):
                ch.basic_get(queue, h.cb(on_get))

        def on_get(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
            log.append(
                (method.NAME, body_, props.content_type, props.headers, method.message_count)
            )
            h.finish()

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert log == ["Basic.GetEmpty", ("Basic.GetOk", b"got", "text/plain", {"k": 1}, 0)]


def test_large_message_round_trip(harness: Harness) -> None:
    h = harness
    payload = bytes(range(256)) * (10 * 1024 * 1024 // 256)  # 10 MiB
    got: list[bytes] = []

    def body(ch: Channel) -> None:
        def ready(queue: str) -> None:
            ch.basic_publish("", queue, payload)

            def on_message(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
                got.append(body_)
                channel.basic_ack(method.delivery_tag)
                h.finish()

            ch.basic_consume(queue, on_message)

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert len(got) == 1 and got[0] == payload


# ---------------------------------------------------------------------------------------------
# Publisher confirms


def test_confirms_ack_with_sequence_numbers(harness: Harness) -> None:
    h = harness
    sequence: list[int] = []
    acked: set[int] = set()

    def body(ch: Channel) -> None:
        with pytest.raises(ValueError):
            ch.confirm_delivery(None)  # type: ignore[arg-type]

        def on_ack_nack(frame: Any) -> None:
            method = frame.method
            assert method.NAME == "Basic.Ack"
            upto = method.delivery_tag
            acked.update(s for s in sequence if (s <= upto if method.multiple else s == upto))
            if len(acked) == 5:
                h.finish()

        def ready(queue: str) -> None:
            assert ch.last_publish_sequence_number == 0
            ch.confirm_delivery(on_ack_nack, callback=h.cb(lambda _f: publish(queue)))

        def publish(queue: str) -> None:
            for _ in range(5):
                ch.basic_publish("", queue, b"m")
                sequence.append(ch.last_publish_sequence_number)

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert sequence == [1, 2, 3, 4, 5]
    assert acked == {1, 2, 3, 4, 5}


def test_confirms_nack_when_queue_rejects(harness: Harness) -> None:
    h = harness
    outcome: dict[int, str] = {}

    def body(ch: Channel) -> None:
        def on_ack_nack(frame: Any) -> None:
            method = frame.method
            kind = "ack" if method.NAME == "Basic.Ack" else "nack"
            tags = range(1, method.delivery_tag + 1) if method.multiple else [method.delivery_tag]
            for tag in tags:
                outcome.setdefault(tag, kind)
            if len(outcome) == 3:
                h.finish()

        def ready(queue: str) -> None:
            ch.confirm_delivery(on_ack_nack)  # nowait Confirm.Select
            for _ in range(3):
                ch.basic_publish("", queue, b"m")

        _queue_then(h, ch, ready, **{"x-max-length": 1, "x-overflow": "reject-publish"})

    with_channel(h, body)
    assert outcome == {1: "ack", 2: "nack", 3: "nack"}


def test_mandatory_unroutable_is_returned_then_acked(harness: Harness) -> None:
    h = harness
    log: list[Any] = []

    def body(ch: Channel) -> None:
        def on_return(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
            log.append(("return", method.reply_code, method.routing_key, body_))

        def on_ack_nack(frame: Any) -> None:
            log.append((frame.method.NAME, frame.method.delivery_tag))
            h.finish()

        ch.add_on_return_callback(h.cb(on_return))
        ch.confirm_delivery(h.cb(on_ack_nack), callback=h.cb(lambda _f: publish()))

        def publish() -> None:
            ch.basic_publish("", _name("nowhere"), b"lost", mandatory=True)
            assert ch.last_publish_sequence_number == 1

    with_channel(h, body)
    assert log[0][0] == "return" and log[0][1] == spec.NO_ROUTE and log[0][3] == b"lost"
    assert log[1] == ("Basic.Ack", 1)


# ---------------------------------------------------------------------------------------------
# Broker-initiated events


def test_consumer_cancel_notification_when_queue_deleted(harness: Harness) -> None:
    h = harness
    cancelled: list[Any] = []
    queue = _name("cancel")

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=h.cb(lambda ch: consumer_ready(conn, ch)))

    def consumer_ready(conn: Any, ch: Channel) -> None:
        def on_cancel(frame: Any) -> None:
            cancelled.append((frame.method.NAME, frame.method.consumer_tag, ch.consumer_tags))
            h.finish()

        ch.add_on_cancel_callback(h.cb(on_cancel))

        def consumed(_frame: Any) -> None:
            conn.channel(on_open_callback=h.cb(lambda other: other.queue_delete(queue)))

        def declared(_frame: Any) -> None:
            cancelled.append(
                ch.basic_consume(queue, h.cb(lambda *a: None), callback=h.cb(consumed))
            )

        ch.queue_declare(queue, auto_delete=False, callback=h.cb(declared))

    h.connect(on_open)
    h.run()
    tag = cancelled[0]
    assert cancelled[1] == ("Basic.Cancel", tag, [])


@contextlib.contextmanager
def _memory_alarm() -> Iterator[None]:
    """Trigger the broker's memory alarm; always restore the watermark (exclusive lock)."""
    with open(WATERMARK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            subprocess.run(
                ["rabbitmqctl", "set_vm_memory_high_watermark", "0.4"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            fcntl.flock(lock, fcntl.LOCK_UN)


def _set_alarm() -> None:
    subprocess.run(
        ["rabbitmqctl", "set_vm_memory_high_watermark", "0.0000001"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _clear_alarm() -> None:
    subprocess.run(
        ["rabbitmqctl", "set_vm_memory_high_watermark", "0.4"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_connection_blocked_and_unblocked(harness: Harness) -> None:
    h = harness
    log: list[Any] = []

    def body(ch: Channel) -> None:
        conn = ch.connection

        def on_blocked(c: Any, frame: Any) -> None:
            log.append(("blocked", frame.method.NAME))
            threading.Thread(target=_clear_alarm, daemon=True).start()

        def on_unblocked(c: Any, frame: Any) -> None:
            log.append(("unblocked", frame.method.NAME))
            h.finish()

        conn.add_on_connection_blocked_callback(h.cb(on_blocked))
        conn.add_on_connection_unblocked_callback(h.cb(on_unblocked))
        _set_alarm()
        ch.basic_publish("", _name("blocked"), b"m")  # blocking applies to publishers

    with _memory_alarm():
        with_channel(h, body)
    assert log == [("blocked", "Connection.Blocked"), ("unblocked", "Connection.Unblocked")]


def test_blocked_connection_timeout_closes_the_connection(harness: Harness) -> None:
    h = harness

    def body(ch: Channel) -> None:
        ch.connection.add_on_close_callback(h.cb(lambda _c, _e: h.stop()))
        _set_alarm()
        ch.basic_publish("", _name("blocked"), b"m")

    with _memory_alarm():
        with_channel(h, body, blocked_connection_timeout=1.0)
    assert any(isinstance(e, exceptions.ConnectionBlockedTimeout) for e in h.close_reasons)


def test_update_secret(harness: Harness) -> None:
    h = harness
    replies: list[str] = []

    def on_open(conn: Any) -> None:
        with pytest.raises(ValueError):
            conn.update_secret(None, "reason")

        def on_ok(frame: Any) -> None:
            replies.append(frame.method.NAME)
            assert conn.is_open
            h.finish()

        conn.update_secret("guest", "token refresh", callback=h.cb(on_ok))

    h.connect(on_open)
    h.run()
    assert replies == ["Connection.UpdateSecretOk"]


def test_add_callback_threadsafe_from_another_thread(harness: Harness) -> None:
    h = harness
    got: list[Any] = []

    def body(ch: Channel) -> None:
        loop_thread = threading.get_ident()

        def ready(queue: str) -> None:
            def on_message(channel: Channel, method: Any, props: Any, body_: bytes) -> None:
                got.append(body_)
                h.finish()

            ch.basic_consume(queue, on_message, auto_ack=True)

            def from_thread() -> None:
                def on_loop() -> None:
                    got.append(threading.get_ident() == loop_thread)
                    ch.basic_publish("", queue, b"from a thread")

                ch.connection._adapter_add_callback_threadsafe(h.cb(on_loop))

            threading.Thread(target=from_thread).start()

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert got == [True, b"from a thread"]


def test_outbound_buffer_and_drain_callback(harness: Harness) -> None:
    h = harness
    seen: dict[str, Any] = {}

    def body(ch: Channel) -> None:
        conn = ch.connection
        conn.outbound_high_water_mark = 256 * 1024

        def ready(queue: str) -> None:
            payload = b"x" * 65536
            while not conn.is_outbound_congested:
                ch.basic_publish("", queue, payload)
            seen["queued"] = conn.outbound_buffer_size
            conn.add_on_outbound_drained_callback(h.cb(drained))

        def drained(c: Any) -> None:
            seen["after"] = c.outbound_buffer_size
            h.finish()

        _queue_then(h, ch, ready)

    with_channel(h, body)
    assert seen["queued"] > 256 * 1024
    assert seen["after"] <= 256 * 1024


# ---------------------------------------------------------------------------------------------
# Connection loss


def test_heartbeat_timeout_with_a_silent_peer(harness: Harness) -> None:
    h = harness
    times: dict[str, float] = {}
    reasons: list[BaseException] = []

    with SilentPeerServer(heartbeat=1) as server:

        def on_open(conn: Any) -> None:
            times["open"] = time.monotonic()
            conn.channel()  # traffic the peer never answers

        def on_close(_conn: Any, exc: BaseException) -> None:
            times["closed"] = time.monotonic()
            reasons.append(exc)
            h.stop()

        h.driver.connect(
            h.loop,
            ConnectionParameters(host="127.0.0.1", port=server.port, heartbeat=1),
            on_open_callback=h.cb(on_open),
            on_close_callback=on_close,
        )
        h.run(timeout=10)
    assert isinstance(reasons[0], exceptions.AMQPHeartbeatTimeout), reasons
    assert times["closed"] - times["open"] <= 2 * 1 + 1


def test_broker_closing_the_connection_reaches_on_close(harness: Harness) -> None:
    h = harness
    name = _name("conn")
    channel_reasons: list[BaseException] = []

    def body(ch: Channel) -> None:
        ch.add_on_close_callback(h.cb(lambda _c, exc: channel_reasons.append(exc)))
        ch.connection.add_on_close_callback(h.cb(lambda _c, _e: h.stop()))
        h.later(1.0, lambda: _close_by_name(name))

    with_channel(h, body, client_properties={"connection_name": name})
    assert isinstance(h.close_reasons[0], exceptions.ConnectionClosedByBroker)
    assert h.close_reasons[0].reply_code == 320
    assert channel_reasons and channel_reasons[0] is h.close_reasons[0]


def _close_by_name(name: str) -> None:
    """Close the broker connection whose client-provided name is ``name``."""

    def work() -> None:
        for _ in range(20):
            listing = subprocess.run(
                ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout
            for line in listing.splitlines():
                if name in line:
                    pid = line.split("\t", 1)[0]
                    subprocess.run(
                        ["rabbitmqctl", "close_connection", pid, "closed by test"],
                        capture_output=True,
                        timeout=60,
                        check=False,
                    )
                    return
            time.sleep(0.5)

    threading.Thread(target=work, daemon=True).start()


def test_asyncio_connection_on_the_running_default_loop(amqp_url: str) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        seen: list[Any] = []

        def on_channel(ch: Channel) -> None:
            seen.append(ch.is_open)
            ch.connection.close()

        conn = AsyncioConnection(
            URLParameters(amqp_url),
            on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
            on_open_error_callback=lambda _c, exc: done.set_exception(exc),
            on_close_callback=lambda _c, exc: done.set_result([*seen, type(exc).__name__]),
        )
        assert conn.ioloop is loop
        return await asyncio.wait_for(done, 20)

    assert asyncio.run(main()) == [True, "ConnectionClosedByClient"]
