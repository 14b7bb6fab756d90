"""py-amqp (the ``amqp`` package): Celery's and Kombu's client."""

from __future__ import annotations

import time
from typing import Any

from bench.drivers import CHECK_EVERY, Client, timed
from bench.drivers.pika_blocking_api import REPLY_TO
from bench.scenarios import Params

CLIENT = Client("py-amqp", "py-amqp", 25, "peer")


class PyAmqpDriver:
    """Confirms use py-amqp's basic_ack events with drain_events, so the window is honoured."""

    def __init__(self) -> None:
        import amqp  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self.amqp = amqp

    def _connect(self, params: Params) -> Any:
        connection = self.amqp.Connection(host=f"{params.host}:{params.port}")
        connection.connect()
        return connection

    @staticmethod
    def _wait_for_count(channel: Any, queue: str, count: int) -> None:
        while channel.queue_declare(queue, passive=True).message_count < count:
            time.sleep(0.001)

    def publish(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        message = self.amqp.Message
        body = bytes(params.size)
        publish = channel.basic_publish
        start = time.perf_counter()
        deadline = start + params.cap_s
        sent = 0
        while sent < params.count:
            publish(message(body), exchange="", routing_key=params.queue)
            sent += 1
            if sent % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                break
        self._wait_for_count(channel, params.queue, sent)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, sent)

    def confirms(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        channel.confirm_select()
        state = {"confirmed": 0}

        def on_ack(delivery_tag: int, multiple: bool) -> None:
            state["confirmed"] = delivery_tag if multiple else state["confirmed"] + 1

        def on_nack(delivery_tag: int, multiple: bool) -> None:
            raise RuntimeError("the broker nacked a publish")

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        message = self.amqp.Message
        body = bytes(params.size)
        start = time.perf_counter()
        deadline = start + params.cap_s
        sent = 0
        while sent < params.count:
            while sent - state["confirmed"] >= params.window:
                connection.drain_events()
            channel.basic_publish(message(body), exchange="", routing_key=params.queue)
            sent += 1
            if sent % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                break
        while state["confirmed"] < sent:
            connection.drain_events()
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, sent, f"window {params.window} (basic_ack events)")

    def _consume(
        self, connection: Any, channel: Any, params: Params, deadline: float = float("inf")
    ) -> int:
        count = params.count
        ack_every = params.ack_every
        state = {"received": 0, "stop": False}

        def on_message(message: Any) -> None:
            received = state["received"] = state["received"] + 1
            if received % ack_every == 0 or received == count:
                channel.basic_ack(message.delivery_tag, multiple=True)
                state["stop"] = received == count or time.perf_counter() > deadline

        channel.basic_qos(0, params.prefetch, False)
        channel.basic_consume(params.queue, callback=on_message)
        while not state["stop"]:
            connection.drain_events()
        return int(state["received"])

    def consume(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        start = time.perf_counter()
        received = self._consume(connection, channel, params, start + params.cap_s)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, received)

    def large(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        start = time.perf_counter()
        for _ in range(params.count):
            channel.basic_publish(self.amqp.Message(body), exchange="", routing_key=params.queue)
        self._consume(connection, channel, params)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, params.count)

    def rpc(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        replies: list[Any] = []
        channel.basic_consume(REPLY_TO, callback=replies.append, no_ack=True)
        body = bytes(params.size)
        warmup = params.count // 10
        latencies: list[float] = []
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
            message = self.amqp.Message(body, reply_to=REPLY_TO, correlation_id=correlation)
            start = time.perf_counter()
            channel.basic_publish(message, exchange="", routing_key=params.rpc_queue)
            while not replies:
                connection.drain_events()
            elapsed = time.perf_counter() - start
            if replies.pop().properties["correlation_id"] != correlation:
                raise RuntimeError("a reply carried the wrong correlation id")
            if index >= warmup:
                latencies.append(elapsed * 1e6)
        connection.close()
        return {"count": len(latencies), "latencies_us": latencies, "note": ""}

    def memory(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        held: list[Any] = []
        channel.basic_qos(0, params.prefetch, False)
        channel.basic_consume(params.queue, callback=held.append)
        start = time.perf_counter()
        while len(held) < params.count:
            connection.drain_events()
        elapsed = time.perf_counter() - start
        channel.basic_ack(held[-1].delivery_tag, multiple=True)
        connection.close()
        return timed(elapsed, params.count)

    def channels(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        start = time.perf_counter()
        deadline = start + params.cap_s
        opened = []
        for _ in range(params.count):
            opened.append(connection.channel())
            if time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, len(opened))


def driver() -> Any:
    return PyAmqpDriver()
