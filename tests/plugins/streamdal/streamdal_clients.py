"""One synchronous test client per adapter, so each acceptance test runs unchanged over all of them.

``BlockingClient`` wraps BlockingConnection. ``LoopClient`` runs SelectConnection,
AsyncioConnection, or a plugin adapter's connection (GeventConnection, TornadoConnection) on its
own loop in a thread and hands every call to that thread, waiting for the callbacks it expects;
``TwistedClient`` does the same through TwistedChannel's Deferreds on twisted's global reactor
(started once, on a daemon thread). An exception raised there (MessageDropped,
InterceptorError) is raised again in the test's thread. The interceptors therefore run on the adapter's I/O loop, as they do in an application.

``ADAPTERS`` holds the core's three adapters and each plugin adapter whose plugin is importable
(nox's ``tests_streamdal_adapters`` sessions install one each); the environment variable
``PIKA_STREAMDAL_TEST_ADAPTERS`` (comma-separated names) narrows it to those adapters, and
fails at import when one of them is not installed rather than skipping it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import threading
import time
from typing import Any, Callable, Tuple

from pika_core import spec
from pika_core.adapters.asyncio_connection import AsyncioConnection
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.adapters.select_connection import IOLoop, SelectConnection

__all__ = ["ADAPTERS", "BlockingClient", "Client", "LoopClient", "open_client"]

TIMEOUT = 10.0
CORE_ADAPTERS = ("blocking", "select", "asyncio")
# A plugin adapter and the modules it needs (its plugin package and its framework).
PLUGIN_ADAPTERS = {
    "gevent": ("pika_gevent", "gevent"),
    "tornado": ("pika_tornado", "tornado"),
    "twisted": ("pika_twisted", "twisted"),
}
SELECT_ENV = "PIKA_STREAMDAL_TEST_ADAPTERS"


def _installed(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in modules)


def _adapters() -> tuple[str, ...]:
    """The adapters the acceptance tests run over (see the module docstring)."""
    available = CORE_ADAPTERS + tuple(
        name for name, modules in PLUGIN_ADAPTERS.items() if _installed(modules)
    )
    wanted = [name.strip() for name in os.environ.get(SELECT_ENV, "").split(",") if name.strip()]
    if not wanted:
        return available
    missing = [name for name in wanted if name not in available]
    if missing:
        raise RuntimeError(
            f"{SELECT_ENV} names {missing}, not installed here (available: {list(available)}); "
            "install the adapter's plugin (nox -s tests_streamdal_adapters does) or unset it"
        )
    return tuple(wanted)


ADAPTERS = _adapters()

Message = Tuple[Any, Any, Any]
EMPTY: Message = (None, None, None)


class Client:
    """What a test does with a connection; one channel per client."""

    adapter = "abstract"
    channel: Any = None

    def publish(self, exchange: str, routing_key: str, body: Any, **kw: Any) -> None:
        """basic_publish; in confirm mode, wait for the broker's ack of a sent message."""
        raise NotImplementedError

    def confirm(self) -> None:
        """Turn on publisher confirms."""
        raise NotImplementedError

    def publish_sequence(self) -> int:
        """The confirm sequence number of the last message sent."""
        raise NotImplementedError

    def get(self, queue: str, auto_ack: bool = True, **options: Any) -> Message:
        """basic_get; EMPTY when the queue is empty or the hooks dropped the message."""
        raise NotImplementedError

    def consume(
        self,
        queue: str,
        count: int,
        auto_ack: bool = True,
        timeout: float = 5.0,
        **options: Any,
    ) -> list[bytes]:
        """basic_consume until ``count`` callbacks ran or ``timeout`` passed, then cancel."""
        raise NotImplementedError

    def returned(self, exchange: str, routing_key: str, body: bytes, **options: Any) -> list[bytes]:
        """Publish mandatory to an unroutable key; the bodies the return callbacks got."""
        raise NotImplementedError

    def is_usable(self) -> bool:
        """The connection and channel are open."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError


class BlockingClient(Client):
    adapter = "blocking"

    def __init__(self, params: Any) -> None:
        self.connection = BlockingConnection(params)
        self.channel = self.connection.channel()
        self._handles: list[Any] = []

    def publish(self, exchange: str, routing_key: str, body: Any, **kw: Any) -> None:
        handle = self.channel.basic_publish(exchange, routing_key, body, **kw)
        if handle is not None:
            self._handles.append(handle)
            self.channel.wait_for_confirms(TIMEOUT)

    def confirm(self) -> None:
        self.channel.confirm_delivery(pipelined=True)

    def publish_sequence(self) -> int:
        return int(self._handles[-1].sequence_number) if self._handles else 0

    def get(self, queue: str, auto_ack: bool = True, **options: Any) -> Message:
        result: Message = self.channel.basic_get(queue, auto_ack, **options)
        return result

    def consume(
        self,
        queue: str,
        count: int,
        auto_ack: bool = True,
        timeout: float = 5.0,
        **options: Any,
    ) -> list[bytes]:
        seen: list[bytes] = []

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            seen.append(body)
            if not auto_ack:
                ch.basic_ack(method.delivery_tag)

        tag = self.channel.basic_consume(queue, on_message, auto_ack, **options)
        deadline = time.monotonic() + timeout
        while len(seen) < count and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.05)
        self.channel.basic_cancel(tag)
        return seen

    def generator(
        self, queue: str, count: int, auto_ack: bool = True, timeout: float = 5.0, **options: Any
    ) -> list[bytes]:
        """The consume() generator (the blocking adapter only)."""
        seen: list[bytes] = []
        deadline = time.monotonic() + timeout
        for method, _props, body in self.channel.consume(
            queue, auto_ack, inactivity_timeout=0.1, **options
        ):
            if method is not None:
                seen.append(body)
            if len(seen) >= count or time.monotonic() > deadline:
                break
        self.channel.cancel()
        return seen

    def returned(self, exchange: str, routing_key: str, body: bytes, **options: Any) -> list[bytes]:
        seen: list[bytes] = []
        self.channel.add_on_return_callback(lambda ch, m, p, b: seen.append(b))
        self.channel.basic_publish(exchange, routing_key, body, mandatory=True, **options)
        deadline = time.monotonic() + TIMEOUT
        while not seen and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.05)
        return seen

    def is_usable(self) -> bool:
        return bool(self.connection.is_open and self.channel.is_open)

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


class LoopClient(Client):
    """An asynchronous adapter on a loop made and run in a thread of its own."""

    def __init__(self, adapter: str, params: Any) -> None:
        self.adapter = adapter
        self._returns: list[bytes] = []
        self._acked: set[int] = set()
        self._ack_event = threading.Condition()
        kind = LOOPS[adapter]()
        connection_class = kind.connection_class
        self._submit: Callable[[Callable[[], Any]], Any] = lambda fn: kind.submit(self.loop, fn)
        self._stop = lambda: kind.stop(self.loop)
        made: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def serve() -> None:  # the loop lives on this thread, from birth to close
            loop = kind.new_loop()
            made.set_result(loop)
            try:
                kind.run(loop)
            finally:
                kind.close(loop)

        self._thread_done = False
        self._thread = threading.Thread(target=serve, name=f"{adapter}-loop", daemon=True)
        self._thread.start()
        self.loop: Any = made.result(TIMEOUT)
        opened: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def create() -> None:
            self.connection = connection_class(
                params,
                on_open_callback=opened.set_result,
                on_open_error_callback=lambda _c, error: opened.set_exception(error),
                custom_ioloop=self.loop,
            )

        self._call(create)
        opened.result(TIMEOUT)
        channel_ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._call(lambda: self.connection.channel(on_open_callback=channel_ready.set_result))
        self.channel = channel_ready.result(TIMEOUT)
        self._call(lambda: self.channel.add_on_return_callback(self._on_return))

    # -- running things on the loop -------------------------------------------------------------

    def _call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the loop thread; return its result or raise its exception."""
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(function())
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                done.set_exception(exc)

        self._submit(run)
        return done.result(TIMEOUT)

    def _on_return(self, _channel: Any, _method: Any, _props: Any, body: bytes) -> None:
        self._returns.append(body)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        with self._ack_event:
            if isinstance(method, spec.Basic.Ack):
                tag = method.delivery_tag
                self._acked.add(tag)
                if method.multiple:
                    self._acked.update(range(1, tag + 1))
            self._ack_event.notify_all()

    # -- Client ---------------------------------------------------------------------------------

    def confirm(self) -> None:
        ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._call(
            lambda: self.channel.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=ready.set_result
            )
        )
        ready.result(TIMEOUT)

    def publish_sequence(self) -> int:
        return int(self._call(lambda: self.channel.last_publish_sequence_number))

    def publish(self, exchange: str, routing_key: str, body: Any, **kw: Any) -> None:
        def send() -> tuple[int, int]:
            before = self.channel.last_publish_sequence_number
            self.channel.basic_publish(exchange, routing_key, body, **kw)
            return before, self.channel.last_publish_sequence_number

        before, after = self._call(send)
        if after != before:  # confirm mode and the message was sent: wait for its ack
            with self._ack_event:
                assert self._ack_event.wait_for(lambda: after in self._acked, TIMEOUT)

    def get(self, queue: str, auto_ack: bool = True, **options: Any) -> Message:
        result: concurrent.futures.Future[Message] = concurrent.futures.Future()
        got: list[Message] = []

        def on_message(_ch: Any, method: Any, props: Any, body: bytes) -> None:
            got.append((method, props, body))

        def on_reply(_frame: Any) -> None:  # after the GetOk callback, or on GetEmpty
            if not result.done():
                result.set_result(got[0] if got else EMPTY)

        def start() -> None:
            self.channel.add_callback(on_reply, [spec.Basic.GetOk, spec.Basic.GetEmpty])
            self.channel.basic_get(queue, on_message, auto_ack, **options)

        self._call(start)
        return result.result(TIMEOUT)

    def consume(
        self,
        queue: str,
        count: int,
        auto_ack: bool = True,
        timeout: float = 5.0,
        **options: Any,
    ) -> list[bytes]:
        seen: list[bytes] = []
        enough = threading.Event()

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            seen.append(body)
            if not auto_ack:
                ch.basic_ack(method.delivery_tag)
            if len(seen) >= count:
                enough.set()

        tag = self._call(lambda: self.channel.basic_consume(queue, on_message, auto_ack, **options))
        enough.wait(timeout)
        cancelled: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._call(lambda: self.channel.basic_cancel(tag, cancelled.set_result))
        cancelled.result(TIMEOUT)
        return list(seen)

    def returned(self, exchange: str, routing_key: str, body: bytes, **options: Any) -> list[bytes]:
        start = len(self._returns)
        self._call(
            lambda: self.channel.basic_publish(
                exchange, routing_key, body, mandatory=True, **options
            )
        )
        deadline = time.monotonic() + TIMEOUT
        while len(self._returns) == start and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._returns[start:]

    def is_usable(self) -> bool:
        return bool(self._call(lambda: self.connection.is_open and self.channel.is_open))

    def close(self) -> None:
        if self._thread_done:
            return
        self._thread_done = True
        closed = threading.Event()

        def close() -> None:
            if self.connection.is_closed:
                closed.set()
                return
            self.connection.add_on_close_callback(lambda *_: closed.set())
            if not self.connection.is_closing:
                self.connection.close()

        try:
            self._call(close)
            closed.wait(TIMEOUT)
        finally:
            self._submit(self._stop)
            self._thread.join(TIMEOUT)


