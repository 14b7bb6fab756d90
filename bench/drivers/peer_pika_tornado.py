"""pika's TornadoConnection."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-tornado", "pika TornadoConnection", 27, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.plugin_loops import TornadoCallbackDriver

    return TornadoCallbackDriver(pika)
