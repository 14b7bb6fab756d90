"""pika-core's TornadoConnection (the pika-tornado plugin), driven by the same code as pika's."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-core-tornado", "pika-core TornadoConnection", 14, "pika-core")


def driver() -> Any:
    import pika_core
    from bench.drivers.plugin_loops import TornadoCallbackDriver

    return TornadoCallbackDriver(pika_core)
