"""Ledger check of a manual-ack consumer whose connection is killed 5 times.

20,000 messages, prefetch 100; kills alternate between a proxy reset and
``rabbitmqctl close_connection`` (320 CONNECTION_FORCED). Every message is processed at least
once, a repeat always carries redelivered=True, the broker logs no "unknown delivery tag"
(stale acks were dropped, not sent), and the queue has exactly one consumer after each recovery.
"""

from __future__ import annotations

import collections
from typing import Any

import pika_core as pika

from .recovery_helpers import RECOVERY_QUERY, run_select, with_query
from .support import BrokerNode, FaultProxy

TOTAL = 20_000
QUEUE = "consumed"
KILL_AT = (2_000, 5_500, 9_000, 12_500, 16_000)


def prefill(node: BrokerNode) -> None:
    with pika.BlockingConnection(pika.URLParameters(node.url())) as connection:
        channel = connection.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.confirm_delivery(pipelined=True, max_outstanding=5_000)
        for ident in range(TOTAL):
            channel.basic_publish("", QUEUE, str(ident).encode())
        assert channel.wait_for_confirms(timeout=60)


class Ledger:
    def __init__(self, node: BrokerNode, proxy: FaultProxy) -> None:
        self.node = node
        self.proxy = proxy
        self.seen: collections.Counter[int] = collections.Counter()
        self.bad_repeats: list[int] = []
        self.processed = 0
        self.kills = list(KILL_AT)
        self.consumer_counts: list[int] = []

    def on_message(self, ident: int, redelivered: bool) -> None:
        if self.seen[ident] and not redelivered:
            self.bad_repeats.append(ident)
        self.seen[ident] += 1
        self.processed += 1

    def maybe_kill(self) -> None:
        if self.kills and self.processed >= self.kills[0]:
            number = len(KILL_AT) - len(self.kills)
            self.kills.pop(0)
            if number % 2 == 0:
                self.proxy.reset_all()
            else:
                assert self.node.close_connections_ctl("recovery-test") == 1

    def on_recovered(self) -> None:
        self.consumer_counts.append(self.node.consumer_count(QUEUE))

    def complete(self) -> bool:
        return len(self.seen) == TOTAL

    def check(self, log_offset: int) -> None:
        assert len(self.seen) == TOTAL, f"{TOTAL - len(self.seen)} messages never processed"
        assert not self.bad_repeats, f"repeats without redelivered=True: {self.bad_repeats[:5]}"
        assert self.consumer_counts == [1] * len(KILL_AT)
        assert not self.node.log_lines_matching("unknown delivery tag", log_offset)


def test_blocking_consumer_processes_everything_across_kills(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    prefill(own_node)
    offset = own_node.log_offset()
    ledger = Ledger(own_node, fault_proxy)
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.add_on_recovered_callback(lambda c, a, d: ledger.on_recovered())
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)

    def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
        ledger.on_message(int(body), method.redelivered)
        ch.basic_ack(method.delivery_tag)
        if ledger.complete():
            ch.stop_consuming()
        else:
            ledger.maybe_kill()

    channel.basic_consume(QUEUE, on_message, consumer_tag="the-consumer")
    channel.start_consuming()
    connection.process_data_events(0)
    connection.close()
    ledger.check(offset)


def test_select_consumer_processes_everything_across_kills(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    prefill(own_node)
    offset = own_node.log_offset()
    ledger = Ledger(own_node, fault_proxy)
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)

    def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
        ledger.on_message(int(body), method.redelivered)
        ch.basic_ack(method.delivery_tag)
        if ledger.complete():
            ch.connection.close()
        else:
            ledger.maybe_kill()

    def on_channel(channel: Any) -> None:
        channel.basic_qos(prefetch_count=100)
        channel.basic_consume(QUEUE, on_message, consumer_tag="the-consumer")

    def on_open(connection: Any) -> None:
        connection.add_on_recovered_callback(lambda c, a, d: ledger.on_recovered())
        connection.channel(on_open_callback=on_channel)

    run_select(url, on_open, limit=110)
    ledger.check(offset)
