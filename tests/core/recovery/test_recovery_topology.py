"""Topology recording (declares, deletes, cancels, renames) and the replay's dependency order.

The replay is driven with a fake protocol that records commands, so the order of the
requests on the wire and the events it claims are checked without a broker.
"""

from __future__ import annotations

from typing import Any

from pika_core import exceptions, spec
from pika_core.protocol import events as ev
from pika_core.recovery import Topology, TopologyReplay


def record(topology: Topology, channel: int, request: Any, reply: Any = None) -> None:
    topology.record_reply(channel, request, reply)


def declared_app_topology() -> Topology:
    t = Topology()
    record(t, 1, spec.Exchange.Declare(exchange="src", type="topic", durable=True))
    record(t, 1, spec.Exchange.Declare(exchange="dst", type="fanout"))
    record(t, 1, spec.Exchange.Bind(destination="dst", source="src", routing_key="a.#"))
    record(t, 1, spec.Queue.Declare(queue="q1", durable=True))
    record(t, 1, spec.Queue.Declare(queue="", exclusive=True), spec.Queue.DeclareOk("amq.gen-1"))
    record(t, 1, spec.Queue.Bind(queue="q1", exchange="dst", routing_key=""))
    record(t, 1, spec.Queue.Bind(queue="amq.gen-1", exchange="src", routing_key="b"))
    record(t, 2, spec.Basic.Qos(prefetch_count=100), spec.Basic.QosOk())
    record(t, 2, spec.Confirm.Select(), spec.Confirm.SelectOk())
    consume = spec.Basic.Consume(queue="amq.gen-1", consumer_tag="tag-a")
    record(t, 2, consume, spec.Basic.ConsumeOk("tag-a"))
    record(
        t, 2, spec.Basic.Consume(queue="q1", consumer_tag="tag-b"), spec.Basic.ConsumeOk("tag-b")
    )
    return t


def test_records_what_the_application_declared():
    t = declared_app_topology()
    assert list(t.exchanges) == ["src", "dst"]
    assert t.exchanges["src"].durable and t.exchanges["src"].type == "topic"
    assert list(t.queues) == ["q1", "amq.gen-1"]
    assert t.queues["amq.gen-1"].server_named and not t.queues["q1"].server_named
    assert sorted((b.destination, b.exchange_to_exchange) for b in t.bindings.values()) == [
        ("amq.gen-1", False),
        ("dst", True),
        ("q1", False),
    ]
    assert [c.tag for c in t.consumers_of(2)] == ["tag-a", "tag-b"]
    assert t.channels[2].qos == {False: (0, 100)} and t.channels[2].confirm


def test_passive_declares_and_the_default_exchange_are_not_recorded():
    t = Topology()
    record(t, 1, spec.Exchange.Declare(exchange="x", passive=True))
    record(t, 1, spec.Exchange.Declare(exchange=""))
    record(t, 1, spec.Queue.Declare(queue="q", passive=True))
    assert not t.exchanges and not t.queues


def test_deletes_unbinds_and_cancels_remove_what_they_name():
    t = declared_app_topology()
    record(t, 2, spec.Basic.Cancel(consumer_tag="tag-b"), spec.Basic.CancelOk("tag-b"))
    assert [c.tag for c in t.consumers_of(2)] == ["tag-a"]
    record(t, 1, spec.Queue.Unbind(queue="q1", exchange="dst", routing_key=""))
    assert all(b.destination != "q1" for b in t.bindings.values())
    record(t, 1, spec.Exchange.Delete(exchange="src"))
    assert "src" not in t.exchanges
    assert all("src" not in (b.source, b.destination) for b in t.bindings.values())
    record(t, 1, spec.Queue.Delete(queue="amq.gen-1"))
    assert "amq.gen-1" not in t.queues and not t.consumers_of(2)
    t.consumer_cancelled(5, "unknown")  # harmless


def test_auto_delete_queue_goes_with_its_last_consumer_and_exchange_with_its_last_binding():
    t = Topology()
    record(t, 1, spec.Exchange.Declare(exchange="ax", auto_delete=True))
    record(t, 1, spec.Queue.Declare(queue="aq", auto_delete=True))
    record(t, 1, spec.Queue.Bind(queue="aq", exchange="ax", routing_key="k"))
    record(t, 1, spec.Basic.Consume(queue="aq", consumer_tag="c1"), spec.Basic.ConsumeOk("c1"))
    record(t, 1, spec.Basic.Consume(queue="aq", consumer_tag="c2"), spec.Basic.ConsumeOk("c2"))
    t.consumer_cancelled(1, "c1")
    assert "aq" in t.queues
    t.consumer_cancelled(1, "c2")  # the broker deletes the queue now, then the exchange
    assert "aq" not in t.queues and "ax" not in t.exchanges and not t.bindings


