"""The scenarios written once against pika's Deferred API (TwistedProtocolConnection).

The same code drives pika's twisted adapter and pika-core's pika-twisted plugin (a drop-in).
Each run is a fresh process, so it runs the global reactor once: the scenario is a coroutine
awaiting Deferreds (``defer.ensureDeferred``), and the reactor stops when it ends. Publishing
yields to the reactor every ``SLICE`` messages (``SLICE_LARGE`` for 1 MiB bodies), as an
application that lets its reactor breathe would. Every scenario is written the way a twisted
application would: a delivery is awaited from the consumer's queue, a request/reply is a
publish and an awaited ``get()``, channels are opened with one Deferred each.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Callable, Coroutine

from bench.drivers import timed
from bench.drivers.pika_blocking_api import REPLY_TO, resolve
from bench.scenarios import MIB, Params

SLICE = 1000  # messages published per reactor turn
SLICE_LARGE = 8  # 1 MiB bodies published per reactor turn
TIMEOUT_S = 300.0


Scenario = Callable[[Any, Any, Params], Coroutine[Any, Any, "dict[str, Any]"]]


class TwistedDriver:
    """Runs publish, confirms and consume over ``module``'s TwistedProtocolConnection."""

    def __init__(self, module: Any) -> None:
        adapter = importlib.import_module(f"{module.__name__}.adapters.twisted_connection")
        self.connection_class = adapter.TwistedProtocolConnection
        self.parameters_class = resolve(module, "ConnectionParameters", "connection", "parameters")
        self.properties_class = resolve(module, "BasicProperties", "spec")

    def _run(self, params: Params, scenario: Scenario) -> dict[str, Any]:
        from twisted.internet import defer, protocol
        from twisted.internet import reactor as global_reactor

        reactor: Any = global_reactor  # twisted types the reactor as an interface
        client_creator: Any = protocol.ClientCreator
        outcome: dict[str, Any] = {}

        async def main() -> None:
            parameters = self.parameters_class(host=params.host, port=params.port)
            creator = client_creator(reactor, self.connection_class, parameters)
            connection = await creator.connectTCP(params.host, params.port)
            await connection.ready
            channel = await connection.channel()
            outcome["result"] = await scenario(connection, channel, params)
            closed = connection.close()
            if closed is not None and not closed.called:
                await closed

        def on_error(failure: Any) -> None:
            outcome["error"] = failure

        def stop(_: object) -> None:
            reactor.stop()

        def start() -> None:
            d: Any = defer.ensureDeferred(main())
            d.addTimeout(TIMEOUT_S, reactor)
            d.addErrback(on_error)
            d.addBoth(stop)

        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)
        if "error" in outcome:
            outcome["error"].raiseException()
        return outcome["result"]  # type: ignore[no-any-return]

    # -- the scenarios ---------------------------------------------------------------------

    @staticmethod
    async def _yield() -> None:
        from twisted.internet import reactor, task

        await task.deferLater(reactor, 0, lambda: None)

    @classmethod
    async def _wait_for_count(cls, channel: Any, queue: str, count: int) -> None:
        from twisted.internet import reactor, task

        while True:
            frame = await channel.queue_declare(queue=queue, passive=True)
            if frame.method.message_count >= count:
                return
            await task.deferLater(reactor, 0.001, lambda: None)

    @classmethod
    async def _publish_slices(cls, channel: Any, params: Params, deadline: float) -> int:
        """Publish ``params.count`` bodies a slice per reactor turn until ``deadline``."""
        body = bytes(params.size)
        publish = channel.basic_publish
        queue = params.queue
        per_turn = SLICE_LARGE if params.size >= MIB else SLICE
        sent = 0
        while sent < params.count:
            burst = min(per_turn, params.count - sent)
            for _ in range(burst):
                publish("", queue, body)
            sent += burst
            await cls._yield()
            if time.perf_counter() > deadline:
                break
        return sent

    @classmethod
    async def _publish(cls, connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        start = time.perf_counter()
        sent = await cls._publish_slices(channel, params, start + params.cap_s)
        await cls._wait_for_count(channel, params.queue, sent)
        return timed(time.perf_counter() - start, sent)

    @staticmethod
    async def _confirms(connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        from twisted.internet import defer

        await channel.confirm_delivery()
        body = bytes(params.size)
        queue = params.queue
        window = params.window
        state = {"count": params.count, "sent": 0, "confirmed": 0}
        done: defer.Deferred[None] = defer.Deferred()
        start = time.perf_counter()
        deadline = start + params.cap_s

        def on_ack(_frame: Any) -> None:
            state["confirmed"] += 1
            confirmed = state["confirmed"]
            if confirmed < state["count"] and state["sent"] - confirmed <= window // 2:
                pump()
            if confirmed >= state["count"] and not done.called:
                done.callback(None)

        def on_error(failure: Any) -> None:
            if not done.called:
                done.errback(failure)

        def pump() -> None:
            sent = state["sent"]
            if time.perf_counter() > deadline:
                state["count"] = sent  # time-capped: wait for what is out
                return
            end = min(state["count"], state["confirmed"] + window)
            publish = channel.basic_publish
            for _ in range(end - sent):
                publish("", queue, body).addCallbacks(on_ack, on_error)
            state["sent"] = max(sent, end)

        pump()
        await done
        elapsed = time.perf_counter() - start
        return timed(elapsed, state["count"], f"window {window} (a Deferred per publish)")

    @staticmethod
    async def _receive(channel: Any, params: Params, count: int, deadline: float) -> int:
        """Consume ``count`` messages (fewer once ``deadline`` has passed), acking with
        multiple=True every ``params.ack_every``; the number received."""
        await channel.basic_qos(prefetch_count=params.prefetch)
        queue, _tag = await channel.basic_consume(queue=params.queue)
        ack_every = params.ack_every
        get = queue.get
        received = 0
        while received < count:
            message = await get()
            received += 1
            if received % ack_every == 0 or received == count:
                channel.basic_ack(delivery_tag=message[1].delivery_tag, multiple=True)
                if time.perf_counter() > deadline:
                    break
        return received

    @classmethod
    async def _consume(cls, connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        start = time.perf_counter()
        received = await cls._receive(channel, params, params.count, start + params.cap_s)
        return timed(time.perf_counter() - start, received)

    @classmethod
    async def _large(cls, connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        start = time.perf_counter()
        sent = await cls._publish_slices(channel, params, float("inf"))
        received = await cls._receive(channel, params, sent, float("inf"))
        return timed(time.perf_counter() - start, received)

    async def _rpc(self, connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        replies, _tag = await channel.basic_consume(queue=REPLY_TO, auto_ack=True)
        properties_class = self.properties_class
        payload = bytes(params.size)
        warmup = params.count // 10
        latencies: list[float] = []
        deadline = float("inf")  # set when the measured requests start
        for index in range(warmup + params.count):
            properties = properties_class(reply_to=REPLY_TO, correlation_id=str(index))
            start = time.perf_counter()
            channel.basic_publish("", params.rpc_queue, payload, properties)
            _channel, _method, reply_properties, _body = await replies.get()
            elapsed = time.perf_counter() - start
            if reply_properties.correlation_id != str(index):
                raise RuntimeError("a reply carried the wrong correlation id")
            if index >= warmup:
                latencies.append(elapsed * 1e6)
                if time.perf_counter() > deadline:
                    break
            elif index + 1 == warmup:
                deadline = time.perf_counter() + params.budget_s
        return {"count": len(latencies), "latencies_us": latencies, "note": ""}

    @staticmethod
    async def _memory(connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        await channel.basic_qos(prefetch_count=params.prefetch)
        start = time.perf_counter()
        queue, _tag = await channel.basic_consume(queue=params.queue)
        held = [await queue.get() for _ in range(params.count)]
        elapsed = time.perf_counter() - start
        channel.basic_ack(delivery_tag=held[-1][1].delivery_tag, multiple=True)
        return timed(elapsed, params.count)

    @staticmethod
    async def _channels(connection: Any, channel: Any, params: Params) -> dict[str, Any]:
        from twisted.internet import defer

        start = time.perf_counter()
        opened = await defer.gatherResults([connection.channel() for _ in range(params.count)])
        elapsed = time.perf_counter() - start
        if len(opened) != params.count:
            raise RuntimeError(f"{len(opened)} channels opened, {params.count} asked for")
        return timed(elapsed, params.count, "opened concurrently")

    def publish(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._publish)

    def confirms(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._confirms)

    def consume(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._consume)

    def large(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._large)

    def rpc(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._rpc)

    def memory(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._memory)

    def channels(self, params: Params) -> dict[str, Any]:
        return self._run(params, self._channels)
