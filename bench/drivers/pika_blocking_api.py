"""The scenarios written once against pika's BlockingConnection API, for pika and pika-core.

pika-core is a drop-in for pika, so the same code drives both; the only difference is that
pika-core's channel can pipeline publisher confirms (``confirm_delivery(pipelined=True,
max_outstanding=N)``), which pika cannot: pika's confirms run stop-and-wait.
"""

from __future__ import annotations

import importlib
import inspect
import time
from typing import Any

from bench.drivers import CHECK_EVERY, timed
from bench.scenarios import Params

# Stop-and-wait confirms cost a round trip each: the run uses this fraction of the count.
STOP_AND_WAIT_SHARE = 20
REPLY_TO = "amq.rabbitmq.reply-to"


def resolve(module: Any, name: str, *submodules: str) -> Any:
    """``module.name``, or the same name from one of its submodules (where pika-core defines it
    before its top-level package re-exports it)."""
    value = getattr(module, name, None)
    if value is not None:
        return value
    for submodule in submodules:
        found = getattr(importlib.import_module(f"{module.__name__}.{submodule}"), name, None)
        if found is not None:
            return found
    raise ImportError(f"{module.__name__} has no {name} (looked in {', '.join(submodules)})")


def publish_capped(publish: Any, queue: str, body: bytes, count: int, deadline: float) -> int:
    """Publish up to ``count`` bodies to ``queue``, stopping once ``deadline`` has passed."""
    sent = 0
    while sent < count:
        burst = min(CHECK_EVERY, count - sent)
        for _ in range(burst):
            publish("", queue, body)
        sent += burst
        if time.perf_counter() > deadline:
            break
    return sent


class BlockingDriver:
    """Runs every scenario over ``module.BlockingConnection`` (module is pika or pika_core)."""

    def __init__(self, module: Any) -> None:
        adapter = importlib.import_module(module.__name__ + ".adapters.blocking_connection")
        self.connection_class = adapter.BlockingConnection
        self.parameters_class = resolve(module, "ConnectionParameters", "connection", "parameters")
        self.properties_class = resolve(module, "BasicProperties", "spec")
        confirm = adapter.BlockingChannel.confirm_delivery
        self.pipelined = "pipelined" in inspect.signature(confirm).parameters

    def _connect(self, params: Params) -> Any:
        return self.connection_class(self.parameters_class(host=params.host, port=params.port))

    def _wait_for_count(self, channel: Any, queue: str, count: int) -> None:
        while channel.queue_declare(queue, passive=True).method.message_count < count:
            time.sleep(0.001)

    def publish(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        publish = channel.basic_publish
        queue = params.queue
        start = time.perf_counter()
        sent = publish_capped(publish, queue, body, params.count, start + params.cap_s)
        self._wait_for_count(channel, queue, sent)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, sent)

    def confirms(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        queue = params.queue
        if self.pipelined:
            count = params.count
            channel.confirm_delivery(pipelined=True, max_outstanding=params.window)
            note = f"pipelined, max_outstanding={params.window}"
        else:
            count = max(1, params.count // STOP_AND_WAIT_SHARE)
            channel.confirm_delivery()
            note = f"stop-and-wait (no window in this API), {count} messages"
        publish = channel.basic_publish
        start = time.perf_counter()
        if self.pipelined:
            count = publish_capped(publish, queue, body, count, start + params.cap_s)
            channel.wait_for_confirms(timeout=120)
        else:
            deadline = start + params.budget_s
            for sent in range(1, count + 1):
                publish("", queue, body)
                if time.perf_counter() > deadline:
                    note += ", time-capped"
                    count = sent
                    break
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, count, note)

    def _consume(
        self, connection: Any, channel: Any, params: Params, count: int, deadline: float
    ) -> int:
        """Consume ``count`` messages, or fewer if ``deadline`` passes; how many were taken."""
        ack_every = params.ack_every
        received = 0

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            nonlocal received
            received += 1
            if received % ack_every == 0 or received == count:
                ch.basic_ack(method.delivery_tag, multiple=True)
                if received == count or time.perf_counter() > deadline:
                    ch.stop_consuming()

        channel.basic_qos(prefetch_count=params.prefetch)
        channel.basic_consume(params.queue, on_message)
        channel.start_consuming()
        return received

    def consume(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        start = time.perf_counter()
        received = self._consume(connection, channel, params, params.count, start + params.cap_s)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, received)

    def large(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        start = time.perf_counter()
        for _ in range(params.count):
            channel.basic_publish("", params.queue, body)
        self._consume(connection, channel, params, params.count, float("inf"))
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, params.count)

    def rpc(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        replies: list[str] = []

        def on_reply(ch: Any, method: Any, properties: Any, reply: bytes) -> None:
            replies.append(properties.correlation_id)

        channel.basic_consume(REPLY_TO, on_reply, auto_ack=True)
        warmup = params.count // 10
        latencies: list[float] = []
        properties_class = self.properties_class
        process = connection.process_data_events
        deadline = float("inf")  # set when the measured requests start, after the warmup
        warmup_end = time.perf_counter() + params.budget_s / 2
        for index in range(warmup + params.count):
            if index < warmup and time.perf_counter() > warmup_end:
                warmup = index  # a slow client: enough warm-up
            if index == warmup:
                deadline = time.perf_counter() + params.budget_s
            elif time.perf_counter() > deadline:
                break
            correlation = str(index)
            properties = properties_class(reply_to=REPLY_TO, correlation_id=correlation)
            start = time.perf_counter()
            channel.basic_publish("", params.rpc_queue, body, properties)
            while not replies:
                process(time_limit=None)
            elapsed = time.perf_counter() - start
            if replies.pop() != correlation:
                raise RuntimeError("a reply carried the wrong correlation id")
            if index >= warmup:
                latencies.append(elapsed * 1e6)
        connection.close()
        return {"count": len(latencies), "latencies_us": latencies, "note": ""}

    def memory(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        held: list[Any] = []
        count = params.count

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            held.append((method.delivery_tag, body))
            if len(held) == count:
                ch.stop_consuming()

        channel.basic_qos(prefetch_count=params.prefetch)
        channel.basic_consume(params.queue, on_message)
        start = time.perf_counter()
        channel.start_consuming()
        elapsed = time.perf_counter() - start
        channel.basic_ack(held[-1][0], multiple=True)
        connection.close()
        return timed(elapsed, count)

    def channels(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        opened = []
        start = time.perf_counter()
        deadline = start + params.cap_s
        for _ in range(params.count):
            opened.append(connection.channel())
            if time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, len(opened))
