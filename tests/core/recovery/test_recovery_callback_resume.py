"""The callback API's channels while a recovery restores consumers, against a scripted server.

Regression test for the failover to a quorum queue (tests/fault/test_recovery_cluster.py):
the replay re-opened a channel without consumers and handed it back at once, so the
application published on it while the queue, leaderless after the failover, still held back
the consume-ok of another channel. RabbitMQ 3.10 then nacks every publish of that channel
for good. Now every channel waits for the whole recovery, as in BlockingConnection: it is
re-opened, and deliveries flow and can be acknowledged once its own consumers are back, but
publishes fail with PublishFailedDuringRecovery and requests are held until the last
consume-ok; then the recovered callbacks run and the held requests go out.

The same harness checks the replay's time limit (RecoveryPolicy.replay_timeout): an endpoint
that takes the connection but never confirms a consumer is dropped, and the next attempt
recovers.

No loop and no socket: a Connection subclass records what it writes and its timers, and the
test feeds it server frames.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import pytest

from pika_core import exceptions, spec
from pika_core.channel import RecoveryNack
from pika_core.connection import Connection
from pika_core.frame import FrameReader, decode_method, encode_header, encode_method
from pika_core.parameters import ConnectionParameters
from pika_core.recovery import PublishFailedDuringRecovery, RecoveryPolicy

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
CAPABILITIES = {"publisher_confirms": True, "basic.nack": True, "consumer_cancel_notify": True}


class ScriptedConnection(Connection):
    """A callback-API connection whose stream is a byte buffer and whose timers a list."""

    def __init__(self, parameters: ConnectionParameters) -> None:
        self.written = bytearray()
        self.timers: list[list[Any]] = []
        self.connects = 0
        super().__init__(parameters)

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        handle = [delay, callback]
        self.timers.append(handle)
        return handle

    def _adapter_remove_timeout(self, timeout_id: Any) -> None:
        if timeout_id in self.timers:
            self.timers.remove(timeout_id)

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        self.timers.append([0.0, callback])

    def _adapter_connect_stream(self) -> None:
        self.connects += 1

    def _adapter_disconnect_stream(self) -> None:
        self.timers.append([0.0, lambda: self._on_stream_terminated(None)])

    def _adapter_emit_data(self, data: bytes) -> None:
        self.written += data

    # -- the test's side ---------------------------------------------------------------------

    def run_timers(self) -> None:
        """Fire every timer that is due now (the recovery's backoff is 0 here)."""
        for _ in range(100):
            due = [timer for timer in self.timers if timer[0] == 0]
            if not due:
                return
            for timer in due:
                self.timers.remove(timer)
                timer[1]()
        raise AssertionError("timers keep re-arming")

    def sent(self) -> list[tuple[int, Any]]:
        """(channel, method) of every method frame written since the last call."""
        self.run_timers()
        data = bytes(self.written)
        self.written.clear()
        if data.startswith(PROTOCOL_HEADER):
            data = data[len(PROTOCOL_HEADER) :]
        reader = FrameReader()
        reader.frame_max = 0
        return [
            (channel, decode_method(payload))
            for kind, channel, payload in reader.feed(data)
            if kind == 1
        ]

    def receive(self, *frames: bytes) -> None:
        """The server sends ``frames``."""
        self._on_data_available(b"".join(frames))
        self.run_timers()

    def reply(self, channel: int, method: Any) -> None:
        self.receive(encode_method(channel, method))

    def handshake(self) -> None:
        """Bring up the stream the connection asked for and open AMQP on it."""
        self._on_stream_connected()
        self.reply(
            0,
            spec.Connection.Start(
                server_properties={"product": "RabbitMQ", "capabilities": CAPABILITIES},
                mechanisms=b"PLAIN",
                locales=b"en_US",
            ),
        )
        self.reply(0, spec.Connection.Tune(2047, 131072, 0))
        assert names(self.sent()) == [
            (0, "Connection.StartOk"),
            (0, "Connection.TuneOk"),
            (0, "Connection.Open"),
        ]
        self.reply(0, spec.Connection.OpenOk())


def names(sent: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(channel, method.NAME) for channel, method in sent]


def delivery(channel: int, tag: str, delivery_tag: int, body: bytes) -> bytes:
    method = spec.Basic.Deliver(tag, delivery_tag, False, "", "q")
    return (
        encode_method(channel, method)
        + encode_header(channel, len(body), None)
        + (bytes([3]) + channel.to_bytes(2, "big") + len(body).to_bytes(4, "big") + body + b"\xce")
    )


@pytest.fixture
def connection() -> ScriptedConnection:
    policy = RecoveryPolicy(initial_delay=0, jitter=0)
    conn = ScriptedConnection(ConnectionParameters(heartbeat=0, recovery=policy))
    conn.handshake()
    assert conn.is_open
    return conn


def test_channels_wait_for_every_consumer_before_taking_publishes_again(
    connection: ScriptedConnection,
) -> None:
    conn = connection
    channels = [conn.channel() for _ in range(3)]
    publisher, consumer_a, consumer_b = channels
    for number in (1, 2, 3):
        conn.reply(number, spec.Channel.OpenOk())
    nacks: list[Any] = []
    publisher.confirm_delivery(lambda frame: nacks.append(frame.method), lambda _frame: None)
    conn.reply(1, spec.Confirm.SelectOk())
    acked_by_app: list[int] = []

    def on_message(ch: Any, method: Any, _props: Any, _body: bytes) -> None:
        acked_by_app.append(method.delivery_tag)
        ch.basic_ack(method.delivery_tag)

    consumer_a.basic_consume("q", on_message, consumer_tag="a")
    conn.reply(2, spec.Basic.ConsumeOk("a"))
    consumer_b.basic_consume("q", on_message, consumer_tag="b")
    conn.reply(3, spec.Basic.ConsumeOk("b"))
    publisher.basic_publish("", "q", b"before")
    assert publisher.last_publish_sequence_number == 1
    recovered: list[int] = []
    conn.add_on_recovered_callback(lambda c, attempts, took: recovered.append(attempts))
    conn.sent()

    conn._on_stream_terminated(exceptions.StreamLostError("reset by the test"))
    assert [type(n) for n in nacks] == [RecoveryNack]  # the outstanding publish failed
    conn.run_timers()
    assert conn.connects == 2 and conn.is_recovering
    conn.handshake()
    sent = names(conn.sent())
    assert sent == [(1, "Channel.Open"), (2, "Channel.Open"), (3, "Channel.Open")]
    for number in (1, 2, 3):
        conn.reply(number, spec.Channel.OpenOk())
    # The consumers are re-registered; the publisher's channel gets its confirm mode back.
    assert names(conn.sent()) == [
        (1, "Confirm.Select"),
        (2, "Basic.Consume"),
        (3, "Basic.Consume"),
    ]
    conn.reply(1, spec.Confirm.SelectOk())
    assert conn.sent() == []
    conn.reply(2, spec.Basic.ConsumeOk("a"))

    # Consumer b's queue has no leader yet: the connection is still recovering. Channel 2's
    # deliveries flow and its acks go out; the publisher's channel takes nothing yet.
    assert conn.is_recovering and not recovered
    conn.receive(delivery(2, "a", 1, b"m1"))
    assert acked_by_app == [1]
    assert [(n, m.NAME, m.delivery_tag) for n, m in conn.sent()] == [(2, "Basic.Ack", 1)]
    for channel in channels:
        assert not channel.is_open
    with pytest.raises(PublishFailedDuringRecovery):
        publisher.basic_publish("", "q", b"too early")
    publisher.queue_declare("declared-while-recovering")
    assert conn.sent() == []  # held

    conn.reply(3, spec.Basic.ConsumeOk("b"))
    assert recovered == [1]
    assert all(channel.is_open for channel in channels)
    assert names(conn.sent()) == [(1, "Queue.Declare")]
    publisher.basic_publish("", "q", b"after")
    assert publisher.last_publish_sequence_number == 2


def test_an_endpoint_that_never_confirms_a_consumer_is_dropped_after_replay_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RecoveryPolicy(initial_delay=0, jitter=0, replay_timeout=0.05)
    conn = ScriptedConnection(ConnectionParameters(heartbeat=0, recovery=policy))
    conn.handshake()
    channel = conn.channel()
    conn.reply(1, spec.Channel.OpenOk())
    channel.basic_consume("q", lambda *_args: None, consumer_tag="c")
    conn.reply(1, spec.Basic.ConsumeOk("c"))
    recovered: list[int] = []
    conn.add_on_recovered_callback(lambda c, attempts, took: recovered.append(attempts))
    conn.sent()

    conn._on_stream_terminated(exceptions.StreamLostError("reset by the test"))
    conn.run_timers()
    assert conn.connects == 2
    conn.handshake()
    assert names(conn.sent()) == [(1, "Channel.Open")]
    conn.reply(1, spec.Channel.OpenOk())
    assert names(conn.sent()) == [(1, "Basic.Consume")]
    # The consume-ok never comes (a queue without a leader): the time limit is the one timer.
    limit = [timer for timer in conn.timers if timer[1] == conn._on_replay_timer]
    assert len(limit) == 1 and 0 < limit[0][0] <= 0.05
    time.sleep(0.06)
    conn.timers.remove(limit[0])
    with caplog.at_level(logging.WARNING, logger="pika_core"):
        limit[0][1]()
        conn.run_timers()
    # That connection is dropped and the next attempt connects again.
    assert conn.connects == 3 and conn.is_recovering and not recovered
    assert "Recovery attempt abandoned" in caplog.text
    assert "replay_timeout" in caplog.text and "1 consumer(s) to be confirmed" in caplog.text
    conn.handshake()
    assert names(conn.sent()) == [(1, "Channel.Open")]
    conn.reply(1, spec.Channel.OpenOk())
    assert names(conn.sent()) == [(1, "Basic.Consume")]
    conn.reply(1, spec.Basic.ConsumeOk("c"))
    assert recovered == [2] and channel.is_open
    assert not [timer for timer in conn.timers if timer[1] == conn._on_replay_timer]


def test_a_locked_queue_retry_is_not_held_back_by_the_replay_time_limit() -> None:
    policy = RecoveryPolicy(initial_delay=0, jitter=0, replay_timeout=30)
    conn = ScriptedConnection(ConnectionParameters(heartbeat=0, recovery=policy))
    conn.handshake()
    channel = conn.channel()
    conn.reply(1, spec.Channel.OpenOk())
    channel.queue_declare("mine", exclusive=True, callback=lambda _frame: None)
    assert names(conn.sent()) == [(1, "Channel.Open"), (1, "Queue.Declare")]
    conn.reply(1, spec.Queue.DeclareOk("mine", 0, 0))

    conn._on_stream_terminated(exceptions.StreamLostError("reset by the test"))
    conn.run_timers()
    conn.handshake()
    assert names(conn.sent()) == [(1, "Channel.Open"), (2, "Channel.Open")]
    conn.reply(1, spec.Channel.OpenOk())
    conn.reply(2, spec.Channel.OpenOk())
    assert names(conn.sent()) == [(2, "Queue.Declare")]
    # The lost connection still holds the exclusive queue: 405, retried after a short pause.
    conn.reply(2, spec.Channel.Close(405, "RESOURCE_LOCKED", 50, 10))
    delays = sorted(timer[0] for timer in conn.timers if timer[1] == conn._on_replay_timer)
    assert len(delays) == 1 and delays[0] < 1.0  # the retry's timer, not the 30 s limit
