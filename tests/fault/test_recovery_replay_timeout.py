"""RecoveryPolicy.replay_timeout against a real broker: a recovery whose next endpoint takes the
connection but never answers (no heartbeats either, so nothing else would end the wait) drops
that endpoint after the time limit and recovers on the broker. Without the limit the blocking
call that runs the recovery waited forever."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from support.fake_server import SilentPeerServer

import pika_core as pika

from .recovery_helpers import RECOVERY_QUERY, wait_until
from .support import BrokerNode

QUEUE = "replay-timeout"
LIMIT = 1.0


def test_blocking_recovery_drops_an_endpoint_that_does_not_restore_the_channels(
    own_node: BrokerNode, caplog: pytest.LogCaptureFixture
) -> None:
    with SilentPeerServer(heartbeat=0) as silent:
        query = f"{RECOVERY_QUERY}&recovery_replay_timeout={LIMIT}&heartbeat=0"
        endpoints = [
            pika.URLParameters(own_node.url(query)),
            pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{silent.port}/%2F?heartbeat=0"),
        ]
        connection = pika.BlockingConnection(endpoints)
        recovered: list[float] = []
        connection.add_on_recovered_callback(lambda c, attempts, took: recovered.append(took))
        channel = connection.channel()
        channel.queue_declare(QUEUE)
        received: list[bytes] = []

        def on_message(_ch: Any, _method: Any, _props: Any, body: bytes) -> None:
            received.append(body)

        channel.basic_consume(QUEUE, on_message, auto_ack=True)
        assert not silent.opened.is_set()

        lost_at = time.monotonic()
        own_node.close_connections()  # 320 CONNECTION_FORCED: recoverable
        with caplog.at_level(logging.WARNING, logger="pika_core"):
            wait_until(
                lambda: connection.process_data_events(0.1) or bool(recovered),
                30,
                "the recovery",
            )
        # The attempt went to the next endpoint first: it opened AMQP and then said nothing.
        assert silent.opened.is_set()
        assert "Recovery attempt abandoned" in caplog.text
        assert "replay_timeout" in caplog.text
        assert time.monotonic() - lost_at >= LIMIT
        assert recovered[0] >= LIMIT
        assert connection._params.port == own_node.amqp_port
        # Restored on the broker: the consumer gets what is published now.
        channel.basic_publish("", QUEUE, b"after")
        wait_until(
            lambda: connection.process_data_events(0.1) or received == [b"after"],
            10,
            "the delivery on the recovered consumer",
        )
        connection.close()
