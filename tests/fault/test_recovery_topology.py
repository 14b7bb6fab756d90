"""Topology recovery: exchanges (one bound to another), queues, a server-named exclusive queue,
bindings, 30 tagged consumers, qos and confirm mode, through 10 connection kills.

Before the faults one queue is deleted and 5 consumers are cancelled; after every recovery
the broker lists exactly the expected consumers (same tags), a probe published through every
binding reaches its queue's consumer, the deleted queue is not back, and the renamed-queue
callback reported the server-named queue's new name.
"""

from __future__ import annotations

from typing import Any

import pika_core as pika

from .recovery_helpers import RECOVERY_QUERY, wait_until, with_query
from .support import BrokerNode, FaultProxy

KILLS = 10


def broker_consumers(node: BrokerNode) -> set[tuple[str, str]]:
    lines = node.ctl("list_consumers", "queue_name", "consumer_tag", "-q").splitlines()
    pairs = {(line.split("\t")[0], line.split("\t")[1]) for line in lines if "\t" in line}
    pairs.discard(("queue_name", "consumer_tag"))  # the header some versions print anyway
    return pairs


def broker_queues(node: BrokerNode) -> set[str]:
    lines = node.ctl("list_queues", "name", "-q").splitlines()
    return {line.split("\t")[0] for line in lines if line.strip()} - {"name"}


