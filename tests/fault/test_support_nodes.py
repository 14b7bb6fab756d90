"""The tests' own broker nodes and cluster: start, stop, kill, restart, close connections."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import pika_core as pika
from pika_core import exceptions

from .support import BrokerNode, Cluster, kill_leftover_nodes
from .support.workspace import FORBIDDEN_PORTS, allocate_ports, pid_alive


def _queue_name() -> str:
    return f"node-{uuid.uuid4().hex[:8]}"


# --- no broker needed ------------------------------------------------------------------------


def test_ports_never_touch_the_default_node() -> None:
    taken: list[int] = []
    for _ in range(5):
        amqp, management, dist = allocate_ports(taken)
        taken += [amqp, management, dist]
        assert (management, dist) == (amqp + 10000, amqp + 20000)
        assert not {amqp, management, dist} & FORBIDDEN_PORTS
    assert len(set(taken)) == len(taken)


def test_leftovers_of_a_dead_run_are_killed(tmp_path: Path) -> None:
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    stale = tmp_path / f"run-{dead_owner.pid}"
    live = tmp_path / f"run-{os.getpid()}-other"
    for run_dir, owner in ((stale, dead_owner.pid), (live, os.getppid())):
        (run_dir / "node").mkdir(parents=True)
        (run_dir / "owner").write_text(f"{owner}\n")
    # Stand-ins for beam processes: their command lines name their run directories.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    orphan = subprocess.Popen([*sleeper, str(stale / "home")])
    keeper = subprocess.Popen([*sleeper, str(live / "home")])
    unrelated = subprocess.Popen(sleeper)
    try:
        (stale / "node" / "pid").write_text(f"{orphan.pid}\n")
        (live / "node" / "pid").write_text(f"{keeper.pid}\n")
        (stale / "other").mkdir()
        (stale / "other" / "pid").write_text(f"{unrelated.pid}\n")
        time.sleep(0.2)
        assert kill_leftover_nodes(tmp_path) == [orphan.pid]
        assert orphan.wait(timeout=5) == -9
        assert not stale.exists()
        assert live.exists() and pid_alive(keeper.pid)
        assert pid_alive(unrelated.pid), "a pid whose command line does not name the run survived"
    finally:
        for process in (orphan, keeper, unrelated):
            process.kill()
            process.wait()


# --- the session's own node ------------------------------------------------------------------


def test_own_node_is_isolated_and_accepts_amqp(own_node: BrokerNode) -> None:
    assert own_node.amqp_port not in FORBIDDEN_PORTS
    assert own_node.name != "rabbit@localhost"
    queue = _queue_name()
    with pika.BlockingConnection(pika.URLParameters(own_node.url())) as connection:
        channel = connection.channel()
        channel.queue_declare(queue)
        channel.basic_publish("", queue, b"on my own node")
    assert own_node.queue_depth(queue) == 1
    assert [q["name"] for q in own_node.api.queues()] == [queue]


def test_wipe_between_tests_left_no_queue(own_node: BrokerNode) -> None:
    # Runs after the test above: the fixture deleted its queue.
    assert own_node.api.queues() == []


def test_stop_app_forces_clients_off_and_start_app_brings_amqp_back(
    own_node: BrokerNode,
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(own_node.url()))
    started = time.monotonic()
    own_node.stop_app()
    stop_seconds = time.monotonic() - started
    with pytest.raises(exceptions.ConnectionClosedByBroker) as caught:
        connection.process_data_events(time_limit=5)
    assert caught.value.reply_code == 320
    started = time.monotonic()
    own_node.start_app()
    start_seconds = time.monotonic() - started
    with pika.BlockingConnection(pika.URLParameters(own_node.url())) as again:
        assert again.is_open
    print(f"stop_app {stop_seconds:.1f} s, start_app {start_seconds:.1f} s")


def test_kill_and_restart_keeps_the_data(own_node: BrokerNode) -> None:
    queue = _queue_name()
    connection = pika.BlockingConnection(pika.URLParameters(own_node.url()))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True)
    channel.basic_publish(
        "", queue, b"survives", pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    )
    old_pid = own_node.pid
    own_node.kill()
    assert old_pid is not None and not pid_alive(old_pid)
    with pytest.raises(exceptions.StreamLostError):
        connection.process_data_events(time_limit=5)
    restart_seconds = own_node.start()
    assert own_node.pid != old_pid
    with pika.BlockingConnection(pika.URLParameters(own_node.url())) as again:
        _method, _props, body = again.channel().basic_get(queue, auto_ack=True)
    assert body == b"survives"
    print(f"restart after kill -9: {restart_seconds:.1f} s")


def test_close_connection_by_name_over_http(own_node: BrokerNode) -> None:
    params = pika.URLParameters(own_node.url())
    params.client_properties = {"connection_name": "victim"}
    victim = pika.BlockingConnection(params)
    bystander = pika.BlockingConnection(pika.URLParameters(own_node.url()))
    started = time.monotonic()
    assert own_node.close_connections("closed-by-http-test", connection_name="victim") == 1
    listed_and_closed = time.monotonic() - started
    with pytest.raises(exceptions.ConnectionClosedByBroker) as caught:
        victim.process_data_events(time_limit=5)
    assert caught.value.reply_code == 320
    assert "closed-by-http-test" in caught.value.reply_text
    bystander.process_data_events(time_limit=0.5)
    assert bystander.is_open
    bystander.close()
    print(f"listed and closed over HTTP in {listed_and_closed:.2f} s")


def test_close_connections_through_rabbitmqctl(own_node: BrokerNode) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(own_node.url()))
    assert own_node.close_connections_ctl("closed-by-ctl-test") >= 1
    with pytest.raises(exceptions.ConnectionClosedByBroker) as caught:
        connection.process_data_events(time_limit=5)
    assert "closed-by-ctl-test" in caught.value.reply_text


def test_log_is_readable_from_an_offset(own_node: BrokerNode) -> None:
    offset = own_node.log_offset()
    with pika.BlockingConnection(pika.URLParameters(own_node.url())):
        pass
    deadline = time.monotonic() + 5
    while not own_node.log_lines_matching("accepting AMQP connection", offset):
        assert time.monotonic() < deadline, own_node.log_since(offset)
        time.sleep(0.1)
    assert own_node.log_lines_matching("unknown delivery tag", offset) == []


def test_memory_alarm_blocks_publishers(own_node: BrokerNode) -> None:
    events: list[str] = []
    with pika.BlockingConnection(pika.URLParameters(own_node.url())) as connection:
        connection.add_on_connection_blocked_callback(lambda *_: events.append("blocked"))
        connection.add_on_connection_unblocked_callback(lambda *_: events.append("unblocked"))
        channel = connection.channel()
        # RabbitMQ sends connection.blocked once a blocked connection tries to publish.
        own_node.block_publishers()
        channel.basic_publish("", "nowhere", b"x")
        deadline = time.monotonic() + 15
        while "blocked" not in events and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.2)
        own_node.unblock_publishers()
        while "unblocked" not in events and time.monotonic() < deadline + 15:
            connection.process_data_events(time_limit=0.2)
    assert events == ["blocked", "unblocked"]
    assert not own_node.watermark_changed


# --- the cluster -----------------------------------------------------------------------------


@pytest.mark.cluster
def test_cluster_of_three_with_a_replicated_quorum_queue(cluster: Cluster) -> None:
    assert cluster.running_nodes() == sorted(node.name for node in cluster.nodes)
    assert len({node.amqp_port for node in cluster.nodes}) == 3
    queue = _queue_name()
    seed, second, third = cluster.nodes
    cluster.declare_quorum_queue(queue, replicas=3, leader=second)
    info = cluster.quorum_queue(queue)
    assert sorted(info["members"]) == sorted(node.name for node in cluster.nodes)
    assert cluster.leader_of(queue) is second
    # Published through one node, read through another.
    with pika.BlockingConnection(pika.URLParameters(seed.url())) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"replicated")
    with pika.BlockingConnection(pika.URLParameters(third.url())) as connection:
        _method, _props, body = connection.channel().basic_get(queue, auto_ack=True)
    assert body == b"replicated"
    print("cluster timings:", {k: round(v, 1) for k, v in cluster.timings.items()})


@pytest.mark.cluster
def test_cluster_leader_killed_moves_and_the_node_rejoins(cluster: Cluster) -> None:
    queue = _queue_name()
    first = cluster.nodes[0]
    cluster.declare_quorum_queue(queue, replicas=3, leader=first)
    with pika.BlockingConnection(pika.URLParameters(cluster.nodes[1].url())) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"before the kill")
    first.kill()
    deadline = time.monotonic() + 60
    while cluster.leader_of(queue) is first:
        assert time.monotonic() < deadline, "the quorum queue elected no new leader"
        time.sleep(0.5)
    started = time.monotonic()
    cluster.ensure_ready()
    rejoin_seconds = time.monotonic() - started
    assert cluster.running_nodes() == sorted(node.name for node in cluster.nodes)
    assert cluster.nodes[2].queue_depth(queue) == 1
    print(f"killed node restarted and rejoined in {rejoin_seconds:.1f} s")
