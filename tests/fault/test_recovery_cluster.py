"""Failover in a three-node cluster: SIGKILL the node the client is connected to while it
publishes with confirms to a quorum queue and consumes from it. The client, given all three
endpoints, recovers on a live node, its consumer is re-registered, no confirmed message is lost."""

from __future__ import annotations

import collections
from typing import Any

import pytest

import pika_core as pika
from pika_core.recovery import PublishFailedDuringRecovery

from .recovery_helpers import RECOVERY_QUERY, wait_until
from .support import Cluster

QUEUE = "failover"
TOTAL = 6_000
KILL_AT = 2_000


@pytest.mark.cluster
def test_blocking_client_fails_over_to_a_live_node(cluster: Cluster) -> None:
    cluster.declare_quorum_queue(QUEUE)
    cluster.quorum_queue(QUEUE)
    configs = [pika.URLParameters(url) for url in cluster.urls(RECOVERY_QUERY)]
    connection = pika.BlockingConnection(configs)
    recovered: list[int] = []
    connection.add_on_recovered_callback(lambda c, a, d: recovered.append(a))
    first_port = connection._params.port
    publisher = connection.channel()
    publisher.confirm_delivery(pipelined=True, max_outstanding=500)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=100)
    consumed: collections.Counter[int] = collections.Counter()

    def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
        consumed[int(body)] += 1
        ch.basic_ack(method.delivery_tag)

    consumer.basic_consume(QUEUE, on_message, consumer_tag="failover-consumer")
    handles: dict[int, Any] = {}
    acked: set[int] = set()
    todo: collections.deque[int] = collections.deque(range(TOTAL))
    killed = False
    while todo or handles:
        while todo:
            ident = todo.popleft()
            if ident == KILL_AT and not killed:
                killed = True
                cluster.node_on_port(first_port).kill()
            try:
                handles[ident] = publisher.basic_publish(
                    "", QUEUE, str(ident).encode(), pika.BasicProperties(delivery_mode=2)
                )
            except PublishFailedDuringRecovery:
                todo.append(ident)
            if ident % 100 == 0:
                connection.process_data_events(0)
        try:
            publisher.wait_for_confirms(timeout=60)
        except pika.exceptions.NackError:
            pass
        for ident, handle in list(handles.items()):
            if handle.done():
                del handles[ident]
                if handle.acked:
                    acked.add(ident)
                else:
                    todo.append(ident)
    wait_until(
        lambda: connection.process_data_events(0.1) or acked <= set(consumed),
        60,
        "every confirmed message to be consumed",
    )
    assert recovered, "the connection never recovered"
    assert connection._params.port != first_port
    live = cluster.node_on_port(connection._params.port)
    assert live.consumer_count(QUEUE) == 1
    assert consumer.consumer_tags == ["failover-consumer"]
    missing = acked - set(consumed)
    assert not missing, f"{len(missing)} confirmed messages lost"
    connection.close()
