"""pika-core's GeventConnection (the pika-gevent plugin), driven by the same code as pika's."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-core-gevent", "pika-core GeventConnection", 13, "pika-core")


def driver() -> Any:
    import pika_core
    from bench.drivers.plugin_loops import GeventCallbackDriver

    return GeventCallbackDriver(pika_core)
