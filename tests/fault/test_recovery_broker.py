"""Broker-side faults: a node stopped/started and SIGKILLed during confirmed publishing, and
a blackholed connection detected by heartbeats."""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import pytest

import pika_core as pika
from pika_core.recovery import PublishFailedDuringRecovery

from .recovery_helpers import RECOVERY_QUERY, read_all, run_select, with_query
from .support import BrokerNode, FaultProxy

QUEUE = "restart"
# The v2 classic queue index: RabbitMQ 3.10's v1 index could crash the node while recovering a
# journal entry torn by the SIGKILL (function_clause in rabbit_queue_index:parse_segment_entries),
# leaving the node stuck in "Starting broker...". The v2 index is 3.10's recommended one.
QUEUE_ARGUMENTS = {"x-queue-version": 2}
PERSISTENT = pika.BasicProperties(delivery_mode=2)
# The longest the confirms still outstanding after the restarts may take to settle.
SETTLE_S = 60.0
HEARTBEAT = 2


class RecoveryLog(logging.Handler):
    """Times of the 'Connection recovered' log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.recovered: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Connection recovered"):
            self.recovered.append(time.monotonic())


def restart_node(node: BrokerNode, timeline: dict[str, float], cpu: dict[str, float]) -> None:
    """Stop the node, keep it down 3 s (measuring the process's CPU), start it, then SIGKILL it
    and start it again; ``timeline`` gets the moments, ``cpu`` the CPU time around the outage.
    A failure (a node that does not come back) is kept in ``timeline["error"]``, for the test
    to report instead of waiting for a broker that is not coming."""
    try:
        _restart_node(node, timeline, cpu)
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
        timeline["error"] = exc  # type: ignore[assignment]


def _restart_node(node: BrokerNode, timeline: dict[str, float], cpu: dict[str, float]) -> None:
    time.sleep(1.0)
    timeline["stop"] = time.monotonic()
    node.stop()
    timeline["stopped"] = time.monotonic()
    cpu["down_start"] = time.process_time()
    time.sleep(3.0)
    cpu["down_end"] = time.process_time()
    timeline["down_wall"] = time.monotonic() - timeline["stopped"]
    node.start()
    timeline["up1"] = time.monotonic()
    time.sleep(1.5)
    timeline["kill"] = time.monotonic()
    node.kill()
    time.sleep(1.0)
    node.start()
    timeline["up2"] = time.monotonic()
    time.sleep(1.0)


def test_blocking_publisher_survives_node_stop_start_and_sigkill(own_node: BrokerNode) -> None:
    policy_max_delay = 1.0
    url = with_query(own_node.url(), RECOVERY_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True, arguments=QUEUE_ARGUMENTS)
    channel.confirm_delivery(pipelined=True, max_outstanding=500)
    handler = RecoveryLog()
    logger = logging.getLogger("pika_core")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    timeline: dict[str, float] = {}
    cpu: dict[str, float] = {}

    thread = threading.Thread(target=restart_node, args=(own_node, timeline, cpu), daemon=True)
    thread.start()
    outcomes: dict[int, list[str]] = collections.defaultdict(list)
    handles: dict[int, Any] = {}
    retry: collections.deque[int] = collections.deque()
    ident = 0

    def settle() -> None:
        for key, handle in list(handles.items()):
            if handle.done():
                outcomes[key].append(handle.outcome)
                del handles[key]
                if handle.outcome != "acked":
                    retry.append(key)

    def publish(key: int) -> None:
        try:
            handles[key] = channel.basic_publish("", QUEUE, str(key).encode(), PERSISTENT)
        except PublishFailedDuringRecovery:
            outcomes[key].append("failed")
            retry.append(key)

    try:
        while thread.is_alive():
            publish(ident)
            ident += 1
            if ident % 200 == 0:
                settle()
                while retry:
                    publish(retry.popleft())
        if "error" in timeline:
            pytest.fail(f"the node did not come back: {timeline['error']!r}")
        deadline = time.monotonic() + SETTLE_S
        while handles or retry:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{len(handles)} publishes unconfirmed and {len(retry)} to retry "
                    f"{SETTLE_S:.0f} s after the restarts"
                )
            try:
                channel.wait_for_confirms(timeout=30)
            except pika.exceptions.NackError:
                pass
            settle()
            while retry:
                publish(retry.popleft())
        connection.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    # No busy loop while the node was down: the waiting thread mostly slept.
    assert cpu["down_end"] - cpu["down_start"] < 0.5 * timeline["down_wall"]
    # Recovery within the backoff (plus the handshake and replay) after the node is back.
    # (start() returns once the node finished booting; its AMQP port may open a bit earlier.)
    for down, up in ((timeline["stop"], timeline["up1"]), (timeline["kill"], timeline["up2"])):
        after = [t for t in handler.recovered if t > down]
        assert after and after[0] - up <= policy_max_delay + 2.0, (timeline, handler.recovered)
    bodies = collections.Counter(int(body) for body in read_all(own_node, QUEUE))
    acked = [key for key, history in outcomes.items() if history and history[-1] == "acked"]
    assert len(acked) == ident
    missing = [key for key in acked if not bodies[key]]
    assert not missing, f"{len(missing)} confirmed messages lost, e.g. {missing[:5]}"


def test_select_publisher_survives_node_stop_start_and_sigkill(own_node: BrokerNode) -> None:
    """The same scenario over SelectConnection: the I/O loop runs while a thread restarts the node."""
    policy_max_delay = 1.0
    url = with_query(own_node.url(), RECOVERY_QUERY)
    handler = RecoveryLog()
    logger = logging.getLogger("pika_core")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    timeline: dict[str, float] = {}
    cpu: dict[str, float] = {}
    thread = threading.Thread(target=restart_node, args=(own_node, timeline, cpu), daemon=True)
    outcomes: dict[int, list[str]] = collections.defaultdict(list)
    # Application sequence number -> id, oldest first.
    pending: collections.OrderedDict[int, int] = collections.OrderedDict()
    retry: collections.deque[int] = collections.deque()
    state: dict[str, Any] = {"next": 0, "failed_nacks": 0, "refused_while_down": 0}
    # Publishes still unconfirmed when each recovery started (after the channel failed them).
    left_at_loss: list[int] = []

    def on_confirm(frame: Any) -> None:
        method = frame.method
        outcome = "acked" if method.NAME == "Basic.Ack" else "failed"
        if getattr(method, "exception", None) is not None:
            state["failed_nacks"] += 1
        tags = [method.delivery_tag]
        if method.multiple:
            tags = [seq for seq in pending if seq <= method.delivery_tag]
        for seq in tags:
            key = pending.pop(seq, None)
            if key is not None:
                outcomes[key].append(outcome)
                if outcome != "acked":
                    retry.append(key)

    def pump() -> None:
        channel = state["channel"]
        connection = channel.connection
        publishing = thread.is_alive()
        if not publishing and not pending and not retry:
            connection.close()
            return
        sent = 0
        while (retry or publishing) and len(pending) < 500 and sent < 200:
            key = retry.popleft() if retry else state["next"]
            try:
                channel.basic_publish("", QUEUE, str(key).encode(), PERSISTENT)
            except PublishFailedDuringRecovery:
                outcomes[key].append("failed")
                state["refused_while_down"] += 1
                if key == state["next"]:
                    state["next"] += 1
                retry.appendleft(key)
                break
            if key == state["next"]:
                state["next"] += 1
            pending[channel.last_publish_sequence_number] = key
            sent += 1
        # Poll gently while the connection is down: a publish then fails at once.
        connection.ioloop.call_later(0.001 if sent else 0.05, pump)

    def on_declared(_frame: Any) -> None:
        thread.start()
        state["channel"].confirm_delivery(on_confirm, callback=lambda _f: pump())

    def on_channel(channel: Any) -> None:
        state["channel"] = channel
        channel.queue_declare(QUEUE, durable=True, arguments=QUEUE_ARGUMENTS, callback=on_declared)

    def on_open(connection: Any) -> None:
        connection.add_on_recovery_started_callback(
            lambda _c, _e: left_at_loss.append(len(pending))
        )
        connection.channel(on_open_callback=on_channel)

    try:
        connection = run_select(url, on_open, limit=90)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    thread.join(5)
    assert "error" not in timeline, f"the node did not come back: {timeline['error']!r}"
    assert connection.is_closed and not connection.is_recovering
    # Every publish outstanding at a loss failed at once (one RecoveryNack before the recovery
    # started). Whether any was outstanding depends on the moment (a graceful stop may confirm
    # everything first), so the test checks that none was left, and one nack per loss at most.
    assert len(left_at_loss) >= 2 and not any(left_at_loss), left_at_loss
    assert state["failed_nacks"] <= len(left_at_loss)
    assert state["refused_while_down"] >= 1, "no publish was attempted during the outage"
    assert cpu["down_end"] - cpu["down_start"] < 0.5 * timeline["down_wall"]
    for down, up in ((timeline["stop"], timeline["up1"]), (timeline["kill"], timeline["up2"])):
        after = [t for t in handler.recovered if t > down]
        assert after and after[0] - up <= policy_max_delay + 2.0, (timeline, handler.recovered)
    bodies = collections.Counter(int(body) for body in read_all(own_node, QUEUE))
    acked = [key for key, history in outcomes.items() if history and history[-1] == "acked"]
    assert len(acked) == state["next"]
    missing = [key for key in acked if not bodies[key]]
    assert not missing, f"{len(missing)} confirmed messages lost, e.g. {missing[:5]}"


def test_blocking_blackhole_detected_within_two_heartbeats(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), f"{RECOVERY_QUERY}&heartbeat={HEARTBEAT}")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare("blackhole")
    channel.confirm_delivery(pipelined=True)
    fault_proxy.blackhole()
    handles = [channel.basic_publish("", "blackhole", b"x") for _ in range(100)]
    started = time.monotonic()
    with pytest.raises(PublishFailedDuringRecovery) as caught:
        channel.wait_for_confirms(timeout=30)
    detected = time.monotonic() - started
    assert detected <= 2 * HEARTBEAT + 1, detected
    assert len(caught.value.messages) == 100
    assert all(handle.outcome == "failed" for handle in handles)
    fault_proxy.heal()
    assert channel.basic_publish("", "blackhole", b"after") is not None
    assert channel.wait_for_confirms(timeout=30)
    connection.close()


def test_select_blackhole_detected_within_two_heartbeats(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), f"{RECOVERY_QUERY}&heartbeat={HEARTBEAT}")
    state: dict[str, Any] = {"nacks": []}

    def on_confirm(frame: Any) -> None:
        method = frame.method
        if getattr(method, "exception", None) is not None:
            state["nacks"].append((time.monotonic(), method.delivery_tag))
            fault_proxy.heal()
        elif state.get("recovered"):
            state["after"] = method.delivery_tag
            state["channel"].connection.close()

    def on_recovered(connection: Any, _attempts: int, _took: float) -> None:
        state["recovered"] = True
        state["channel"].basic_publish("", "blackhole", b"after")

    def publish_outstanding() -> None:
        fault_proxy.blackhole()
        for _ in range(100):
            state["channel"].basic_publish("", "blackhole", b"x")
        state["published_at"] = time.monotonic()

    def on_channel(channel: Any) -> None:
        state["channel"] = channel
        channel.queue_declare(
            "blackhole",
            callback=lambda _f: channel.confirm_delivery(
                on_confirm, callback=lambda _f: publish_outstanding()
            ),
        )

    def on_open(connection: Any) -> None:
        connection.add_on_recovered_callback(on_recovered)
        connection.channel(on_open_callback=on_channel)

    run_select(url, on_open, limit=60)
    assert len(state["nacks"]) == 1
    failed_at, tag = state["nacks"][0]
    assert tag == 100
    assert failed_at - state["published_at"] <= 2 * HEARTBEAT + 1
    assert state["after"] == 101  # sequence numbers go on after the recovery