def test_blocking_topology_survives_ten_kills(
    own_node: BrokerNode, fault_proxy: FaultProxy
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    renames: list[tuple[str, str]] = []
    recoveries: list[int] = []
    connection.add_on_queue_renamed_callback(lambda c, old, new: renames.append((old, new)))
    connection.add_on_recovered_callback(lambda c, a, d: recoveries.append(a))
    ch1 = connection.channel()
    ch2 = connection.channel()
    for channel in (ch1, ch2):
        channel.basic_qos(prefetch_count=10)
    ch1.confirm_delivery()
    exchanges = ["topo.x0", "topo.x1", "topo.x2", "topo.x3", "topo.x4"]
    ch1.exchange_declare("topo.x0", "topic")
    for name in exchanges[1:]:
        ch1.exchange_declare(name, "direct")
    ch1.exchange_bind("topo.x1", "topo.x0", "#")  # x0 forwards everything to x1
    received: dict[str, list[bytes]] = {}
    tag_queue: dict[str, str] = {}

    def on_message(_ch: Any, method: Any, _props: Any, body: bytes) -> None:
        received.setdefault(tag_queue[method.consumer_tag], []).append(body)

    # (exchange to publish to, routing key, queue) per binding; x1's queues are also reached
    # through x0 (the exchange-to-exchange binding).
    routes: list[tuple[str, str, str]] = []
    queues = [f"topo.q{i}" for i in range(20)]
    for i, queue in enumerate(queues):
        ch2.queue_declare(queue)
        exchange = exchanges[i % 5]
        ch2.queue_bind(queue, exchange, f"k{i}")
        routes.append((exchange, f"k{i}", queue))
        if exchange == "topo.x1":
            routes.append(("topo.x0", f"k{i}", queue))
    named = ch1.queue_declare("", exclusive=True).method.queue
    ch1.queue_bind(named, "topo.x2", "server-named")
    routes.append(("topo.x2", "server-named", named))
    consumers: dict[str, str] = {}
    for i, queue in enumerate(queues):
        consumers[f"c{i}"] = queue
        if i < 9:
            consumers[f"c{i}b"] = queue
    consumers["c-named"] = named
    assert len(consumers) == 30
    for number, (tag, queue) in enumerate(sorted(consumers.items())):
        channel = ch1 if number % 2 else ch2
        tag_queue[tag] = queue
        channel.basic_consume(queue, on_message, auto_ack=True, consumer_tag=tag)
    # Before the faults: one queue deleted (its consumer goes), five consumers cancelled.
    ch2.queue_delete("topo.q19")
    routes = [route for route in routes if route[2] != "topo.q19"]
    del consumers["c19"]
    for tag in ("c0b", "c1b", "c2b", "c3b", "c4b"):
        (ch1 if tag in ch1.consumer_tags else ch2).basic_cancel(tag)
        del consumers[tag]
    connection.process_data_events(0.2)

    for kill in range(1, KILLS + 1):
        fault_proxy.reset_all()
        wait_until(
            lambda kill=kill: connection.process_data_events(0.05) or len(recoveries) >= kill,
            30,
            f"recovery {kill}",
        )
        assert len(renames) == kill and renames[-1][0] == named
        named = renames[-1][1]
        for tag, queue in list(consumers.items()):
            if queue == renames[-1][0]:
                consumers[tag] = named
                tag_queue[tag] = named
        routes = [(e, k, named if q == renames[-1][0] else q) for e, k, q in routes]
        expected = {(queue, tag) for tag, queue in consumers.items()}
        assert broker_consumers(own_node) == expected
        assert "topo.q19" not in broker_queues(own_node)
        assert sorted(ch1.consumer_tags + ch2.consumer_tags) == sorted(consumers)
        received.clear()
        for exchange, key, queue in routes:
            ch1.basic_publish(exchange, key, f"probe {kill} {queue}".encode())
        want = {queue for _e, _k, queue in routes}
        wait_until(
            lambda want=want: connection.process_data_events(0.05) or set(received) >= want,
            10,
            "every probe to arrive",
        )
        for _exchange, _key, queue in routes:
            assert f"probe {kill} {queue}".encode() in received[queue]
    connection.close()


def test_asyncio_topology_survives_ten_kills(own_node: BrokerNode, fault_proxy: FaultProxy) -> None:
    """The same scenario over AsyncioConnection, written linearly with futures."""
    import asyncio

    from pika_core.adapters.asyncio_connection import AsyncioConnection

    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        recovered: asyncio.Queue[int] = asyncio.Queue()
        renames: list[tuple[str, str]] = []
        connection = AsyncioConnection(
            pika.URLParameters(url),
            on_open_callback=opened.set_result,
            on_open_error_callback=lambda c, e: opened.set_exception(e),
            custom_ioloop=loop,
        )
        await opened
        connection.add_on_recovered_callback(lambda c, a, d: recovered.put_nowait(a))
        connection.add_on_queue_renamed_callback(lambda c, o, n: renames.append((o, n)))

        def call(method: Any, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            future: asyncio.Future[Any] = loop.create_future()
            method(*args, callback=future.set_result, **kwargs)
            return future

        async def channel() -> Any:
            future: asyncio.Future[Any] = loop.create_future()
            connection.channel(on_open_callback=future.set_result)
            return await future

        ch1, ch2 = await channel(), await channel()
        for ch in (ch1, ch2):
            await call(ch.basic_qos, prefetch_count=10)
        await call(ch1.confirm_delivery, lambda _frame: None)
        await call(ch1.exchange_declare, "topo.x0", "topic")
        for name in ("topo.x1", "topo.x2", "topo.x3", "topo.x4"):
            await call(ch1.exchange_declare, name, "direct")
        await call(ch1.exchange_bind, "topo.x1", "topo.x0", "#")
        received: dict[str, list[bytes]] = {}
        tag_queue: dict[str, str] = {}

        def on_message(_ch: Any, method: Any, _props: Any, body: bytes) -> None:
            received.setdefault(tag_queue[method.consumer_tag], []).append(body)

        routes: list[tuple[str, str, str]] = []
        queues = [f"topo.q{i}" for i in range(20)]
        for i, queue in enumerate(queues):
            await call(ch2.queue_declare, queue)
            exchange = f"topo.x{i % 5}"
            await call(ch2.queue_bind, queue, exchange, f"k{i}")
            routes.append((exchange, f"k{i}", queue))
            if exchange == "topo.x1":
                routes.append(("topo.x0", f"k{i}", queue))
        named = (await call(ch1.queue_declare, "", exclusive=True)).method.queue
        await call(ch1.queue_bind, named, "topo.x2", "server-named")
        routes.append(("topo.x2", "server-named", named))
        consumers = {f"c{i}": q for i, q in enumerate(queues)}
        consumers.update({f"c{i}b": queues[i] for i in range(9)})
        consumers["c-named"] = named
        assert len(consumers) == 30
        for number, (tag, queue) in enumerate(sorted(consumers.items())):
            tag_queue[tag] = queue
            ch = ch1 if number % 2 else ch2
            await call(ch.basic_consume, queue, on_message, auto_ack=True, consumer_tag=tag)
        await call(ch2.queue_delete, "topo.q19")
        routes = [route for route in routes if route[2] != "topo.q19"]
        del consumers["c19"]
        for tag in ("c0b", "c1b", "c2b", "c3b", "c4b"):
            await call((ch1 if tag in ch1.consumer_tags else ch2).basic_cancel, tag)
            del consumers[tag]

        for kill in range(1, KILLS + 1):
            fault_proxy.reset_all()
            await asyncio.wait_for(recovered.get(), 30)
            old, named = renames[-1]
            assert len(renames) == kill
            for tag, queue in list(consumers.items()):
                if queue == old:
                    consumers[tag] = tag_queue[tag] = named
            routes = [(e, k, named if q == old else q) for e, k, q in routes]
            listed = await loop.run_in_executor(None, broker_consumers, own_node)
            assert listed == {(queue, tag) for tag, queue in consumers.items()}
            assert "topo.q19" not in await loop.run_in_executor(None, broker_queues, own_node)
            assert sorted(ch1.consumer_tags + ch2.consumer_tags) == sorted(consumers)
            received.clear()
            for exchange, key, queue in routes:
                ch1.basic_publish(exchange, key, f"probe {kill} {queue}".encode())
            for _ in range(100):
                if all(f"probe {kill} {q}".encode() in received.get(q, []) for _e, _k, q in routes):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"probes missing after recovery {kill}: {received}")
        closed: asyncio.Future[Any] = loop.create_future()
        connection.add_on_close_callback(lambda c, e: closed.set_result(e))
        connection.close()
        await closed

    asyncio.run(asyncio.wait_for(scenario(), 110))