class SelectLoop:
    """How LoopClient makes, runs, feeds, stops and closes one adapter's loop (here: select)."""

    connection_class: Any = SelectConnection

    def new_loop(self) -> Any:
        return IOLoop()

    def run(self, loop: Any) -> None:
        loop.start()

    def stop(self, loop: Any) -> None:
        loop.stop()

    def submit(self, loop: Any, function: Callable[[], Any]) -> None:
        loop.add_callback_threadsafe(function)

    def close(self, loop: Any) -> None:
        loop.close()


class AsyncioLoop(SelectLoop):
    connection_class = AsyncioConnection

    def new_loop(self) -> Any:
        return asyncio.new_event_loop()

    def run(self, loop: Any) -> None:
        loop.run_forever()

    def submit(self, loop: Any, function: Callable[[], Any]) -> None:
        loop.call_soon_threadsafe(function)


class GeventLoop(SelectLoop):
    """A GeventIOLoop over the hub of the client's thread, destroyed with it."""

    def __init__(self) -> None:
        from pika_gevent.connection import GeventConnection

        self.connection_class = GeventConnection

    def new_loop(self) -> Any:
        from pika_gevent.connection import GeventIOLoop

        return GeventIOLoop()

    def run(self, loop: Any) -> None:
        # The hub ends a wait with LoopExit when nothing can wake it; until the connection's
        # watchers exist, calls from other threads are all there is: a long timer keeps it up.
        keep_alive = loop.hub.loop.timer(3600.0, 3600.0)
        keep_alive.start(lambda: None)
        try:
            loop.start()
        finally:
            keep_alive.close()

    def close(self, loop: Any) -> None:
        loop.close()
        loop.hub.destroy(destroy_loop=True)


