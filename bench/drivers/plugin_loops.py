"""The callback-API scenarios on the plugin adapters' loops (gevent, tornado), pika and pika-core.

``pika_callback_api.CallbackDriver`` runs a select IOLoop or an asyncio loop; these subclasses
only change how the loop is made, run and stopped. Both clients are driven by the same code.
"""

from __future__ import annotations

from typing import Any

from bench.drivers.pika_callback_api import CallbackDriver, _Run


class GeventCallbackDriver(CallbackDriver):
    """GeventConnection: the connection's own ``ioloop`` wrapper runs the hub until stopped."""

    def __init__(self, module: Any) -> None:
        super().__init__(module, "gevent_connection", "GeventConnection")

    def new_loop(self) -> Any:
        return None  # the connection picks this thread's hub

    def run_loop(self, run: _Run) -> None:
        run.connection.ioloop.start()

    def stop_loop(self, run: _Run) -> None:
        run.connection.ioloop.stop()


class TornadoCallbackDriver(CallbackDriver):
    """TornadoConnection on a fresh tornado IOLoop."""

    def __init__(self, module: Any) -> None:
        super().__init__(module, "tornado_connection", "TornadoConnection")

    def new_loop(self) -> Any:
        from tornado.ioloop import IOLoop

        return IOLoop(make_current=False)

    def run_loop(self, run: _Run) -> None:
        run.loop.start()
        run.loop.close()

    def stop_loop(self, run: _Run) -> None:
        run.loop.stop()
