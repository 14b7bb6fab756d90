"""pika's AsyncioConnection."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-asyncio", "pika AsyncioConnection", 22, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.pika_callback_api import CallbackDriver

    return CallbackDriver(pika, "asyncio_connection", "AsyncioConnection")
