"""aio-pika (on aiormq): the most used asyncio client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.drivers import CHECK_EVERY, Client, timed
from bench.scenarios import Params

CLIENT = Client("aio-pika", "aio-pika", 23, "peer")
REPLY_TO = "amq.rabbitmq.reply-to"


class AioPikaDriver:
    """Each scenario is a coroutine run in a new event loop."""

    def __init__(self) -> None:
        import aio_pika

        self.aio_pika = aio_pika

    async def _connect(self, params: Params) -> Any:
        return await self.aio_pika.connect(host=params.host, port=params.port)

    async def _wait_for_count(self, channel: Any, queue: str, count: int) -> None:
        while True:
            declared = await channel.declare_queue(queue, passive=True)
            if declared.declaration_result.message_count >= count:
                return
            await asyncio.sleep(0.001)

    async def _publish(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=False)
        exchange = channel.default_exchange
        message = self.aio_pika.Message
        body = bytes(params.size)
        start = time.perf_counter()
        deadline = start + params.cap_s
        sent = 0
        while sent < params.count:
            await exchange.publish(message(body), routing_key=params.queue)
            sent += 1
            if sent % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                break
        await self._wait_for_count(channel, params.queue, sent)
        elapsed = time.perf_counter() - start
        await connection.close()
        return timed(elapsed, sent)

    async def _confirms(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=True)
        exchange = channel.default_exchange
        message = self.aio_pika.Message
        body = bytes(params.size)
        window = asyncio.Semaphore(params.window)
        pending: list[Any] = []

        async def publish_one() -> None:
            try:
                await exchange.publish(message(body), routing_key=params.queue)
            finally:
                window.release()

        start = time.perf_counter()
        deadline = start + params.cap_s
        for sent in range(1, params.count + 1):
            await window.acquire()
            pending.append(asyncio.ensure_future(publish_one()))
            if sent % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                break
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - start
        await connection.close()
        note = f"window {params.window} (a task per publish)"
        return timed(elapsed, len(pending), note)

    async def _consume_on(
        self, channel: Any, params: Params, deadline: float = float("inf")
    ) -> tuple[int, float]:
        """Consume the queue's ``count`` messages (fewer once ``deadline`` has passed): how
        many, and when the last was acknowledged (cancelling the consumer is not timed)."""
        await channel.set_qos(prefetch_count=params.prefetch)
        queue = await channel.get_queue(params.queue, ensure=False)
        done = asyncio.get_running_loop().create_future()
        count = params.count
        ack_every = params.ack_every
        received = 0

        async def on_message(message: Any) -> None:
            nonlocal received
            if done.done():
                return
            received += 1
            if received % ack_every == 0 or received == count:
                await message.ack(multiple=True)
                if received == count or time.perf_counter() > deadline:
                    done.set_result((received, time.perf_counter()))

        tag = await queue.consume(on_message, no_ack=False)
        result: tuple[int, float] = await done
        await queue.cancel(tag)
        return result

    async def _consume(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=False)
        start = time.perf_counter()
        received, end = await self._consume_on(channel, params, start + params.cap_s)
        await connection.close()
        return timed(end - start, received)

    async def _large(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=False)
        exchange = channel.default_exchange
        body = bytes(params.size)
        start = time.perf_counter()
        for _ in range(params.count):
            await exchange.publish(self.aio_pika.Message(body), routing_key=params.queue)
        _, end = await self._consume_on(channel, params)
        await connection.close()
        return timed(end - start, params.count)

    async def _rpc(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=False)
        replies: asyncio.Queue[Any] = asyncio.Queue()
        reply_queue = await channel.get_queue(REPLY_TO, ensure=False)
        await reply_queue.consume(replies.put, no_ack=True)
        exchange = channel.default_exchange
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
            message = self.aio_pika.Message(body, reply_to=REPLY_TO, correlation_id=correlation)
            start = time.perf_counter()
            await exchange.publish(message, routing_key=params.rpc_queue)
            reply = await replies.get()
            elapsed = time.perf_counter() - start
            if reply.correlation_id != correlation:
                raise RuntimeError("a reply carried the wrong correlation id")
            if index >= warmup:
                latencies.append(elapsed * 1e6)
        await connection.close()
        return {"count": len(latencies), "latencies_us": latencies, "note": ""}

    async def _memory(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=params.prefetch)
        queue = await channel.get_queue(params.queue, ensure=False)
        done = asyncio.get_running_loop().create_future()
        held: list[Any] = []

        async def on_message(message: Any) -> None:
            held.append(message)
            if len(held) == params.count and not done.done():
                done.set_result(None)

        start = time.perf_counter()
        await queue.consume(on_message, no_ack=False)
        await done
        elapsed = time.perf_counter() - start
        await held[-1].ack(multiple=True)
        await connection.close()
        return timed(elapsed, params.count)

    async def _channels(self, params: Params) -> dict[str, Any]:
        connection = await self._connect(params)
        start = time.perf_counter()
        opened = await asyncio.gather(
            *(connection.channel(publisher_confirms=False) for _ in range(params.count))
        )
        elapsed = time.perf_counter() - start
        await connection.close()
        return timed(elapsed, len(opened), "opened concurrently (asyncio.gather)")

    def publish(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._publish(params))

    def confirms(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._confirms(params))

    def consume(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._consume(params))

    def large(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._large(params))

    def rpc(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._rpc(params))

    def memory(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._memory(params))

    def channels(self, params: Params) -> dict[str, Any]:
        return asyncio.run(self._channels(params))


def driver() -> Any:
    return AioPikaDriver()