class TornadoLoop(SelectLoop):
    """A fresh tornado IOLoop (a new asyncio loop under it)."""

    def __init__(self) -> None:
        from pika_tornado.connection import TornadoConnection

        self.connection_class = TornadoConnection

    def new_loop(self) -> Any:
        from tornado.ioloop import IOLoop as TornadoIOLoop

        return TornadoIOLoop(make_current=False)

    def submit(self, loop: Any, function: Callable[[], Any]) -> None:
        loop.add_callback(function)


LOOPS: dict[str, Callable[[], SelectLoop]] = {
    "select": SelectLoop,
    "asyncio": AsyncioLoop,
    "gevent": GeventLoop,
    "tornado": TornadoLoop,
}


_reactor_lock = threading.Lock()
_reactor_thread: list[threading.Thread] = []


def _running_reactor() -> Any:
    """Twisted's global reactor, started once on a daemon thread (a reactor cannot restart)."""
    from twisted.internet import reactor

    with _reactor_lock:
        if not _reactor_thread:
            thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="twisted-reactor",
                daemon=True,
            )
            thread.start()
            _reactor_thread.append(thread)
    return reactor


class TwistedClient(Client):
    """TwistedProtocolConnection and its TwistedChannel, driven from the reactor's thread.

    ``channel`` is the core Channel under the TwistedChannel (the tests inspect its hooks);
    every call goes through the TwistedChannel's Deferred API.
    """

    adapter = "twisted"

    def __init__(self, params: Any) -> None:
        from pika_twisted import TwistedProtocolConnection
        from twisted.internet import endpoints

        self._reactor = _running_reactor()
        self._returns: list[bytes] = []
        self._closed = False

        def connect() -> Any:
            endpoint = endpoints.TCP4ClientEndpoint(self._reactor, params.host, params.port)
            d = endpoints.connectProtocol(endpoint, TwistedProtocolConnection(params))
            d.addCallback(lambda connection: connection.ready)
            d.addCallback(
                lambda connection: connection.channel().addCallback(
                    lambda channel: (connection, channel)
                )
            )
            return d

        self.connection, self._channel = self._call(connect)
        self.channel = self._channel._channel
        self._call(
            lambda: self._channel.add_on_return_callback(
                lambda message: self._returns.append(message.body)
            )
        )

    def _call(self, function: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Run ``function`` on the reactor; wait for its Deferred; raise what it failed with."""
        from twisted.internet import defer, threads

        def start() -> Any:
            return defer.maybeDeferred(function).addTimeout(timeout, self._reactor)

        return threads.blockingCallFromThread(self._reactor, start)

    def publish(self, exchange: str, routing_key: str, body: Any, **kw: Any) -> None:
        self._call(lambda: self._channel.basic_publish(exchange, routing_key, body, **kw))

    def confirm(self) -> None:
        self._call(self._channel.confirm_delivery)

    def publish_sequence(self) -> int:
        return int(self._call(lambda: self.channel.last_publish_sequence_number))

    def get(self, queue: str, auto_ack: bool = True, **options: Any) -> Message:
        message = self._call(lambda: self._channel.basic_get(queue, auto_ack, **options))
        if message is None:
            return EMPTY
        return (message.method, message.properties, message.body)

    def consume(
        self,
        queue: str,
        count: int,
        auto_ack: bool = True,
        timeout: float = 5.0,
        **options: Any,
    ) -> list[bytes]:
        from twisted.internet import defer

        seen: list[bytes] = []
        enough = threading.Event()

        def start() -> Any:
            d = self._channel.basic_consume(queue, auto_ack, **options)

            def read(result: Any) -> str:
                queue_object, tag = result

                def take(message: Any) -> None:
                    seen.append(message.body)
                    if not auto_ack:
                        self._channel.basic_ack(message.method.delivery_tag)
                    if len(seen) >= count:
                        enough.set()
                    else:
                        queue_object.get().addCallbacks(take, lambda _failure: None)

                queue_object.get().addCallbacks(take, lambda _failure: None)
                return str(tag)

            return d.addCallback(read)

        tag = self._call(start)
        enough.wait(timeout)
        self._call(lambda: defer.maybeDeferred(self._channel.basic_cancel, tag))
        return list(seen)

    def returned(self, exchange: str, routing_key: str, body: bytes, **options: Any) -> list[bytes]:
        start = len(self._returns)
        self.publish(exchange, routing_key, body, mandatory=True, **options)
        deadline = time.monotonic() + TIMEOUT
        while len(self._returns) == start and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._returns[start:]

    def is_usable(self) -> bool:
        return bool(self._call(lambda: self.connection.is_open and self._channel.is_open))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._call(self.connection.close)


def open_client(adapter: str, params: Any) -> Client:
    """A connected client of ``adapter`` (one of ``ADAPTERS``) with one channel."""
    if adapter == "blocking":
        return BlockingClient(params)
    if adapter == "twisted":
        return TwistedClient(params)
    return LoopClient(adapter, params)
