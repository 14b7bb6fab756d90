"""AMQPStorm: a thread-safe client with its own I/O thread."""

from __future__ import annotations

import time
from typing import Any

from bench.drivers import CHECK_EVERY, Client, timed
from bench.drivers.pika_blocking_api import REPLY_TO, STOP_AND_WAIT_SHARE
from bench.scenarios import Params

CLIENT = Client("amqpstorm", "AMQPStorm", 24, "peer")


class AmqpStormDriver:
    """AMQPStorm's publish is synchronous in confirm mode, so its confirms are stop-and-wait."""

    def __init__(self) -> None:
        import amqpstorm

        self.amqpstorm = amqpstorm

    def _connect(self, params: Params) -> Any:
        connection_class = self.amqpstorm.Connection  # type: ignore[attr-defined]
        return connection_class(params.host, "guest", "guest", port=params.port)

    @staticmethod
    def _wait_for_count(channel: Any, queue: str, count: int) -> None:
        while channel.queue.declare(queue, passive=True)["message_count"] < count:
            time.sleep(0.001)

    def publish(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        publish = channel.basic.publish
        start = time.perf_counter()
        deadline = start + params.cap_s
        sent = 0
        while sent < params.count:
            publish(body, params.queue)
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
        channel.confirm_deliveries()
        body = bytes(params.size)
        count = max(1, params.count // STOP_AND_WAIT_SHARE)
        note = f"stop-and-wait (publish waits in confirm mode), {count} messages"
        start = time.perf_counter()
        deadline = start + params.budget_s
        sent = 0
        for sent in range(1, count + 1):
            if not channel.basic.publish(body, params.queue):
                raise RuntimeError("the broker nacked a publish")
            if time.perf_counter() > deadline:
                note += ", time-capped"
                break
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, sent, note)

    def _consume(self, channel: Any, params: Params, deadline: float = float("inf")) -> int:
        count = params.count
        ack_every = params.ack_every
        received = 0

        def on_message(message: Any) -> None:
            nonlocal received
            received += 1
            if received % ack_every == 0 or received == count:
                channel.basic.ack(message.delivery_tag, multiple=True)
                if received == count or time.perf_counter() > deadline:
                    channel.stop_consuming()

        channel.basic.qos(prefetch_count=params.prefetch)
        channel.basic.consume(on_message, params.queue, no_ack=False)
        channel.start_consuming(auto_decode=False)
        return received

    def consume(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        start = time.perf_counter()
        received = self._consume(channel, params, start + params.cap_s)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, received)

    def large(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        body = bytes(params.size)
        start = time.perf_counter()
        for _ in range(params.count):
            channel.basic.publish(body, params.queue)
        self._consume(channel, params)
        elapsed = time.perf_counter() - start
        connection.close()
        return timed(elapsed, params.count)

    def rpc(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        replies: list[Any] = []
        channel.basic.consume(replies.append, REPLY_TO, no_ack=True)
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
            properties = {"reply_to": REPLY_TO, "correlation_id": correlation}
            start = time.perf_counter()
            channel.basic.publish(body, params.rpc_queue, properties=properties)
            while not replies:  # AMQPStorm's documented RPC idiom: poll the inbound queue
                channel.process_data_events(auto_decode=False)
            elapsed = time.perf_counter() - start
            if replies.pop().correlation_id != correlation:
                raise RuntimeError("a reply carried the wrong correlation id")
            if index >= warmup:
                latencies.append(elapsed * 1e6)
        connection.close()
        note = "busy-polls replies"
        return {"count": len(latencies), "latencies_us": latencies, "note": note}

    def memory(self, params: Params) -> dict[str, Any]:
        connection = self._connect(params)
        channel = connection.channel()
        held: list[Any] = []

        def on_message(message: Any) -> None:
            held.append(message)
            if len(held) == params.count:
                channel.stop_consuming()

        channel.basic.qos(prefetch_count=params.prefetch)
        channel.basic.consume(on_message, params.queue, no_ack=False)
        start = time.perf_counter()
        channel.start_consuming(auto_decode=False)
        elapsed = time.perf_counter() - start
        channel.basic.ack(held[-1].delivery_tag, multiple=True)
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
    return AmqpStormDriver()
