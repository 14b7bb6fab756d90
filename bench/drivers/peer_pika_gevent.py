"""pika's GeventConnection."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-gevent", "pika GeventConnection", 26, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.plugin_loops import GeventCallbackDriver

    return GeventCallbackDriver(pika)
