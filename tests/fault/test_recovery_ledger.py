"""Ledger checks: no confirmed message lost across proxy resets, exactly one outcome per publish.

50,000 persistent publishes with confirms while the proxy resets the connection 5 times at
random points. Publishes that failed (PublishFailedDuringRecovery, a nack) are republished;
at the end every id is in the queue, and an id appears more than once only if one of its
publishes was reported failed.
"""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest

import pika_core as pika
from pika_core.recovery import PublishFailedDuringRecovery

from .recovery_helpers import RECOVERY_QUERY, read_all, run_select, with_query
from .support import BrokerNode, FaultProxy

TOTAL = 50_000
RESETS = 5
QUEUE = "ledger"
PERSISTENT = pika.BasicProperties(delivery_mode=2)


def reset_points(rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(2_000, TOTAL - 2_000), RESETS))


def check_ledger(node: BrokerNode, outcomes: dict[int, list[str]]) -> None:
    """Every id acked once at the end; duplicates only for ids with a failed publish."""
    assert len(outcomes) == TOTAL
    for ident, history in outcomes.items():
        assert history[-1] == "acked", (ident, history)
        assert history.count("acked") == 1, (ident, history)
        assert "pending" not in history
    bodies = read_all(node, QUEUE)
    counts = collections.Counter(int(body) for body in bodies)
    missing = [ident for ident in range(TOTAL) if counts[ident] == 0]
    assert not missing, f"{len(missing)} confirmed messages missing, e.g. {missing[:5]}"
    for ident, count in counts.items():
        if count > 1:
            assert any(o != "acked" for o in outcomes[ident]), (ident, count, outcomes[ident])


def test_blocking_publisher_loses_no_confirmed_message(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    rng = random.Random(7)
    points = reset_points(rng)
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    recoveries: list[int] = []
    connection.add_on_recovered_callback(lambda c, attempts, took: recoveries.append(attempts))
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.confirm_delivery(pipelined=True, max_outstanding=2_000)
    outcomes: dict[int, list[str]] = {}
    handles: dict[int, Any] = {}
    retry: collections.deque[int] = collections.deque()

    def settle_done() -> None:
        for ident, handle in list(handles.items()):
            if handle.done():
                outcomes[ident].append(handle.outcome)
                del handles[ident]
                if handle.outcome != "acked":
                    retry.append(ident)

    def publish(ident: int) -> None:
        outcomes.setdefault(ident, [])
        try:
            handles[ident] = channel.basic_publish("", QUEUE, str(ident).encode(), PERSISTENT)
        except PublishFailedDuringRecovery:
            outcomes[ident].append("failed")
            retry.append(ident)

    for ident in range(TOTAL):
        if points and ident >= points[0] and connection.is_open:
            points.pop(0)
            fault_proxy.reset_all()
            while connection.is_open:  # until the client has seen this reset
                connection.process_data_events(0.01)
        publish(ident)
        if ident % 500 == 0:
            settle_done()
            while retry:
                publish(retry.popleft())
    while handles or retry:
        try:
            channel.wait_for_confirms(timeout=30)
        except pika.exceptions.NackError:
            pass  # PublishFailedDuringRecovery included: settled below, republished
        settle_done()
        while retry:
            publish(retry.popleft())
    connection.process_data_events(0)  # blocking callbacks run only in such calls
    connection.close()
    assert len(recoveries) == RESETS
    check_ledger(own_node, outcomes)


def test_select_publisher_loses_no_confirmed_message(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    rng = random.Random(11)
    points = reset_points(rng)
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)
    outcomes: dict[int, list[str]] = {}
    # Application sequence number -> id, oldest first.
    pending: collections.OrderedDict[int, int] = collections.OrderedDict()
    todo: collections.deque[int] = collections.deque(range(TOTAL))
    state: dict[str, Any] = {"recoveries": 0, "failed_nacks": 0, "resets": 0}

    def on_confirm(frame: Any) -> None:
        method = frame.method
        outcome = "acked" if method.NAME == "Basic.Ack" else "failed"
        if getattr(method, "exception", None) is not None:
            state["failed_nacks"] += 1
        tags = [method.delivery_tag]
        if method.multiple:
            tags = [seq for seq in pending if seq <= method.delivery_tag]
        for seq in tags:
            ident = pending.pop(seq, None)
            if ident is None:
                continue
            outcomes[ident].append(outcome)
            if outcome != "acked":
                todo.append(ident)
        channel = state["channel"]
        if not pending and not todo:
            channel.connection.close()

    def pump() -> None:
        channel = state["channel"]
        connection = channel.connection
        sent = 0
        while todo and len(pending) < 2_000 and sent < 500:
            ident = todo.popleft()
            outcomes.setdefault(ident, [])
            if (
                points
                and ident >= points[0]
                and connection.is_open
                and state["resets"] == state["recoveries"]
            ):
                # Each reset hits an open connection, never one still recovering.
                points.pop(0)
                state["resets"] += 1
                fault_proxy.reset_all()
            try:
                channel.basic_publish("", QUEUE, str(ident).encode(), PERSISTENT)
            except PublishFailedDuringRecovery:
                outcomes[ident].append("failed")
                todo.appendleft(ident)
                break
            pending[channel.last_publish_sequence_number] = ident
            sent += 1
        connection.ioloop.call_later(0.001 if sent else 0.02, pump)

    def on_declared(_frame: Any) -> None:
        state["channel"].confirm_delivery(on_confirm, callback=lambda _f: pump())

    def on_channel(channel: Any) -> None:
        state["channel"] = channel
        channel.queue_declare(QUEUE, durable=True, callback=on_declared)

    def on_open(connection: Any) -> None:
        connection.add_on_recovered_callback(
            lambda c, a, d: state.__setitem__("recoveries", state["recoveries"] + 1)
        )
        connection.channel(on_open_callback=on_channel)

    run_select(url, on_open, limit=110)
    assert state["recoveries"] == RESETS
    assert state["failed_nacks"] >= 1, "no outstanding publish was failed by a recovery"
    check_ledger(own_node, outcomes)


@pytest.fixture(autouse=True)
def _fresh_queue(own_node: BrokerNode) -> None:
    """The own node is wiped per test by the fixture; nothing else to prepare."""
