"""The scenarios written once against pika's callback API (SelectConnection, AsyncioConnection).

The same code drives pika and pika-core (a drop-in); the adapter class and how its loop is run
are the only differences. Publishing is done in slices of ``SLICE`` messages per loop turn, as
an application that lets its loop breathe would, and every callback is guarded so that an
exception stops the loop and fails the run instead of hanging it.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any, Callable, Dict

from bench.drivers import timed
from bench.drivers.pika_blocking_api import REPLY_TO, resolve
from bench.scenarios import MIB, Params

SLICE = 1000  # messages published per loop turn (bytes-wise, at most 1 MiB * SLICE_LARGE)
SLICE_LARGE = 8
TIMEOUT_S = 300.0

Body = Callable[[Any, Any, Callable[[Dict[str, Any]], None]], None]


class _Run:
    """One connection, one channel, one scenario body; ends with a result or an error."""

    def __init__(self, driver: CallbackDriver, params: Params, body: Body) -> None:
        self.driver = driver
        self.params = params
        self.body = body
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.connection: Any = None
        self.loop: Any = None

    def guard(self, function: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            if self.result is not None or self.error is not None:
                return
            try:
                function(*args)
            except BaseException as exc:  # noqa: BLE001 - reported as the run's failure
                self.fail(exc)

        return guarded

    def fail(self, error: BaseException) -> None:
        if self.error is None and self.result is None:
            self.error = error
        self._close()

    def finish(self, result: dict[str, Any]) -> None:
        if self.error is None and self.result is None:
            self.result = result
        self._close()

    def _close(self) -> None:
        connection = self.connection
        if connection is not None and connection.is_open:
            connection.close()
        else:
            self.driver.stop_loop(self)

    def run(self) -> dict[str, Any]:
        driver = self.driver
        parameters = driver.parameters_class(host=self.params.host, port=self.params.port)
        self.loop = driver.new_loop()

        def on_open(connection: Any) -> None:
            connection.channel(on_open_callback=self.guard(on_channel))

        def on_channel(channel: Any) -> None:
            self.body(self.connection, channel, self.finish)

        def on_open_error(connection: Any, error: BaseException) -> None:
            self.error = error
            driver.stop_loop(self)

        def on_close(connection: Any, reason: BaseException) -> None:
            if self.result is None and self.error is None:
                self.error = reason
            driver.stop_loop(self)

        self.connection = driver.connection_class(
            parameters,
            on_open_callback=self.guard(on_open),
            on_open_error_callback=on_open_error,
            on_close_callback=on_close,
            custom_ioloop=self.loop,
        )
        self.connection.ioloop.call_later(
            TIMEOUT_S, lambda: self.fail(TimeoutError(f"no result in {TIMEOUT_S} s"))
        )
        driver.run_loop(self)
        if self.error is not None:
            raise RuntimeError(f"run failed: {self.error!r}") from self.error
        assert self.result is not None
        return self.result


class CallbackDriver:
    """Runs every scenario over an asynchronous pika-style adapter."""

    def __init__(self, module: Any, adapter: str, class_name: str) -> None:
        adapter_module = importlib.import_module(f"{module.__name__}.adapters.{adapter}")
        self.connection_class = getattr(adapter_module, class_name)
        self.select_module = adapter_module if adapter == "select_connection" else None
        self.parameters_class = resolve(module, "ConnectionParameters", "connection", "parameters")
        self.properties_class = resolve(module, "BasicProperties", "spec")

    # -- the loop: a select IOLoop, or an asyncio event loop --------------------------------

    def new_loop(self) -> Any:
        if self.select_module is not None:
            return self.select_module.IOLoop()
        return asyncio.new_event_loop()

    def run_loop(self, run: _Run) -> None:
        if self.select_module is not None:
            run.loop.start()
        else:
            run.loop.run_forever()
            run.loop.close()

    def stop_loop(self, run: _Run) -> None:
        run.loop.stop()

    def _run(self, params: Params, body: Body) -> dict[str, Any]:
        return _Run(self, params, body).run()

    # -- shared steps ------------------------------------------------------------------------

    @staticmethod
    def _publisher(
        connection: Any,
        channel: Any,
        params: Params,
        guard: Callable[..., Any],
        then: Callable[[int], None],
        deadline: float = float("inf"),
    ) -> Callable[[], None]:
        """A function publishing ``params.count`` bodies in slices, one slice per loop turn,
        until ``deadline``; ``then(sent)`` follows."""
        body = bytes(params.size)
        per_turn = SLICE_LARGE if params.size >= MIB else SLICE
        sent = 0

        def publish_slice() -> None:
            nonlocal sent
            publish = channel.basic_publish
            queue = params.queue
            end = min(params.count, sent + per_turn)
            for _ in range(end - sent):
                publish("", queue, body)
            sent = end
            if sent < params.count and time.perf_counter() <= deadline:
                connection.ioloop.call_later(0, guard(publish_slice))
            else:
                then(sent)

        return publish_slice

    @staticmethod
    def _wait_for_count(
        connection: Any, channel: Any, params: Params, guard: Callable[..., Any], then: Any
    ) -> Callable[[int], None]:
        wanted = [params.count]

        def poll(count: int | None = None) -> None:
            if count is not None:
                wanted[0] = count
            channel.queue_declare(params.queue, passive=True, callback=guard(on_declare_ok))

        def on_declare_ok(frame: Any) -> None:
            if frame.method.message_count >= wanted[0]:
                then(wanted[0])
            else:
                connection.ioloop.call_later(0.001, guard(poll))

        return poll

    @staticmethod
    def _consumer(
        channel: Any,
        params: Params,
        guard: Callable[..., Any],
        then: Callable[[int], None],
        deadline: float = float("inf"),
    ) -> Callable[..., None]:
        """A function consuming ``count`` messages (or fewer, once ``deadline`` has passed);
        ``then(received)`` follows."""
        wanted = [params.count]
        ack_every = params.ack_every
        received = 0

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            nonlocal received
            received += 1
            count = wanted[0]
            if received % ack_every == 0 or received == count:
                ch.basic_ack(method.delivery_tag, multiple=True)
                if received == count or time.perf_counter() > deadline:
                    then(received)

        def on_qos_ok(frame: Any) -> None:
            channel.basic_consume(params.queue, guard(on_message))

        def start(count: int | None = None) -> None:
            if count is not None:
                wanted[0] = count
            channel.basic_qos(prefetch_count=params.prefetch, callback=guard(on_qos_ok))

        return start

    # -- the scenarios ---------------------------------------------------------------------

    def publish(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            start = time.perf_counter()

            def done(sent: int) -> None:
                finish(timed(time.perf_counter() - start, sent))

            poll = self._wait_for_count(connection, channel, params, run.guard, done)
            deadline = start + params.cap_s
            self._publisher(connection, channel, params, run.guard, poll, deadline)()

        run = _Run(self, params, body)
        return run.run()

    def confirms(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            payload = bytes(params.size)
            count = params.count
            window = params.window
            state = {"sent": 0, "confirmed": 0}
            start = time.perf_counter()

            def pump() -> None:
                nonlocal count
                sent = state["sent"]
                if time.perf_counter() > start + params.cap_s:
                    count = sent  # time-capped: wait for what is out
                    return
                end = min(count, state["confirmed"] + window)
                publish = channel.basic_publish
                for _ in range(end - sent):
                    publish("", params.queue, payload)
                state["sent"] = max(sent, end)

            def on_confirm(frame: Any) -> None:
                method = frame.method
                if method.NAME != "Basic.Ack":
                    raise RuntimeError(f"the broker answered a publish with {method.NAME}")
                if method.multiple:
                    state["confirmed"] = method.delivery_tag
                else:
                    state["confirmed"] += 1
                if state["confirmed"] < count and state["sent"] - state["confirmed"] <= window // 2:
                    pump()
                if state["confirmed"] >= count:
                    finish(timed(time.perf_counter() - start, count, f"window {window}"))

            def on_select_ok(frame: Any) -> None:
                nonlocal start
                start = time.perf_counter()
                pump()

            channel.confirm_delivery(run.guard(on_confirm), callback=run.guard(on_select_ok))

        run = _Run(self, params, body)
        return run.run()

    def consume(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            start = time.perf_counter()

            def done(received: int) -> None:
                finish(timed(time.perf_counter() - start, received))

            self._consumer(channel, params, run.guard, done, start + params.cap_s)()

        run = _Run(self, params, body)
        return run.run()

    def large(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            start = time.perf_counter()

            def done(received: int) -> None:
                finish(timed(time.perf_counter() - start, received))

            consume = self._consumer(channel, params, run.guard, done)
            self._publisher(connection, channel, params, run.guard, consume)()

        run = _Run(self, params, body)
        return run.run()

    def rpc(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None
        properties_class = self.properties_class

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            payload = bytes(params.size)
            warmup = params.count // 10
            total = warmup + params.count
            latencies: list[float] = []
            state = {"index": 0, "start": 0.0}
            deadline = [float("inf")]  # set when the measured requests start

            def send() -> None:
                index = state["index"]
                properties = properties_class(reply_to=REPLY_TO, correlation_id=str(index))
                state["start"] = time.perf_counter()
                channel.basic_publish("", params.rpc_queue, payload, properties)

            def on_reply(ch: Any, method: Any, properties: Any, reply: bytes) -> None:
                elapsed = time.perf_counter() - state["start"]
                index = int(state["index"])
                if properties.correlation_id != str(index):
                    raise RuntimeError("a reply carried the wrong correlation id")
                if index >= warmup:
                    latencies.append(elapsed * 1e6)
                if index + 1 == warmup:
                    deadline[0] = time.perf_counter() + params.budget_s
                state["index"] = index + 1
                if index + 1 == total or (latencies and time.perf_counter() > deadline[0]):
                    finish({"count": len(latencies), "latencies_us": latencies, "note": ""})
                else:
                    send()

            channel.basic_consume(
                REPLY_TO,
                run.guard(on_reply),
                auto_ack=True,
                callback=run.guard(lambda frame: send()),
            )

        run = _Run(self, params, body)
        return run.run()

    def memory(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            held: list[Any] = []
            start = time.perf_counter()

            def on_message(ch: Any, method: Any, properties: Any, payload: bytes) -> None:
                held.append((method.delivery_tag, payload))
                if len(held) == params.count:
                    elapsed = time.perf_counter() - start
                    ch.basic_ack(held[-1][0], multiple=True)
                    finish(timed(elapsed, params.count))

            guard = run.guard

            def on_qos_ok(frame: Any) -> None:
                channel.basic_consume(params.queue, guard(on_message))

            channel.basic_qos(prefetch_count=params.prefetch, callback=guard(on_qos_ok))

        run = _Run(self, params, body)
        return run.run()

    def channels(self, params: Params) -> dict[str, Any]:
        run: _Run | None = None

        def body(connection: Any, channel: Any, finish: Callable[[dict[str, Any]], None]) -> None:
            assert run is not None
            opened: list[Any] = []
            start = time.perf_counter()

            def on_open(new_channel: Any) -> None:
                opened.append(new_channel)
                if len(opened) == params.count:
                    finish(timed(time.perf_counter() - start, params.count, "opened concurrently"))

            for _ in range(params.count):
                connection.channel(on_open_callback=run.guard(on_open))

        run = _Run(self, params, body)
        return run.run()
