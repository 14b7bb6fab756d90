"""The adapters the asynchronous scenario suite runs against, one ``Driver`` each.

A driver knows how to build a connection of its adapter, run the adapter's loop until a test
says stop (or a watchdog fires), and hand a callback to the loop from another thread. A new
adapter (gevent, tornado, twisted plugins) joins the suite by adding a Driver subclass to
``available_drivers()``; no scenario changes.
"""

from __future__ import annotations

import asyncio
import select
from typing import Any, Callable

from pika_core.adapters import select_connection
from pika_core.adapters.asyncio_connection import AsyncioConnection
from pika_core.adapters.select_connection import IOLoop, SelectConnection

__all__ = ["AsyncioDriver", "Driver", "SelectDriver", "available_drivers"]


class Driver:
    """How the suite drives one adapter."""

    name = "abstract"
    connection_class: Any = None

    def new_loop(self) -> Any:
        """A fresh native loop for one test."""
        raise NotImplementedError

    def connect(self, loop: Any, parameters: Any, **callbacks: Any) -> Any:
        """Create a connection on ``loop`` (the internal connection workflow)."""
        return self.connection_class(parameters, custom_ioloop=loop, **callbacks)

    def create_connection(
        self, loop: Any, configs: list[Any], on_done: Callable[[Any], Any]
    ) -> Any:
        """Start ``connection_class.create_connection`` on ``loop``."""
        return self.connection_class.create_connection(configs, on_done, custom_ioloop=loop)

    def run(self, loop: Any) -> None:
        """Run ``loop`` until ``stop(loop)``."""
        raise NotImplementedError

    def stop(self, loop: Any) -> None:
        """Make ``run`` return (loop thread)."""
        raise NotImplementedError

    def call_later(self, loop: Any, delay: float, callback: Callable[[], Any]) -> Any:
        """A timer on the loop."""
        raise NotImplementedError

    def cancel(self, loop: Any, handle: Any) -> None:
        """Cancel a ``call_later`` handle."""
        raise NotImplementedError

    def call_threadsafe(self, loop: Any, callback: Callable[[], Any]) -> None:
        """Hand ``callback`` to the loop from any thread."""
        raise NotImplementedError

    def close(self, loop: Any) -> None:
        """Release the loop after the test."""

    def __repr__(self) -> str:
        return self.name


class SelectDriver(Driver):
    """SelectConnection on its IOLoop with one forced poller."""

    connection_class = SelectConnection

    def __init__(self, poller: str) -> None:
        self.poller = poller
        self.name = f"select-{poller}"

    def new_loop(self) -> IOLoop:
        saved = select_connection.SELECT_TYPE
        select_connection.SELECT_TYPE = self.poller
        try:
            loop = IOLoop()
        finally:
            select_connection.SELECT_TYPE = saved
        assert loop.poller_name == self.poller
        return loop

    def run(self, loop: IOLoop) -> None:
        loop.start()

    def stop(self, loop: IOLoop) -> None:
        loop.stop()

    def call_later(self, loop: IOLoop, delay: float, callback: Callable[[], Any]) -> Any:
        return loop.call_later(delay, callback)

    def cancel(self, loop: IOLoop, handle: Any) -> None:
        loop.remove_timeout(handle)

    def call_threadsafe(self, loop: IOLoop, callback: Callable[[], Any]) -> None:
        loop.add_callback_threadsafe(callback)

    def close(self, loop: IOLoop) -> None:
        loop.close()


class AsyncioDriver(Driver):
    """AsyncioConnection on a new default-policy event loop."""

    name = "asyncio"
    connection_class = AsyncioConnection

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_forever()

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.stop()

    def call_later(
        self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[], Any]
    ) -> Any:
        return loop.call_later(delay, callback)

    def cancel(self, loop: asyncio.AbstractEventLoop, handle: Any) -> None:
        handle.cancel()

    def call_threadsafe(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
        loop.call_soon_threadsafe(callback)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.close()


def available_drivers() -> list[Driver]:
    """Every adapter and poller this platform offers."""
    drivers: list[Driver] = [
        SelectDriver(name)
        for name in ("select", "poll", "epoll", "kqueue")
        if hasattr(select, name)
    ]
    drivers.append(AsyncioDriver())
    return drivers
