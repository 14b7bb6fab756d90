"""A Connection over a custom transport: a plain socket and a tiny ``selectors`` loop.

This is the second way of adding an I/O loop (docs/custom-adapters.md): subclass
``pika_core.connection.Connection`` and implement its ``_adapter_*`` methods, then report the
stream's life with ``_on_stream_connected()``, ``_on_data_available(data)`` and
``_on_stream_terminated(error)``. Everything else (channels, confirms, consumers, heartbeats,
the message hooks) comes from the Connection.

    python examples/custom_transport_connection.py
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import socket
import time
from typing import Any, Callable

from pika_core.connection import Connection, URLParameters


class TinyLoop:
    """Timers and one socket's readiness; just enough for the example."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self.running = False

    def call_later(self, delay: float, callback: Callable[[], Any]) -> list[Any]:
        handle: list[Any] = [callback]
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq), handle))
        return handle

    def run(self) -> None:
        self.running = True
        while self.running:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, _events in self.selector.select(timeout):
                key.data()
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                callback = heapq.heappop(self.timers)[2][0]
                if callback is not None:
                    callback()


class SocketConnection(Connection):
    """The callback API over a blocking-connect, then non-blocking, TCP socket."""

    def __init__(self, parameters: URLParameters, loop: TinyLoop, **callbacks: Any) -> None:
        self.loop = loop
        self.sock: socket.socket | None = None
        super().__init__(parameters, **callbacks)

    @property
    def ioloop(self) -> TinyLoop:
        return self.loop

    # The transport interface -------------------------------------------------------------

    def _adapter_call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self.loop.call_later(delay, callback)

    def _adapter_remove_timeout(self, timeout_id: Any) -> None:
        timeout_id[0] = None

    def _adapter_add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        raise NotImplementedError("this example loop is single-threaded")

    def _adapter_connect_stream(self) -> None:
        try:
            sock = socket.create_connection((self.params.host, self.params.port), timeout=5)
        except OSError as exc:
            error = exc  # ``exc`` is unbound once the except block ends
            self.loop.call_later(0, lambda: self._on_stream_terminated(error))
            return
        sock.setblocking(False)
        self.sock = sock
        self.loop.selector.register(sock, selectors.EVENT_READ, self._on_readable)
        self.loop.call_later(0, self._on_stream_connected)

    def _adapter_emit_data(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.setblocking(True)  # the example keeps writing simple
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _adapter_disconnect_stream(self) -> None:
        self._drop_socket()
        self.loop.call_later(0, lambda: self._on_stream_terminated(None))

    def _on_readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except OSError as exc:
            self._drop_socket()
            self._on_stream_terminated(exc)
            return
        if not data:
            self._drop_socket()
            self._on_stream_terminated(ConnectionResetError("the broker closed the socket"))
            return
        self._on_data_available(data)

    def _drop_socket(self) -> None:
        if self.sock is not None:
            self.loop.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None


def main() -> None:
    loop = TinyLoop()
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=on_channel)

    def on_channel(channel: Any) -> None:
        def declared(frame: Any) -> None:
            queue = frame.method.queue
            channel.basic_publish("", queue, b"over a custom transport")
            channel.basic_get(queue, on_message, auto_ack=True)

        channel.queue_declare("", exclusive=True, callback=declared)

    def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        print(f"got: {body.decode()}")
        channel.connection.close()

    def on_close(_conn: Any, reason: BaseException) -> None:
        print(f"closed: {reason!r}")
        loop.running = False

    SocketConnection(URLParameters(url), loop, on_open_callback=on_open, on_close_callback=on_close)
    loop.run()


if __name__ == "__main__":
    main()