def test_closing_a_channel_forgets_its_settings_and_consumers():
    t = declared_app_topology()
    t.channel_closed(2)
    assert 2 not in t.channels and not t.consumers


def test_nowait_requests_are_recorded_when_sent():
    t = Topology()
    t.record_sent(3, spec.Confirm.Select(nowait=True))
    t.record_sent(3, spec.Queue.Declare(queue="q", nowait=True))
    t.record_sent(3, spec.Queue.Declare(queue="", nowait=True))  # name unknown: skipped
    t.record_sent(3, spec.Exchange.Declare(exchange="x"))  # not nowait: waits for the reply
    assert t.channels[3].confirm and list(t.queues) == ["q"] and not t.exchanges


def test_rename_moves_bindings_and_consumers_to_the_new_name():
    t = declared_app_topology()
    t.rename_queue("amq.gen-1", "amq.gen-2")
    assert "amq.gen-2" in t.queues and "amq.gen-1" not in t.queues
    assert t.queues["amq.gen-2"].server_named
    assert any(b.destination == "amq.gen-2" for b in t.bindings.values())
    assert [c.queue for c in t.consumers_of(2)] == ["amq.gen-2", "q1"]


class FakeProtocol:
    """Records the replay's commands; channel numbers come from a counter."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.open: set[int] = set()

    def open_channel(self, number: int) -> None:
        self.open.add(number)
        self.log.append(("open", number))

    def close_channel(self, number: int) -> None:
        self.log.append(("close", number))

    def rpc(self, number: int, method: Any) -> None:
        self.log.append(("rpc", number, method))

    def next_free_channel(self) -> int:
        return max(self.open) + 1 if self.open else 1


def reply_to(replay: TopologyReplay, protocol: FakeProtocol, number: int, method: Any) -> Any:
    """Answer the oldest unanswered rpc on ``number`` with an ``...Ok`` (or ``method``)."""
    for index, entry in enumerate(protocol.log):
        if entry[0] == "rpc" and entry[1] == number and len(entry) == 3:
            protocol.log[index] = (*entry, "answered")
            request = entry[2]
            assert replay.on_event(ev.RPCReply(number, method, None, None, request), 0.0)
            return request
    raise AssertionError(f"no request waiting on channel {number}")


def test_replay_order_rename_and_ready_channels():
    t = declared_app_topology()
    proto = FakeProtocol()
    ready: list[int] = []
    renamed: list[tuple[str, str]] = []
    replay = TopologyReplay(proto, t, [2], ready.append, lambda o, n: renamed.append((o, n)))
    replay.start(0.0)
    assert proto.log[0] == ("open", 2)
    settings = [e[2].NAME for e in proto.log if e[0] == "rpc" and e[1] == 2]
    assert settings == ["Basic.Qos", "Confirm.Select"]
    temp = 3
    assert ("open", temp) in proto.log
    assert replay.on_event(ev.ChannelOpened(2), 0.0)
    assert replay.on_event(ev.ChannelOpened(temp), 0.0)
    reply_to(replay, proto, 2, spec.Basic.QosOk())
    reply_to(replay, proto, 2, spec.Confirm.SelectOk())
    assert ready == []  # the topology is not restored yet
    names = []
    for answer in (
        spec.Exchange.DeclareOk(),
        spec.Exchange.DeclareOk(),
        spec.Queue.DeclareOk("q1"),
        spec.Queue.DeclareOk("amq.gen-NEW"),
        spec.Queue.BindOk(),
        spec.Queue.BindOk(),
        spec.Exchange.BindOk(),
    ):
        names.append(reply_to(replay, proto, temp, answer).NAME)
    assert names[:4] == [
        "Exchange.Declare",
        "Exchange.Declare",
        "Queue.Declare",
        "Queue.Declare",
    ]
    assert sorted(names[4:]) == ["Exchange.Bind", "Queue.Bind", "Queue.Bind"]
    assert renamed == [("amq.gen-1", "amq.gen-NEW")]
    binds = [e[2] for e in proto.log if e[0] == "rpc" and e[2].NAME == "Queue.Bind"]
    assert {b.queue for b in binds} == {"q1", "amq.gen-NEW"}
    assert ("close", temp) in proto.log and ready == [2]
    consumes = [e[2] for e in proto.log if e[0] == "rpc" and e[2].NAME == "Basic.Consume"]
    assert [(c.consumer_tag, c.queue) for c in consumes] == [
        ("tag-a", "amq.gen-NEW"),
        ("tag-b", "q1"),
    ]
    assert not replay.done
    reply_to(replay, proto, 2, spec.Basic.ConsumeOk("tag-a"))
    reply_to(replay, proto, 2, spec.Basic.ConsumeOk("tag-b"))
    assert not replay.done  # the replay channel is still closing
    closed = ev.ChannelClosed(temp, exceptions.ChannelClosedByClient(0, "Normal shutdown"))
    assert replay.on_event(closed, 0.0)
    assert replay.done
    # Events that are not the replay's own go to the facade.
    assert not replay.on_event(ev.Delivery(2, spec.Basic.Deliver(), None, b""), 0.0)


def test_locked_exclusive_queue_is_retried_then_skipped_after_the_timeout():
    t = Topology()
    record(t, 1, spec.Queue.Declare(queue="excl", exclusive=True))
    proto = FakeProtocol()
    replay = TopologyReplay(proto, t, [], lambda n: None, lambda o, n: None, 1.0)
    replay.start(0.0)
    temp = 1
    locked = exceptions.ChannelClosedByBroker(405, "RESOURCE_LOCKED")
    replay.on_event(ev.ChannelOpened(temp), 0.0)
    assert replay.on_event(ev.ChannelClosed(temp, locked), 0.0)
    assert replay.next_deadline() == 0.25
    replay.tick(0.3)
    assert proto.log.count(("open", temp)) == 2
    replay.on_event(ev.ChannelOpened(temp), 0.3)
    declares = [e for e in proto.log if e[0] == "rpc"]
    assert len(declares) == 2 and declares[1][2].queue == "excl"
    # Still locked after the timeout: skipped with a warning, the replay goes on.
    assert replay.on_event(ev.ChannelClosed(temp, locked), 1.5)
    assert replay.next_deadline() is None
    assert [r for r, _e in replay.failures] == [t.queues["excl"]]
    replay.on_event(ev.ChannelOpened(temp), 1.5)
    assert ("close", temp) in proto.log
    replay.on_event(ev.ChannelClosed(temp, exceptions.ChannelClosedByClient(0, "")), 1.5)
    assert replay.done


def test_a_failed_declaration_is_skipped_and_an_application_channel_error_is_left_to_the_facade():
    t = Topology()
    record(t, 1, spec.Exchange.Declare(exchange="x1"))
    record(t, 1, spec.Exchange.Declare(exchange="x2"))
    record(t, 4, spec.Basic.Consume(queue="gone", consumer_tag="c"), spec.Basic.ConsumeOk("c"))
    proto = FakeProtocol()
    ready: list[int] = []
    replay = TopologyReplay(proto, t, [4], ready.append, lambda o, n: None)
    replay.start(0.0)
    temp = 5
    replay.on_event(ev.ChannelOpened(4), 0.0)
    replay.on_event(ev.ChannelOpened(temp), 0.0)
    refused = exceptions.ChannelClosedByBroker(406, "PRECONDITION_FAILED")
    assert replay.on_event(ev.ChannelClosed(temp, refused), 0.0)
    first = next(i for i, e in enumerate(proto.log) if e[0] == "rpc" and e[1] == temp)
    proto.log[first] = (*proto.log[first], "failed")
    replay.on_event(ev.ChannelOpened(temp), 0.0)
    assert reply_to(replay, proto, temp, spec.Exchange.DeclareOk()).exchange == "x2"
    assert ready == [4]
    replay.on_event(ev.ChannelClosed(temp, exceptions.ChannelClosedByClient(0, "")), 0.0)
    not_found = exceptions.ChannelClosedByBroker(404, "NOT_FOUND - no queue 'gone'")
    assert not replay.on_event(ev.ChannelClosed(4, not_found), 0.0)
    assert replay.done
