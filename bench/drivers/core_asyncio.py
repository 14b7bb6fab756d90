"""pika-core's AsyncioConnection, driven by the same callback-API code as pika's."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-core-asyncio", "pika-core AsyncioConnection", 12, "pika-core")


def driver() -> Any:
    import pika_core
    from bench.drivers.pika_callback_api import CallbackDriver

    return CallbackDriver(pika_core, "asyncio_connection", "AsyncioConnection")
